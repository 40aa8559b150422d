"""SFTP destination on an asyncssh server: temporary name then rename, never a visible partial file."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from fluentsync.connectors.filesinks import (
    DestinationError,
    FileSinkConfig,
    Position,
    RollingConfig,
    RollingFileSink,
    SftpDestination,
    SftpDestinationConfig,
    XmlFormat,
    open_destination,
)
from fluentsync.connectors.parsers import ParsedRecord, XmlOptions, parse_path
from tests.fixtures.sftp import SftpServer
from tests.unit.filesinks.helpers import crash

pytestmark = pytest.mark.integration


def dest_config(server: SftpServer, prefix: str, **extra: Any) -> SftpDestinationConfig:
    options: dict[str, Any] = {"host": server.host, "port": server.port, "username": server.username,
                               "password": server.password, "known_hosts": server.known_hosts, "prefix": prefix}
    return SftpDestinationConfig(**(options | extra))


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def test_upload_creates_folders_and_replaces_the_old_version(tmp_path: Path, sftp_server: SftpServer) -> None:
    prefix = f"out-{uuid.uuid4().hex[:8]}/"
    local = tmp_path / "a.xml"
    local.write_bytes(os.urandom(700_000))  # several chunks
    async with open_destination(dest_config(sftp_server, prefix, chunk_size=65536)) as dest:
        uri = await dest.put(local, "orders/2024/06/a.xml")
        assert uri == f"sftp://{sftp_server.host}:{sftp_server.port}/{prefix}orders/2024/06/a.xml"
        local.write_bytes(b"<v2/>")
        await dest.put(local, "orders/2024/06/a.xml")
    root = sftp_server.root / prefix
    assert files(root) == ["orders/2024/06/a.xml"]  # no temporary file left
    assert (root / "orders/2024/06/a.xml").read_bytes() == b"<v2/>"


async def test_public_key_auth_and_host_key_checking(tmp_path: Path, sftp_server: SftpServer) -> None:
    local = tmp_path / "a.csv"
    local.write_bytes(b"a\n1\n")
    prefix = f"keys-{uuid.uuid4().hex[:8]}/"
    async with open_destination(dest_config(sftp_server, prefix, password=None,
                                            private_key=sftp_server.client_key)) as dest:
        await dest.put(local, "a.csv")
    assert (sftp_server.root / prefix / "a.csv").read_bytes() == b"a\n1\n"

    strangers = tmp_path / "known_hosts"
    strangers.write_text("")
    async with open_destination(dest_config(sftp_server, prefix, known_hosts=strangers)) as dest:
        with pytest.raises(DestinationError, match="host key"):
            await dest.put(local, "b.csv")
    async with open_destination(dest_config(sftp_server, prefix, password="wrong")) as dest:
        with pytest.raises(DestinationError, match="authentication failed"):
            await dest.put(local, "b.csv")
    assert files(sftp_server.root / prefix) == ["a.csv"]


class BreaksMidUpload(SftpDestination):
    """A real SFTP destination that loses the connection halfway through the file's bytes, after
    noting what a partner looking at the server's folder (``watch``) would see at that moment."""

    def __init__(self, host: str, *, watch: Path, **options: Any) -> None:
        super().__init__(host, **options)
        self.watch = watch
        self.observed: list[str] = []

    async def _upload(self, sftp: Any, local: Path, remote: str) -> None:
        data = await asyncio.to_thread(local.read_bytes)
        async with sftp.open(remote, "wb") as out:
            await out.write(data[: len(data) // 2])
        self.observed = files(self.watch)
        raise DestinationError("connection lost")


async def test_failure_mid_upload_leaves_no_visible_file(tmp_path: Path, sftp_server: SftpServer) -> None:
    prefix = f"fail-{uuid.uuid4().hex[:8]}/"
    root = sftp_server.root / prefix
    (root / "orders").mkdir(parents=True)
    (root / "orders/a.xml").write_bytes(b"<old/>")
    local = tmp_path / "a.xml"
    local.write_bytes(b"<new>" + b"x" * 100_000 + b"</new>")
    cfg = dest_config(sftp_server, prefix)
    dest = BreaksMidUpload(cfg.host, watch=root, port=cfg.port, username=cfg.username,
                           password=sftp_server.password, known_hosts=sftp_server.known_hosts, prefix=prefix)
    async with dest:
        with pytest.raises(DestinationError):
            await dest.put(local, "orders/a.xml")
        assert dest.observed == ["orders/.a.xml.tmp", "orders/a.xml"]  # the half file only under its temp name
    assert files(root) == ["orders/a.xml"]  # temporary file removed
    assert (root / "orders/a.xml").read_bytes() == b"<old/>"  # the previous version untouched


async def test_sink_into_sftp_restarts_without_loss_or_duplicates(tmp_path: Path, sftp_server: SftpServer) -> None:
    prefix = f"sink-{uuid.uuid4().hex[:8]}/"
    cfg = FileSinkConfig(
        path="{topic}/{yyyy}/{mm}/{dd}/{topic}-{partition}-{offset:08d}.{ext}",
        format=XmlFormat(root="Orders", item="Order"),
        rolling=RollingConfig(max_records=25, max_bytes=None, max_age=None),
        destination=dest_config(sftp_server, prefix), spool_dir=tmp_path / "spool",
    )

    def order(p: int, o: int) -> dict[str, Any]:
        return {"@ref": f"O-{p}-{o}", "customer": {"@id": "C1", "#text": "Ann & Bob <co>"}, "line": ["A", "B"]}

    committed: dict[int, int] = {}
    sink = RollingFileSink.from_config(cfg, topic="orders")
    for o in range(60):
        for p in (0, 1):
            commit = await sink.add(order(p, o), Position.from_kafka(p, o, 1717243200000))
            committed.update(commit.offsets)
    assert committed == {0: 50, 1: 50}  # crash: 50..59 of both partitions only in the spool
    await crash(sink)
    async with RollingFileSink.from_config(cfg, topic="orders") as sink:
        for o in range(50, 80):
            for p in (0, 1):
                await sink.add(order(p, o), Position.from_kafka(p, o, 1717243200000))
        assert dict((await sink.flush()).offsets) == {0: 80, 1: 80}
    root = sftp_server.root / prefix
    names = files(root)
    assert names == [f"orders/2024/06/01/orders-{p}-{o:08d}.xml" for p in (0, 1) for o in (0, 25, 50, 75)]
    refs = []
    for name in names:
        for item in parse_path(root / name, XmlOptions(item_path="Orders/Order")):
            assert isinstance(item, ParsedRecord)
            record = item.record
            assert record["customer"] == {"@id": "C1", "#text": "Ann & Bob <co>"}
            refs.append(record["@ref"])
    assert sorted(refs) == sorted(f"O-{p}-{o}" for p in (0, 1) for o in range(80))


async def test_a_crashed_attempts_temporary_file_is_overwritten(tmp_path: Path, sftp_server: SftpServer) -> None:
    prefix = f"stale-{uuid.uuid4().hex[:8]}/"
    root = sftp_server.root / prefix
    root.mkdir()
    (root / ".a.csv.tmp").write_bytes(b"half of a much longer file from before the crash" * 1000)
    local = tmp_path / "a.csv"
    local.write_bytes(b"a\n1\n")
    async with open_destination(dest_config(sftp_server, prefix)) as dest:
        await dest.put(local, "a.csv")
    assert files(root) == ["a.csv"] and (root / "a.csv").read_bytes() == b"a\n1\n"
