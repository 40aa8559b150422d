"""Sinks to S3 (moto's server) and SFTP (asyncssh's server): the same extraction, read back from there."""

from __future__ import annotations

import gzip
import io
import json
import uuid
from collections import Counter
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest

from tests.fixtures.s3 import S3Server
from tests.fixtures.sftp import SftpServer

from .conftest import Env, all_records, eventually, files

pytestmark = pytest.mark.integration


async def test_parquet_and_jsonl_files_on_s3(env: Env, s3_server: S3Server) -> None:
    bucket = f"exports-{uuid.uuid4().hex[:8]}"
    raw = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name=s3_server.region,
                       aws_access_key_id=s3_server.access_key_id, aws_secret_access_key=s3_server.secret_access_key)
    raw.create_bucket(Bucket=bucket)
    destination = {"type": "s3", "bucket": bucket, "endpoint_url": s3_server.endpoint_url, "region": s3_server.region,
                   "path_style": True, "access_key_id": s3_server.access_key_id,
                   "secret_access_key": s3_server.secret_access_key}
    config = env.pipeline({
        "products-parquet": {"extraction": "products", "path": "products/{yyyy}/{mm}/{dd}/products-{run}-{part}.{ext}",
                             "format": {"type": "parquet"}, "rolling": {"max_records": 20},
                             "destination": destination | {"prefix": "parquet"}},
        "products-jsonl": {"extraction": "products", "format": {"type": "jsonl", "compression": "gzip"},
                           "destination": destination | {"prefix": "jsonl"}},
    }, {"products": {"entity": "products"}})
    await env.prepare(config)
    run = await env.extract(config, "products")
    refs = {p["ref"] for p in env.sandbox.state.store.products}
    assert run.nodes == len(refs) == 50

    def keys(prefix: str) -> list[str]:
        return [o["Key"] for o in raw.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]

    async with env.sink(config, "products-parquet"), env.sink(config, "products-jsonl"):
        await eventually(lambda: len(keys("parquet/")) >= 3 and len(keys("jsonl/")) >= 1, 30, "files on S3")
        await eventually(lambda: sum(_parquet_rows(raw, bucket, k) for k in keys("parquet/")) == 50, 30, "rows")
    parquet = [row for key in keys("parquet/") for row in pq.read_table(io.BytesIO(
        raw.get_object(Bucket=bucket, Key=key)["Body"].read())).to_pylist()]
    assert Counter(r["ref"] for r in parquet) == Counter(refs)
    assert all(k.startswith("parquet/products/") and run.run_id in k for k in keys("parquet/"))
    jsonl = []
    for key in keys("jsonl/"):
        assert key.endswith(".jsonl.gz")
        body = gzip.decompress(raw.get_object(Bucket=bucket, Key=key)["Body"].read()).decode()
        jsonl.extend(json.loads(line) for line in body.splitlines())
    assert sorted(r["ref"] for r in jsonl) == sorted(refs)
    product = env.sandbox.state.store.products.first_by_ref("SKU-0001")
    assert product is not None
    [mine] = [r for r in jsonl if r["ref"] == "SKU-0001"]
    assert mine["name"] == product["name"] and mine["extraction"]["run_id"] == run.run_id


def _parquet_rows(raw: object, bucket: str, key: str) -> int:
    data = raw.get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[attr-defined]
    return int(pq.read_metadata(io.BytesIO(data)).num_rows)


async def test_csv_files_on_sftp(env: Env, sftp_server: SftpServer) -> None:
    prefix = f"sink-{uuid.uuid4().hex[:8]}"
    config = env.pipeline({
        "locations-csv": {"extraction": "locations", "path": "locations/locations-{run}-{part}.{ext}",
                          "format": {"type": "csv", "arrays": "explode", "explode": "attributes"},
                          "destination": {"type": "sftp", "host": sftp_server.host, "port": sftp_server.port,
                                          "username": sftp_server.username, "password": sftp_server.password,
                                          "known_hosts": str(sftp_server.known_hosts), "prefix": prefix}},
    }, {"locations": {"entity": "locations"}})
    await env.prepare(config)
    run = await env.extract(config, "locations")
    root: Path = sftp_server.root / prefix
    locations = {loc["ref"]: loc for loc in env.sandbox.state.store.locations}
    async with env.sink(config, "locations-csv") as consumer:
        await eventually(lambda: {r["ref"] for r in all_records(root, "csv")} == set(locations), 30, "locations")
        assert consumer.run_flushes >= 1
    rows = list(all_records(root, "csv"))
    assert all(run.run_id in p.name for p in files(root, ".csv"))
    assert not [p for p in files(root) if not p.name.endswith(".csv")]  # no temporary files
    for ref, location in locations.items():
        mine = [r for r in rows if r["ref"] == ref]
        attributes = location.get("attributes") or []
        assert len(mine) == max(len(attributes), 1)  # one row per attribute (exploded), at least one
        assert {r["name"] for r in mine} == {location["name"]}
