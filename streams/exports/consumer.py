"""The sink consumer: one outbound topic into a :class:`~fluentsync.connectors.filesinks.RollingFileSink`.

Why a plain aiokafka consumer and not a Faust agent: the sink decides when offsets may be committed
(only after the file holding the records is visible), and Faust acknowledges and commits on its own
schedule. So this consumer has ``enable_auto_commit=False``, group ``<kafka.app_id>-sink-<name>``,
``auto_offset_reset="earliest"``, and follows the sink's usage contract to the letter:

- after every sink call that returns offsets, the file events are published (acknowledged) and then the
  offsets are committed; while the result is ``pending`` the call is repeated (``tick`` after ``add``);
- every ``tick_interval`` seconds ``tick()`` rolls files older than ``rolling.max_age``, so a quiet topic
  still gets its files;
- on revoke, ``flush(partitions)`` + commit while pending, then ``discard(partitions)``; records fetched
  before the rebalance and not yet added are dropped (the next owner reads them from the committed
  offset), which a generation counter checked per record guarantees;
- at stop, ``flush()`` + commit while pending.

Sink calls, commits and the rebalance callbacks run under one lock, so a revoke never interleaves with
an ``add``. A destination that fails (``DestinationError``) keeps its closed file queued in the sink:
the consumer stops fetching, seeks its partitions back to the first record not yet added, and retries
``tick()`` with a growing pause (1 s to 30 s). A record the format cannot encode, or a value the Avro
codec cannot read, is dead-lettered (:mod:`.reporting`) and skipped. Values are read by
:mod:`.decoder` (readers compiled per schema: the codec's values and errors, for less CPU), and a
fetched batch yields to the event loop every ``YIELD_EVERY`` records.

Run boundaries (R60, ``roll_on_run_end``): :class:`~.runs.RunEnds` learns each COMPLETED run's end
offsets; when the open file of a partition ends exactly at a run's end offset there, that partition is
flushed, so the run's last file appears at once. This is checked after each record and whenever new run
ends arrive (a run is marked COMPLETED after its events, so usually the sink is already there). A file
that already holds records past the end (a path without ``{run}`` and the next run already flowing) is
left to its limits. The ``{run}`` of a file name is the ``extraction.run_id`` of its first record.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError

from fluentsync.connectors.filesinks import (
    Commit,
    CommittedFile,
    DestinationError,
    Position,
    RecordEncodingError,
    RollingFileSink,
)
from fluentsync.schemas.codec import AvroCodec, AvroCodecError, default_codec
from fluentsync.streams.kafka.connection import client_options

from .config import ExportConfig, SinkSource, SinkTopics
from .decoder import EventDecoder
from .reporting import Reporter
from .runs import RunEnds

__all__ = ["SinkConsumer"]

log = logging.getLogger(__name__)

_Call = Callable[[], Awaitable[Commit]]
_Run = tuple[str | None, str | None]  # (extraction, run id)
MAX_RETRY_DELAY = 30.0
#: records added between two turns of the event loop: a fetched batch (up to ``max_poll_records``) is
#: otherwise one long step, and the tasks sharing the process wait meanwhile (in a worker that also
#: extracts, the next GraphQL request: the source would sit idle)
YIELD_EVERY = 250


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: SinkConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.owner._on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.owner._on_assigned(assigned)


class SinkConsumer:
    """Consumes ``source.topic`` into files; ``start``, then ``stop`` (or ``wait`` for a failure)."""

    def __init__(self, name: str, config: ExportConfig, source: SinkSource, *, bootstrap: str, group_id: str,
                 prefix: str = "", runs_topic: str | None = None, codec: AvroCodec | None = None,
                 consumer_options: Mapping[str, Any] | None = None,
                 on_files: Callable[[list[CommittedFile]], None] | None = None) -> None:
        self.name, self.config, self.source = name, config, source
        self.topic = source.topic
        self.bootstrap, self.group_id = bootstrap, group_id
        self.topics = SinkTopics.of(name, prefix)
        self.codec = codec or default_codec()
        self._decode = EventDecoder(self.codec)  # codec.decode, with readers compiled per schema
        self.consumer_options = dict(consumer_options or {})
        self.on_files = on_files
        use_runs = config.roll_on_run_end and source.extraction is not None and runs_topic is not None
        self.runs = RunEnds(bootstrap, runs_topic, self.topic, codec=self.codec) if use_runs and runs_topic else None
        self.sink: RollingFileSink | None = None
        self.files_committed = 0
        self.records_consumed = 0
        self.run_flushes = 0  #: files closed because a run ended
        self.recent_files: deque[CommittedFile] = deque(maxlen=1000)
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._reporter: Reporter | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._generation = 0
        self._owned: set[int] = set()
        self._consumed: dict[int, int] = {}  # partition -> offset after the last record taken
        self._runs: dict[int, list[tuple[int, _Run]]] = {}  # partition -> (first offset, run) where runs change
        self._ends: dict[int, set[int]] = {}  # partition -> run end offsets not yet reached
        self._retry_at: float | None = None
        self._retry_delay = 1.0

    # -- life cycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, join the group and start consuming (the topic must exist)."""
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5,
                                          **client_options())
        await self._producer.start()
        self._reporter = Reporter(self._producer, self.codec, sink=self.name, topic=self.topic,
                                  fmt=self.config.format.type,
                                  files_topic=self.topics.files if self.config.file_events else None,
                                  dlq_topic=self.topics.dlq)
        if self.source.schema is not None:
            self._open_sink(self.codec.repository.get(self.source.schema).schema)
        options: dict[str, Any] = {"fetch_max_wait_ms": 200} | self.consumer_options
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.group_id,
                                          enable_auto_commit=False, auto_offset_reset="earliest", **options,
                                          **client_options())
        await self._consumer.start()
        if self.topic not in await self._consumer.topics():  # all-topics metadata: never auto-creates it
            raise RuntimeError(f"sink {self.name}: topic {self.topic!r} does not exist (yet): it is created by its "
                               "producer (extraction, webhooks) or with `fluentsync topics`")
        self._consumer.subscribe([self.topic], listener=_Listener(self))
        if self.runs is not None:
            await self.runs.start()
        self._task = asyncio.create_task(self._loop(), name=f"sink-{self.name}")

    async def wait(self) -> None:
        """Until the consumer stops; raises what made it fail."""
        if self._task is not None:
            await asyncio.shield(self._task)

    @property
    def done(self) -> bool:
        return self._task is not None and self._task.done()

    async def stop(self, *, flush: bool = True, timeout: float = 30.0) -> None:
        """Stop consuming; with ``flush`` the open files are committed first (and their offsets)."""
        self._stopping.set()
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=timeout)
            if not self._task.done():
                self._task.cancel()
                with contextlib.suppress(BaseException):
                    await self._task
        try:
            if flush and self.sink is not None and self._consumer is not None:
                async with self._lock:
                    sink = self.sink
                    if not await self._call(sink.flush, sink.flush):
                        log.warning("sink %s: open files could not be committed at stop; they are rewritten "
                                    "from Kafka's offsets on the next start", self.name)
        finally:
            if self.runs is not None:
                await self.runs.stop()
            if self._consumer is not None:
                await asyncio.shield(self._consumer.stop())
                self._consumer = None
            if self.sink is not None:
                await self.sink.close()
            if self._producer is not None:
                await asyncio.shield(self._producer.stop())
                self._producer = None

    # -- the loop -------------------------------------------------------------------------------------

    async def _loop(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        last_tick = time.monotonic()
        while not self._stopping.is_set():
            if self._retry_at is not None:  # the destination failed: wait, then retry the queued files
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), max(0.0, self._retry_at - time.monotonic()))
                if self._stopping.is_set():
                    break
                async with self._lock:
                    if self.sink is not None and await self._call(self.sink.tick, self.sink.tick):
                        self._retry_at, self._retry_delay = None, 1.0
                continue
            batch = await consumer.getmany(timeout_ms=500, max_records=self.config.max_poll_records)
            if batch:
                await self._process(batch, self._generation)
            async with self._lock:
                await self._take_run_ends()
                if self.sink is not None and self._retry_at is None and \
                        time.monotonic() - last_tick >= self.config.tick_interval:
                    last_tick = time.monotonic()
                    await self._call(self.sink.tick, self.sink.tick)

    async def _process(self, batch: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
                       generation: int) -> None:
        assert self._consumer is not None
        items = list(batch.items())
        for index, (tp, messages) in enumerate(items):
            for position, message in enumerate(messages):
                if position and not position % YIELD_EVERY:
                    await asyncio.sleep(0)
                async with self._lock:
                    if generation != self._generation or tp.partition not in self._owned:
                        break  # revoked meanwhile: the next owner reads these from the committed offset
                    ok = await self._add(message)
                if not ok:  # destination failing: read again what was not added, after the pause
                    rest = [(tp, messages[position + 1:]), *items[index + 1:]]
                    for other, left in rest:
                        if left and other.partition in self._owned:
                            self._consumer.seek(other, left[0].offset)
                    return

    async def _add(self, message: ConsumerRecord[bytes, bytes]) -> bool:
        """Add one record; False when the destination failed (retry scheduled)."""
        assert self._reporter is not None
        p, offset = message.partition, message.offset
        self.records_consumed += 1
        raw = message.value
        try:
            if raw is None:
                raise AvroCodecError("a null value (tombstone) is not a record")
            if self.sink is None:
                self._open_sink(self._reader_schema(raw))
            value = self._decode(raw)
        except AvroCodecError as exc:
            await self._reporter.dead_letter(str(exc), partition=p, offset=offset, key=message.key, raw=raw)
            self._consumed[p] = offset + 1
            return True
        sink = self.sink
        assert sink is not None
        meta = value.get("extraction") if isinstance(value, dict) else None
        run = (meta.get("extraction"), meta.get("run_id")) if isinstance(meta, dict) else (None, None)
        self._note_run(p, offset, run)
        position = Position.from_kafka(p, offset, message.timestamp, run=run[1])
        try:  # _call(add, tick) spelled out: most adds commit nothing, and then cost no more coroutines
            commit = await sink.add(value, position)
            ok = await self._follow(commit, sink.tick) if commit.files or commit.offsets else True
        except RecordEncodingError as exc:  # the offset counts as consumed: the report comes with the next call
            await self._reporter.dead_letter(str(exc), partition=p, offset=offset, key=message.key, record=value)
            ok = True
        except DestinationError as exc:
            self._failed(exc)
            ok = False
        self._consumed[p] = offset + 1
        ends = self._ends.get(p)
        if ok and ends and offset + 1 in ends:
            ok = await self._run_end(p, offset + 1)
        return ok

    # -- sink calls and commits ---------------------------------------------------------------------

    async def _call(self, first: _Call, again: _Call) -> bool:
        """``first()``, then publish and commit what it committed, then ``again()`` while pending.
        False when the destination failed: the closed files stay queued and a retry is scheduled."""
        try:
            return await self._follow(await first(), again)
        except DestinationError as exc:
            self._failed(exc)
            return False

    async def _follow(self, commit: Commit, again: _Call) -> bool:
        """Publish and commit what ``commit`` committed, then ``again()`` while pending (raises
        DestinationError)."""
        while True:
            await self._commit(commit)
            if not (commit.pending and commit.offsets):
                return True  # nothing pending, or nothing moved (the next tick goes on)
            commit = await again()

    def _failed(self, exc: DestinationError) -> None:
        """The destination failed: the closed files stay queued; schedule a retry."""
        log.warning("sink %s: destination failed (%s); retrying in %.0fs", self.name, exc, self._retry_delay)
        self._retry_at = time.monotonic() + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, MAX_RETRY_DELAY)

    async def _commit(self, commit: Commit) -> None:
        assert self._consumer is not None and self._reporter is not None
        if commit.files:
            files = list(commit.files)
            await self._reporter.files([(f, *self._run_of(f.partition, f.first_offset)) for f in files])
            self.files_committed += len(files)
            self.recent_files.extend(files)
            for file in files:
                log.info("sink %s: %s (%d records, %d bytes)", self.name, file.uri, file.records, file.size)
            if self.on_files is not None:
                self.on_files(files)
        if not commit.offsets:
            return
        offsets = {TopicPartition(self.topic, p): o for p, o in commit.offsets.items() if p in self._owned}
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError as exc:  # the group rebalanced: the revoke discards these partitions
            log.warning("sink %s: offset commit failed (%s); the files are rewritten under the same names", self.name,
                        exc)
        for p, o in commit.offsets.items():
            self._prune_runs(p, o)

    # -- runs -----------------------------------------------------------------------------------------

    def _note_run(self, partition: int, offset: int, run: _Run) -> None:
        entries = self._runs.setdefault(partition, [])
        while entries and entries[-1][0] >= offset:  # re-read after a seek back
            entries.pop()
        if not entries or entries[-1][1] != run:
            entries.append((offset, run))

    def _run_of(self, partition: int, offset: int) -> _Run:
        entries = self._runs.get(partition) or []
        index = bisect.bisect_right(entries, offset, key=lambda e: e[0]) - 1
        return entries[index][1] if index >= 0 else (None, None)

    def _prune_runs(self, partition: int, next_offset: int) -> None:
        entries = self._runs.get(partition)
        if entries:
            keep = max(bisect.bisect_right(entries, next_offset, key=lambda e: e[0]) - 1, 0)
            del entries[:keep]

    async def _take_run_ends(self) -> None:
        if self.runs is None:
            return
        for p, end, run_id in self.runs.take():
            consumed = self._consumed.get(p)
            if consumed is not None and consumed >= end:
                if consumed == end and p in self._owned:
                    await self._run_end(p, end)  # already there: close the run's last file now
                continue
            self._ends.setdefault(p, set()).add(end)
            log.debug("sink %s: run %s ends at %d on partition %d", self.name, run_id, end, p)

    async def _run_end(self, partition: int, end: int) -> bool:
        """The sink consumed up to a run's end on ``partition``: flush its file if it ends right there."""
        assert self.sink is not None
        sink = self.sink
        self._ends[partition] = {e for e in self._ends.get(partition, ()) if e > end}
        current = sink.open_partitions().get(partition)
        if current is None or current[1] + 1 != end:
            return True
        self.run_flushes += 1
        return await self._call(lambda: sink.flush([partition]), lambda: sink.flush([partition]))

    # -- rebalances -----------------------------------------------------------------------------------

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        parts = sorted(tp.partition for tp in revoked if tp.topic == self.topic)
        async with self._lock:
            self._generation += 1
            sink = self.sink
            if sink is not None and parts:
                try:
                    if not await self._call(lambda: sink.flush(parts), lambda: sink.flush(parts)):
                        log.warning("sink %s: files of revoked partitions %s could not be committed", self.name,
                                    parts)
                except Exception:
                    log.exception("sink %s: flushing revoked partitions %s failed", self.name, parts)
                finally:
                    await sink.discard(parts)
            for p in parts:
                self._owned.discard(p)
                self._consumed.pop(p, None)
                self._runs.pop(p, None)

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        async with self._lock:
            self._generation += 1
            self._owned |= {tp.partition for tp in assigned if tp.topic == self.topic}
            log.info("sink %s: partitions %s", self.name, sorted(self._owned))

    # -- the file sink ----------------------------------------------------------------------------------

    def _reader_schema(self, raw: bytes) -> Any:
        """The schema the codec decodes ``raw`` to: the newest shipped one of its name, else the writer's."""
        writer, _ = self.codec.framing.writer(raw)
        try:
            return self.codec.repository.get(writer.name).schema
        except LookupError:
            return writer.schema

    def _open_sink(self, schema: Any) -> None:
        self.sink = RollingFileSink.from_config(self.config, topic=self.topic, avro_schema=schema)
