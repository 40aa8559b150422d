"""The rolling file sink: Kafka records in, complete files out, and the offsets that are safe to commit.

How a restart neither loses records nor duplicates them nor leaves half files:

1. Records go into one **spool file per Kafka partition** on local disk (nothing is held in memory).
2. A file is **rolled** (closed and committed) when it reaches ``max_records`` or ``max_bytes``, when it
   is ``max_age`` seconds old (checked on every ``add`` and on ``tick``), on ``flush``, or when the next
   record would get a different name (another day, hour or run in the template): a file never mixes
   name partitions.
3. **Commit** = the destination makes the whole file visible at once under its name (see
   ``destinations``). Only then does the sink report the partition's next offset (last offset in the
   file + 1) as safe: the caller commits that offset to Kafka.
4. Names are **deterministic** (see ``naming``): a function of the file's first record. After a crash
   the consumer resumes at the last committed offset, which is the first offset of the file that was
   being written, so the rewritten file gets the same name and replaces anything a crashed attempt
   committed. That argument needs Kafka to be at most **one visible file per partition** behind: the
   rewritten file may end earlier or later than the crashed one (``max_age`` depends on the wall clock),
   and a second visible file would then overlap it. So the sink never makes a partition's next file
   visible before the caller has committed the previous one's offset: with an ``on_commit`` callback it
   awaits the callback (the caller's Kafka commit) after each file; without one it commits at most one
   file per partition per call and sets :attr:`Commit.pending` when more wait — the caller commits the
   returned offsets, then calls ``flush``/``tick`` again.

Records with an offset below what this sink already committed for the partition are duplicates from a
rebalance or retry and are skipped (a deliberate replay of a partition needs ``discard([p])`` first). A
record at or below the open (or queued) files' last offset means the consumer seeked back: those files
are thrown away and writing starts again from that record.

A record the format cannot encode raises :class:`RecordEncodingError` from :meth:`RollingFileSink.add`;
the file is unchanged but the record's offset counts as consumed (the caller dead-letters it and goes
on). A destination failure raises :class:`DestinationError`; the closed file stays queued and the next
call (``add``, ``tick`` or ``flush``) retries it, in order, before anything newer of that partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from fluentsync.connectors.filesinks.commits import NOTHING, NOTHING_PENDING, Commit, CommittedFile, Position
from fluentsync.connectors.filesinks.destinations import Destination, open_destination
from fluentsync.connectors.filesinks.naming import FileNamer, NameInputs
from fluentsync.connectors.filesinks.settings import FileSinkConfig
from fluentsync.connectors.filesinks.spool import SpoolDir
from fluentsync.connectors.filesinks.writers import RecordEncodingError, RecordWriter, extension, open_writer

__all__ = ["Commit", "CommittedFile", "Position", "RollingFileSink", "SinkError"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOUR = timedelta(hours=1)


class SinkError(RuntimeError):
    """The sink cannot go on with a partition as things are (see the message for what to do)."""


@dataclass
class _File:
    """An open (or closed, awaiting upload) spool file of one partition."""

    partition: int
    first_offset: int
    name: str
    spool: Path
    writer: RecordWriter
    opened_at: float
    last_offset: int
    count: int = 0  #: Kafka records taken, rejected ones included (what max_records counts)
    #: (run, UTC hour) of the records known to get ``name``: the template is rendered once per file and
    #: hour, not per record (hours are the finest date variable, so within one the name cannot change)
    name_key: tuple[str | None, int] | None = None


class RollingFileSink:
    """Writes the records of one topic into rolling files at a destination.

    ``add``, ``tick``, ``flush`` and ``discard`` may be called from different tasks; they are
    serialised. Call ``close`` (or use ``async with``) to remove the spool folder.
    """

    def __init__(
        self,
        config: FileSinkConfig,
        destination: Destination,
        *,
        topic: str,
        avro_schema: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_commit: Callable[[Commit], Awaitable[None]] | None = None,
        owns_destination: bool = False,
    ) -> None:
        self.config = config
        self.destination = destination
        self.topic = topic
        self.avro_schema = avro_schema
        self.clock = clock
        self._on_commit = on_commit
        self._owns_destination = owns_destination
        self._namer = FileNamer(config.path)
        self._ext = extension(config.format)
        self._spool = SpoolDir(config.spool_dir)  # also sweeps the folders crashed sinks left behind
        self._spool_dir = self._spool.path
        self._open: dict[int, _File] = {}
        self._pending: list[_File] = []  # closed, in commit order
        self._committed: dict[int, int] = {}  # partition -> next offset, everything below is in files
        self._report_offsets: dict[int, int] = {}
        self._report_files: list[CommittedFile] = []
        self._broken: dict[int, int] = {}  # partition -> first offset of a file that could not be finished
        self._deadline = -math.inf  # no open file is older than max_age before this clock reading
        self._lock = asyncio.Lock()
        self._closed = False
        if avro_schema is not None and config.format.type == "parquet":
            from fluentsync.connectors.filesinks.parquet import avro_to_arrow

            avro_to_arrow(avro_schema)  # an unsupported schema fails now, not at the first record

    @classmethod
    def from_config(
        cls, config: FileSinkConfig, *, topic: str, avro_schema: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic, on_commit: Callable[[Commit], Awaitable[None]] | None = None,
    ) -> RollingFileSink:
        """A sink with the destination the config describes; ``close`` closes that destination too."""
        return cls(config, open_destination(config.destination), topic=topic, avro_schema=avro_schema,
                   clock=clock, on_commit=on_commit, owns_destination=True)

    # -- the API ------------------------------------------------------------------------------------

    async def add(self, record: Mapping[str, Any], position: Position) -> Commit:
        """Append ``record``; returns what got committed (rolls), whose offsets the caller commits now."""
        async with self._lock:
            self._check_open()
            p = position.partition
            if position.offset < self._committed.get(p, -1):
                return self._report()  # already in a committed file (redelivery)
            lost = self._broken.get(p)
            if lost is not None:
                if position.offset > lost:
                    raise SinkError(f"partition {p} lost the file that began at offset {lost}; "
                                    f"seek back to {lost} (or discard the partition) before going on")
                del self._broken[p]  # the consumer seeked back: the lost records come again
            now = self.clock()
            self._rewind(p, position.offset)
            self._roll_expired(now)
            current = self._open.get(p)
            if current is not None and not self._same_name(current, position):
                self._close(current)  # another day/hour/run: never mix name partitions in a file
                current = None
            if current is None:
                current = self._start(position, self._name(position, position.offset), now)
            error: RecordEncodingError | None = None
            try:
                current.writer.write(record)
            except RecordEncodingError as exc:
                error = exc
            except BaseException:
                self._lose(current)
                raise
            current.last_offset = position.offset
            current.count += 1
            if self._full(current):
                self._close(current)
            if self._pending:
                await self._commit_pending()
            if error is not None:
                raise error  # the report waits for the next call; the offset counts as consumed
            return self._report()

    async def tick(self, now: float | None = None) -> Commit:
        """Roll files older than ``max_age`` (call it periodically, e.g. every few seconds: a quiet
        partition has no ``add`` to notice its file's age). ``now`` is a reading of the sink's clock
        (default :func:`time.monotonic`), for tests."""
        async with self._lock:
            self._check_open()
            self._roll_expired(self.clock() if now is None else now)
            await self._commit_pending()
            return self._report()

    async def flush(self, partitions: Iterable[int] | None = None) -> Commit:
        """Close and commit the open files (of ``partitions``, default all), e.g. before a rebalance
        gives the partitions away or at shutdown. Without ``on_commit``, repeat (after committing the
        returned offsets) while the result is ``pending``."""
        async with self._lock:
            self._check_open()
            for p in self._select(partitions):
                self._close(self._open[p])
            await self._commit_pending()
            return self._report()

    async def discard(self, partitions: Iterable[int] | None = None) -> None:
        """Forget ``partitions`` (default all) without committing: open and queued files are thrown away
        (after a failure, or when partitions are revoked and will be re-read from Kafka's offsets)."""
        async with self._lock:
            chosen = set(partitions) if partitions is not None else None
            for p in list(self._open):
                if chosen is None or p in chosen:
                    self._drop(self._open[p])
            keep = []
            for pending in self._pending:
                if chosen is None or pending.partition in chosen:
                    _remove(pending.spool)
                else:
                    keep.append(pending)
            self._pending = keep
            for table in (self._committed, self._report_offsets, self._broken):
                for p in list(table):
                    if chosen is None or p in chosen:
                        del table[p]
            self._report_files = [f for f in self._report_files if chosen is not None and f.partition not in chosen]

    async def close(self) -> None:
        """Throw away uncommitted files (call ``flush`` first to keep them) and remove the spool folder."""
        if self._closed:
            return
        await self.discard()
        self._closed = True
        self._spool.close()
        if self._owns_destination:
            await self.destination.close()

    async def __aenter__(self) -> RollingFileSink:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def committed_offsets(self) -> dict[int, int]:
        """Per partition, the next offset after everything committed to files by this sink."""
        return dict(self._committed)

    def open_partitions(self) -> dict[int, tuple[int, int, int]]:
        """Per partition with an open file: (first offset, last offset, records) — for status pages."""
        return {p: (f.first_offset, f.last_offset, f.writer.records) for p, f in self._open.items()}

    # -- internals ----------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the sink is closed")

    def _select(self, partitions: Iterable[int] | None) -> list[int]:
        wanted = list(self._open) if partitions is None else list(partitions)
        return [p for p in wanted if p in self._open]

    def _name(self, position: Position, first_offset: int) -> str:
        return self._namer.render(NameInputs(
            topic=self.topic, partition=position.partition, offset=first_offset, timestamp=position.timestamp,
            run=position.run if position.run is not None else self.config.run, ext=self._ext,
        ))

    def _same_name(self, current: _File, position: Position) -> bool:
        """Whether ``position``'s record gets the name of ``current`` (the partition's open file).

        Only the record's run and date (UTC, to the hour at the finest) vary within a file, so a
        record of the run and hour already checked needs no rendering."""
        key = _name_key(position)
        if key == current.name_key:
            return True
        if self._name(position, current.first_offset) != current.name:
            return False
        current.name_key = key
        return True

    def _start(self, position: Position, name: str, now: float) -> _File:
        spool = self._spool_dir / f"{position.partition}-{position.offset}.{self._ext}"
        writer = open_writer(self.config.format, spool, self.avro_schema)
        opened = _File(position.partition, position.offset, name, spool, writer, now, position.offset,
                       name_key=_name_key(position))
        self._open[position.partition] = opened
        max_age = self.config.rolling.max_age
        if max_age is not None:
            self._deadline = min(self._deadline, _deadline(now, max_age))
        return opened

    def _full(self, current: _File) -> bool:
        rolling = self.config.rolling
        return (rolling.max_records is not None and current.count >= rolling.max_records) or (
            rolling.max_bytes is not None and current.writer.size >= rolling.max_bytes
        )

    def _roll_expired(self, now: float) -> None:
        max_age = self.config.rolling.max_age
        if max_age is None or now < self._deadline:  # (checked on every add: mostly this early return)
            return
        deadline = math.inf
        for current in list(self._open.values()):
            if now - current.opened_at >= max_age:
                self._close(current)
            else:
                deadline = min(deadline, _deadline(current.opened_at, max_age))
        self._deadline = deadline

    def _close(self, current: _File) -> None:
        """Finish the spool file and queue it for commit (the partition gets a new file next time)."""
        try:
            current.writer.close()
        except BaseException:
            self._lose(current)
            raise
        del self._open[current.partition]
        self._pending.append(current)

    def _rewind(self, partition: int, offset: int) -> None:
        """A record at or below what the partition's open or queued files hold: the consumer seeked
        back, so those files are thrown away and writing starts again from this record. Seeking into
        the middle of an uncommitted file would skip its first records: refused until it seeks to them."""
        current = self._open.get(partition)
        if not self._pending and (current is None or current.last_offset < offset):
            return  # the usual case, checked on every add: the next record of the open file
        files = [f for f in (*self._pending, current) if f is not None and f.partition == partition]
        dropped = [f for f in files if f.last_offset >= offset]
        if not dropped:
            return
        for stale in dropped:
            if stale in self._pending:
                self._pending.remove(stale)
                _remove(stale.spool)
            else:
                self._drop(stale)
        first = min(f.first_offset for f in dropped)
        if first < offset:
            self._broken[partition] = first
            raise SinkError(f"partition {partition} seeked to {offset}, inside an uncommitted file that began "
                            f"at {first}; seek back to {first}")

    def _lose(self, current: _File) -> None:
        """The file cannot be finished: drop it and refuse the partition's later records until the
        consumer seeks back to its first offset, so its records are neither lost nor skipped."""
        self._drop(current)
        self._broken[current.partition] = current.first_offset

    def _drop(self, current: _File) -> None:
        del self._open[current.partition]
        current.writer.abort()
        _remove(current.spool)

    async def _commit_pending(self) -> None:
        """Commit queued files in order. Without ``on_commit`` at most one file per partition per call:
        the caller commits the reported offset before the sink makes the partition's next file visible,
        so Kafka is never more than one visible file behind (the file a restart rewrites)."""
        # partitions whose next file must wait for the caller's offset commit; that includes offsets not
        # yet handed over (a call that committed a file and then raised could not return them)
        held: set[int] = set(self._report_offsets) if self._on_commit is None else set()
        blocked: set[int] = set()  # partitions with a file left queued: their later files wait too
        index = 0
        while index < len(self._pending):
            closed = self._pending[index]
            p = closed.partition
            if p in blocked or (p in held and closed.writer.records):  # a file of rejects only shows nothing
                blocked.add(p)
                index += 1
                continue
            committed: CommittedFile | None = None
            if closed.writer.records:
                uri = await self.destination.put(closed.spool, closed.name)  # raises: stays queued
                committed = CommittedFile(
                    name=closed.name, uri=uri, partition=p, first_offset=closed.first_offset,
                    last_offset=closed.last_offset, records=closed.writer.records, size=closed.writer.size,
                )
                self._report_files.append(committed)
            # else every record was rejected: nothing to write, but the offsets are consumed
            del self._pending[index]
            _remove(closed.spool)
            self._committed[p] = self._report_offsets[p] = closed.last_offset + 1
            if self._on_commit is not None:
                await self._on_commit(Commit((committed,) if committed else (), {p: closed.last_offset + 1}))
            elif closed.writer.records:
                held.add(p)

    def _report(self) -> Commit:
        if not self._report_offsets:
            return NOTHING_PENDING if self._pending else NOTHING
        commit = Commit(tuple(self._report_files), dict(self._report_offsets), pending=bool(self._pending))
        self._report_files, self._report_offsets = [], {}
        return commit


def _name_key(position: Position) -> tuple[str | None, int]:
    """What a file name may vary by within a partition's file: the run, and the UTC hour (exact)."""
    stamp = position.timestamp
    if stamp.tzinfo is None:  # naive: UTC, as the namer reads it
        stamp = stamp.replace(tzinfo=UTC)
    return position.run, (stamp - _EPOCH) // _HOUR


def _deadline(opened_at: float, max_age: float) -> float:
    """A clock reading before which a file opened at ``opened_at`` is surely younger than ``max_age``:
    a millisecond early, so the exact test (``now - opened_at >= max_age``) decides near the boundary."""
    return opened_at + max_age - 0.001


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
