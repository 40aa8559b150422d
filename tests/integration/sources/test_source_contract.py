"""One contract, three sources: local folder, S3 (moto server) and SFTP (asyncssh server) behave alike."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import boto3
import pytest
import pytest_asyncio

from fluentsync.connectors.sources import (
    FileRef,
    FileSource,
    LocalSource,
    S3Source,
    SftpSource,
    SourceError,
    SourceFileNotFound,
    SourceFileReplaced,
)
from tests.fixtures.s3 import S3Server
from tests.fixtures.sftp import SftpServer

pytestmark = pytest.mark.integration


@dataclass
class Harness:
    """A source plus a side door to drop files the way a partner would (not through the source)."""

    source: FileSource
    put: Callable[[str, bytes], Awaitable[None]]
    prefix: str


@pytest_asyncio.fixture(params=["local", "s3", "sftp"], loop_scope="session")
async def harness(
    request: pytest.FixtureRequest, tmp_path: os.PathLike[str], s3_server: S3Server, sftp_server: SftpServer
) -> AsyncIterator[Harness]:
    run = uuid.uuid4().hex[:8]
    prefix = f"inbox-{run}/"
    if request.param == "local":
        root = str(tmp_path)

        async def put_local(path: str, data: bytes) -> None:
            full = os.path.join(root, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as out:
                out.write(data)

        yield Harness(LocalSource(root), put_local, prefix)
    elif request.param == "s3":
        bucket = f"bucket-{run}"
        raw = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name=s3_server.region,
                           aws_access_key_id=s3_server.access_key_id,
                           aws_secret_access_key=s3_server.secret_access_key)
        raw.create_bucket(Bucket=bucket)

        async def put_s3(path: str, data: bytes) -> None:
            await asyncio.to_thread(raw.put_object, Bucket=bucket, Key=path, Body=data)

        source = S3Source(bucket, endpoint_url=s3_server.endpoint_url, region=s3_server.region, path_style=True,
                          access_key_id=s3_server.access_key_id, secret_access_key=s3_server.secret_access_key)
        async with source:
            yield Harness(source, put_s3, prefix)
    else:
        root = sftp_server.root

        async def put_sftp(path: str, data: bytes) -> None:
            full = root / path
            full.parent.mkdir(parents=True, exist_ok=True)
            full.write_bytes(data)

        source = SftpSource(sftp_server.host, port=sftp_server.port, username=sftp_server.username,
                            password=sftp_server.password, known_hosts=sftp_server.known_hosts, max_connections=2)
        async with source:
            yield Harness(source, put_sftp, prefix)


async def listing(source: FileSource, prefix: str) -> dict[str, FileRef]:
    return {ref.name: ref async for ref in source.list(prefix)}


async def read_all(source: FileSource, ref: FileRef, chunk_size: int = 1 << 20) -> bytes:
    return b"".join([chunk async for chunk in source.open(ref, chunk_size)])


async def test_list_one_level_with_identity(harness: Harness) -> None:
    await harness.put(harness.prefix + "a.csv", b"sku,qty\nA,1\n")
    await harness.put(harness.prefix + "b.json", b"[]")
    await harness.put(harness.prefix + "processed/old.csv", b"x")
    await harness.put("elsewhere/c.csv", b"y")
    files = await listing(harness.source, harness.prefix)
    assert set(files) == {"a.csv", "b.json"}
    ref = files["a.csv"]
    assert ref.path == harness.prefix + "a.csv"
    assert ref.size == 12
    assert ref.source == harness.source.kind
    assert ref.last_modified.tzinfo is not None
    again = await listing(harness.source, harness.prefix)
    assert again["a.csv"].identity == ref.identity  # listing twice: same identity
    assert (await harness.source.stat(ref.path)).identity == ref.identity
    assert await listing(harness.source, "no-such-folder/") == {}


async def test_streams_exact_bytes_in_chunks(harness: Harness) -> None:
    data = os.urandom(300_000)
    await harness.put(harness.prefix + "big.bin", data)
    ref = (await listing(harness.source, harness.prefix))["big.bin"]
    chunks = [chunk async for chunk in harness.source.open(ref, 64 * 1024)]
    assert b"".join(chunks) == data
    assert len(chunks) > 1 and max(map(len, chunks)) <= 64 * 1024


async def test_new_upload_is_a_new_version_and_the_old_one_cannot_be_read(harness: Harness) -> None:
    await harness.put(harness.prefix + "f.csv", b"version one\n")
    old = (await listing(harness.source, harness.prefix))["f.csv"]
    await harness.put(harness.prefix + "f.csv", b"version two!\n")  # another size: a new version at once
    new = (await listing(harness.source, harness.prefix))["f.csv"]
    assert new.identity != old.identity and new.identity.path_key == old.identity.path_key
    with pytest.raises(SourceFileReplaced):
        await read_all(harness.source, old)
    with pytest.raises(SourceFileReplaced):
        await harness.source.move(old, harness.prefix + "processed/f.csv")
    assert await read_all(harness.source, new) == b"version two!\n"  # the new version was left in place


async def test_move_is_idempotent(harness: Harness) -> None:
    await harness.put(harness.prefix + "m.csv", b"a,b\n1,2\n")
    ref = (await listing(harness.source, harness.prefix))["m.csv"]
    dest = harness.prefix + "processed/2026-11-22/m.csv"
    await harness.source.move(ref, dest)
    await harness.source.move(ref, dest)  # repeating after a crash is harmless
    assert "m.csv" not in await listing(harness.source, harness.prefix)
    moved = await harness.source.stat(dest)
    assert await read_all(harness.source, moved) == b"a,b\n1,2\n"
    with pytest.raises(SourceFileNotFound):
        await harness.source.move(ref, harness.prefix + "elsewhere/m.csv")


async def test_write_sidecar_and_delete(harness: Harness) -> None:
    path = harness.prefix + "errors/x.csv.error.json"
    await harness.source.write(path, b'{"error": 1}')
    await harness.source.write(path, b'{"error": 2}')
    ref = await harness.source.stat(path)
    assert await read_all(harness.source, ref) == b'{"error": 2}'
    assert await harness.source.exists(path)
    await harness.source.delete(ref)
    await harness.source.delete(ref)  # deleting what is gone succeeds
    assert not await harness.source.exists(path)


async def test_missing_file(harness: Harness) -> None:
    with pytest.raises(SourceFileNotFound):
        await harness.source.stat(harness.prefix + "nope.csv")


async def test_s3_listing_pages_past_1000_keys(s3_server: S3Server) -> None:
    bucket = f"many-{uuid.uuid4().hex[:8]}"
    raw = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name=s3_server.region,
                       aws_access_key_id=s3_server.access_key_id, aws_secret_access_key=s3_server.secret_access_key)
    raw.create_bucket(Bucket=bucket)

    def fill() -> None:
        for i in range(1005):
            raw.put_object(Bucket=bucket, Key=f"in/{i:05d}.csv", Body=b"x")

    await asyncio.to_thread(fill)
    async with S3Source(bucket, endpoint_url=s3_server.endpoint_url, region=s3_server.region, path_style=True,
                        access_key_id=s3_server.access_key_id,
                        secret_access_key=s3_server.secret_access_key) as source:
        names = [ref.name async for ref in source.list("in/")]
    assert len(names) == 1005 == len(set(names))


async def test_s3_version_ids_on_a_versioned_bucket(s3_server: S3Server) -> None:
    bucket = f"versioned-{uuid.uuid4().hex[:8]}"
    raw = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name=s3_server.region,
                       aws_access_key_id=s3_server.access_key_id, aws_secret_access_key=s3_server.secret_access_key)
    raw.create_bucket(Bucket=bucket)
    raw.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    raw.put_object(Bucket=bucket, Key="in/a.csv", Body=b"same")
    async with S3Source(bucket, endpoint_url=s3_server.endpoint_url, region=s3_server.region, path_style=True,
                        access_key_id=s3_server.access_key_id, secret_access_key=s3_server.secret_access_key,
                        use_version_id=True) as source:
        first = await anext(aiter(source.list("in/")))
        raw.put_object(Bucket=bucket, Key="in/a.csv", Body=b"same")  # same bytes, same ETag, new version
        second = await anext(aiter(source.list("in/")))
        assert first.etag == second.etag and first.version != second.version
        assert await read_all(source, first) == b"same"  # the old version is still readable by id


async def test_sftp_key_auth_and_host_key_checking(sftp_server: SftpServer, tmp_path: os.PathLike[str]) -> None:
    await asyncio.to_thread((sftp_server.root / "keyauth").mkdir, exist_ok=True)
    async with SftpSource(sftp_server.host, port=sftp_server.port, username=sftp_server.username,
                          client_keys=[sftp_server.client_key], known_hosts=sftp_server.known_hosts) as source:
        assert await listing(source, "keyauth/") == {}
    empty_known_hosts = os.path.join(tmp_path, "known_hosts")
    open(empty_known_hosts, "w").close()
    async with SftpSource(sftp_server.host, port=sftp_server.port, username=sftp_server.username,
                          password=sftp_server.password, known_hosts=empty_known_hosts) as source:
        with pytest.raises(SourceError, match="host key"):
            await listing(source, "keyauth/")
    async with SftpSource(sftp_server.host, port=sftp_server.port, username=sftp_server.username,
                          password="wrong-password", known_hosts=sftp_server.known_hosts) as source:
        with pytest.raises(SourceError, match="authentication failed") as caught:
            await listing(source, "keyauth/")
        assert "wrong-password" not in str(caught.value)
