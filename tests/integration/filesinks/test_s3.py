"""S3 destination on moto's server: PUT for small files, multipart for large ones, nothing visible early.

moto enforces S3's 5 MiB minimum part size, so the multipart path is exercised with real 5 MiB parts
(a 12 MiB file, three parts).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import pytest_asyncio

from fluentsync.connectors.filesinks import (
    DestinationError,
    FileSinkConfig,
    JsonlFormat,
    Position,
    RollingConfig,
    RollingFileSink,
    S3Destination,
    S3DestinationConfig,
    open_destination,
)
from fluentsync.connectors.filesinks.settings import MIN_PART_SIZE
from tests.fixtures.s3 import S3Server
from tests.unit.filesinks.helpers import crash

pytestmark = pytest.mark.integration


@pytest.fixture
def bucket(s3_server: S3Server) -> Iterator[tuple[str, Any]]:
    name = f"sink-{uuid.uuid4().hex[:8]}"
    raw = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name=s3_server.region,
                       aws_access_key_id=s3_server.access_key_id, aws_secret_access_key=s3_server.secret_access_key)
    raw.create_bucket(Bucket=name)
    yield name, raw


def destination_config(s3_server: S3Server, bucket: str, **extra: Any) -> S3DestinationConfig:
    return S3DestinationConfig(
        bucket=bucket, prefix="exports", endpoint_url=s3_server.endpoint_url, region=s3_server.region,
        path_style=True, access_key_id=s3_server.access_key_id, secret_access_key=s3_server.secret_access_key,
        **extra,
    )


@pytest_asyncio.fixture(loop_scope="session")
async def destination(s3_server: S3Server, bucket: tuple[str, Any]) -> AsyncIterator[S3Destination]:
    dest = open_destination(destination_config(s3_server, bucket[0], multipart_threshold=MIN_PART_SIZE,
                                               part_size=MIN_PART_SIZE))
    assert isinstance(dest, S3Destination)
    async with dest:
        yield dest


def keys(raw: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in raw.list_objects_v2(Bucket=bucket).get("Contents", [])]


def big_file(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


async def test_small_file_is_one_put_and_replaces_the_old_version(
    tmp_path: Path, destination: S3Destination, bucket: tuple[str, Any]
) -> None:
    name, raw = bucket
    local = tmp_path / "a.jsonl"
    local.write_bytes(b'{"a":1}\n')
    uri = await destination.put(local, "orders/2024/a.jsonl")
    assert uri == f"s3://{name}/exports/orders/2024/a.jsonl"
    local.write_bytes(b'{"a":2}\n')
    await destination.put(local, "orders/2024/a.jsonl")
    obj = raw.get_object(Bucket=name, Key="exports/orders/2024/a.jsonl")
    assert obj["Body"].read() == b'{"a":2}\n'
    assert obj["ContentType"] == "application/x-ndjson"
    assert "-" not in obj["ETag"]  # a single PUT's ETag (a multipart one ends in -<parts>)


async def test_large_file_goes_up_in_parts(tmp_path: Path, destination: S3Destination, bucket: tuple[str, Any]) -> None:
    name, raw = bucket
    data = big_file(tmp_path / "big.parquet", 2 * MIN_PART_SIZE + 1234)
    await destination.put(tmp_path / "big.parquet", "big.parquet")
    head = raw.head_object(Bucket=name, Key="exports/big.parquet")
    assert head["ETag"].strip('"').endswith("-3")  # three parts: 5 MiB + 5 MiB + the rest
    assert raw.get_object(Bucket=name, Key="exports/big.parquet")["Body"].read() == data
    assert raw.list_multipart_uploads(Bucket=name).get("Uploads", []) == []


class FailingPart(S3Destination):
    """A real S3 destination whose second part upload fails (a dropped connection mid-file)."""

    async def _upload_part(self, s3: Any, key: str, upload_id: str, number: int, chunk: bytes) -> str:
        if number == 2:
            raise DestinationError("connection reset")
        return await super()._upload_part(s3, key, upload_id, number, chunk)


async def test_failure_mid_upload_leaves_nothing_visible_and_no_parts(
    tmp_path: Path, s3_server: S3Server, bucket: tuple[str, Any]
) -> None:
    name, raw = bucket
    big_file(tmp_path / "big.csv", 2 * MIN_PART_SIZE + 10)
    raw.put_object(Bucket=name, Key="exports/big.csv", Body=b"old version")
    cfg = destination_config(s3_server, name, multipart_threshold=MIN_PART_SIZE)
    async with FailingPart(cfg.bucket, prefix=cfg.prefix, endpoint_url=cfg.endpoint_url, region=cfg.region,
                           path_style=True, access_key_id=s3_server.access_key_id,
                           secret_access_key=s3_server.secret_access_key,
                           multipart_threshold=MIN_PART_SIZE) as failing:
        with pytest.raises(DestinationError):
            await failing.put(tmp_path / "big.csv", "big.csv")
    assert raw.get_object(Bucket=name, Key="exports/big.csv")["Body"].read() == b"old version"
    assert raw.list_multipart_uploads(Bucket=name).get("Uploads", []) == []  # aborted


async def test_missing_bucket_is_a_destination_error(tmp_path: Path, s3_server: S3Server) -> None:
    (tmp_path / "a").write_bytes(b"x")
    async with open_destination(destination_config(s3_server, "no-such-bucket-here")) as dest:
        with pytest.raises(DestinationError, match="NoSuchBucket"):
            await dest.put(tmp_path / "a", "a.csv")


async def test_sink_into_s3_restarts_without_loss_or_duplicates(
    tmp_path: Path, s3_server: S3Server, bucket: tuple[str, Any]
) -> None:
    name, raw = bucket
    cfg = FileSinkConfig(
        path="orders/{yyyy}/{mm}/{dd}/orders-{run}-{part}.{ext}", format=JsonlFormat(),
        rolling=RollingConfig(max_records=40, max_bytes=None, max_age=None),
        destination=destination_config(s3_server, name), spool_dir=tmp_path / "spool", run="nightly",
    )
    committed = 0
    sink = RollingFileSink.from_config(cfg, topic="orders.out")
    for o in range(100):  # crash at 70: 0..39 committed, 40..70 were in the spool
        commit = await sink.add({"o": o}, Position.from_kafka(0, o, 1717243200000))
        committed = commit.offsets.get(0, committed)
        if o == 70:
            break
    assert committed == 40
    await crash(sink)
    async with RollingFileSink.from_config(cfg, topic="orders.out") as sink:
        for o in range(committed, 100):
            await sink.add({"o": o}, Position.from_kafka(0, o, 1717243200000))
        assert dict((await sink.flush()).offsets) == {0: 100}
    names = sorted(keys(raw, name))
    assert names == [f"exports/orders/2024/06/01/orders-nightly-000-{o:012d}.jsonl" for o in (0, 40, 80)]
    records = []
    for key in names:
        body = await asyncio.to_thread(lambda k=key: raw.get_object(Bucket=name, Key=k)["Body"].read())
        records += [json.loads(line)["o"] for line in body.splitlines()]
    assert records == list(range(100))
