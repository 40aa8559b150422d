"""The status verdicts of acknowledged Fluent batches, kept in a table and polled beside ingestion (R38, R48).

The records agent hands every Fluent batch it got a 2xx for to :meth:`Verifier.submit`, which writes the
batch's records to the ``submitted-batches-<wf>`` table (layout: :mod:`.pending`) and registers the batch
with a :class:`~fluentsync.streams.sinks.BatchStatusPoller`; the agent then acknowledges its Kafka
messages and goes on with the next ones. When a batch's status is terminal (or it ran out of time:
``TIMED_OUT``), :meth:`Verifier._on_done` reads the batch's rows back, pairs each with its problem (None:
accepted) and hands them, one records partition at a time, to the agent's ``apply`` callback, which moves
baselines, dead-letters and settles record batches; only then are the rows deleted. Verdicts are applied
one at a time (a lock), because applying one reads, updates and writes record-batch entries.

Why the partition is chosen explicitly (:meth:`Verifier.partition`): Faust takes a table write's
changelog partition from the *current event*, and a verdict arrives in a poller task, long after the
records' own events were acknowledged and dropped. A stand-in event of the records partition makes the
rows, their deletion and the baselines land in the changelog partition of the records they belong to -
the partition whose owner recovers them.

After a crash or a rebalance (:meth:`Verifier.recovered`, run by Faust once the table is recovered and
before the stream resumes) the worker rebuilds its index from the entries of the partitions it owns and
polls those batches again: ``poll_timeout`` counts from the original acknowledgement, attempts from 0.
Revoked partitions (:meth:`Verifier.revoked`) are forgotten: their new owner resumes them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fluentsync import jsonbytes
from fluentsync.streams.kafka.context import in_event
from fluentsync.streams.problems import FieldProblem
from fluentsync.streams.sinks import BatchCompletion, BatchStatusPoller, BatchStatusSource, StatusPollSettings

from .pending import (
    BatchName,
    KeyGate,
    Part,
    PendingIndex,
    PendingRow,
    PendingRows,
    chunk_key,
    decode_chunk,
    encode_chunks,
    handed_key,
    key_hash,
)

__all__ = ["PartitionEvent", "Verdict", "Verifier"]

log = logging.getLogger(__name__)


class _Message:
    __slots__ = ("offset", "partition", "topic")

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self.offset = -1


class PartitionEvent:
    """Stands in for an event of one records partition, for table reads and writes outside the agent."""

    __slots__ = ("__weakref__", "message")

    def __init__(self, topic: str, partition: int) -> None:
        self.message = _Message(topic, partition)


@dataclass(frozen=True)
class Verdict:
    """The outcome of one Fluent batch for the records of one records partition."""

    job_id: str
    batch_id: str
    status: str
    partition: int
    rows: list[tuple[PendingRow, FieldProblem | None]]  #: each record and its problem; None: accepted

    @property
    def name(self) -> str:
        """How a record-batch entry lists this Fluent batch among those it awaits."""
        return f"{self.job_id}/{self.batch_id}"


ApplyVerdict = Callable[[Verdict], Awaitable[None]]


def problems_of(done: BatchCompletion[int]) -> dict[int, FieldProblem]:
    """Position -> problem for every entity of ``done`` that was not accepted."""
    problems: dict[int, FieldProblem] = {}
    for position, error in done.errors:
        text = f"{error.code}: {error.message}" if error.code else error.message
        problems[position] = FieldProblem("FLUENT", None, text, code=error.code)
    if done.timed_out:
        last = done.last_status.status if done.last_status is not None else "no status"
        timed_out = FieldProblem("FLUENT", None, f"batch {done.batch_id} of job {done.job_id} reported no final "
                                 f"status in time (last: {last})", code="TIMED_OUT")
        for position in done.timed_out:
            problems[position] = timed_out
    return problems


class Verifier:
    """Pending verdicts of one workflow on one worker: table entries, index, poller, per-key gate."""

    def __init__(self, name: str, table: Any, records_topic: str, jobs: BatchStatusSource,
                 settings: StatusPollSettings, gate: KeyGate, apply: ApplyVerdict, *,
                 on_completion: Callable[[BatchCompletion[int]], None] = lambda done: None,
                 on_room: Callable[[], None] = lambda: None,
                 owned: Callable[[], set[int]] = set,
                 wall: Callable[[], float] = time.time) -> None:
        self.name = name
        self.table = table
        self.records_topic = records_topic
        self.settings = settings
        self.gate = gate
        self.index = PendingIndex()
        self.poller: BatchStatusPoller[int] = BatchStatusPoller(jobs, settings, on_done=self._on_done)
        self._apply = apply
        self._on_completion = on_completion
        self._on_room = on_room
        self._owned_now = owned
        self._wall = wall
        self._owned: set[int] = set()
        self._lock = asyncio.Lock()
        self._started = False

    # -- state --------------------------------------------------------------------------------------
    @property
    def records(self) -> int:
        """Records awaiting a verdict on this worker."""
        return self.index.records

    @property
    def full(self) -> bool:
        """Intake should wait: the in-memory index holds ``max_awaiting_records``."""
        return self.index.records >= self.settings.max_awaiting_records

    @contextmanager
    def partition(self, partition: int) -> Iterator[None]:
        """Table operations inside the block go to ``partition`` (see the module docstring)."""
        event = PartitionEvent(self.records_topic, partition)  # in_event holds a weak reference
        with in_event(event):
            yield

    def handed(self, partition: int, offset: int) -> dict[str, Any] | None:
        """The entry of the record batch at ``offset`` if it was handed over and awaits verdicts."""
        with self.partition(partition):
            value = self.table.get(handed_key(partition, offset))
        return _loads(value) if value else None

    def put_handed(self, partition: int, offset: int, entry: Mapping[str, Any]) -> None:
        with self.partition(partition):
            self.table[handed_key(partition, offset)] = _dumps(entry)

    def drop_handed(self, partition: int, offset: int) -> None:
        with self.partition(partition):
            key = handed_key(partition, offset)
            if self.table.get(key) is not None:
                del self.table[key]

    # -- submit -------------------------------------------------------------------------------------
    async def submit(self, job_id: str, batch_id: str, job_key: str, size: int,
                     rows: Mapping[int, tuple[Any, PendingRows]]) -> None:
        """Keep a batch Fluent acknowledged: ``rows`` maps each records partition to ``(an event of that
        partition, its rows)``. Synchronous writes (the caller's keys are already in the gate; the index
        takes them over), then the batch is polled."""
        name = (job_id, batch_id)
        meta = {"job": job_id, "batch": batch_id, "jk": job_key, "at": self._wall(), "n": size}
        for partition, (event, pending) in rows.items():
            self._owned.add(partition)
            keys = pending.keys
            chunks = encode_chunks({"p": partition, **meta}, pending)
            table_keys = [chunk_key(partition, job_id, batch_id, number) for number in range(len(chunks))]
            with in_event(event):
                for key, value in zip(table_keys, chunks, strict=True):
                    self.table[key] = value
            self.index.add(name, partition, table_keys, (key_hash(k) for k in keys), size)
        await self._ensure_started()
        self.poller.watch(job_id, batch_id, range(size), job_key=job_key)

    async def _ensure_started(self) -> None:
        if not self._started:
            self._started = True
            await self.poller.start()

    # -- waiting for a key --------------------------------------------------------------------------
    async def wait_key(self, digest: int) -> None:
        """Wait until no version of a key is on its way or awaiting a verdict. The batch holding it is
        polled early (``expedite``), then again after 2, 4, ... ``min_interval`` while the wait lasts."""
        delay = self.settings.min_interval
        while self.gate.busy(digest):
            name = self.index.batch_of(digest)
            if name is not None:
                self.poller.expedite(*name)
            try:
                await asyncio.wait_for(asyncio.shield(self.gate.waiter(digest)), delay)
            except TimeoutError:
                delay = min(delay * 2, self.poller.interval())

    # -- verdicts -----------------------------------------------------------------------------------
    async def _on_done(self, done: BatchCompletion[int]) -> None:
        name = (done.job_id, done.batch_id)
        problems = problems_of(done)
        retry = False
        async with self._lock:
            if name not in self.index:
                return  # forgotten while polled (its partitions were revoked)
            self._on_completion(done)
            size = self.index.size(name)
            for partition, part in self.index.pop(name).items():
                if partition not in self._owned:
                    self.gate.release_all(part.hashes)
                    continue
                try:
                    rows = self._rows(partition, part)
                    await self._apply(Verdict(done.job_id, done.batch_id, done.status, partition,
                                              [(row, problems.get(row.position)) for row in rows]))
                    with self.partition(partition):
                        for key in part.keys:
                            if self.table.get(key) is not None:
                                del self.table[key]
                except Exception:
                    log.exception("workflow %s: applying the verdict of batch %s of job %s failed; polling it "
                                  "again", self.name, done.batch_id, done.job_id)
                    self.index.restore(name, part, size)
                    retry = True
                    continue
                self.gate.release_all(part.hashes)
        self._on_room()
        if retry:
            self.poller.watch(done.job_id, done.batch_id, range(size), job_key=done.job_key)

    def _rows(self, partition: int, part: Part) -> list[PendingRow]:
        rows: list[PendingRow] = []
        with self.partition(partition):
            for key in part.keys:
                value = self.table.get(key)
                if value:
                    rows.extend(decode_chunk(value)[1])
        return rows

    # -- rebalances ---------------------------------------------------------------------------------
    async def recovered(self) -> None:
        """After table recovery: index the entries of owned partitions not indexed yet, poll them again."""
        owned = self._owned_now()
        async with self._lock:
            fresh = owned - self._owned
            self._owned |= owned
            if not fresh:
                return
            found: dict[BatchName, tuple[str, float, int]] = {}
            count = 0
            for key, value in self.table.items():  # no await in this loop: nothing writes meanwhile
                if not key.startswith(b"F|") or not value or int(key.split(b"|", 2)[1]) not in fresh:
                    continue
                meta, rows = decode_chunk(value)
                partition = int(meta["p"])
                name = (str(meta["job"]), str(meta["batch"]))
                hashes = [key_hash(row.key) for row in rows]
                for digest in hashes:
                    self.gate.acquire(digest)
                self.index.add(name, partition, [key], hashes, int(meta["n"]))
                found[name] = (str(meta.get("jk") or ""), float(meta["at"]), int(meta["n"]))
                count += len(rows)
        if found:
            await self._ensure_started()
            now = self._wall()
            for (job_id, batch_id), (job_key, at, size) in found.items():
                self.poller.watch(job_id, batch_id, range(size), job_key=job_key, age=now - at)
            log.info("workflow %s: resuming the status of %d Fluent batches (%d records) on partitions %s",
                     self.name, len(found), count, sorted(fresh))

    async def revoked(self, partitions: set[int]) -> None:
        """Forget what ``partitions`` hold (their new owner polls them); waits for a verdict being applied."""
        async with self._lock:
            self._owned -= partitions
            dropped, emptied = self.index.drop_partitions(partitions)
            for part in dropped:
                self.gate.release_all(part.hashes)
            for name in emptied:
                self.poller.forget(*name)
        self._on_room()

    async def aclose(self) -> None:
        """Stop polling; verdicts being applied finish first. What is pending stays in the table."""
        await self.poller.aclose(finish_running=True)


def _dumps(value: Mapping[str, Any]) -> bytes:
    return jsonbytes.dumps(value)


def _loads(value: bytes) -> dict[str, Any]:
    data = jsonbytes.loads(value)
    if not isinstance(data, dict):
        raise ValueError(f"not a record-batch entry: {value[:80]!r}")
    return data
