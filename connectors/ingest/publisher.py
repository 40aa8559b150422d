"""Publishing one file's records to Kafka: file events, record batches, dead letters, with backpressure.

Event granularity is a deliberate choice (design.md §4): a Faust agent costs ~100 µs an event, so one
Kafka message per record caps a worker near 10k records/s. The publisher therefore groups records by
the partition of their record key and sends one ``RecordBatch`` message per group (default up to 500
records or ~512 KiB). Every record of a batch hashes to the batch's partition, so per-key order and
co-partitioned tables hold exactly as with one message per record. Inside a batch records are stored
as column arrays: flat all-text records (CSV) as a table of strings, anything else as JSON documents,
so encoding costs about a microsecond a record instead of several. A batch never spans two logical
chunks and never mixes the two forms.

CSV runs (:class:`~fluentsync.connectors.parsers.records.RowRun`, from the parser's async adapter) are
taken whole: keys, partitions and batch sizes are computed with C-level passes over the run, and the
rows go into the batches per partition in slices. The result is byte for byte what the per-record
loop produces (tests/unit/ingest/test_publisher_wire.py pins it); a run with any row that needs the
per-record rules (a missing or escaped key) goes through that loop instead.

Order of events for one file version, all on the topics of :class:`WorkflowTopics`:

1. ``FileEvent STARTED`` on ``files.<wf>``;
2. ``RecordBatch`` messages on ``records.<wf>``, and a ``DeadLetter`` on ``dlq.<wf>`` (stage PARSE)
   for every malformed record or record without its key fields - nothing is dropped;
3. ``FileEvent COMPLETED`` with ``record_count`` (every record, good or bad: indices 0..n-1) and
   ``error_count`` (the dead-lettered ones), only after the broker acknowledged every message before it.
   A file the parser cannot finish gets ``FileEvent FAILED`` with the reason instead.

Batches are deterministic for a given file version and settings (same ids, same contents), so a
restarted file republishes identical batches and downstream dedupe recognises them.
Backpressure: at most ``max_in_flight`` unacknowledged sends; the parser is not read faster than that.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from bisect import bisect_left
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate
from operator import add
from typing import Any, Literal

from aiokafka import AIOKafkaProducer

from fluentsync.connectors.ingest.keys import MissingKeyField, RecordKeyBuilder
from fluentsync.connectors.parsers.records import RAW_LIMIT, MalformedRecord, Record, RecordGroup, RowRun
from fluentsync.connectors.sources.base import FileRef
from fluentsync.schemas.codec import AvroCodec, default_codec
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.partitioning import Strategy, partition_function, partitions_of
from fluentsync.streams.operations.lineage import Lineage, letter_id

__all__ = ["FileCounts", "FilePublisher", "PublishSettings", "file_event_key"]

_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
FileEventKind = Literal["DISCOVERED", "STARTED", "COMPLETED", "FAILED", "SKIPPED", "ARCHIVED", "SETTLED"]


@dataclass(frozen=True)
class PublishSettings:
    batch_records: int = 2000  #: records per RecordBatch event (fewer, larger events cost less CPU per record)
    batch_bytes: int = 512 * 1024
    max_in_flight: int = 32
    chunk_size: int = 100_000  #: records per logical chunk (``chunk_id``)
    partitioning: Strategy = "crc32"


@dataclass
class FileCounts:
    records: int = 0  #: every record of the file, good or bad
    published: int = 0  #: records published to the records topic
    dead_lettered: int = 0  #: records sent to the dead-letter topic by the parser or key builder
    batches: int = 0
    error: str | None = None  #: set when the file failed as a whole
    first_errors: list[str] = field(default_factory=list)


def file_event_key(workflow: str, ref: FileRef) -> bytes:
    """All versions of one path share a key, so one partition (one worker) owns the file (R1, R6)."""
    return json.dumps([workflow, ref.source, ref.location, ref.path], separators=(",", ":")).encode()


class _Buffer:
    """Records waiting for one partition, as the column arrays of a ``RecordBatch``."""

    __slots__ = (
        "chunk",
        "columns",
        "documents",
        "indexes",
        "keys",
        "lines",
        "offsets",
        "row_numbers",
        "rows",
        "size",
    )

    def __init__(self, chunk: int, columns: list[str] | None) -> None:
        self.chunk = chunk
        self.columns = columns  # None: document form
        self.keys: list[str] = []
        self.indexes: list[int] = []
        self.lines: list[int | None] = []
        self.offsets: list[int | None] = []
        self.row_numbers: list[int | None] = []
        self.rows: list[list[str]] = []
        self.documents: list[str] = []
        self.size = 0


def _column(values: list[int | None]) -> list[int]:
    """A position column for the schema: [] when unknown for the whole batch, -1 for one record."""
    if None not in values:  # the usual case, at C speed
        return values  # type: ignore[return-value]
    if values.count(None) == len(values):
        return []
    return [-1 if value is None else value for value in values]


class FilePublisher:
    """Publishes files of one workflow through one shared aiokafka producer."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        topics: WorkflowTopics,
        partitions: int,
        *,
        codec: AvroCodec | None = None,
        settings: PublishSettings | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.producer = producer
        self.topics = topics
        self.partitions = partitions
        self.codec = codec or default_codec()
        self.settings = settings or PublishSettings()
        self._partition = partition_function(self.settings.partitioning)
        self._now = now
        self._in_flight: deque[asyncio.Future[Any]] = deque()
        self.published = 0  #: records published since start, every file (``GET /status``)
        self.dead_lettered = 0  #: records the parser or key builder dead-lettered since start (``GET /status``)

    # -- sending with backpressure ------------------------------------------------------------------
    async def _send(self, topic: str, value: bytes, key: bytes, partition: int | None = None) -> None:
        future = await self.producer.send(topic, value, key=key, partition=partition)
        self._in_flight.append(future)
        while len(self._in_flight) > self.settings.max_in_flight:
            await self._in_flight.popleft()

    async def drain(self) -> None:
        """Wait until the broker acknowledged everything sent so far (raises if a send failed)."""
        while self._in_flight:
            await self._in_flight.popleft()

    # -- file events -------------------------------------------------------------------------------
    async def file_event(self, kind: FileEventKind, ref: FileRef, *, run_id: str | None = None,
                         record_count: int | None = None, error_count: int | None = None,
                         reason: str | None = None, first_errors: list[str] | None = None,
                         archived_to: str | None = None, wait: bool = True) -> None:
        event = {
            "event_id": uuid.uuid4().hex, "workflow": self.topics.workflow, "kind": kind,
            "file": ref.identity.to_avro(), "source_uri": ref.uri, "size": ref.size,
            "last_modified": ref.last_modified, "etag": ref.etag, "version_id": ref.version_id,
            "record_count": record_count, "error_count": error_count, "reason": reason, "run_id": run_id,
            "first_errors": first_errors or [], "archived_to": archived_to,
            "occurred_at": self._now(),
        }
        key = file_event_key(self.topics.workflow, ref)
        await self._send(self.topics.files, self.codec.encode("fluentsync.files.FileEvent", event,
                                                              topic=self.topics.files), key)
        if wait:
            await self.drain()

    # -- records -------------------------------------------------------------------------------------
    async def publish(
        self,
        ref: FileRef,
        items: AsyncIterator[Sequence[Record]],
        keys: RecordKeyBuilder,
        *,
        run_id: str | None = None,
        item_path: str | None = None,
        announce_start: bool = True,
        settle_whole: bool = False,
    ) -> FileCounts:
        """Publish every record of ``ref`` as parsed by ``items``; returns the counts.

        ``announce_start=False`` skips ``FileEvent STARTED`` (a webhook's one-request "file": nobody
        watches it start, and the broker round trip is a third of its publishing latency).
        ``settle_whole=True``: when every record parsed and they all fit one batch on one partition, that
        batch is marked ``whole_file`` and no ``COMPLETED`` follows - the records agent settles it and
        reports it without the ledger's round trips (webhooks: a few records, one request).

        Exceptions from the parser end the file with ``FileEvent FAILED`` (the reason is the exception's
        message) and are re-raised; records published before the failure stay published.
        """
        counts = FileCounts()
        header = self._batch_header(ref, run_id, item_path)
        buffers: dict[int, _Buffer] = {}
        # The loop below runs once per record: locals instead of attribute lookups (design.md §4).
        chunk = self.settings.chunk_size
        max_records, max_bytes = self.settings.batch_records, self.settings.batch_bytes
        partition_of, partitions, flush = self._partition, self.partitions, self._flush
        dumps = _JSON.encode
        if announce_start:
            await self.file_event("STARTED", ref, run_id=run_id)
        try:
            async for group in items:
                counts.records += len(group)
                for segment in group.segments if type(group) is RecordGroup else (group,):
                    if type(segment) is RowRun:
                        run_keys = keys.of_rows(segment.columns, segment.rows)
                        if run_keys is not None:
                            await self._add_run(segment, run_keys, buffers, header, counts)
                            continue
                    for item in segment:
                        if isinstance(item, MalformedRecord):
                            await self._dead_letter(ref, item, header, counts, item.message, item.code, item.raw)
                            continue
                        record = item.record
                        try:
                            key = keys(record)
                        except MissingKeyField as exc:
                            await self._dead_letter(ref, item, header, counts, str(exc), "missing_key", None,
                                                    record=record)
                            continue
                        partition = partition_of(key.encode(), partitions)
                        chunk_no = item.index // chunk
                        values: list[Any] | None = list(record.values())
                        try:
                            size = len("".join(values))  # type: ignore[arg-type]  # TypeError: not all text
                            columns: list[str] | None = list(record)
                        except TypeError:
                            values, columns = None, None
                        buffer = buffers.get(partition)
                        if buffer is not None and (buffer.chunk != chunk_no or buffer.columns != columns):
                            await flush(buffers.pop(partition), partition, header, counts)
                            buffer = None
                        if buffer is None:
                            buffer = buffers[partition] = _Buffer(chunk_no, columns)
                        if values is None:
                            document = dumps(record)
                            buffer.documents.append(document)
                            size = len(document)
                        else:
                            buffer.rows.append(values)
                        buffer.keys.append(key)
                        buffer.indexes.append(item.index)
                        buffer.lines.append(item.line)
                        buffer.offsets.append(item.byte_offset)
                        buffer.row_numbers.append(item.row_number)
                        buffer.size += size + len(key) + 16
                        if len(buffer.keys) >= max_records or buffer.size >= max_bytes:
                            await flush(buffers.pop(partition), partition, header, counts)
            whole = settle_whole and counts.batches == 0 and counts.dead_lettered == 0 and len(buffers) == 1
            for partition, buffer in sorted(buffers.items()):
                await self._flush(buffer, partition, {**header, "whole_file": True} if whole else header, counts)
            await self.drain()
        except Exception as exc:
            counts.error = str(exc) or type(exc).__name__
            await self.drain()
            await self.file_event("FAILED", ref, run_id=run_id, record_count=counts.records,
                                  error_count=counts.dead_lettered, reason=counts.error,
                                  first_errors=counts.first_errors)
            raise
        if not whole:
            await self.file_event("COMPLETED", ref, run_id=run_id, record_count=counts.records,
                                  error_count=counts.dead_lettered, first_errors=counts.first_errors)
        return counts

    async def _add_run(self, run: RowRun, run_keys: list[str], buffers: dict[int, _Buffer],
                       header: dict[str, Any], counts: FileCounts) -> None:
        """Add a CSV run to the partition buffers: the same batches as the per-record loop, in slices.

        Per partition, records keep file order, and a buffer is flushed after the record that reaches
        either limit, or before a record of another chunk or other columns - as record by record.
        Only the interleaving of different partitions' sends differs, which no consumer can observe.
        """
        chunk, max_records, max_bytes = self.settings.chunk_size, self.settings.batch_records, self.settings.batch_bytes
        rows, lines, offsets, columns, first = run.rows, run.lines, run.offsets, run.columns, run.start
        parts = partitions_of(self.settings.partitioning, run_keys, self.partitions)
        # per record: the text of its values + its key + 16, as the per-record loop counts it
        sizes = list(map(add, map(len, map("".join, rows)), map((16).__add__, map(len, run_keys))))
        end = len(rows)
        lo = 0
        while lo < end:  # one logical chunk at a time
            chunk_no = (first + lo) // chunk
            hi = min(end, (chunk_no + 1) * chunk - first)
            members: dict[int, list[int]] = {}
            for i in range(lo, hi):
                (members.get(parts[i]) or members.setdefault(parts[i], [])).append(i)
            for partition, picked in members.items():
                buffer = buffers.get(partition)
                if buffer is not None and (buffer.chunk != chunk_no or buffer.columns != columns):
                    await self._flush(buffers.pop(partition), partition, header, counts)
                    buffer = None
                pos = 0
                while pos < len(picked):
                    if buffer is None:
                        buffer = buffers[partition] = _Buffer(chunk_no, columns)
                    taken = picked[pos : pos + max_records - len(buffer.keys)]
                    totals = list(accumulate(map(sizes.__getitem__, taken), initial=buffer.size))
                    n = min(bisect_left(totals, max_bytes, 1), len(taken))  # the record reaching max_bytes
                    taken = taken[:n]
                    buffer.keys += map(run_keys.__getitem__, taken)
                    buffer.rows += map(rows.__getitem__, taken)
                    buffer.indexes += map(first.__add__, taken)
                    buffer.lines += map(lines.__getitem__, taken)
                    buffer.offsets += map(offsets.__getitem__, taken)
                    buffer.row_numbers += map((first + 1).__add__, taken)
                    buffer.size = totals[n]
                    pos += n
                    if len(buffer.keys) >= max_records or buffer.size >= max_bytes:
                        await self._flush(buffers.pop(partition), partition, header, counts)
                        buffer = None
            lo = hi

    def _batch_header(self, ref: FileRef, run_id: str | None, item_path: str | None) -> dict[str, Any]:
        return {
            "workflow": self.topics.workflow, "source_uri": ref.uri, "file": ref.identity.to_avro(),
            "file_id": ref.identity.key, "etag": ref.etag, "version_id": ref.version_id,
            "last_modified": ref.last_modified, "run_id": run_id, "item_path": item_path,
        }

    async def _flush(self, buffer: _Buffer, partition: int, header: dict[str, Any], counts: FileCounts) -> None:
        chunk = self.settings.chunk_size
        batch = {
            **header, "batch_id": f"{header['file_id']}#{buffer.indexes[0]}",
            "chunk_id": f"chunk-{buffer.chunk:05d}", "chunk_size": chunk,
            "record_keys": buffer.keys, "record_indexes": buffer.indexes, "lines": _column(buffer.lines),
            "byte_offsets": _column(buffer.offsets), "row_numbers": _column(buffer.row_numbers),
            "columns": buffer.columns or [], "rows": buffer.rows, "documents": buffer.documents,
            "published_at": self._now(),
        }
        value = self.codec.encode("fluentsync.records.RecordBatch", batch, topic=self.topics.records)
        await self._send(self.topics.records, value, buffer.keys[0].encode(), partition)
        counts.published += len(buffer.keys)
        self.published += len(buffer.keys)
        counts.batches += 1

    async def _dead_letter(self, ref: FileRef, item: Record, header: dict[str, Any], counts: FileCounts,
                           message: str, code: str | None, raw: bytes | None,
                           record: dict[str, Any] | None = None) -> None:
        counts.dead_lettered += 1
        self.dead_lettered += 1
        if len(counts.first_errors) < 10:
            where = f"line {item.line}" if item.line is not None else f"record {item.index}"
            counts.first_errors.append(f"{where}: {message}")
        letter = {
            # Deterministic, as the records agent's letters: a file republished after a dropped download or
            # a crash dead-letters the same rows again under the same ids, which consumers can drop.
            "dead_letter_id": letter_id(self.topics.workflow, header["file_id"], item.index, "PARSE", Lineage()),
            "workflow": self.topics.workflow, "stage": "PARSE",
            "reason": message,
            "errors": [{"stage": "PARSE", "field": None, "message": message, "value": None,
                        "severity": "ERROR", "code": code}],
            "record_key": None,
            "record": json.dumps(record, ensure_ascii=False) if record is not None else None,
            "raw": raw[:RAW_LIMIT] if raw else None,
            "provenance": {
                "source_uri": header["source_uri"], "file": header["file"], "file_id": header["file_id"],
                "etag": header["etag"], "version_id": header["version_id"], "last_modified": header["last_modified"],
                "record_index": item.index, "chunk_id": f"chunk-{item.index // self.settings.chunk_size:05d}",
                "line": item.line, "byte_offset": item.byte_offset, "row_number": item.row_number,
                "item_path": header["item_path"],
            },
            "attempt": 1, "history": [], "occurred_at": self._now(),
        }
        key = f"{header['file_id']}#{item.index}".encode()
        await self._send(self.topics.dlq, self.codec.encode("fluentsync.dlq.DeadLetter", letter,
                                                            topic=self.topics.dlq), key)
