"""The records and dead-letter topics' bytes are pinned: keys, values, headers, partitions and order.

Why: the publisher's hot path is tuned for speed (column building, key building, partitioning, the Avro
encoder), and every such change must leave the wire untouched - downstream dedupe compares batch ids
and contents, consumers outside fluentsync read the Avro, and a key on another partition breaks
per-key order. ``publisher_wire_golden.json`` was computed with the publisher as it was before the
throughput work (README, bench_ingest); a mismatch here means the bytes on the wire changed.

The scenarios cover the branches of the hot path: CSV through the real parse thread (quoting, quoted
line breaks, keys that need JSON escaping, missing keys, malformed rows, undecodable bytes, blank and
CRLF lines, several chunks, both flush limits), trimming and relaxed cell counts with murmur2
partitioning, JSON Lines (tabular and document forms, changing column sets, typed and nested keys),
hand-built records with unknown positions, a whole-file webhook batch, and the Confluent framing.
Every message is read back from the embedded broker, so what is pinned is what consumers get.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from fluentsync.connectors.ingest.keys import RecordKeyBuilder
from fluentsync.connectors.ingest.publisher import FileCounts, FilePublisher, PublishSettings
from fluentsync.connectors.parsers.records import ParsedRecord, Record
from fluentsync.connectors.parsers.stream import parse_chunks
from fluentsync.connectors.sources.base import FileRef
from fluentsync.schemas.codec import AvroCodec, InMemorySchemaRegistry
from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.topics import TopicSpec, ensure_topics
from tests.fixtures.kafka import consume

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).with_name("publisher_wire_golden.json")
PARTITIONS = 6
NOW = datetime(2026, 11, 22, 8, 30, tzinfo=UTC)
REF = FileRef("local", "/inbox", "inventory/wire.csv", "size=1;mtime=2", 1, datetime(2026, 11, 21, tzinfo=UTC))


def mixed_csv() -> bytes:
    """1,500 rows that visit every branch of the CSV parser and the key builder."""
    lines = ["\ufeffskuRef,locationRef,qty,status,note\n"]
    for i in range(1500):
        sku, loc, note = f"SKU-{i % 613:05d}", f"LOC-{i % 37:03d}", f"n{i}"
        eol = "\r\n" if i % 11 == 0 else "\n"
        if i % 97 == 5:
            sku = f'SKU "{i}" \\ x'  # needs JSON escaping in the key
        if i % 89 == 7:
            loc = "L\u2028é中"
        if i % 53 == 9:
            note = f'"multi\nline, {i}"'  # a quoted line break: the record spans two lines
        if i % 41 == 3:
            note = f'"quoted ""{i}"", with comma"'
        if i % 127 == 11:
            sku = ""  # missing key field -> dead letter
        row = f"{sku},{loc},{i % 97},ACTIVE,{note}{eol}"
        if i % 151 == 13:
            row = f"{sku},{loc},{i},ACTIVE,{note},extra{eol}"  # wrong cell count -> malformed
        if i % 173 == 17:
            lines.append("\n   \n")  # blank lines are skipped
        lines.append(row)
    data = "".join(lines).encode()
    bad = data.index(b"SKU-00300")
    return data[:bad] + b"SKU-\xff0300" + data[bad + 9 :]  # undecodable bytes in one row


def clean_csv() -> bytes:
    """Keys that all take the fast path, so whole runs go through the publisher's bulk path; rows of
    varied sizes (non-ASCII, quoted cells, quoted line breaks) so both batch limits cut batches."""
    lines = ["sku,loc,qty,note\n"]
    for i in range(3000):
        note = "é" * (i % 29) if i % 3 else f'"a, ""b"" {i}\nsecond line"'
        lines.append(f"K{(i * 7919) % 1009},W{i % 5},{i},{note}\n")
    return "".join(lines).encode()


def relaxed_csv() -> bytes:
    rows = ["sku; loc ;qty\n"]
    for i in range(1200):
        if i % 7 == 0:
            rows.append(f" S{i % 301} ; L{i % 5} \n")  # a missing trailing cell (relaxed), whitespace trimmed
        elif i % 13 == 0:
            rows.append(f"S{i % 301};L{i % 5};{i};;\n")  # empty extra cells dropped
        else:
            rows.append(f"S{i % 301};L{i % 5};{i}\n")
    return "".join(rows).encode()


def mixed_jsonl() -> bytes:
    out = []
    for i in range(900):
        if i % 5 == 0:
            record: dict[str, Any] = {"sku": f"J{i % 211}", "loc": i % 9, "qty": i}  # typed: documents
        elif i % 17 == 0:
            record = {"sku": f"J{i % 211}", "loc": f"W{i % 9}", "extra": "x"}  # another column set
        elif i % 23 == 0:
            record = {"sku": f"J{i % 211}", "loc": {"nested": True}}
        elif i % 31 == 0:
            record = {"loc": "W1"}  # missing key
        else:
            record = {"sku": f"J{i % 211}", "loc": f"W{i % 9}", "qty": str(i), "t": "ü"}
        out.append(json.dumps(record, ensure_ascii=i % 2 == 0))
        if i % 200 == 99:
            out.append("{not json")
    return ("\n".join(out) + "\n").encode()


def nested_jsonl() -> bytes:
    return "".join(json.dumps({"sku": f"N{i % 50}", "loc": {"code": f"C{i % 4}"}, "q": i}) + "\n"
                   for i in range(300)).encode()


def hand_built() -> list[Record]:
    """Records whose positions are unknown for some of them (JSON array items, Parquet rows)."""
    out: list[Record] = []
    for i in range(120):
        line = None if i % 3 == 0 else i + 1
        offset = None if i < 60 else i * 10
        out.append(ParsedRecord(i, {"sku": f"H{i % 19}", "loc": "W"}, line, offset, None if i % 2 else i + 1))
    return out


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def listed(things: Sequence[Record], size: int) -> AsyncIterator[Sequence[Record]]:
    for start in range(0, len(things), size):
        yield things[start : start + size]


async def publish(broker: EmbeddedBroker, prefix: str, scenario: str, codec: AvroCodec) -> dict[str, Any]:
    """Run one scenario on fresh topics (``prefix``: the workflow id is in the bytes, so it stays fixed)
    and return what the topics hold, in a comparable form."""
    topics = WorkflowTopics.of("wire", prefix=prefix)
    await ensure_topics(broker.bootstrap, [TopicSpec(topic, PARTITIONS) for topic in topics.all()])
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=5)
    await producer.start()
    settings = PublishSettings(batch_records=40, batch_bytes=3000, chunk_size=400)
    keys = RecordKeyBuilder(["skuRef", "locationRef"])
    whole = False
    try:
        if scenario == "clean_csv":
            settings = PublishSettings(batch_records=60, batch_bytes=2500, chunk_size=700)
            keys = RecordKeyBuilder(["sku", "loc"])
            items = parse_chunks(chunked(clean_csv(), 5000), {"type": "csv"}, batch_size=250)
        elif scenario == "relaxed_csv":
            settings = PublishSettings(partitioning="murmur2")
            keys = RecordKeyBuilder(["sku", "loc"])
            items = parse_chunks(chunked(relaxed_csv(), 4096), {"type": "csv", "delimiter": ";", "trim": True,
                                                               "relax_column_count": True}, batch_size=333)
        elif scenario == "mixed_jsonl":
            keys = RecordKeyBuilder(["sku", "loc"])
            items = parse_chunks(chunked(mixed_jsonl(), 1000), {"type": "jsonl"})
        elif scenario == "nested_jsonl":
            keys = RecordKeyBuilder(["sku", "loc.code"])
            items = parse_chunks(chunked(nested_jsonl(), 1000), {"type": "jsonl"})
        elif scenario == "hand_built":
            settings = PublishSettings(batch_records=7, chunk_size=50)
            keys = RecordKeyBuilder(["sku", "loc"])
            items = listed(hand_built(), 25)
        elif scenario == "whole_file":
            keys = RecordKeyBuilder(["sku"])
            whole = True
            items = listed([ParsedRecord(i, {"sku": "W1", "n": str(i)}, i + 1, None, None) for i in range(3)], 10)
        else:  # mixed_csv, confluent_csv
            items = parse_chunks(chunked(mixed_csv(), 113), {"type": "csv"}, batch_size=57)
        publisher = FilePublisher(producer, topics, PARTITIONS, codec=codec, settings=settings, now=lambda: NOW)
        counts: FileCounts = await publisher.publish(REF, items, keys, run_id="run-7", item_path="data.items",
                                                     announce_start=not whole, settle_whole=whole)
    finally:
        await producer.stop()
    records = await consume(broker.bootstrap, topics.records, counts.batches)
    letters = await consume(broker.bootstrap, topics.dlq, counts.dead_lettered) if counts.dead_lettered else []
    files = [] if whole else await consume(broker.bootstrap, topics.files, 2)  # whole: no STARTED, no COMPLETED

    def pinned(messages: Sequence[Any]) -> list[list[Any]]:
        ordered = sorted(messages, key=lambda m: (m.partition, m.offset))
        return [[m.partition, m.key.decode(), hashlib.sha256(m.value).hexdigest(), len(m.value),
                 [[k, v.hex()] for k, v in m.headers]] for m in ordered]

    events = [codec.decode(m.value) for m in sorted(files, key=lambda m: m.offset)]
    return {
        "counts": [counts.records, counts.published, counts.dead_lettered, counts.batches],
        "records": pinned(records),
        "dlq": pinned(letters),
        "files": [[e["kind"], e["record_count"], e["error_count"], e["first_errors"]] for e in events],
    }


SCENARIOS = ["mixed_csv", "clean_csv", "relaxed_csv", "mixed_jsonl", "nested_jsonl", "hand_built", "whole_file",
             "confluent_csv"]


def codec_for(scenario: str) -> AvroCodec:
    if scenario != "confluent_csv":
        return AvroCodec()
    codec = AvroCodec(framing="confluent", registry=InMemorySchemaRegistry())
    for schema in ("fluentsync.files.FileEvent", "fluentsync.records.RecordBatch", "fluentsync.dlq.DeadLetter"):
        codec.framing.header(codec.repository.get(schema))  # fixed registry ids, whatever is encoded first
    return codec


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_published_bytes_match_the_golden_copy(
    scenario: str, kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str]
) -> None:
    got = await publish(kafka_broker, unique_name("wire") + ".", scenario, codec_for(scenario))
    want = json.loads(GOLDEN.read_text())[scenario]
    assert got["counts"] == want["counts"]
    assert got["files"] == want["files"]
    for topic in ("records", "dlq"):
        assert len(got[topic]) == len(want[topic]), topic
        for n, (message, expected) in enumerate(zip(got[topic], want[topic], strict=True)):
            assert message == expected, f"{topic} message {n} (partition, key, sha256, size, headers) differs"


def test_the_scenarios_exercise_what_they_claim() -> None:
    """The golden copy is only worth as much as what it covers: both forms, both limits, dead letters."""
    golden = json.loads(GOLDEN.read_text())
    assert set(golden) == set(SCENARIOS)
    csv = golden["mixed_csv"]
    records, published, dead, batches = csv["counts"]
    assert records == 1500 and dead >= 20 and batches > published / 40  # the byte limit cut some batches
    assert {message[0] for message in csv["records"]} == set(range(PARTITIONS))
    assert golden["confluent_csv"]["counts"] == csv["counts"]
    assert golden["confluent_csv"]["records"] != csv["records"]  # other framing, same records
    assert golden["whole_file"]["files"] == [] and golden["whole_file"]["counts"][3] == 1
    assert golden["mixed_jsonl"]["counts"][2] > 0 and golden["hand_built"]["counts"][3] > 120 / 7
