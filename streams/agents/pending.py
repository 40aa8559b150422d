"""Records Fluent acknowledged, kept until their batch's status verdict: table layout and in-memory indices.

Why this exists (R38, R48): a Batch API 2xx only means Fluent *queued* the batch; whether each entity was
applied shows in the batch status, polled at 10/30/60 s. Keeping every sent record in memory until then
made memory grow with the status interval and throttled intake (``max_pending_records / interval``). So
once Fluent acknowledged a batch, what each of its records still needs for its final outcome goes to the
changelog-backed table ``submitted-batches-<wf>`` (on disk with RocksDB, recovered with its partition
after a crash or a rebalance), and the records agent acknowledges its Kafka message.

Why a table and not a ``batch_submitted`` topic: a topic's consumer would hold every pending message in
memory until its verdict, its committed offset would stay behind the oldest pending batch (up to
``poll_timeout``, 1 h) and a restart would replay everything after it; a record batch's outcome also has
to be *accumulated* over several Fluent batches, which is keyed, mutable state - a table. The table is
co-partitioned with ``records.<wf>``: an entry lives in the changelog partition of the records partition
its records came from, so the worker that owns that partition (and its ``baseline-<wf>`` keys) resumes it.

Keys (raw bytes) and values (compact JSON):

- ``F|<partition>|<job id>|<batch id>|<chunk>`` - the records of one Fluent batch from one records
  partition, cut into chunks of about :data:`CHUNK_BYTES` of JSON (a changelog message must stay far
  below Kafka's 1 MB default; layout: :func:`encode_chunks`). A chunk holds what the
  verdict needs as columns - the entity's position in the Fluent batch, the record batch it belongs to
  (its offset), record key, digest, delete flag, snapshot generation - and, apart, decoded only for a
  possible dead letter (or a snapshot baseline), each record's position in its file, the original record
  and the payload.
- ``R|<partition>|<offset>`` - a record batch (the ``RecordBatch`` at that offset) that was handed over:
  its header (file, run, provenance), the outcome counts so far and the Fluent batches still awaited.
  When the last of them is resolved, its ``BatchOutcome`` (or whole-file ``RunReport``) goes out.

In memory stay only :class:`PendingIndex` (per Fluent batch: its chunk keys and the hashes of its record
keys, 8 bytes a record) and :class:`KeyGate` (a count per key hash, for per-key order).
"""

from __future__ import annotations

import asyncio
import zlib
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fluentsync import jsonbytes
from fluentsync.schemas.records import BatchRecord

__all__ = [
    "CHUNK_BYTES",
    "RECORD_COLUMNS",
    "KeyGate",
    "Part",
    "PendingIndex",
    "PendingRow",
    "PendingRows",
    "batch_header",
    "chunk_key",
    "decode_chunk",
    "encode_chunks",
    "handed_key",
    "jsonable",
    "key_hash",
]

CHUNK_BYTES = 256 * 1024
"""Approximate size of one ``F|`` table value; a single larger row gets a chunk of its own."""

RECORD_COLUMNS = frozenset({"record_keys", "record_indexes", "lines", "byte_offsets", "row_numbers", "columns",
                            "rows", "documents"})
"""The per-record arrays of a ``RecordBatch``; the rest is its header."""

BatchName = tuple[str, str]
"""A Fluent batch: ``(job id, batch id)``."""


def key_hash(key: bytes) -> int:
    """The in-memory stand-in for a record key (8 bytes in an array instead of the key). Process-local:
    indices are rebuilt from the table after a restart. A collision only makes a record wait longer."""
    return hash(key)


def chunk_key(partition: int, job_id: str, batch_id: str, chunk: int) -> bytes:
    return f"F|{partition}|{job_id}|{batch_id}|{chunk}".encode()


def handed_key(partition: int, offset: int) -> bytes:
    return f"R|{partition}|{offset}".encode()


def jsonable(value: Any) -> Any:
    """Datetimes become epoch milliseconds (Avro ``timestamp-millis`` takes them as they are)."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def batch_header(batch: Mapping[str, Any]) -> dict[str, Any]:
    """A ``RecordBatch`` without its per-record arrays, JSON-able: what outcomes and dead letters need."""
    return {k: jsonable(v) for k, v in batch.items() if k not in RECORD_COLUMNS}


class _Originals:
    """The ``(record, payload)`` part of a chunk, decoded on first use.

    Why lazy: a verdict that accepts every record needs only keys and digests (and, in snapshot
    workflows, payloads); the originals are for dead letters. Decoding them for every accepted record
    was a tenth of a worker's CPU on the Fluent path.
    """

    __slots__ = ("_data", "_rows")

    def __init__(self, data: bytes | None = None, rows: list[list[Any]] | None = None) -> None:
        self._data = data
        self._rows = rows

    def row(self, index: int) -> list[Any]:
        if self._rows is None:
            self._rows = jsonbytes.loads(zlib.decompress(self._data or b""))
            self._data = None
        return self._rows[index]


@dataclass(slots=True)
class PendingRow:
    """One record awaiting its Fluent batch's verdict (decoded from an ``F|`` chunk)."""

    position: int  #: index of its entity in the Fluent batch (what ``errors[].entityIndex`` names)
    offset: int  #: the offset of its ``RecordBatch`` on the same partition
    key: bytes
    digest: str | None
    delete: bool  #: a snapshot soft delete: accepted means the key is gone
    generation: int | None  #: snapshot generation of its file (snapshot workflows only)
    originals: _Originals
    index: int  #: its row in ``originals``

    @property
    def record(self) -> BatchRecord:
        """The original record and its position in the file (for a dead letter)."""
        r = self.originals.row(self.index)
        return BatchRecord(self.key.decode(), r[5], r[0], r[1], r[2], r[3], r[4])

    @property
    def payload(self) -> dict[str, Any]:
        """The entity that was sent."""
        payload: dict[str, Any] = self.originals.row(self.index)[6]
        return payload


class PendingRows:
    """The records of one Fluent batch from one records partition, collected for :func:`encode_chunks`.

    Columns for what every verdict reads (position, offset, key, digest, delete flag, generation); the
    original record and payload as one JSON document per record, which a verdict decodes only for a
    dead letter or a snapshot baseline.
    """

    __slots__ = ("deletes", "digests", "generations", "keys", "offsets", "originals", "positions")

    def __init__(self) -> None:
        self.positions: list[int] = []
        self.offsets: list[int] = []
        self.keys: list[bytes] = []
        self.digests: list[str | None] = []
        self.deletes: list[bool] = []
        self.generations: list[int | None] = []
        self.originals: list[bytes] = []

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, position: int, offset: int, key: bytes, digest: str | None, delete: bool,
            generation: int | None, record: BatchRecord, payload: Mapping[str, Any]) -> None:
        self.positions.append(position)
        self.offsets.append(offset)
        self.keys.append(key)
        self.digests.append(digest)
        self.deletes.append(delete)
        self.generations.append(generation)
        self.originals.append(jsonbytes.dumps((record.record_index, record.chunk_id, record.line, record.byte_offset,
                                               record.row_number, record.record, payload)))


_COLUMN_BYTES = 100
"""A row's share of the columns besides its key: digest (66), position, offset, flags, separators."""
_LAYOUT = b"\x02"
"""First byte of a chunk in the column layout; the row layout before it was zlib or plain JSON."""


def encode_chunks(meta: Mapping[str, Any], rows: PendingRows, limit: int = CHUNK_BYTES) -> list[bytes]:
    """Table values holding ``rows`` under ``meta``, each about ``limit`` bytes of JSON before
    compression (a changelog message must stay far below Kafka's 1 MB default).

    A value is ``0x02``, the length of the first part (4 bytes, big-endian), then two JSON documents:
    ``meta`` with the columns under ``"c"``, then the list of originals, zlib-compressed at level 1 (they
    repeat field names and file positions, so they shrink many times for ~0.3 µs a record - less for the
    broker, the changelog and RocksDB)."""
    chunks: list[bytes] = []
    start, size = 0, 0
    for end, (original, key) in enumerate(zip(rows.originals, rows.keys, strict=True)):
        row = len(original) + len(key) + _COLUMN_BYTES
        if end > start and size + row > limit:
            chunks.append(_chunk(meta, rows, start, end))
            start, size = end, 0
        size += row
    if len(rows):
        chunks.append(_chunk(meta, rows, start, len(rows)))
    return chunks


def _chunk(meta: Mapping[str, Any], rows: PendingRows, start: int, end: int) -> bytes:
    columns = [rows.positions[start:end], rows.offsets[start:end], [k.decode() for k in rows.keys[start:end]],
               rows.digests[start:end], rows.deletes[start:end], rows.generations[start:end]]
    head = jsonbytes.dumps({**meta, "c": columns})  # mostly hex digests: zlib would halve it at ~1 µs a row
    tail = zlib.compress(b"[" + b",".join(rows.originals[start:end]) + b"]", 1)
    return _LAYOUT + len(head).to_bytes(4, "big") + head + tail


def decode_chunk(value: bytes) -> tuple[dict[str, Any], list[PendingRow]]:
    """``(meta, rows)`` of one ``F|`` value; the originals are decoded when a row's ``record`` or
    ``payload`` is first read. Values in the earlier row layout (zlib or plain JSON) are read too."""
    if value[:1] == _LAYOUT:
        size = int.from_bytes(value[1:5], "big")
        data = jsonbytes.loads(value[5:5 + size])
        originals = _Originals(value[5 + size:])
        return data, [PendingRow(position, offset, key.encode(), digest, bool(delete), generation, originals, i)
                      for i, (position, offset, key, digest, delete, generation)
                      in enumerate(zip(*data.pop("c"), strict=True))]
    data = jsonbytes.loads(value if value[:1] == b"{" else zlib.decompress(value))
    legacy = data.pop("rows")
    kept = _Originals(rows=[r[6:] for r in legacy])
    return data, [PendingRow(r[0], r[1], r[2].encode(), r[3], bool(r[4]), r[5], kept, i) for i, r in enumerate(legacy)]


@dataclass(slots=True)
class Part:
    """What this worker holds of one Fluent batch from one records partition."""

    partition: int
    keys: list[bytes] = field(default_factory=list)  #: its ``F|`` chunk keys
    hashes: array[int] = field(default_factory=lambda: array("q"))  #: its records' key hashes


class PendingIndex:
    """Fluent batches awaiting their verdict -> the parts this worker holds (chunk keys, key hashes)."""

    def __init__(self) -> None:
        self._batches: dict[BatchName, dict[int, Part]] = {}
        self._sizes: dict[BatchName, int] = {}
        self.records = 0
        """Records awaiting a verdict on this worker."""

    def __len__(self) -> int:
        return len(self._batches)

    def __contains__(self, name: object) -> bool:
        return name in self._batches

    def add(self, name: BatchName, partition: int, keys: Iterable[bytes], hashes: Iterable[int], size: int) -> None:
        """Register chunk ``keys`` of batch ``name`` (``size`` entities in all) and the key hashes of their
        records on ``partition``."""
        parts = self._batches.setdefault(name, {})
        part = parts.get(partition)
        if part is None:
            part = parts[partition] = Part(partition)
        part.keys.extend(keys)
        before = len(part.hashes)
        part.hashes.extend(hashes)
        self.records += len(part.hashes) - before
        self._sizes[name] = size

    def size(self, name: BatchName) -> int:
        """Entities in the Fluent batch (every partition's rows together)."""
        return self._sizes.get(name, 0)

    def parts(self, name: BatchName) -> dict[int, Part]:
        return self._batches.get(name, {})

    def pop(self, name: BatchName) -> dict[int, Part]:
        """Take the batch's parts out (its verdict is being applied); :meth:`restore` puts one back."""
        parts = self._batches.pop(name, {})
        self._sizes.pop(name, None)
        self.records -= sum(len(p.hashes) for p in parts.values())
        return parts

    def restore(self, name: BatchName, part: Part, size: int) -> None:
        """Put back a part whose verdict could not be applied (it is tried again)."""
        self._batches.setdefault(name, {})[part.partition] = part
        self._sizes[name] = size
        self.records += len(part.hashes)

    def drop_partitions(self, partitions: set[int]) -> tuple[list[Part], list[BatchName]]:
        """Forget the parts of ``partitions``: ``(parts dropped, batches left without any part)``."""
        dropped: list[Part] = []
        emptied: list[BatchName] = []
        for name, parts in list(self._batches.items()):
            for partition in [p for p in parts if p in partitions]:
                part = parts.pop(partition)
                self.records -= len(part.hashes)
                dropped.append(part)
            if not parts:
                del self._batches[name]
                self._sizes.pop(name, None)
                emptied.append(name)
        return dropped, emptied

    def batch_of(self, digest: int) -> BatchName | None:
        """The batch holding a key hash (a linear scan: only for a record that has to wait anyway)."""
        for name, parts in self._batches.items():
            if any(digest in part.hashes for part in parts.values()):
                return name
        return None


class KeyGate:
    """Keys with a version on its way to Fluent or awaiting its verdict: a later version of the key waits.

    Why until the verdict and not only the 2xx: the baseline moves on the verdict. A later version
    checked against the old baseline could be found *unchanged* although Fluent is about to hold the
    earlier one, and two versions whose verdicts arrive out of order could leave the baseline on the
    older one. Counts, not a set: a snapshot sweep may send a key that is still counted once.
    """

    def __init__(self) -> None:
        self._busy: dict[int, int] = {}
        self._waiters: dict[int, asyncio.Future[None]] = {}

    def __len__(self) -> int:
        return len(self._busy)

    def busy(self, digest: int) -> bool:
        return digest in self._busy

    def acquire(self, digest: int) -> None:
        self._busy[digest] = self._busy.get(digest, 0) + 1

    def release(self, digest: int) -> None:
        count = self._busy.get(digest, 0) - 1
        if count > 0:
            self._busy[digest] = count
            return
        self._busy.pop(digest, None)
        waiter = self._waiters.pop(digest, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def release_all(self, digests: Iterable[int]) -> None:
        for digest in digests:
            self.release(digest)

    def waiter(self, digest: int) -> asyncio.Future[None]:
        """A future resolved when ``digest`` is no longer busy (shared by every waiter of the key)."""
        waiter = self._waiters.get(digest)
        if waiter is None or waiter.done():
            waiter = self._waiters[digest] = asyncio.get_running_loop().create_future()
            if digest not in self._busy:
                waiter.set_result(None)
        return waiter
