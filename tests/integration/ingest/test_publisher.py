"""The file publisher: every record ends up in exactly one place, in batches that respect partitioning."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from fluentsync.connectors.ingest.keys import RecordKeyBuilder
from fluentsync.connectors.ingest.publisher import FilePublisher, PublishSettings, file_event_key
from fluentsync.connectors.parsers.records import MalformedRecord, ParsedRecord
from fluentsync.connectors.sources.base import FileRef
from fluentsync.schemas.codec import default_codec
from fluentsync.schemas.records import batch_records
from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.partitioning import crc32_partition
from fluentsync.streams.kafka.topics import TopicSpec, ensure_topics
from tests.fixtures.kafka import consume

pytestmark = pytest.mark.integration
PARTITIONS = 3


REF = FileRef(source="local", location="/inbox", path="inventory/a.csv", version="size=1;mtime=2", size=1,
              last_modified=datetime(2026, 11, 22, tzinfo=UTC))


def items(n: int, bad: set[int], keyless: set[int]) -> list[ParsedRecord | MalformedRecord]:
    out: list[ParsedRecord | MalformedRecord] = []
    for i in range(n):
        if i in bad:
            out.append(MalformedRecord(i, i + 2, None, i + 1, b"SKU,,oops,extra", "expected 3 cells, got 4", "cells"))
        else:
            sku = "" if i in keyless else f"SKU-{i % 400}"
            record = {"skuRef": sku, "locationRef": f"L{i % 7}", "qty": str(i % 13)}
            out.append(ParsedRecord(i, record, i + 2, None, i + 1))
    return out


async def feed(things: Sequence[Any], size: int = 64, fail_after: int | None = None) -> AsyncIterator[Sequence[Any]]:
    for start in range(0, len(things), size):
        if fail_after is not None and start >= fail_after:
            raise ValueError("gzip stream is corrupt at byte 4096")
        yield things[start:start + size]


async def setup(broker: EmbeddedBroker, unique_name: Callable[[str], str]) -> tuple[WorkflowTopics, AIOKafkaProducer]:
    topics = WorkflowTopics.of(unique_name("wf"))
    await ensure_topics(broker.bootstrap, [TopicSpec(name, PARTITIONS) for name in topics.all()])
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=5)
    await producer.start()
    return topics, producer


async def test_every_record_is_published_or_dead_lettered_once(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str]
) -> None:
    topics, producer = await setup(kafka_broker, unique_name)
    codec = default_codec()
    try:
        publisher = FilePublisher(producer, topics, PARTITIONS, settings=PublishSettings(batch_records=100))
        counts = await publisher.publish(REF, feed(items(1000, bad={10, 500, 999}, keyless={20, 21})),
                                         RecordKeyBuilder(["skuRef", "locationRef"]), run_id="run-1")
    finally:
        await producer.stop()
    assert (counts.records, counts.published, counts.dead_lettered) == (1000, 995, 5)

    batches = [codec.decode(m.value) | {"_partition": m.partition}
               for m in await consume(kafka_broker.bootstrap, topics.records, counts.batches)]
    published = [(r, b) for b in batches for r in batch_records(b)]
    assert len(published) == 995
    assert all(len(b["record_keys"]) <= 100 for b in batches)
    assert all(b["columns"] == ["skuRef", "locationRef", "qty"] and not b["documents"] for b in batches)
    for record, batch in published:  # every record sits on the partition of its own key
        assert crc32_partition(record.record_key.encode(), PARTITIONS) == batch["_partition"]
        assert batch["file"]["path"] == "inventory/a.csv" and batch["run_id"] == "run-1"
        assert record.chunk_id == "chunk-00000"
        assert record.line == record.record_index + 2 and record.byte_offset is None
        assert record.record["locationRef"] == f"L{record.record_index % 7}"
    letters = [codec.decode(m.value) for m in await consume(kafka_broker.bootstrap, topics.dlq, 5)]
    assert sorted(letter["provenance"]["record_index"] for letter in letters) == [10, 20, 21, 500, 999]
    bad = next(letter for letter in letters if letter["provenance"]["record_index"] == 500)
    assert bad["stage"] == "PARSE" and bad["raw"] == b"SKU,,oops,extra" and bad["provenance"]["line"] == 502
    keyless = next(letter for letter in letters if letter["provenance"]["record_index"] == 20)
    assert "missing key field: skuRef" in keyless["reason"] and json.loads(keyless["record"])["qty"] == "7"
    # Indices are contiguous over good and bad records: 0..999, each exactly once.
    indices = sorted([r.record_index for r, _ in published] +
                     [letter["provenance"]["record_index"] for letter in letters])
    assert indices == list(range(1000))
    # Per-key order: within each key, indices increase in the order the topic holds them.
    last: dict[str, int] = {}
    for record, _ in published:
        assert record.record_index > last.get(record.record_key, -1)
        last[record.record_key] = record.record_index

    events = [codec.decode(m.value) | {"_key": m.key} for m in await consume(kafka_broker.bootstrap, topics.files, 2)]
    assert [e["kind"] for e in events] == ["STARTED", "COMPLETED"]
    assert events[1]["record_count"] == 1000 and events[1]["error_count"] == 5
    assert {e["_key"] for e in events} == {file_event_key(topics.workflow, REF)}


async def test_republishing_a_file_gives_identical_batches(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str]
) -> None:
    topics, producer = await setup(kafka_broker, unique_name)
    codec = default_codec()
    try:
        publisher = FilePublisher(producer, topics, PARTITIONS, settings=PublishSettings(batch_records=50))
        keys = RecordKeyBuilder(["skuRef", "locationRef"])
        first = await publisher.publish(REF, feed(items(300, set(), set())), keys)
        await publisher.publish(REF, feed(items(300, set(), set()), size=7), keys)
    finally:
        await producer.stop()
    batches = [codec.decode(m.value) for m in await consume(kafka_broker.bootstrap, topics.records, first.batches * 2)]
    by_id: dict[str, list[list[Any]]] = {}
    for batch in batches:
        by_id.setdefault(batch["batch_id"], []).append(list(batch_records(batch)))
    assert len(by_id) == first.batches  # same ids and the same contents, whatever the parser's chunking
    assert all(len(copies) == 2 and copies[0] == copies[1] for copies in by_id.values())


async def test_a_parser_failure_ends_the_file_as_failed(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str]
) -> None:
    topics, producer = await setup(kafka_broker, unique_name)
    codec = default_codec()
    try:
        publisher = FilePublisher(producer, topics, PARTITIONS)
        with pytest.raises(ValueError, match="gzip stream is corrupt"):
            await publisher.publish(REF, feed(items(300, set(), set()), fail_after=128),
                                    RecordKeyBuilder(["skuRef", "locationRef"]))
    finally:
        await producer.stop()
    events = [codec.decode(m.value) for m in await consume(kafka_broker.bootstrap, topics.files, 2)]
    assert [e["kind"] for e in events] == ["STARTED", "FAILED"]
    assert events[1]["reason"] == "gzip stream is corrupt at byte 4096" and events[1]["record_count"] == 128
