"""``deploy/scan_host_key.py`` (the compose stack's sftp-known-hosts one-shot) against a real SFTP server.

The file it writes must be one the SFTP source accepts with host-key checking on, and must not accept
another server's key: otherwise the compose stack would either fail to connect or check nothing.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import asyncssh
import pytest

from fluentsync.connectors.sources.base import SourceError
from fluentsync.connectors.sources.sftp import SftpSource
from tests.fixtures.sftp import SftpServer
from tests.unit.deploy.stack import REPO

pytestmark = pytest.mark.integration

SCRIPT = REPO / "deploy" / "scan_host_key.py"


async def run_script(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(sys.executable, str(SCRIPT), *args,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_the_recorded_key_lets_the_sftp_source_in_with_checking_on(
    sftp_server: SftpServer, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "ssh" / "known_hosts"
    code, output = await run_script(sftp_server.host, str(sftp_server.port), str(known_hosts))
    assert code == 0, output
    assert known_hosts.read_bytes() == sftp_server.known_hosts.read_bytes()  # what the server's own key gives
    assert "ssh-ed25519" in output
    (sftp_server.root / "deploy-scan").mkdir(exist_ok=True)
    (sftp_server.root / "deploy-scan" / "a.json").write_text("[]")
    assert await listing(sftp_server, known_hosts) == ["deploy-scan/a.json"]

    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().strip()
    known_hosts.write_bytes(b"[%s]:%d %s\n" % (sftp_server.host.encode(), sftp_server.port, other))
    with pytest.raises(SourceError, match="host key"):
        await listing(sftp_server, known_hosts)


async def listing(server: SftpServer, known_hosts: Path) -> list[str]:
    async with SftpSource(server.host, port=server.port, username=server.username, password=server.password,
                          known_hosts=known_hosts, max_attempts=1) as source:
        return [ref.path async for ref in source.list("deploy-scan/")]


async def test_no_server_is_an_error_after_the_timeout(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, output = await run_script("127.0.0.1", str(port), str(tmp_path / "known_hosts"), "--timeout", "1")
    assert code == 1 and "no SSH host key from 127.0.0.1" in output
    assert not (tmp_path / "known_hosts").exists()
