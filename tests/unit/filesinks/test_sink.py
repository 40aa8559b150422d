"""The rolling sink on a local folder: rolls, commits, restarts and failures, every record exactly once.

A small in-memory "Kafka" (partitions of records, committed offsets) drives the sink the way a consumer
will: add each record, commit the offsets each call reports. Crashes are simulated by abandoning a sink
without flushing it (and sometimes without committing the offsets it last reported), then starting a
new one from the committed offsets.
"""

from __future__ import annotations

import contextlib
import json
import random
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fluentsync.connectors.filesinks import (
    Commit,
    CsvFormat,
    DestinationError,
    FileSinkConfig,
    JsonlFormat,
    LocalDestination,
    LocalDestinationConfig,
    ParquetFormat,
    Position,
    RecordEncodingError,
    RollingConfig,
    RollingFileSink,
    SinkError,
)
from tests.unit.filesinks.helpers import crash

DAY = datetime(2024, 6, 1, 12, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def config(root: Path, **rolling: Any) -> FileSinkConfig:
    return FileSinkConfig(
        path="orders/{yyyy}/{mm}/{dd}/orders-{run}-{part}.{ext}",
        format=JsonlFormat(),
        rolling=RollingConfig(**({"max_records": None, "max_bytes": None, "max_age": 1e9} | rolling)),
        destination=LocalDestinationConfig(root=root / "out", fsync=False),
        spool_dir=root / "spool",
    )


def visible(root: Path) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for path in sorted((root / "out").rglob("*")):
        if path.is_file():
            assert not path.name.startswith("."), f"temporary file left visible: {path}"
            out[str(path.relative_to(root / "out"))] = [json.loads(line) for line in path.read_text().splitlines()]
    return out


def rec(p: int, o: int, **extra: Any) -> dict[str, Any]:
    return {"p": p, "o": o, **extra}


def pos(p: int, o: int, ts: datetime = DAY, run: str | None = None) -> Position:
    return Position(p, o, ts, run)


@dataclass
class Kafka:
    """Partitions of records and a consumer group's committed offsets."""

    partitions: int
    per_partition: int
    committed: dict[int, int] = field(default_factory=dict)
    bad_every: int = 0

    def records_from_committed(self) -> Iterator[tuple[dict[str, Any], Position]]:
        """Round-robin over partitions, each from its committed offset (like a consumer's fetches)."""
        cursors = {p: self.committed.get(p, 0) for p in range(self.partitions)}
        while any(c < self.per_partition for c in cursors.values()):
            for p in range(self.partitions):
                o = cursors[p]
                if o < self.per_partition:
                    cursors[p] = o + 1
                    record = rec(p, o, payload="x" * (o % 7)) if not self.bad(o) else {"p": p, "o": object()}
                    yield record, pos(p, o, DAY + timedelta(minutes=o))

    def bad(self, offset: int) -> bool:
        """Every ``bad_every``-th record cannot be encoded: the consumer dead-letters it and goes on."""
        return bool(self.bad_every) and offset % self.bad_every == 5

    def commit(self, commit: Commit) -> None:
        for p, o in commit.offsets.items():
            assert o >= self.committed.get(p, 0), "offsets never go backwards"
            self.committed[p] = o


def assert_exactly_once(root: Path, kafka: Kafka) -> None:
    files = visible(root)
    seen = Counter((r["p"], r["o"]) for records in files.values() for r in records)
    expected = {(p, o) for p in range(kafka.partitions) for o in range(kafka.per_partition) if not kafka.bad(o)}
    assert set(seen) == expected, f"missing: {sorted(expected - set(seen))[:10]}"
    dupes = {k: n for k, n in seen.items() if n > 1}
    assert not dupes, f"duplicated: {sorted(dupes)[:10]}"
    for name, records in files.items():  # the name is the first record's partition and offset
        if not kafka.bad(records[0]["o"] - 1):  # (or a rejected record's just before it)
            assert name.endswith(f"-{records[0]['p']:03d}-{records[0]['o']:012d}.jsonl")
        assert [r["o"] for r in records] == sorted(r["o"] for r in records)


async def drain(sink: RollingFileSink, kafka: Kafka) -> None:
    while True:
        commit = await sink.flush()
        kafka.commit(commit)
        if not commit.pending:
            return


# -- rolling ----------------------------------------------------------------------------------------


async def test_rolls_by_records_and_reports_offsets_to_commit(tmp_path: Path) -> None:
    sink = RollingFileSink.from_config(config(tmp_path, max_records=4), topic="orders.out")
    reported = []
    for o in range(10):
        commit = await sink.add(rec(0, o), pos(0, o))
        if commit:
            reported.append((o, dict(commit.offsets), [f.name for f in commit.files]))
    assert reported == [
        (3, {0: 4}, ["orders/2024/06/01/orders-0-000-000000000000.jsonl"]),
        (7, {0: 8}, ["orders/2024/06/01/orders-0-000-000000000004.jsonl"]),
    ]
    final = await sink.flush()
    assert dict(final.offsets) == {0: 10} and final.files[0].records == 2 and final.files[0].first_offset == 8
    assert [len(v) for v in visible(tmp_path).values()] == [4, 4, 2]
    await sink.close()
    assert not list((tmp_path / "spool").iterdir()), "close removes the spool folder"


async def test_rolls_by_bytes(tmp_path: Path) -> None:
    sink = RollingFileSink.from_config(config(tmp_path, max_bytes=100), topic="t")
    for o in range(20):
        await sink.add(rec(0, o, pad="y" * 20), pos(0, o))
    await sink.flush()
    sizes = [p.stat().st_size for p in sorted((tmp_path / "out").rglob("*.jsonl"))]
    line = len(json.dumps(rec(0, 10, pad="y" * 20), separators=(",", ":"))) + 1
    assert all(100 <= s < 100 + line for s in sizes[:-1]) and sum(sizes) > 20 * (line - 2)
    await sink.close()


async def test_rolls_by_age_on_add_and_on_tick(tmp_path: Path) -> None:
    clock = Clock()
    sink = RollingFileSink.from_config(config(tmp_path, max_age=60), topic="t", clock=clock)
    await sink.add(rec(0, 0), pos(0, 0))
    await sink.add(rec(1, 0), pos(1, 0))
    clock.now += 30
    assert not await sink.tick()
    await sink.add(rec(0, 1), pos(0, 1))
    clock.now += 31  # both files are now 61 s old
    assert dict((await sink.add(rec(0, 2), pos(0, 2))).offsets) == {0: 2, 1: 1}
    assert dict((await sink.tick(clock.now + 60)).offsets) == {0: 3}
    assert sorted(len(v) for v in visible(tmp_path).values()) == [1, 1, 2]
    await sink.close()


async def test_a_file_never_spans_two_dates_or_runs(tmp_path: Path) -> None:
    sink = RollingFileSink.from_config(config(tmp_path), topic="t")
    midnight = datetime(2024, 6, 1, 23, 59, tzinfo=UTC)
    await sink.add(rec(0, 0), pos(0, 0, midnight))
    commit = await sink.add(rec(0, 1), pos(0, 1, midnight + timedelta(minutes=2)))
    assert dict(commit.offsets) == {0: 1}
    await sink.add(rec(0, 2), pos(0, 2, midnight + timedelta(minutes=3), run="r2"))
    await sink.flush()
    assert sorted(visible(tmp_path)) == [
        "orders/2024/06/01/orders-0-000-000000000000.jsonl",
        "orders/2024/06/02/orders-0-000-000000000001.jsonl",
        "orders/2024/06/02/orders-r2-000-000000000002.jsonl",
    ]
    await sink.close()


# -- exactly once across restarts -----------------------------------------------------------------


@pytest.mark.parametrize("seed", range(10))
async def test_every_record_exactly_once_across_crashes_and_restarts(tmp_path: Path, seed: int) -> None:
    """Random file sizes, time rolls, destination outages (files queue up, then go in a burst) and
    crashes, sometimes between a file's commit and the Kafka commit."""
    rng = random.Random(seed)
    kafka = Kafka(partitions=3, per_partition=120, bad_every=37)
    clock = Clock()
    for _life in range(6):
        cfg = config(tmp_path, max_records=rng.randint(1, 25), max_bytes=rng.choice([None, 300]), max_age=5.0)
        destination = FlakyDestination(tmp_path / "out", failures=0, rng=rng, failure_rate=rng.choice([0, 0.3]))
        sink = RollingFileSink(cfg, destination, topic="orders.out", clock=clock)
        crash_at = rng.randint(0, 150)
        lose_last_commit = rng.random() < 0.5  # crash between a file commit and the Kafka commit
        for step, (record, position) in enumerate(kafka.records_from_committed()):
            clock.now += rng.choice([0.0, 0.1, 0.5, 3.0])  # time rolls differ from life to life
            try:
                commit = await sink.add(record, position)
            except (DestinationError, RecordEncodingError):
                continue  # consumed: in a queued file, or dead-lettered; the offsets come with a later call
            if step >= crash_at:
                if not (commit and lose_last_commit):
                    kafka.commit(commit)
                break  # crash: the sink is abandoned mid-file, never flushed
            kafka.commit(commit)
        await crash(sink)
    sink = RollingFileSink.from_config(config(tmp_path, max_records=17), topic="orders.out", clock=clock)
    for record, position in kafka.records_from_committed():
        with contextlib.suppress(RecordEncodingError):
            kafka.commit(await sink.add(record, position))
    await drain(sink, kafka)
    await sink.close()
    assert kafka.committed == {0: 120, 1: 120, 2: 120}
    assert_exactly_once(tmp_path, kafka)
    assert list((tmp_path / "spool").iterdir()) == [], "crashed sinks' spool folders are swept"


async def test_crash_after_file_commit_before_offset_commit_rewrites_the_same_file(tmp_path: Path) -> None:
    kafka = Kafka(partitions=1, per_partition=10)
    sink = RollingFileSink.from_config(config(tmp_path, max_records=6), topic="t")
    for record, position in kafka.records_from_committed():
        if await sink.add(record, position):
            break  # the file 0..5 is visible, but the offset 6 is never committed
    await crash(sink)
    assert kafka.committed == {}
    [(name, records)] = visible(tmp_path).items()
    assert len(records) == 6
    # the restarted sink rolls earlier this time: the rewritten file is shorter and replaces the old one
    sink = RollingFileSink.from_config(config(tmp_path, max_records=4), topic="t")
    for record, position in kafka.records_from_committed():
        kafka.commit(await sink.add(record, position))
    await drain(sink, kafka)
    await sink.close()
    assert len(visible(tmp_path)[name]) == 4
    assert_exactly_once(tmp_path, kafka)


async def test_at_most_one_file_per_partition_ahead_of_kafka(tmp_path: Path) -> None:
    """Two files of a partition ready in one call: the second waits for the first one's offset commit."""
    sink = RollingFileSink.from_config(config(tmp_path, max_records=1), topic="t")
    assert dict((await sink.add(rec(0, 0), pos(0, 0))).offsets) == {0: 1}
    midnight = DAY + timedelta(days=1)
    commit = await sink.add(rec(0, 1), pos(0, 1, midnight))  # the file is full at once
    assert dict(commit.offsets) == {0: 2} and not commit.pending
    await sink.close()
    # a destination that is down queues files; when it is back, they come one per partition per call
    broken = FlakyDestination(tmp_path / "out", failures=2)
    sink = RollingFileSink(config(tmp_path, max_records=1), broken, topic="t")
    for o in range(2, 4):
        with pytest.raises(DestinationError):
            await sink.add(rec(0, o), pos(0, o))
    first = await sink.flush()
    assert dict(first.offsets) == {0: 3} and first.pending
    second = await sink.flush()
    assert dict(second.offsets) == {0: 4} and not second.pending
    await sink.close()


async def test_on_commit_callback_commits_each_file_before_the_next(tmp_path: Path) -> None:
    calls: list[dict[int, int]] = []

    async def on_commit(commit: Commit) -> None:
        calls.append(dict(commit.offsets))

    broken = FlakyDestination(tmp_path / "out", failures=3)
    sink = RollingFileSink(config(tmp_path, max_records=2), broken, topic="t", on_commit=on_commit)
    returned: list[dict[int, int]] = []
    for o in range(7):
        with contextlib.suppress(DestinationError):
            returned.append(dict((await sink.add(rec(0, o), pos(0, o))).offsets))
    # the file 0..1 failed three times; the add of 4 commits it and then 2..3, each followed by its callback
    assert calls == [{0: 2}, {0: 4}, {0: 6}]
    assert returned == [{}, {0: 4}, {0: 6}, {}]
    commit = await sink.flush()
    assert calls[-1] == {0: 7} and dict(commit.offsets) == {0: 7} and not commit.pending
    await sink.close()


# -- redelivery, seeks, rejects, failures -----------------------------------------------------------


async def test_redelivered_records_are_skipped_and_a_seek_back_restarts_the_file(tmp_path: Path) -> None:
    sink = RollingFileSink.from_config(config(tmp_path, max_records=3), topic="t")
    for o in range(5):
        await sink.add(rec(0, o), pos(0, o))
    assert not await sink.add(rec(0, 1), pos(0, 1))  # in a committed file: skipped
    await sink.add(rec(0, 3), pos(0, 3))  # the consumer seeked back to 3: the open file 3..4 restarts
    await sink.add(rec(0, 4, again=True), pos(0, 4))
    await sink.flush()
    files = visible(tmp_path)
    assert [[r["o"] for r in v] for v in files.values()] == [[0, 1, 2], [3, 4]]
    assert list(files.values())[1][1] == {"p": 0, "o": 4, "again": True}
    await sink.close()


async def test_seeking_into_the_middle_of_an_uncommitted_file_is_refused(tmp_path: Path) -> None:
    sink = RollingFileSink.from_config(config(tmp_path), topic="t")
    for o in range(5):
        await sink.add(rec(0, o), pos(0, o))
    with pytest.raises(SinkError, match="seek back to 0"):
        await sink.add(rec(0, 2), pos(0, 2))
    with pytest.raises(SinkError):
        await sink.add(rec(0, 3), pos(0, 3))
    for o in range(3):  # seeking back to the file's first offset recovers
        await sink.add(rec(0, o), pos(0, o))
    assert dict((await sink.flush()).offsets) == {0: 3}
    await sink.close()


async def test_rejected_records_are_consumed_but_not_written(tmp_path: Path) -> None:
    sink = RollingFileSink.from_config(config(tmp_path, max_records=3), topic="t")
    await sink.add(rec(0, 0), pos(0, 0))
    with pytest.raises(RecordEncodingError):
        await sink.add({"bad": {1, 2} | {object()}}, pos(0, 1))
    with pytest.raises(RecordEncodingError):  # the third record (rejected too) rolls the file
        await sink.add({"bad": object()}, pos(0, 2))
    commit = await sink.add(rec(0, 3), pos(0, 3))  # the roll's report arrives with the next call
    assert dict(commit.offsets) == {0: 3} and commit.files[0].records == 1
    for o in (4, 5, 6):  # a file of rejects only: nothing written, offsets still move on
        with pytest.raises(RecordEncodingError):
            await sink.add({"bad": object()}, pos(0, o))
    assert dict((await sink.flush()).offsets) == {0: 7}
    assert [[r["o"] for r in v] for v in visible(tmp_path).values()] == [[0], [3]]
    await sink.close()


class FlakyDestination(LocalDestination):
    """A real local destination whose first ``failures`` puts fail (a disk full, a network outage), and
    then a ``failure_rate`` of them."""

    def __init__(self, root: Path, failures: int, rng: random.Random | None = None, failure_rate: float = 0) -> None:
        super().__init__(root, fsync=False)
        self.failures = failures
        self.rng = rng or random.Random(0)
        self.failure_rate = failure_rate

    async def put(self, local: Path, name: str) -> str:
        if self.failures or self.rng.random() < self.failure_rate:
            self.failures = max(0, self.failures - 1)
            raise DestinationError(f"write {name}: no space left on device")
        return await super().put(local, name)


async def test_a_failed_upload_stays_queued_and_is_retried_in_order(tmp_path: Path) -> None:
    destination = FlakyDestination(tmp_path / "out", failures=1)
    sink = RollingFileSink(config(tmp_path, max_records=2), destination, topic="t")
    await sink.add(rec(0, 0), pos(0, 0))
    with pytest.raises(DestinationError):
        await sink.add(rec(0, 1), pos(0, 1))
    assert visible(tmp_path) == {}
    commit = await sink.add(rec(0, 2), pos(0, 2))  # the queued file goes first
    assert dict(commit.offsets) == {0: 2}
    assert dict((await sink.add(rec(0, 3), pos(0, 3))).offsets) == {0: 4}
    assert [[r["o"] for r in v] for v in visible(tmp_path).values()] == [[0, 1], [2, 3]]
    await sink.close()


async def test_discard_forgets_partitions_without_committing(tmp_path: Path) -> None:
    sink = RollingFileSink.from_config(config(tmp_path, max_records=10), topic="t")
    for p in (0, 1):
        for o in range(3):
            await sink.add(rec(p, o), pos(p, o))
    await sink.discard([1])
    assert sink.open_partitions() == {0: (0, 2, 3)}
    assert dict((await sink.flush()).offsets) == {0: 3}
    await sink.close()
    with pytest.raises(RuntimeError):
        await sink.add(rec(0, 3), pos(0, 3))


def test_position_from_kafka_timestamp() -> None:
    assert Position.from_kafka(1, 5, 1717243200000).timestamp == datetime(2024, 6, 1, 12, tzinfo=UTC)
    assert Position.from_kafka(1, 5, None).timestamp.year == 1970
    assert Position.from_kafka(1, 5, -1, run="r").run == "r"


# -- other formats through the sink, and flat memory ------------------------------------------------


async def test_csv_and_parquet_files_through_the_sink(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    schema = {"type": "record", "name": "R", "fields": [{"name": "p", "type": "int"}, {"name": "o", "type": "long"}]}
    for fmt in (CsvFormat(), ParquetFormat(row_group_records=3)):
        cfg = config(tmp_path / fmt.type, max_records=5).model_copy(update={"format": fmt})
        sink = RollingFileSink.from_config(cfg, topic="t", avro_schema=schema)
        for o in range(12):
            await sink.add(rec(0, o), pos(0, o))
        await sink.flush()
        await sink.close()
        files = sorted((tmp_path / fmt.type / "out").rglob(f"*.{fmt.type}"))
        assert len(files) == 3
        if fmt.type == "csv":
            assert files[0].read_text().splitlines() == ["p,o", "0,0", "0,1", "0,2", "0,3", "0,4"]
        else:
            assert [r["o"] for f in files for r in pq.read_table(f).to_pylist()] == list(range(12))


@pytest.mark.parametrize("fmt", [JsonlFormat(), CsvFormat(), ParquetFormat(row_group_records=500)])
async def test_memory_stays_flat_however_many_records(tmp_path: Path, fmt: Any) -> None:
    async def peak(records: int) -> int:
        cfg = config(tmp_path / str(records)).model_copy(update={"format": fmt})
        sink = RollingFileSink.from_config(cfg, topic="t")
        tracemalloc.start()
        try:
            for o in range(records):
                await sink.add({"o": o, "sku": f"SKU-{o:08d}", "qty": o % 97, "loc": {"ref": "L1"}}, pos(0, o))
            await sink.flush()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            await sink.close()

    small, large = await peak(1_000), await peak(4_000)
    assert large < small * 1.5 + 256 * 1024, (small, large)


async def test_offsets_a_failed_call_could_not_return_hold_the_partitions_next_file(tmp_path: Path) -> None:
    sink = RollingFileSink.from_config(config(tmp_path, max_records=2, max_bytes=100), topic="t")
    await sink.add(rec(0, 0), pos(0, 0))
    with pytest.raises(RecordEncodingError):  # the file 0..1 is committed, but the call raises
        await sink.add({"bad": object()}, pos(0, 1))
    commit = await sink.add(rec(0, 2, pad="z" * 200), pos(0, 2))  # full at once, but {0: 2} was never handed over
    assert dict(commit.offsets) == {0: 2} and commit.pending
    assert len(visible(tmp_path)) == 1
    commit = await sink.flush()
    assert dict(commit.offsets) == {0: 3} and not commit.pending and len(visible(tmp_path)) == 2
    await sink.close()
