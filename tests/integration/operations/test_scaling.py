"""Scaling out: workers of one pipeline share the partitions, and no record gets two outcomes.

Real ``fluentsync worker`` processes (same pipeline file and app id, each its own data dir), the embedded
broker and the Fluent sandbox. File events are keyed by path, so the worker owning a path's files
partition publishes, settles and archives that file; records are keyed by their business key, so each
worker sends the records of its own records partitions to Fluent. Every file has keys of its own, a
malformed row and an unmappable quantity, so each input record's outcome can be traced per key:
accepted (an entity in a sandbox batch of the file's job), rejected (a dead letter) or unchanged (the
rest, counted in the file's run report).

1. Two workers that joined together split the partitions; new files, the same files announced again and
   changed copies give every record exactly one outcome, and each worker settles exactly the files of
   its partitions.
2. A second worker joining while files keep arriving takes over half the partitions mid-stream: every
   file still settles once with exact counts, nothing is lost, and the newcomer settles its share.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from fluentsync.connectors.ingest.keys import RecordKeyBuilder
from fluentsync.connectors.ingest.publisher import file_event_key
from fluentsync.connectors.sources import FileRef
from fluentsync.schemas.codec import default_codec
from fluentsync.streams.config import load_pipeline
from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.partitioning import KeyPartitioner, crc32_partition
from fluentsync.streams.kafka.tail import TopicTail
from fluentsync.streams.kafka.topics import ensure_topics
from fluentsync.streams.worker import workflow_topic_specs
from tests.fixtures.pipelines import local_inbox, local_inbox_source, write_inventory_pipeline
from tests.fixtures.sandbox_admin import Admin
from tests.fixtures.workers import run_workers, shares_of, wait_for_shares, worker_process
from tests.integration.pipeline.test_recovery import drain

pytestmark = pytest.mark.integration

PARTITIONS = 4
ALL = frozenset(range(PARTITIONS))
ROWS = 50
MALFORMED, UNMAPPABLE, CHANGED = 3, 7, 11  #: row indexes: an extra cell, qty "abc", qty changed in a copy
KEYS = RecordKeyBuilder(["sku", "location"])


def sku(f: int, i: int) -> str:
    return f"F{f}-S-{i}"


def record_key(f: int, i: int) -> str:
    return KEYS({"sku": sku(f, i), "location": f"L-{i % 3}"})


def partner_csv(f: int, *, changed: bool = False) -> str:
    """File ``f``'s rows: keys of its own, one malformed row, one quantity the mapping refuses."""
    lines = ["sku,location,qty,status"]
    for i in range(ROWS):
        qty: Any = 1000 + i if changed and i == CHANGED else i
        extra = ",EXTRA" if i == MALFORMED else ""
        lines.append(f"{sku(f, i)},L-{i % 3},{'abc' if i == UNMAPPABLE else qty},ACTIVE{extra}")
    return "\n".join(lines) + "\n"


def file_key(workflow: str, source: str, location: str, path: str) -> bytes:
    """The Kafka key of a path's file events (every version of a path shares it)."""
    ref = FileRef(source=source, location=location, path=path, version="", size=0, last_modified=datetime.now(UTC))
    return file_event_key(workflow, ref)


def of_kind(events: list[dict[str, Any]], kind: str) -> Counter[str]:
    return Counter(e["file"]["path"] for e in events if e["kind"] == kind)


@dataclass
class Scene:
    """One workflow's pipeline file, topics and local inbox in a test's tmp_path."""

    workflow: str
    inbox: Path
    config: Path
    topics: WorkflowTopics

    @classmethod
    async def create(cls, tmp_path: Path, broker: EmbeddedBroker, sandbox: Any,
                     unique_name: Callable[[str], str]) -> Scene:
        workflow = unique_name("scale").replace("-", "_")
        inbox = local_inbox(tmp_path)
        config = write_inventory_pipeline(  # same file for every worker: same app id, so one consumer group
            tmp_path, bootstrap=broker.bootstrap, partitions=PARTITIONS, app_id=unique_name("app"), workflow=workflow,
            fluent=sandbox.fluent_config(), source=local_inbox_source(inbox),
            target={"max_batch_size": 40, "job_strategy": "per_file"},
        )
        # Topics first, with the pipeline's partition count, as an operator would: the workers then only
        # check them (nothing may auto-create one with the broker's default count).
        await ensure_topics(broker.bootstrap, workflow_topic_specs(load_pipeline(config)))
        return cls(workflow, inbox, config, WorkflowTopics.of(workflow))

    def partition(self, path: str) -> int:
        """The files partition of ``path`` (its file key includes the inbox folder)."""
        return crc32_partition(file_key(self.workflow, "local", str(self.inbox.resolve()), path), PARTITIONS)

    def names(self, stem: str, per_partition: int) -> list[str]:
        """Paths whose file events land ``per_partition`` on every files partition, in partition order."""
        per: dict[int, list[str]] = {p: [] for p in ALL}
        n = 0
        while any(len(paths) < per_partition for paths in per.values()):
            path = f"incoming/{stem}-{n:03d}.csv"
            if len(paths := per[self.partition(path)]) < per_partition:
                paths.append(path)
            n += 1
        return [path for p in sorted(ALL) for path in per[p]]

    def drop(self, path: str, content: str) -> None:
        """Write beside the pattern, then rename: the lister never sees half a file."""
        part = self.inbox / (path + ".part")
        part.write_text(content)
        os.replace(part, self.inbox / path)


def assert_one_outcome_each(path_of: dict[str, int], reports: list[dict[str, Any]], letters: list[dict[str, Any]],
                            batches: list[dict[str, Any]], changed: set[str]) -> set[str]:
    """Per file and record key: accepted (sent once, in the file's own job), rejected (one dead letter) or
    unchanged (the rest, as many as the run report counts) - never two of them. A file in ``changed`` is a
    copy of file ``f`` with one quantity changed: only that key may go to Fluent. Returns the sent keys."""
    by_path = {r["file"]["path"]: r for r in reports}
    job_file = {job: path for path, report in by_path.items() for job in report["job_ids"]}
    accepted: dict[str, Counter[str]] = {path: Counter() for path in path_of}
    for batch in batches:
        assert batch["jobId"] in job_file, f"a Fluent batch outside every file's jobs: {batch['jobId']}"
        for entity in batch["entities"]:
            accepted[job_file[batch["jobId"]]][KEYS({"sku": entity["skuRef"], "location": entity["locationRef"]})] += 1
    ids = Counter(letter["dead_letter_id"] for letter in letters)
    assert all(n == 1 for n in ids.values()), f"duplicate dead letters: {ids.most_common(3)}"
    rejected: dict[str, Counter[str]] = {path: Counter() for path in path_of}
    for letter in letters:
        path = letter["provenance"]["file"]["path"]
        rejected[path][record_key(path_of[path], letter["provenance"]["record_index"])] += 1

    for path, f in path_of.items():
        keys = {record_key(f, i) for i in range(ROWS)}
        sent, refused, report = set(accepted[path]), set(rejected[path]), by_path[path]
        assert all(n == 1 for n in accepted[path].values()), f"{path}: sent twice {accepted[path]}"
        assert not sent & refused, f"{path}: accepted and rejected: {sent & refused}"
        assert refused == {record_key(f, MALFORMED), record_key(f, UNMAPPABLE)}, (path, refused)
        assert sent == ({record_key(f, CHANGED)} if path in changed else keys - refused), (path, sent)
        unchanged = keys - sent - refused
        assert (report["record_count"], report["accepted"], report["rejected"], report["unchanged"]) == (
            ROWS, len(sent), len(refused), len(unchanged)), (path, report)
    return {key for counts in accepted.values() for key in counts}


async def test_two_workers_share_partitions_and_each_record_has_one_outcome(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, sandbox: Any, admin: Admin
) -> None:
    scene = await Scene.create(tmp_path, kafka_broker, sandbox, unique_name)
    topics = scene.topics
    first = scene.names("partner", 2)  # file f has keys F<f>-...; 2 files on every files partition
    second = scene.names("delta", 2)  # file f again, one quantity changed
    path_of = {path: f for names in (first, second) for f, path in enumerate(names)}

    async with TopicTail(kafka_broker.bootstrap, topics.files) as files, \
            TopicTail(kafka_broker.bootstrap, topics.dlq) as dlq, \
            TopicTail(kafka_broker.bootstrap, topics.reports) as reports:
        with run_workers(scene.config, tmp_path, 2) as workers:
            # Both in the group, each with its half, before any file exists: else the first one ready
            # could take every file before the second joins.
            shares = await wait_for_shares(workers, topics.files, PARTITIONS, timeout=120)
            records_shares = [(log.assignment() or {}).get(topics.records) for _, log in workers]
            assert records_shares == shares, f"records not co-partitioned with files: {records_shares}"

            # Round 1: new keys.
            for f, path in enumerate(first):
                scene.drop(path, partner_csv(f))
            await files.until(lambda e: set(first) <= set(of_kind(e, "ARCHIVED")), timeout=90)

            # Each file announced again, as a new leader re-listing the inbox would: the worker owning
            # the path's partition skips what it already did.
            codec = default_codec()
            announced = [e for e in files.items if e["kind"] == "DISCOVERED" and e["file"]["path"] in first]
            producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap, partitioner=KeyPartitioner())
            await producer.start()
            try:
                for event in announced:
                    key = file_key(scene.workflow, event["file"]["source"], event["file"]["location"],
                                   event["file"]["path"])
                    await producer.send_and_wait(topics.files, codec.encode("fluentsync.files.FileEvent", event),
                                                 key=key)
            finally:
                await producer.stop()
            await files.until(lambda e: sum(of_kind(e, "SKIPPED").values()) >= len(announced), timeout=60)

            # Round 2: the same keys again, one quantity changed per file.
            for f, path in enumerate(second):
                scene.drop(path, partner_csv(f, changed=True))
            await files.until(lambda e: set(second) <= set(of_kind(e, "ARCHIVED")), timeout=90)
            await drain(files)
            await reports.until(lambda r: len(r) >= len(path_of), timeout=30)
            await dlq.until(lambda d: len(d) >= 2 * len(path_of), timeout=30)
            await drain(reports)
            await drain(dlq)
            settled_by = [log.settled(scene.workflow) for _, log in workers]
            batches = await admin.batches()

    # Every file processed once, by the worker owning its files partition.
    assert len(announced) == len(first)
    skipped = [e for e in files.items if e["kind"] == "SKIPPED"]
    assert len(skipped) == len(announced) and all(e["reason"] == "already archived" for e in skipped), skipped
    for kind in ("STARTED", "COMPLETED", "SETTLED", "ARCHIVED"):
        assert of_kind(files.items, kind) == Counter(list(path_of)), f"{kind}: {of_kind(files.items, kind)}"
    by_path = {r["file"]["path"]: r for r in reports.items}
    assert len(reports.items) == len(by_path) == len(path_of), [r["file"]["path"] for r in reports.items]
    path_of_uri = {by_path[path]["source_uri"]: path for path in path_of}
    for (_, log), share, done in zip(workers, shares, settled_by, strict=True):
        mine = {uri for uri, path in path_of_uri.items() if scene.partition(path) in share}
        assert set(done) == mine, f"{log.path.name} owns files partitions {sorted(share)}, settled {sorted(done)}"
        assert len(done) == 2 * 2 * len(share)  # both workers did work: 2 files a partition, 2 rounds
        for uri, counts in done.items():
            report = by_path[path_of_uri[uri]]
            assert counts == (report["accepted"], report["rejected"], report["unchanged"])

    # One outcome per input record; the sent keys hash onto every records partition, so both workers'
    # records agents sent to Fluent (each owns half of them).
    sent = assert_one_outcome_each(path_of, reports.items, dlq.items, batches, changed=set(second))
    assert {crc32_partition(key.encode(), PARTITIONS) for key in sent} == ALL
    retailer = str(sandbox.retailer_id)
    for f in range(len(first)):
        found = sandbox.state.store.position_for(f"DEFAULT:{retailer}", f"L-{CHANGED % 3}", sku(f, CHANGED), retailer)
        assert found is not None and dict(found)["onHand"] == 1000 + CHANGED


async def test_a_worker_joining_mid_stream_takes_its_share_and_nothing_is_counted_twice(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, sandbox: Any, admin: Admin
) -> None:
    scene = await Scene.create(tmp_path, kafka_broker, sandbox, unique_name)
    topics = scene.topics
    path_of: dict[str, int] = {}

    def feed(path: str) -> None:
        path_of[path] = len(path_of)
        scene.drop(path, partner_csv(path_of[path]))

    async with TopicTail(kafka_broker.bootstrap, topics.files) as files, \
            TopicTail(kafka_broker.bootstrap, topics.dlq) as dlq, \
            TopicTail(kafka_broker.bootstrap, topics.reports) as reports:
        with worker_process(scene.config, tmp_path, 1) as first:
            assert await wait_for_shares([first], topics.files, PARTITIONS) == [ALL]  # alone: everything
            for path in scene.names("before", 1):
                feed(path)
            await files.until(lambda e: set(path_of) <= set(of_kind(e, "ARCHIVED")), timeout=90)

            with worker_process(scene.config, tmp_path, 2) as second:
                # Files keep arriving while the second worker starts, joins and the group rebalances.
                deadline = time.monotonic() + 120
                while (shares := shares_of([first, second], topics.files, PARTITIONS)) is None:
                    assert time.monotonic() < deadline, f"no shared assignment in 120 s: {second[1].tail()}"
                    feed(f"incoming/during-{len(path_of):03d}.csv")
                    await asyncio.sleep(0.5)  # the pace files arrive at, not a synchronisation
                during = [path for path in path_of if "/during-" in path]
                after = scene.names("after", 1)  # one on every partition: each worker gets some
                for path in after:
                    feed(path)
                await files.until(lambda e: set(path_of) <= set(of_kind(e, "ARCHIVED")), timeout=120)
                await drain(files)
                await reports.until(lambda r: len(r) >= len(path_of), timeout=30)
                await dlq.until(lambda d: len({x["dead_letter_id"] for x in d}) >= 2 * len(path_of), timeout=30)
                await drain(reports)
                await drain(dlq)
                settled_by = [log.settled(scene.workflow) for _, log in (first, second)]
                batches = await admin.batches()

    assert during, "the second worker joined before any file arrived during its start"
    assert shares[0] | shares[1] == ALL and not shares[0] & shares[1] and all(shares)
    # Each file settled once, with its exact counts, reported once.
    for kind in ("SETTLED", "ARCHIVED"):
        assert of_kind(files.items, kind) == Counter(list(path_of)), f"{kind}: {of_kind(files.items, kind)}"
    by_path = {r["file"]["path"]: r for r in reports.items}
    assert len(reports.items) == len(by_path) == len(path_of), [r["file"]["path"] for r in reports.items]
    for path, report in by_path.items():
        assert (report["record_count"], report["accepted"], report["rejected"], report["unchanged"]) == (
            ROWS, ROWS - 2, 2, 0), (path, report)
    # Each file settled by exactly one worker; after the rebalance each settles the files of its partitions.
    path_of_uri = {by_path[path]["source_uri"]: path for path in path_of}
    assert not set(settled_by[0]) & set(settled_by[1])
    assert set(settled_by[0]) | set(settled_by[1]) == set(path_of_uri)
    for done, share in zip(settled_by, shares, strict=True):
        assert {path_of_uri[uri] for uri in done} >= {path for path in after if scene.partition(path) in share}
    # Nothing lost: every valid record reached Fluent with its quantity (a record batch redelivered by the
    # rebalance may be sent twice: UPSERTs, at least once); every bad row has its dead letter.
    sent = Counter(KEYS({"sku": e["skuRef"], "location": e["locationRef"]}) for b in batches for e in b["entities"])
    expected = {record_key(f, i) for f in path_of.values() for i in range(ROWS) if i not in (MALFORMED, UNMAPPABLE)}
    assert set(sent) == expected, (sorted(expected - set(sent))[:5], sorted(set(sent) - expected)[:5])
    refused = {(x["provenance"]["file"]["path"], x["provenance"]["record_index"]) for x in dlq.items}
    assert refused == {(path, i) for path in path_of for i in (MALFORMED, UNMAPPABLE)}
    retailer = str(sandbox.retailer_id)
    for f in path_of.values():
        found = sandbox.state.store.position_for(f"DEFAULT:{retailer}", "L-0", sku(f, 42), retailer)
        assert found is not None and dict(found)["onHand"] == 42
