"""A download dropped half way is retried soon by the worker that owns the file, leader or not.

Only the group leader lists the inbox; the worker owning a file's partition processes it. When a read
fails with a retryable error, that owner re-announces the file itself after a backoff starting at
``poll_interval``; discovery would only announce it again after ``reannounce_after`` (600 s, far longer
than this test). A real worker process, moto behind a proxy that resets the first download of each file
after its headers and a little of its body, the embedded broker and the Fluent sandbox:

- ``incoming/a.csv`` is discovered by the worker itself (it is the leader): one failed attempt, one
  retry, and no second announcement from discovery (nothing is skipped);
- ``elsewhere/b.csv`` is outside the inbox, announced by the test as another worker's leader would: the
  worker never lists it, so only its own retry can get it processed (before the fix it waited 600 s).

Each file is published once (one COMPLETED), settles once with one outcome per record, and Fluent gets
every record exactly once.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from aiokafka import AIOKafkaProducer

from fluentsync.connectors.ingest.publisher import FilePublisher
from fluentsync.connectors.sources import S3Source
from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.tail import TopicTail
from fluentsync.streams.kafka.topics import TopicSpec, ensure_topics
from tests.fixtures.pipelines import ACTIVE_INVENTORY_MAPPING, write_inventory_pipeline
from tests.fixtures.processes import background_process
from tests.fixtures.sandbox_admin import Admin
from tests.fixtures.tcp_proxy import CuttingRelay

pytestmark = pytest.mark.integration

ROWS = 300
BODY_BYTES = 200  #: of a file's body that reach the worker before the reset: a few rows, no full batch


class _AimedCut:
    """One connection's policy: cut the response to the first ``GET`` of an object the proxy still aims at."""

    def __init__(self, proxy: FirstDownloadCutter) -> None:
        self.proxy = proxy
        self.target: list[bytes] = []  #: the object whose response on this connection is to be cut
        self.seen = b""

    def up(self, data: bytes) -> None:
        for path in list(self.proxy.pending):
            if any(b"GET " + path + end in data for end in (b" ", b"?")):
                self.proxy.pending.discard(path)
                self.target.append(path)

    def down(self, data: bytes) -> int | None:
        if not self.target:
            return None
        self.seen += data
        end = self.seen.find(b"\r\n\r\n")
        if end < 0 or len(self.seen) < end + 4 + BODY_BYTES:
            return None
        self.proxy.cut.append(self.target.pop().decode())
        return end + 4 + BODY_BYTES - (len(self.seen) - len(data))  # the headers and BODY_BYTES of the body


class FirstDownloadCutter(CuttingRelay[_AimedCut]):
    """A TCP proxy in front of moto that resets the first ``GET`` of each named object mid-body.

    The cut is aimed at the request (its request line names the object), not at a byte count, so
    listings on the same keep-alive connection never take it. The response headers and ``BODY_BYTES``
    of the body get through, then the connection is reset: the client has started reading the body, so
    botocore does not retry it itself and the source raises a retryable ``SourceError``.
    """

    def __init__(self, target: tuple[str, int], paths: list[str]) -> None:
        super().__init__(*target)
        self.pending = {path.encode() for path in paths}
        self.cut: list[str] = []

    def connection(self) -> _AimedCut:
        return _AimedCut(self)

    async def __aenter__(self) -> FirstDownloadCutter:
        await super().__aenter__()
        return self


def inventory_csv(prefix: str) -> str:
    return "sku,location,qty\n" + "".join(f"{prefix}-{i},L-{i % 3},{i}\n" for i in range(ROWS))


def of(events: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    return [e for e in events if e["file"]["path"] == path]


async def test_a_dropped_download_is_retried_by_the_owner_long_before_reannounce_after(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, s3_server: Any,
    sandbox: Any, admin: Admin, monkeypatch: pytest.MonkeyPatch,
) -> None:
    workflow = unique_name("retry").replace("-", "_")
    bucket = unique_name("inbox")
    s3 = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name=s3_server.region,
                      aws_access_key_id=s3_server.access_key_id, aws_secret_access_key=s3_server.secret_access_key)
    s3.create_bucket(Bucket=bucket)
    discovered, announced = "incoming/a.csv", "elsewhere/b.csv"
    s3.put_object(Bucket=bucket, Key=discovered, Body=inventory_csv("A").encode())
    s3.put_object(Bucket=bucket, Key=announced, Body=inventory_csv("B").encode())
    moto = urlsplit(s3_server.endpoint_url)
    monkeypatch.setenv("TEST_S3_KEY", s3_server.access_key_id)  # the worker reads ${TEST_S3_KEY}
    monkeypatch.setenv("TEST_S3_SECRET", s3_server.secret_access_key)
    topics = WorkflowTopics.of(workflow)
    await ensure_topics(kafka_broker.bootstrap, [TopicSpec(name, 3) for name in topics.all()])

    async with FirstDownloadCutter((moto.hostname or "127.0.0.1", moto.port or 80),
                                   [f"/{bucket}/{discovered}", f"/{bucket}/{announced}"]) as proxy, \
            TopicTail(kafka_broker.bootstrap, topics.files) as files:
        inbox = {"type": "s3", "bucket": bucket, "prefix": "incoming/", "patterns": ["*.csv"],
                 "endpoint_url": proxy.endpoint_url, "region": s3_server.region, "path_style": True,
                 "access_key_id": "${TEST_S3_KEY}", "secret_access_key": "${TEST_S3_SECRET}", "poll_interval": 0.5}
        config = write_inventory_pipeline(
            tmp_path, mapping=ACTIVE_INVENTORY_MAPPING, bootstrap=kafka_broker.bootstrap, app_id=unique_name("app"),
            workflow=workflow, fluent=sandbox.fluent_config(), source=inbox, target={"max_batch_size": 100},
        )
        log = tmp_path / "worker.log"
        with background_process([
            sys.executable, "-m", "fluentsync", "worker", "--config", str(config), "--data-dir", str(tmp_path / "data"),
            "--web-port", "0", "-l", "info",
        ], log):
            # The worker is up and leads (its discovery announced a.csv): now b.csv, as another leader would.
            await files.until(lambda e: of(e, discovered), timeout=90)
            producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
            await producer.start()
            source = S3Source(bucket, endpoint_url=s3_server.endpoint_url, region=s3_server.region, path_style=True,
                              access_key_id=s3_server.access_key_id, secret_access_key=s3_server.secret_access_key)
            try:
                ref = await source.stat(announced)  # the version a listing would have announced
                await FilePublisher(producer, topics, 3).file_event("DISCOVERED", ref)
            finally:
                await source.close()
                await producer.stop()

            def done(events: list[dict[str, Any]]) -> bool:
                return all(any(x["kind"] == "ARCHIVED" for x in of(events, path)) for path in (discovered, announced))

            await files.until(done, timeout=45)  # far below reannounce_after (600 s)
            await asyncio.sleep(2)  # four more polls: neither discovery nor a stray retry announces anything else

        assert sorted(proxy.cut) == sorted([f"/{bucket}/{discovered}", f"/{bucket}/{announced}"])
        for path in (discovered, announced):
            events = of(files.items, path)
            kinds = [e["kind"] for e in events]
            assert kinds.count("DISCOVERED") == 2, kinds  # the first announcement and the owner's retry, no more
            assert (kinds.count("FAILED"), kinds.count("COMPLETED"), kinds.count("SETTLED")) == (1, 1, 1), kinds
            assert "SKIPPED" not in kinds, kinds
            failed = next(e for e in events if e["kind"] == "FAILED")
            retry = [e for e in events if e["kind"] == "DISCOVERED"][1]
            assert kinds.index("FAILED") < kinds.index("DISCOVERED", kinds.index("FAILED"))
            # backoff starts at poll_interval (0.5 s): the retry follows the failure at once, not in 600 s
            assert (retry["occurred_at"] - failed["occurred_at"]).total_seconds() < 10
            settled = next(e for e in events if e["kind"] == "SETTLED")
            assert settled["record_count"] == ROWS
            assert (settled["accepted_count"], settled["rejected_count"], settled["unchanged_count"]) == (ROWS, 0, 0)

    sent = [entity["skuRef"] for batch in await admin.batches() for entity in batch["entities"]]
    assert sorted(sent) == sorted([f"A-{i}" for i in range(ROWS)] + [f"B-{i}" for i in range(ROWS)])
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert discovered not in keys and announced not in keys  # both archived, under processed/
    text = log.read_text()
    assert text.count("retrying in 0.5 s (failure 1 in a row)") == 2 and "WARNING" in text
