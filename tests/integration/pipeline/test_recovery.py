"""Recovery of the whole pipeline: a worker killed mid-file, a replayed records topic, Fluent misbehaving.

A real worker process, the embedded broker and the sandbox, as in ``test_end_to_end``. The promise under
test: a crash or a replay never loses a record nor settles a file twice; duplicates reach Fluent only as
repeated (idempotent) UPSERTs; transient Fluent faults (5xx bursts, 429 with Retry-After, a job closed
under the sender) end with every valid record accepted.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from subprocess import Popen
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.tail import TopicTail
from fluentsync.streams.kafka.topics import TopicSpec, ensure_topics
from tests.fixtures.pipelines import local_inbox, local_inbox_source, write_inventory_pipeline
from tests.fixtures.processes import background_process
from tests.fixtures.sandbox_admin import Admin
from tests.integration.pipeline.test_end_to_end import inventory_csv, settled

pytestmark = pytest.mark.integration

INVALID = (5, 9, 13, 17)  #: rows inventory_csv makes malformed or unmappable


class _AsFaust(RoundRobinPartitionAssignor):
    """Round robin under Faust's protocol name: the broker refuses a member whose protocol the group's
    Faust members never spoke (InconsistentGroupProtocol). Alone in the group, it takes every partition."""

    name = "faust"


class Pipeline:
    """One workflow's pipeline file, topics and worker command, in a test's tmp_path.

    ``target`` updates the target (batches of 40, per-file jobs, fast status polling), ``fluent`` the
    ``fluent:`` section (3 retries 0.1 s apart), ``options`` adds workflow keys (``publish``, ...).
    """

    def __init__(self, tmp_path: Path, broker: EmbeddedBroker, sandbox: Any, unique_name: Callable[[str], str],
                 prefix: str, *, target: dict[str, Any] | None = None, fluent: dict[str, Any] | None = None,
                 options: dict[str, Any] | None = None) -> None:
        self.tmp_path = tmp_path
        self.bootstrap = broker.bootstrap
        self.workflow = unique_name(prefix).replace("-", "_")
        self.app_id = unique_name(f"{prefix}-app")
        self.inbox = local_inbox(tmp_path)
        self.config = write_inventory_pipeline(
            tmp_path, bootstrap=broker.bootstrap, app_id=self.app_id, workflow=self.workflow,
            fluent={**sandbox.fluent_config(), "max_retries": 3, "base_retry_delay": 0.1, **(fluent or {})},
            source=local_inbox_source(self.inbox, poll_interval=0.2),
            target={"max_batch_size": 40, "linger": 0.2, "job_strategy": "per_file",
                    # batch statuses polled fast: the sandbox finishes a batch in ~40 ms
                    "status": {"intervals": [0.2, 0.2, 0.3], "min_interval": 0.1},
                    **(target or {})},
            options=options,
        )
        self.topics = WorkflowTopics.of(self.workflow)
        self.log = tmp_path / "worker.log"

    async def create_topics(self) -> None:
        await ensure_topics(self.bootstrap, [TopicSpec(name, 3) for name in self.topics.all()])

    def drop(self, name: str, content: str) -> None:
        (self.inbox / "incoming" / name).write_text(content)

    @contextmanager
    def worker(self) -> Iterator[Popen[bytes]]:
        with background_process([
            sys.executable, "-m", "fluentsync", "worker", "--web-port", "0", "--config", str(self.config),
            "--data-dir", str(self.tmp_path / "data"), "-l", "info",
        ], self.log) as proc:
            yield proc

    async def rewind(self, topic: str) -> None:
        """Reset the worker's consumer group on ``topic`` to the beginning (the worker must be stopped).

        Through a consumer of the group, not the admin client: the embedded broker does not answer
        ``list_consumer_group_offsets`` usefully.
        """
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=self.bootstrap, group_id=self.app_id,
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    session_timeout_ms=6000, heartbeat_interval_ms=1000,
                                    partition_assignment_strategy=(_AsFaust,))
        await consumer.start()
        try:
            deadline = time.monotonic() + 30
            while not consumer.assignment():  # alone in the group: gets every partition of the topic
                assert time.monotonic() < deadline, f"no assignment of {topic} in group {self.app_id}"
                await asyncio.sleep(0.1)
            partitions = sorted(consumer.assignment())
            before = {tp: await consumer.committed(tp) for tp in partitions}
            assert any(before.values()), f"group {self.app_id} has no offsets on {topic}: {before}"
            await consumer.seek_to_beginning(*partitions)
            offsets = {tp: await consumer.position(tp) for tp in partitions}
            await consumer.commit(offsets)
            after = {tp: await consumer.committed(tp) for tp in partitions}
            assert after == offsets, (before, after)
        finally:
            await consumer.stop()


def valid_rows(rows: int) -> list[int]:
    return [i for i in range(rows) if i not in INVALID]


def entity_counts(batches: list[dict[str, Any]]) -> int:
    return sum(int(b["totalEntities"]) for b in batches)


async def batches_light(admin: Admin) -> list[dict[str, Any]]:
    items = await admin.call("GET", "/batches", params={"entities": "false"})
    assert isinstance(items, list)
    return items


def assert_positions(sandbox: Any, rows: int) -> None:
    retailer = str(sandbox.retailer_id)
    store = sandbox.state.store
    missing, wrong = [], []
    for i in valid_rows(rows):
        found = store.position_for(f"DEFAULT:{retailer}", f"L-{i % 3}", f"S-{i}", retailer)
        if found is None:
            missing.append(i)
        elif dict(found)["onHand"] != i:
            wrong.append((i, dict(found)["onHand"]))
    assert not missing, f"{len(missing)} positions missing, e.g. {missing[:10]}"
    assert not wrong, f"{len(wrong)} positions wrong, e.g. {wrong[:10]}"


def assert_last_upserts(batches: list[dict[str, Any]], rows: int) -> None:
    """Every valid key was sent, only as UPSERTs, and the last version sent of each key has its qty."""
    last: dict[tuple[str, str], int] = {}
    for batch in sorted(batches, key=lambda b: int(b["id"])):
        assert batch["action"] == "UPSERT", batch["action"]
        for entity in batch["entities"]:
            last[(entity["skuRef"], entity["locationRef"])] = entity["qty"]
    expected = {(f"S-{i}", f"L-{i % 3}"): i for i in valid_rows(rows)}
    assert last == expected


async def drain(tail: TopicTail, quiet: float = 1.0) -> list[dict[str, Any]]:
    """Poll ``tail`` until nothing new arrives for ``quiet`` seconds (one getmany may miss partitions)."""
    last = time.monotonic()
    while time.monotonic() - last < quiet:
        if await tail.poll(0.2):
            last = time.monotonic()
    return tail.items


async def one_settled(files: TopicTail, path: str, *, timeout: float) -> dict[str, Any]:
    await files.until(lambda e: settled(e, path), timeout=timeout)
    return settled(files.items, path)[0]


# -- 1. SIGKILL mid-file --------------------------------------------------------------------------------

async def test_worker_killed_mid_file_settles_once_with_every_record(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, sandbox: Any, admin: Admin
) -> None:
    rows = 20_000
    pipe = Pipeline(tmp_path, kafka_broker, sandbox, unique_name, "crash",
                    target={"max_batch_size": 250, "max_in_flight": 2, "linger": 0.2})
    await pipe.create_topics()
    # Slow Fluent down so the kill lands mid-file: ~10 batches/s of 250 entities for 80 batches.
    await admin.fault("batch_create", "latency", delay=0.2)
    pipe.drop("big.csv", inventory_csv(rows))

    async with TopicTail(kafka_broker.bootstrap, pipe.topics.files) as files:
        with pipe.worker() as proc:
            deadline = time.monotonic() + 60
            while len(await batches_light(admin)) < 15:
                assert proc.poll() is None, "worker died"
                assert time.monotonic() < deadline, "no Fluent batches in 60 s"
                await asyncio.sleep(0.1)
            proc.kill()
            proc.wait(10)
        sent_before = await batches_light(admin)
        await drain(files, 0.5)
        assert not settled(files.items, "incoming/big.csv"), "settled before the kill: kill came too late"
        assert entity_counts(sent_before) < len(valid_rows(rows)), "everything was sent before the kill"

        await admin.call("DELETE", "/faults")
        with pipe.worker():
            event = await one_settled(files, "incoming/big.csv", timeout=90)
            await drain(files)  # a second SETTLED would come right behind the first

    assert len(settled(files.items, "incoming/big.csv")) == 1
    assert event["record_count"] == rows
    assert event["accepted_count"] + event["rejected_count"] + event["unchanged_count"] == rows
    assert event["rejected_count"] == len(INVALID)
    batches = await admin.batches()
    assert entity_counts(batches) >= len(valid_rows(rows))
    assert_last_upserts(batches, rows)
    assert_positions(sandbox, rows)


# -- 2. Replay of the records topic ---------------------------------------------------------------------

async def test_replayed_records_topic_sends_nothing_and_does_not_settle_again(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, sandbox: Any, admin: Admin
) -> None:
    rows = 400
    pipe = Pipeline(tmp_path, kafka_broker, sandbox, unique_name, "replay")
    await pipe.create_topics()
    pipe.drop("a.csv", inventory_csv(rows))

    async with TopicTail(kafka_broker.bootstrap, pipe.topics.files) as files, \
            TopicTail(kafka_broker.bootstrap, pipe.topics.ledger) as ledger, \
            TopicTail(kafka_broker.bootstrap, pipe.topics.records) as records:
        with pipe.worker():
            first = await one_settled(files, "incoming/a.csv", timeout=60)
            await files.until(lambda e: any(x["kind"] == "ARCHIVED" for x in e), timeout=30)
        assert (first["accepted_count"], first["rejected_count"], first["unchanged_count"]) == (rows - 4, 4, 0)
        sent = await batches_light(admin)
        await drain(records)
        await drain(ledger)
        record_batches = len(records.items)
        outcomes = len(ledger.items)
        assert record_batches >= 1 and outcomes == record_batches

        await pipe.rewind(pipe.topics.records)
        # One start must do: streams/kafka/faust_transport.py fixes the start-up race that used to drop
        # the first record batch of each partition after a rewind to offset 0.
        with pipe.worker():
            # The replay republishes one BatchOutcome per RecordBatch (all unchanged or rejected).
            await ledger.until(lambda e: len(e) >= 2 * outcomes, timeout=60)
            await drain(files)
            await drain(ledger)

    replayed = ledger.items[outcomes:]
    assert len(replayed) == outcomes
    assert sum(o["accepted"] for o in replayed) == 0
    assert sum(o["unchanged"] for o in replayed) == rows - 4
    assert len(settled(files.items, "incoming/a.csv")) == 1
    assert len(await batches_light(admin)) == len(sent)


# -- 3. Fluent faults -----------------------------------------------------------------------------------

FAULTS = {
    "503-burst": [{"route": "batch_create", "kind": "status", "status": 503, "times": 2}],
    "429-retry-after": [{"route": "batch_create", "kind": "status", "status": 429, "retry_after": 0.3, "times": 2}],
}


@pytest.mark.parametrize("scenario", sorted(FAULTS))
async def test_transient_fluent_faults_end_with_every_record_accepted(
    scenario: str, kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, sandbox: Any,
    admin: Admin,
) -> None:
    rows = 200
    pipe = Pipeline(tmp_path, kafka_broker, sandbox, unique_name, "fault", target={"max_in_flight": 1})
    await pipe.create_topics()
    for fault in FAULTS[scenario]:
        await admin.fault(**fault)
    pipe.drop("a.csv", inventory_csv(rows))

    async with TopicTail(kafka_broker.bootstrap, pipe.topics.files) as files, \
            TopicTail(kafka_broker.bootstrap, pipe.topics.dlq) as dlq:
        with pipe.worker():
            event = await one_settled(files, "incoming/a.csv", timeout=60)
            await dlq.until(lambda d: len(d) >= 4, timeout=10)
            await drain(dlq, 0.5)

    assert (event["accepted_count"], event["rejected_count"], event["unchanged_count"]) == (rows - 4, 4, 0)
    assert sorted(d["stage"] for d in dlq.items) == ["MAP", "MAP", "PARSE", "PARSE"]  # no FLUENT letters
    statuses = await admin.statuses("batch_create")
    expected = 503 if scenario == "503-burst" else 429
    assert statuses.count(expected) == 2, statuses
    if scenario == "429-retry-after":  # one batch at a time: each retry waited out Retry-After (0.3 s)
        at = [float(r["at"]) for r in await admin.requests("batch_create")]
        assert at[1] - at[0] >= 0.25 and at[2] - at[1] >= 0.25, at[:3]
    batches = await admin.batches()
    assert entity_counts(batches) == rows - 4
    assert_last_upserts(batches, rows)
    assert_positions(sandbox, rows)


async def test_job_closed_mid_file_resends_to_a_new_job(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, sandbox: Any, admin: Admin
) -> None:
    rows = 400
    pipe = Pipeline(tmp_path, kafka_broker, sandbox, unique_name, "closed",
                    target={"max_batch_size": 20, "max_in_flight": 1})
    await pipe.create_topics()
    await admin.fault("batch_create", "latency", delay=0.1)  # ~20 batches over ~2 s
    pipe.drop("a.csv", inventory_csv(rows))

    async with TopicTail(kafka_broker.bootstrap, pipe.topics.files) as files:
        with pipe.worker():
            deadline = time.monotonic() + 60
            while not (sent := await batches_light(admin)):
                assert time.monotonic() < deadline, "no Fluent batch in 60 s"
                await asyncio.sleep(0.05)
            first_job = str(sent[0]["jobId"])
            await admin.call("POST", f"/jobs/{first_job}/close")
            event = await one_settled(files, "incoming/a.csv", timeout=60)

    assert (event["accepted_count"], event["rejected_count"], event["unchanged_count"]) == (rows - 4, 4, 0)
    batches = await admin.batches()
    jobs = {str(b["jobId"]) for b in batches}
    assert first_job in jobs and len(jobs) == 2, jobs
    assert 400 in await admin.statuses("batch_create")  # a batch hit the closed job ...
    assert entity_counts(batches) == rows - 4  # ... and was resent to the new one, once
    assert sorted(event["job_ids"]) == sorted(jobs)
    assert_last_upserts(batches, rows)
    assert_positions(sandbox, rows)
