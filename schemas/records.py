"""Reading and writing ``RecordBatch`` events: column arrays in, one record at a time out.

A ``RecordBatch`` stores its records as parallel arrays (keys, indexes, positions) and either a table
(``columns`` + ``rows`` of strings, for flat text records such as CSV) or JSON ``documents``. That keeps
Avro encoding near a microsecond per record (design.md §4); :func:`batch_records` turns a decoded batch
back into :class:`BatchRecord` objects for agents and tools.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["BatchRecord", "batch_records"]


@dataclass(slots=True)
class BatchRecord:
    """One record of a ``RecordBatch`` with its position in the file. Not frozen: a frozen dataclass
    costs ~0.4 µs more to build, once per record on every path (treat it as read-only all the same)."""

    record_key: str
    record: dict[str, Any]
    record_index: int
    chunk_id: str
    line: int | None
    byte_offset: int | None
    row_number: int | None


def batch_records(batch: Mapping[str, Any]) -> Iterator[BatchRecord]:
    """The records of a decoded ``fluentsync.records.RecordBatch``, in source order."""
    keys: list[str] = batch["record_keys"]
    count = len(keys)
    indexes: list[int] = batch["record_indexes"]
    lines = _positions(batch.get("lines"), count)
    offsets = _positions(batch.get("byte_offsets"), count)
    rows_numbers = _positions(batch.get("row_numbers"), count)
    columns: list[str] = batch.get("columns") or []
    rows: list[list[str]] = batch.get("rows") or []
    documents: list[str] = batch.get("documents") or []
    if len(indexes) != count or (len(rows) if rows else len(documents)) != count:
        raise ValueError(f"malformed RecordBatch {batch.get('batch_id')!r}: arrays of different lengths")
    chunk = batch.get("chunk_id", "chunk-00000")
    for i in range(count):
        record = dict(zip(columns, rows[i], strict=True)) if rows else json.loads(documents[i])
        yield BatchRecord(keys[i], record, indexes[i], chunk, lines[i], offsets[i], rows_numbers[i])


def _positions(values: list[int] | None, count: int) -> list[int | None]:
    """A position column: empty means unknown for every record, -1 unknown for one record."""
    if not values:
        return [None] * count
    if len(values) != count:
        raise ValueError("malformed RecordBatch: a position array has the wrong length")
    return [None if value < 0 else value for value in values]
