"""The servers the chaos suite shares between scenarios: the Fluent sandbox, moto (S3) and SFTP.

The same servers the integration tests use (``tests/fixtures``), started here outside pytest: the
fixtures are pytest fixtures, so the few lines that start each server are repeated, the types and the
SFTP server class are reused. The sandbox runs in this process, so scenarios inject faults and read
what Fluent received straight from its state; each scenario resets it. The embedded broker is not
here: every scenario starts its own (:mod:`tests.chaos.harness`), since one scenario freezes it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncssh
from moto.server import ThreadedMotoServer

from fluentsync.connectors.sandbox import SandboxConfig, SandboxServer, SandboxSettings, SandboxState
from fluentsync.streams.kafka.broker import free_port
from tests.fixtures.s3 import S3Server
from tests.fixtures.sftp import PASSWORD, USERNAME, SftpServer, _Server

__all__ = ["Services", "services"]


@dataclass
class Services:
    sandbox: SandboxServer
    s3: S3Server
    sftp: SftpServer
    sftp_host_key: asyncssh.SSHKey
    workdir: Path

    @property
    def fluent(self) -> SandboxState:
        return self.sandbox.state

    def fluent_config(self) -> dict[str, str]:
        """The pipeline file's ``fluent:`` section for the sandbox (its documented test credentials)."""
        config = self.sandbox.config
        return {"base_url": self.sandbox.base_url, "client_id": config.client_id,
                "client_secret": config.client_secret, "username": config.username, "password": config.password,
                "retailer_id": str(config.retailer_id)}

    def known_hosts(self, path: Path, port: int) -> Path:
        """A known_hosts file naming the SFTP server's key at ``port`` (the proxy's, for instance)."""
        path.write_bytes(b"[127.0.0.1]:%d " % port + self.sftp_host_key.export_public_key().strip() + b"\n")
        return path


@asynccontextmanager
async def services(workdir: Path) -> AsyncIterator[Services]:
    """Start the sandbox, moto and the SFTP server on free loopback ports; stop them on exit."""
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
    async with AsyncExitStack() as stack:
        # Fast batch processing, as in the integration tests: scenarios measure the pipeline, not the sandbox.
        config = SandboxConfig(port=0, seed_orders=10, settings=SandboxSettings(
            batch_pending_delay=0.02, batch_running_delay=0.02, event_delay=0.01))
        sandbox = await stack.enter_async_context(SandboxServer(config))

        port = free_port()
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        moto.start()
        stack.callback(moto.stop)
        s3 = S3Server(endpoint_url=f"http://127.0.0.1:{port}")

        base = workdir / "sftp"
        root = base / "root"
        root.mkdir(parents=True)
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        client_key = asyncssh.generate_private_key("ssh-ed25519")
        client_key.write_private_key(str(base / "client_key"))
        public = client_key.convert_to_public()

        def sftp_factory(chan: asyncssh.SSHServerChannel[bytes]) -> asyncssh.SFTPServer:
            return asyncssh.SFTPServer(chan, chroot=str(root).encode())

        listener = await asyncssh.listen("127.0.0.1", 0, server_host_keys=[host_key],
                                         server_factory=lambda: _Server(public), sftp_factory=sftp_factory,
                                         allow_scp=False)
        stack.push_async_callback(listener.wait_closed)
        stack.callback(listener.close)
        sftp_port = listener.sockets[0].getsockname()[1]
        sftp = SftpServer("127.0.0.1", sftp_port, root, USERNAME, PASSWORD, base / "client_key",
                          base / "known_hosts", listener)
        result = Services(sandbox, s3, sftp, host_key, workdir)
        result.known_hosts(sftp.known_hosts, sftp_port)
        yield result
