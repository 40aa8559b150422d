"""A real worker with ``kafka.schema_registry``: every record on Kafka in the Confluent wire format.

The worker is a subprocess that reads the registry URL from ``${SCHEMA_REGISTRY_URL}`` exactly as the
docker-compose setup does; the registry is the stand-in over HTTP, the broker the embedded one, Fluent
the sandbox. A dead letter written in single-object encoding before the switch stays readable next to
the new Confluent-framed ones (``fluentsync dlq list``), and the CLI reads the run reports.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fluentsync.schemas.codec import AvroCodec, ConfluentFraming
from fluentsync.schemas.registry import SchemaRegistryClient
from fluentsync.schemas.repository import SchemaRepository
from fluentsync.schemas.wire import configure_codec, subject_namer
from fluentsync.streams.cli import main
from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.tail import TopicTail
from fluentsync.streams.kafka.topics import TopicSpec, ensure_topics
from tests.fixtures.kafka import consume
from tests.fixtures.pipelines import inventory_mapping, local_inbox, local_inbox_source, write_inventory_pipeline
from tests.fixtures.processes import background_process
from tests.fixtures.registry import RegistryServer
from tests.fixtures.sandbox_admin import Admin

pytestmark = pytest.mark.integration

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def old_letter(workflow: str) -> dict[str, Any]:
    """A dead letter as a worker wrote it before the pipeline had a registry."""
    file = {"source": "local", "location": "/in", "path": "incoming/old.csv", "version": "v0"}
    return {
        "dead_letter_id": "old-letter-1", "workflow": workflow, "stage": "MAP", "reason": "qty: not an integer",
        "errors": [], "record_key": '["S-OLD","L-0"]', "record": '{"sku": "S-OLD", "qty": "x"}', "raw": None,
        "provenance": {"source_uri": "file:///in/incoming/old.csv", "file": file, "file_id": json.dumps(list(file)),
                       "etag": None, "version_id": None, "last_modified": AT, "record_index": 0,
                       "chunk_id": "chunk-00000", "line": 2, "byte_offset": None, "row_number": 1,
                       "item_path": None},
        "attempt": 1, "history": [], "occurred_at": AT,
    }


def tail_of(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def until(tail: TopicTail, worker: subprocess.Popen[bytes], log: Path,
                check: Callable[[list[dict[str, Any]]], bool], timeout: float) -> None:
    """``tail.until`` that fails at once, with the worker's log, when the worker has exited."""
    deadline = time.monotonic() + timeout
    while not check(tail.items):
        if worker.poll() is not None:
            raise AssertionError(f"the worker exited ({worker.returncode}):\n{tail_of(log)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{tail.topic}: not met in {timeout:.0f}s:\n{tail_of(log)}")
        await tail.poll()


async def test_worker_writes_the_confluent_wire_format(
    kafka_broker: EmbeddedBroker, schema_registry: RegistryServer, unique_name: Callable[[str], str],
    tmp_path: Path, sandbox: Any, admin: Admin, monkeypatch: pytest.MonkeyPatch,
) -> None:
    workflow = unique_name("sr").replace("-", "_")
    topics = WorkflowTopics.of(workflow)
    inbox = local_inbox(tmp_path)
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", schema_registry.url)  # the worker's environment too
    registry_config = {"url": "${SCHEMA_REGISTRY_URL}", "compatibility": "FULL"}
    config = write_inventory_pipeline(
        tmp_path, mapping=inventory_mapping(None), bootstrap=kafka_broker.bootstrap, partitions=2,
        app_id=unique_name("app"), kafka={"schema_registry": registry_config}, workflow=workflow,
        fluent=sandbox.fluent_config(), source=local_inbox_source(inbox), target={"max_batch_size": 50},
    )
    await ensure_topics(kafka_broker.bootstrap, [TopicSpec(name, 2) for name in topics.all()])
    # Before the switch: a single-object dead letter already on the topic.
    from aiokafka import AIOKafkaProducer
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topics.dlq, AvroCodec().encode("fluentsync.dlq.DeadLetter", old_letter(workflow)),
                                     key=b"old")
    finally:
        await producer.stop()
    rows = ["sku,location,qty"] + [f"S-{i},L-{i % 2},{'abc' if i == 7 else i}" for i in range(30)]
    (inbox / "incoming" / "a.csv").write_text("\n".join(rows) + "\n")

    registry = SchemaRegistryClient(schema_registry.url)
    repository = SchemaRepository(directories=())  # knows nothing: every writer schema comes from the registry
    codec = AvroCodec(repository, framing=ConfluentFraming(repository, registry, subject_namer("topic_name")))
    async with TopicTail(kafka_broker.bootstrap, topics.files, codec) as files:
        log = tmp_path / "worker.log"
        with background_process([sys.executable, "-m", "fluentsync", "worker", "--config", str(config),
                                 "--data-dir", str(tmp_path / "data"), "--web-port", "0"], log) as worker:
            await until(files, worker, log, lambda e: any(x["kind"] == "SETTLED" for x in e), timeout=120)
            settled = next(x for x in files.items if x["kind"] == "SETTLED")
            assert (settled["record_count"], settled["accepted_count"], settled["rejected_count"]) == (30, 29, 1)
            await until(files, worker, log, lambda e: any(x["kind"] == "ARCHIVED" for x in e), timeout=30)

    assert sum(len(b["entities"]) for b in await admin.batches()) == 29
    # Every message the worker wrote: magic 0 and an id registered under <topic>-value, FULL compatibility.
    state = schema_registry.state
    for topic, count in [(topics.records, 1), (topics.files, 4), (topics.ledger, 1), (topics.reports, 1)]:
        messages = await consume(kafka_broker.bootstrap, topic, count, timeout=20)
        subject = f"{topic}-value"
        ids = {v.id for v in state.subjects[subject]}
        assert all(m.value[0] == 0 and int.from_bytes(m.value[1:5], "big") in ids for m in messages), topic
        assert state.subject_compatibility[subject] == "FULL"
    letters = await consume(kafka_broker.bootstrap, topics.dlq, 2, timeout=20)
    assert sorted(m.value[:1] for m in letters) == [b"\x00", b"\xc3"]  # the old framing next to the new
    assert codec.decode(next(m.value for m in letters if m.value[0] == 0))["provenance"]["record_index"] == 7

    try:  # the CLI reads both framings with the pipeline's registry
        listed = await asyncio.to_thread(CliRunner().invoke, main, [
            "dlq", "list", workflow, "-c", str(config), "-b", kafka_broker.bootstrap, "--json"])
        assert listed.exit_code == 0, listed.output
        found = [json.loads(line) for line in listed.output.splitlines()]
        assert len(found) == 2 and "old-letter-1" in {x["dead_letter_id"] for x in found}
        assert {x["provenance"]["record_index"] for x in found} == {0, 7}
        reports = await asyncio.to_thread(CliRunner().invoke, main, [
            "reports", "-c", str(config), "-b", kafka_broker.bootstrap, "--json"])
        assert reports.exit_code == 0, reports.output
        [report] = [json.loads(line) for line in reports.output.splitlines()]
        assert (report["accepted"], report["rejected"]) == (29, 1)
    finally:
        configure_codec(None)  # the CLI switched this process's codec: later tests expect the default
        registry.close()
