"""Pending verdicts: the table layout, the per-key gate and the verifier's submit / verdict / resume cycle.

The table is a dict that records, for every write and delete, the partition of Faust's *current event*:
that is what Faust uses as the changelog partition, and the promise under test is that rows written from
poller tasks land in the partition of the records they belong to.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from typing import Any

import pytest
from faust.streams import current_event

from fluentsync.connectors.fluent import BatchStatus
from fluentsync.schemas.records import BatchRecord
from fluentsync.streams.agents.pending import (
    KeyGate,
    PendingIndex,
    PendingRows,
    batch_header,
    decode_chunk,
    encode_chunks,
    key_hash,
)
from fluentsync.streams.agents.verifier import PartitionEvent, Verdict, Verifier
from fluentsync.streams.sinks import StatusPollSettings

FAST = StatusPollSettings(intervals=(0.02, 0.02, 0.02), min_interval=0.01, poll_timeout=5)


class PartitionedDict(dict[bytes, bytes]):
    """A table stand-in that remembers the current event's partition of each write and delete."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: dict[bytes, int] = {}
        self.deletes: dict[bytes, int] = {}

    @staticmethod
    def _partition() -> int:
        event = current_event()
        assert event is not None, "table written outside an event"
        return int(event.message.partition)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.writes[key] = self._partition()
        super().__setitem__(key, value)

    def __delitem__(self, key: bytes) -> None:
        self.deletes[key] = self._partition()
        super().__delitem__(key)


class FakeJobs:
    """``get_batch``: RUNNING until ``done`` holds the batch id, then COMPLETE with its errors."""

    def __init__(self) -> None:
        self.done: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[str] = []

    async def get_batch(self, job_id: str, batch_id: str) -> BatchStatus:
        self.calls.append(batch_id)
        if batch_id in self.done:
            body = {"id": batch_id, "status": "COMPLETE", "errors": self.done[batch_id]}
        else:
            body = {"id": batch_id, "status": "RUNNING"}
        return BatchStatus.from_body(body, job_id=job_id, batch_id=batch_id)


def record(i: int) -> BatchRecord:
    return BatchRecord(f"K-{i}", {"sku": f"S-{i}"}, i, "chunk-00000", i + 2, None, i + 1)


def rows(partition: int, offset: int, positions: range) -> tuple[Any, PendingRows]:
    pending = PendingRows()
    for i in positions:
        pending.add(i, offset, f"K-{i}".encode(), f"d{i}", False, None, record(i), {"skuRef": f"S-{i}"})
    return PartitionEvent("records.inv", partition), pending


class Harness:
    def __init__(self, table: PartitionedDict | None = None, owned: set[int] | None = None,
                 settings: StatusPollSettings = FAST) -> None:
        self.table = table if table is not None else PartitionedDict()
        self.jobs = FakeJobs()
        self.gate = KeyGate()
        self.verdicts: list[Verdict] = []
        self.applied = asyncio.Event()
        self.owned = owned or {0, 1}
        self.verifier = Verifier("inv", self.table, "records.inv", self.jobs, settings, self.gate, self.apply,
                                 owned=lambda: self.owned)

    async def apply(self, verdict: Verdict) -> None:
        self.verdicts.append(verdict)
        self.applied.set()

    async def submit(self, batch_id: str, parts: dict[int, tuple[int, range]]) -> None:
        size = sum(len(positions) for _, positions in parts.values())
        for _, positions in parts.values():
            for i in positions:
                self.gate.acquire(key_hash(f"K-{i}".encode()))
        await self.verifier.submit("J1", batch_id, "f.csv", size,
                                   {p: rows(p, offset, positions) for p, (offset, positions) in parts.items()})

    async def until(self, check: Any, timeout: float = 5.0) -> None:
        """Wait for ``check()`` to hold; it is re-checked after each verdict applied."""
        async def wait() -> None:
            while not check():
                self.applied.clear()
                await self.applied.wait()

        await asyncio.wait_for(wait(), timeout)


# -- layout ------------------------------------------------------------------------------------------


def test_rows_round_trip_and_chunks_stay_small() -> None:
    big = {"skuRef": "S", "note": "x" * 3000}
    pending = PendingRows()
    for i in range(200):
        pending.add(i, 7, f"K-{i}".encode(), None, i == 3, 1700, record(i), big)
    chunks = encode_chunks({"p": 1, "job": "J", "batch": "B", "n": 200}, pending, limit=64 * 1024)
    originals = [zlib.decompress(c[5 + int.from_bytes(c[1:5], "big"):]) for c in chunks]
    assert len(chunks) > 5 and all(len(o) < 64 * 1024 + 4000 for o in originals)
    assert sum(map(len, chunks)) < sum(map(len, pending.originals)) / 5  # compressed
    decoded = [row for chunk in chunks for row in decode_chunk(chunk)[1]]
    meta = decode_chunk(chunks[0])[0]
    assert (meta["p"], meta["batch"], meta["n"]) == (1, "B", 200) and "c" not in meta
    assert [r.position for r in decoded] == list(range(200))
    row = decoded[3]
    assert (row.offset, row.key, row.digest, row.delete, row.generation) == (7, b"K-3", None, True, 1700)
    assert row.record == record(3) and row.payload == big


def test_originals_are_decoded_only_when_read() -> None:
    pending = PendingRows()
    for i in range(3):
        pending.add(i, 9, f"K-{i}".encode(), f"d{i}", False, None, record(i), {"skuRef": f"S-{i}"})
    [value] = encode_chunks({"p": 0, "job": "J", "batch": "B", "n": 3}, pending)
    broken = value[:-4] + b"\x00\x00\x00\x00"  # the originals' zlib stream is damaged
    _, decoded = decode_chunk(broken)
    assert [(r.key, r.digest, r.offset) for r in decoded] == [(b"K-0", "d0", 9), (b"K-1", "d1", 9), (b"K-2", "d2", 9)]
    with pytest.raises(zlib.error):
        assert decoded[1].payload is None
    assert decode_chunk(value)[1][2].payload == {"skuRef": "S-2"}


def test_chunks_in_the_earlier_row_layout_are_read() -> None:
    legacy = [[i, 4, f"K-{i}", f"d{i}", 0, None, i, "chunk-00000", i + 2, None, i + 1, {"sku": f"S-{i}"},
               {"skuRef": f"S-{i}"}] for i in range(2)]
    value = zlib.compress(json.dumps({"p": 0, "job": "J", "batch": "B", "n": 2, "rows": legacy}).encode())
    meta, decoded = decode_chunk(value)
    assert meta == {"p": 0, "job": "J", "batch": "B", "n": 2}
    assert [(r.position, r.offset, r.key, r.digest, r.delete) for r in decoded] == [
        (0, 4, b"K-0", "d0", False), (1, 4, b"K-1", "d1", False)]
    assert decoded[1].record == record(1) and decoded[1].payload == {"skuRef": "S-1"}


def test_batch_header_drops_record_arrays_and_is_json() -> None:
    from datetime import UTC, datetime

    batch = {"batch_id": "b1", "record_keys": ["k"], "rows": [["1"]], "columns": ["a"],
             "last_modified": datetime(2026, 1, 1, tzinfo=UTC), "file": {"path": "a.csv"}}
    header = batch_header(batch)
    assert header == {"batch_id": "b1", "last_modified": 1767225600000, "file": {"path": "a.csv"}}
    json.dumps(header)


async def test_the_gate_counts_versions_and_wakes_waiters() -> None:
    gate = KeyGate()
    gate.acquire(1)
    gate.acquire(1)
    waiter = gate.waiter(1)
    gate.release(1)
    assert gate.busy(1) and not waiter.done()
    gate.release(1)
    assert not gate.busy(1) and waiter.done()
    assert gate.waiter(2).done()  # a free key does not wait


def test_index_tracks_records_and_finds_a_key() -> None:
    index = PendingIndex()
    index.add(("J", "B1"), 0, [b"F|0|J|B1|0"], [11, 12], 3)
    index.add(("J", "B1"), 1, [b"F|1|J|B1|0"], [13], 3)
    index.add(("J", "B2"), 1, [b"F|1|J|B2|0"], [14], 1)
    assert (index.records, len(index), index.batch_of(13), index.batch_of(99)) == (4, 2, ("J", "B1"), None)
    dropped, emptied = index.drop_partitions({1})
    assert sorted(list(p.hashes) for p in dropped) == [[13], [14]] and emptied == [("J", "B2")]
    assert index.records == 2 and index.size(("J", "B1")) == 3


# -- the verifier ------------------------------------------------------------------------------------


async def test_a_verdict_reaches_each_partition_with_its_problems_and_the_rows_go() -> None:
    h = Harness()
    await h.submit("B1", {0: (40, range(0, 3)), 1: (9, range(3, 5))})
    chunk0, chunk1 = b"F|0|J1|B1|0", b"F|1|J1|B1|0"
    assert h.table.writes == {chunk0: 0, chunk1: 1}  # each part in its records partition
    assert (h.verifier.records, h.verifier.poller.pending) == (5, 1)
    await asyncio.sleep(0.1)
    assert not h.verdicts and h.gate.busy(key_hash(b"K-4"))  # still RUNNING: nothing applied

    h.jobs.done["B1"] = [{"code": "C0160E", "message": "Bad location", "entityIndex": 4}]
    await h.until(lambda: len(h.verdicts) == 2)
    by_partition = {v.partition: v for v in h.verdicts}
    assert [(r.key, p) for r, p in by_partition[0].rows] == [(b"K-0", None), (b"K-1", None), (b"K-2", None)]
    (_, ok), (bad, problem) = by_partition[1].rows
    assert ok is None and bad.key == b"K-4" and bad.offset == 9 and problem is not None
    assert (problem.stage, problem.code, problem.message) == ("FLUENT", "C0160E", "C0160E: Bad location")
    assert h.table == {} and h.table.deletes == {chunk0: 0, chunk1: 1}
    assert not h.gate.busy(key_hash(b"K-4")) and len(h.gate) == 0 and h.verifier.records == 0
    await h.verifier.aclose()


async def test_pending_batches_resume_from_the_table_after_a_restart() -> None:
    first = Harness()
    await first.submit("B1", {0: (40, range(0, 2))})
    await first.submit("B2", {1: (41, range(2, 3))})
    await first.verifier.aclose()  # the worker dies; the table (changelog) survives

    second = Harness(first.table, owned={1})  # this worker owns partition 1 only
    await second.verifier.recovered()
    assert second.verifier.poller.pending == 1 and second.verifier.records == 1
    assert second.gate.busy(key_hash(b"K-2")) and not second.gate.busy(key_hash(b"K-0"))
    second.jobs.done["B2"] = []
    await second.until(lambda: len(second.verdicts) == 1)
    assert [r.key for r, _ in second.verdicts[0].rows] == [b"K-2"] and second.verdicts[0].status == "COMPLETE"
    assert b"F|1|J1|B2|0" not in second.table and b"F|0|J1|B1|0" in second.table  # partition 0 untouched
    await second.verifier.aclose()


async def test_resumed_batches_keep_their_poll_timeout() -> None:
    table = PartitionedDict()
    first = Harness(table)
    await first.submit("B1", {0: (40, range(0, 2))})
    await first.verifier.aclose()
    key = b"F|0|J1|B1|0"
    meta, decoded = decode_chunk(table[key])
    value = meta | {"rows": [[r.position, r.offset, r.key.decode(), r.digest, int(r.delete), r.generation,
                              r.record.record_index, r.record.chunk_id, r.record.line, r.record.byte_offset,
                              r.record.row_number, r.record.record, r.payload] for r in decoded]}
    value["at"] -= 3600  # acknowledged an hour ago: past poll_timeout (rewritten in the earlier row layout)
    with first.verifier.partition(0):
        table[key] = json.dumps(value).encode()
    second = Harness(table, owned={0})
    await second.verifier.recovered()
    await second.until(lambda: len(second.verdicts) == 1)
    problems = [p for _, p in second.verdicts[0].rows]
    assert second.verdicts[0].status == "TIMED_OUT" and all(p is not None and p.code == "TIMED_OUT" for p in problems)
    await second.verifier.aclose()


async def test_revoked_partitions_are_forgotten_and_release_their_keys() -> None:
    h = Harness()
    await h.submit("B1", {1: (5, range(0, 2))})
    await h.verifier.revoked({1})
    assert h.verifier.poller.pending == 0 and h.verifier.records == 0 and len(h.gate) == 0
    h.jobs.done["B1"] = []
    await asyncio.sleep(0.1)
    assert not h.verdicts and b"F|1|J1|B1|0" in h.table  # the new owner resolves it
    await h.verifier.aclose()


async def test_a_record_waiting_for_its_key_gets_its_batch_polled_early() -> None:
    slow = StatusPollSettings(intervals=(30, 30, 30), min_interval=0.01, poll_timeout=60)
    h = Harness(settings=slow)
    await h.submit("B1", {0: (40, range(0, 2))})
    h.jobs.done["B1"] = []
    await asyncio.wait_for(h.verifier.wait_key(key_hash(b"K-1")), 5)  # far less than the 30 s interval
    assert len(h.verdicts) == 1 and h.jobs.calls == ["B1"]
    await h.verifier.aclose()


async def test_a_failing_apply_keeps_the_rows_and_polls_again() -> None:
    h = Harness()
    failures = [RuntimeError("broker down")]
    applied = h.apply

    async def flaky(verdict: Verdict) -> None:
        if failures:
            raise failures.pop()
        await applied(verdict)

    h.verifier._apply = flaky
    await h.submit("B1", {0: (40, range(0, 2))})
    h.jobs.done["B1"] = []
    await h.until(lambda: len(h.verdicts) == 1)
    assert h.jobs.calls.count("B1") == 2 and h.table == {} and len(h.gate) == 0
    await h.verifier.aclose()

