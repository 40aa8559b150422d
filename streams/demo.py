"""``fluentsync demo``: the whole product on embedded defaults, bounded, so a first-time user sees it work.

What it runs grows with the product. Today (foundation): it starts the embedded broker, creates the
demo workflow's topics explicitly, publishes a small inventory snapshot as Avro ``SourceRecord`` events
keyed by record key, reads them back through a consumer group, decodes them with schema resolution, and
prints what arrived per partition. Each step prints one line; any failure exits non-zero.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from fluentsync.schemas.codec import AvroCodec, default_codec
from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.topics import TopicSpec, ensure_topics

__all__ = ["DemoResult", "run_demo"]

WORKFLOW = "demo-inventory"
PARTITIONS = 3
SAMPLE_CSV = """skuRef,locationRef,qty,status
SKU-001,LOC-SYD,12,ACTIVE
SKU-002,LOC-SYD,0,ACTIVE
SKU-003,LOC-MEL,7,ACTIVE
SKU-001,LOC-MEL,3,INACTIVE
SKU-004,LOC-BNE,25,ACTIVE
SKU-005,LOC-BNE,1,ACTIVE
"""


@dataclass(frozen=True)
class DemoResult:
    bootstrap: str
    published: int
    consumed: int
    per_partition: dict[int, int]
    seconds: float


def _records(text: str) -> list[tuple[str, dict[str, str]]]:
    rows = list(csv.DictReader(io.StringIO(text)))
    return [(json.dumps([row["skuRef"], row["locationRef"]], separators=(",", ":")), row) for row in rows]


async def _publish(bootstrap: str, topic: str, codec: AvroCodec, run_id: str) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        now = datetime.now(UTC)
        file = {"source": "local", "location": "demo", "path": "inventory.csv", "version": "builtin"}
        records = _records(SAMPLE_CSV)
        for index, (key, row) in enumerate(records):
            event = {
                "workflow": WORKFLOW,
                "record_key": key,
                "record": json.dumps(row, separators=(",", ":")),
                "provenance": {"source_uri": "file:///demo/inventory.csv", "file": file,
                               "file_id": json.dumps(list(file.values())), "record_index": index,
                               "row_number": index + 1, "line": index + 2},
                "run_id": run_id,
                "published_at": now,
            }
            await producer.send(topic, codec.encode("fluentsync.records.SourceRecord", event), key=key.encode())
        await producer.flush()
        return len(records)
    finally:
        await producer.stop()


async def _consume(bootstrap: str, topic: str, expected: int, codec: AvroCodec, run_id: str) -> Counter[int]:
    """Count this run's records per partition (a rerun against a long-lived Kafka ignores older runs)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"{WORKFLOW}-demo-{run_id}", auto_offset_reset="earliest",
        session_timeout_ms=6000, heartbeat_interval_ms=500, rebalance_timeout_ms=3000, enable_auto_commit=False,
    )
    await consumer.start()
    per_partition: Counter[int] = Counter()
    try:
        deadline = time.monotonic() + 30
        while sum(per_partition.values()) < expected and time.monotonic() < deadline:
            for tp, messages in (await consumer.getmany(timeout_ms=500)).items():
                for message in messages:
                    event = codec.decode(message.value or b"", reader="fluentsync.records.SourceRecord")
                    if event["run_id"] == run_id:
                        per_partition[tp.partition] += 1
        await consumer.commit()
    finally:
        await consumer.stop()
    return per_partition


async def run_demo(bootstrap: str | None = None, say: Callable[[str], None] = print) -> DemoResult:
    """Run the demo; with ``bootstrap`` None an embedded broker is started and stopped around it."""
    started = time.monotonic()
    codec = default_codec()
    broker = EmbeddedBroker() if bootstrap is None else None
    if broker is not None:
        await broker.start()
        bootstrap = broker.bootstrap
        say(f"[broker] embedded Kafka-compatible broker on {bootstrap}")
    assert bootstrap is not None
    try:
        topic = f"records.{WORKFLOW}"
        await ensure_topics(bootstrap, [TopicSpec(topic, PARTITIONS), TopicSpec(f"dlq.{WORKFLOW}", PARTITIONS)])
        say(f"[topics] {topic} and dlq.{WORKFLOW} with {PARTITIONS} partitions")
        run_id = uuid.uuid4().hex[:12]
        published = await _publish(bootstrap, topic, codec, run_id)
        say(f"[source] published {published} inventory records as Avro (single-object encoding)")
        per_partition = await _consume(bootstrap, topic, published, codec, run_id)
        consumed = sum(per_partition.values())
        say(f"[stream] consumed and decoded {consumed} records: "
            + ", ".join(f"partition {p}: {n}" for p, n in sorted(per_partition.items())))
        if consumed != published:
            raise RuntimeError(f"published {published} records but consumed {consumed}")
        return DemoResult(bootstrap, published, consumed, dict(per_partition), time.monotonic() - started)
    finally:
        if broker is not None:
            await broker.stop()


def main(bootstrap: str | None = None) -> DemoResult:
    return asyncio.run(run_demo(bootstrap))
