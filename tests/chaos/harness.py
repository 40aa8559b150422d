"""One scenario's world: its own broker, the pipeline file, the worker process, progress and collection.

A scenario needs processes it can really break: the embedded broker is a child process (SIGSTOP and
SIGCONT go to its pid), and the worker is ``python -m fluentsync worker`` (SIGKILL, then a restart on
the same data directory, as an operator's supervisor would). Progress is read from the sandbox (what
Fluent received) and from ``files.<wf>`` (which files settled); at the end every output topic is read
from the beginning and reduced to the evidence :func:`tests.chaos.conservation.account` weighs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml

from fluentsync.streams.config import load_pipeline
from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.tail import TopicTail
from fluentsync.streams.kafka.topics import ensure_topics
from fluentsync.streams.worker import workflow_topic_specs
from tests.chaos.conservation import LedgerOutcome, Letter, Observed, Sent, Settlement
from tests.chaos.data import Dataset
from tests.chaos.services import Services
from tests.fixtures.pipelines import INVENTORY_MAPPING
from tests.fixtures.processes import REPO

__all__ = ["WORKFLOW", "Run", "SourceSpec", "WorkerProcess"]

WORKFLOW = "chaos"

#: The Batch API target of every scenario: small batches and fast status polls, so a 20k-record run
#: makes dozens of Fluent batches (room for a fault to land mid-run) and finishes in seconds.
TARGET: dict[str, Any] = {
    "api": "batch", "job_strategy": "per_file", "max_batch_size": 500, "linger": 0.3, "max_in_flight": 4,
    "status": {"intervals": [0.2, 0.5, 1.0], "min_interval": 0.1},
}


@dataclass
class SourceSpec:
    """Where a scenario's files come from: the pipeline's ``source:`` and how to drop a file there."""

    config: dict[str, Any]
    drop: Callable[[str, str], None]  #: (path as the source reports it, content)
    env: dict[str, str] = field(default_factory=dict)  #: secrets the pipeline names as ${VAR}


def local_source(inbox: Path) -> SourceSpec:
    def drop(path: str, text: str) -> None:
        target = inbox / path
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name("." + target.name + ".part")  # hidden and unmatched until renamed
        partial.write_text(text)
        os.replace(partial, target)

    return SourceSpec({"type": "local", "root": str(inbox), "prefix": "incoming/", "patterns": ["*.csv"],
                       "poll_interval": 0.5, "stable_listings": 1}, drop)


def s3_source(services: Services, bucket: str, endpoint_url: str) -> SourceSpec:
    s3 = services.s3
    client = boto3.client("s3", endpoint_url=s3.endpoint_url, region_name=s3.region,
                          aws_access_key_id=s3.access_key_id, aws_secret_access_key=s3.secret_access_key)
    client.create_bucket(Bucket=bucket)

    def drop(path: str, text: str) -> None:
        client.put_object(Bucket=bucket, Key=path, Body=text.encode())

    config = {"type": "s3", "bucket": bucket, "prefix": "incoming/", "patterns": ["*.csv"],
              "endpoint_url": endpoint_url, "region": s3.region, "path_style": True,
              "access_key_id": "${CHAOS_S3_KEY}", "secret_access_key": "${CHAOS_S3_SECRET}", "poll_interval": 0.5}
    return SourceSpec(config, drop, {"CHAOS_S3_KEY": s3.access_key_id, "CHAOS_S3_SECRET": s3.secret_access_key})


def sftp_source(services: Services, folder: str, port: int, known_hosts: Path) -> SourceSpec:
    sftp = services.sftp

    def drop(path: str, text: str) -> None:
        local_source(sftp.root).drop(path, text)  # the server's chroot is a local folder

    config = {"type": "sftp", "host": sftp.host, "port": port, "username": sftp.username,
              "password": "${CHAOS_SFTP_PASSWORD}", "known_hosts": str(services.known_hosts(known_hosts, port)),
              "prefix": f"{folder}/incoming/", "patterns": ["*.csv"], "poll_interval": 0.5, "stable_listings": 1}
    return SourceSpec(config, drop, {"CHAOS_SFTP_PASSWORD": sftp.password})


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class WorkerProcess:
    """``python -m fluentsync worker`` with its output appended to a log file; killed or stopped on demand."""

    def __init__(self, config: Path, data_dir: Path, log: Path, env: Mapping[str, str]) -> None:
        self.command = [sys.executable, "-m", "fluentsync", "worker", "--config", str(config), "--data-dir",
                        str(data_dir), "--web-port", "0", "-l", "info"]
        self.log = log
        self.env = {**os.environ, **env}
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                         preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, nothing is flushed - a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, timeout: float = 30) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


class Run:
    """One scenario run: ``await run.start()``, drop files, break things, ``await run.collect()``."""

    def __init__(self, name: str, services: Services, data: Dataset, workdir: Path, source: SourceSpec,
                 *, target: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.services = services
        self.data = data
        self.workdir = workdir
        self.source = source
        self.topics = WorkflowTopics.of(WORKFLOW)
        self.broker = EmbeddedBroker(log_file=workdir / "broker.log")
        self.config = workdir / "pipeline.yaml"
        (workdir / "inventory.json").write_text(json.dumps(INVENTORY_MAPPING))  # the end-to-end test's
        self.target = {**TARGET, **(target or {})}
        self.worker = WorkerProcess(self.config, workdir / "data", workdir / "worker.log", source.env)
        self.expected = data.expected()
        self.mark = 0  #: last sandbox batch id of the warm-up: later batches belong to the measured pass
        self.settled: dict[str, float] = {}  #: path -> monotonic time its SETTLED event was seen
        self._files: TopicTail | None = None

    # -- life cycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Fresh broker, sandbox reset, topics, worker, and the warm-up file settled."""
        await self.broker.start()
        self.services.fluent.reset(10)
        self.config.write_text(yaml.safe_dump({
            "kafka": {"bootstrap": self.broker.bootstrap, "partitions": 3, "app_id": f"chaos-{self.name}"},
            "fluent": {**self.services.fluent_config(), "base_retry_delay": 0.2},
            "workflows": {WORKFLOW: {
                "source": self.source.config, "format": {"type": "csv"}, "key": ["sku", "location"],
                "mapping": "inventory.json", "target": self.target,
            }},
        }))
        os.environ.update(self.source.env)  # load_pipeline resolves ${VAR}s here as the worker does
        await ensure_topics(self.broker.bootstrap, workflow_topic_specs(load_pipeline(self.config)))
        self._files = TopicTail(self.broker.bootstrap, self.topics.files)
        await self._files.__aenter__()
        self.worker.start()
        self.source.drop(self.data.warmup_path, self.data.warmup)
        if not await self.wait_settled([self.data.warmup_path], timeout=120):
            raise RuntimeError(f"{self.name}: the warm-up file did not settle in 120 s (see {self.worker.log})")
        self.mark = max(self.services.fluent.jobs.batches, default=0)

    def drop_files(self) -> None:
        for path, text in self.data.files.items():
            self.source.drop(path, text)

    async def close(self) -> None:
        await asyncio.to_thread(self.worker.stop)
        if self._files is not None:
            with contextlib.suppress(Exception):
                await self._files.__aexit__(None, None, None)
        if self.broker.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.broker.pid, signal.SIGCONT)  # never leave a frozen broker behind
        await self.broker.stop()

    # -- progress -----------------------------------------------------------------------------------
    def sent(self) -> int:
        """Entities Fluent stored since the warm-up (repeats included)."""
        return sum(len(b.entities) for i, b in self.services.fluent.jobs.batches.items() if i > self.mark)

    async def until_sent(self, fraction: float, timeout: float = 120) -> bool:
        """Wait until Fluent has ``fraction`` of the measured pass's expected entities; False on time-out
        or when every file settled first (the fault would land after the work)."""
        goal = fraction * self.expected["accepted"]
        deadline = time.monotonic() + timeout
        while self.sent() < goal:
            if time.monotonic() > deadline or self.all_settled():
                return False
            await self.poll_files(0.05)
        return True

    def all_settled(self) -> bool:
        return all(path in self.settled for path in self.data.files)

    async def poll_files(self, timeout: float = 0.3) -> None:
        """Read new file events; a frozen or restarting broker just yields nothing for a while."""
        assert self._files is not None
        try:
            await self._files.poll(timeout)
        except Exception:  # the broker is being broken on purpose: keep polling
            await asyncio.sleep(timeout)
        for event in self._files.items:
            path = event["file"]["path"]
            if event["kind"] == "SETTLED" and path not in self.settled:
                self.settled[path] = time.monotonic()

    async def wait_settled(self, paths: list[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not all(p in self.settled for p in paths):
            if time.monotonic() > deadline:
                return False
            await self.poll_files()
        return True

    # -- collection ---------------------------------------------------------------------------------
    async def collect(self, quiet: float = 2.0) -> Observed:
        """Every output of the measured pass, read back in full after the run."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.services.fluent.jobs.drain(), 30)
        paths = set(self.data.files)
        observed = Observed()
        for batch_id, batch in sorted(self.services.fluent.jobs.batches.items()):
            if batch_id <= self.mark:
                continue
            failed = {e.get("entityIndex") for e in batch.errors}
            observed.sent.extend(Sent((str(e.get("skuRef")), str(e.get("locationRef"))), e.get("qty"), i not in failed)
                                 for i, e in enumerate(batch.entities) if isinstance(e, dict))
        retailer = str(self.services.sandbox.config.retailer_id)
        store = self.services.fluent.store
        observed.final = {}
        for record in self.data.records:
            position = store.position_for(f"DEFAULT:{retailer}", record.key[1], record.key[0], retailer)
            observed.final[record.key] = None if position is None else dict(position).get("onHand")
        for letter in await self._read(self.topics.dlq, quiet):
            provenance = letter.get("provenance") or {}
            path = (provenance.get("file") or {}).get("path")
            if path in paths:
                observed.letters.append(Letter(letter["dead_letter_id"], path, provenance.get("record_index"),
                                               letter["stage"]))
        for outcome in await self._read(self.topics.ledger, quiet):
            path = (outcome.get("file") or {}).get("path")
            if path in paths:
                observed.outcomes.append(LedgerOutcome(outcome["batch_id"], path, outcome["accepted"],
                                                       outcome["rejected"], outcome["unchanged"]))
        for report in await self._read(self.topics.reports, quiet):
            path = (report.get("file") or {}).get("path")
            if path in paths:
                observed.reports.append(Settlement(path, report["record_count"], report["accepted"],
                                                   report["rejected"], report["unchanged"]))
        return observed

    async def _read(self, topic: str, quiet: float) -> list[dict[str, Any]]:
        async with TopicTail(self.broker.bootstrap, topic) as tail:
            last = time.monotonic()
            while time.monotonic() - last < quiet:
                if await tail.poll(0.3):
                    last = time.monotonic()
            return tail.items
