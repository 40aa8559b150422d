"""Parquet: row groups streamed, Arrow types → JSON-able values, seekable and spooled inputs."""

from __future__ import annotations

import datetime as dt
import decimal
import gzip
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fluentsync.connectors.parsers import FileParseError, ParquetOptions, ParsedRecord, parse, parse_path


class Unseekable(io.RawIOBase):
    """A stream without seek (like a network body)."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        chunk = self._inner.read(min(len(b), 1000))
        b[: len(chunk)] = chunk
        return len(chunk)


def typed_table() -> pa.Table:
    utc = dt.UTC
    return pa.table(
        {
            "sku": pa.array(["A", "B", None]),
            "qty": pa.array([1, 2**40, None], pa.int64()),
            "small": pa.array([1, 2, 3], pa.uint8()),
            "price": pa.array([1.5, 2.0, None], pa.float64()),
            "ok": pa.array([True, False, None]),
            "at": pa.array([dt.datetime(2024, 6, 1, 10, 0, 0, 123456), None, None], pa.timestamp("us")),
            "at_utc": pa.array(
                [dt.datetime(2024, 6, 1, 10, 0, tzinfo=utc), None, None], pa.timestamp("ms", tz="Europe/Paris")
            ),
            "at_ns": pa.array([1_717_236_000_123_456_789, None, None], pa.timestamp("ns")),
            "day": pa.array([dt.date(2024, 6, 1), None, None], pa.date32()),
            "amount": pa.array([decimal.Decimal("12.50"), None, None], pa.decimal128(10, 2)),
            "blob": pa.array([b"\x00\x01hi", None, None], pa.binary()),
            "tags": pa.array([["a", "b"], [], None], pa.list_(pa.string())),
            "dim": pa.array([{"w": 1, "when": dt.date(2024, 1, 2)}, None, None]),
            "cat": pa.array(["x", "y", "x"]).dictionary_encode(),
        }
    )


def to_bytes(table: pa.Table, **kwargs: Any) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, **kwargs)
    return sink.getvalue()


def test_types_become_json_able_values() -> None:
    items = list(parse(io.BytesIO(to_bytes(typed_table())), ParquetOptions()))
    assert all(isinstance(i, ParsedRecord) for i in items)
    first = items[0].record  # type: ignore[union-attr]
    assert first == {
        "sku": "A",
        "qty": 1,
        "small": 1,
        "price": 1.5,
        "ok": True,
        "at": "2024-06-01T10:00:00.123456",
        "at_utc": "2024-06-01T10:00:00.000Z",
        "at_ns": "2024-06-01T10:00:00.123456789",
        "day": "2024-06-01",
        "amount": "12.50",
        "blob": "AAFoaQ==",
        "tags": ["a", "b"],
        "dim": {"w": 1, "when": "2024-01-02"},
        "cat": "x",
    }
    assert items[1].record["qty"] == 2**40 and items[2].record["sku"] is None  # type: ignore[union-attr]
    for item in items:
        json.dumps(item.record)  # type: ignore[union-attr]
    assert [(i.index, i.row_number, i.line, i.byte_offset) for i in items] == [
        (0, 1, None, None),
        (1, 2, None, None),
        (2, 3, None, None),
    ]


def test_several_row_groups_and_small_batches() -> None:
    table = pa.table({"n": pa.array(range(2500), pa.int32()), "s": [f"r{i}" for i in range(2500)]})
    data = to_bytes(table, row_group_size=1000)
    assert pq.ParquetFile(io.BytesIO(data)).num_row_groups == 3
    items = list(parse(io.BytesIO(data), ParquetOptions(batch_rows=300, columns=["n"])))
    assert [i.record["n"] for i in items] == list(range(2500))  # type: ignore[union-attr]
    assert [i.index for i in items] == list(range(2500))
    assert items[0].record == {"n": 0}  # type: ignore[union-attr]


def test_unseekable_and_gzipped_streams_are_spooled() -> None:
    data = to_bytes(pa.table({"n": [1, 2, 3]}))
    assert [i.record for i in parse(Unseekable(data), {"type": "parquet"})] == [{"n": 1}, {"n": 2}, {"n": 3}]  # type: ignore[union-attr]
    gz = gzip.compress(data)
    assert len(list(parse(io.BytesIO(gz), {"type": "parquet"}))) == 3


def test_parse_path(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    path.write_bytes(to_bytes(pa.table({"n": [7]})))
    assert [i.record for i in parse_path(path)] == [{"n": 7}]  # type: ignore[union-attr]


def test_not_parquet_and_unknown_columns() -> None:
    with pytest.raises(FileParseError, match="not a readable Parquet file"):
        list(parse(io.BytesIO(b"sku,qty\nA,1\n"), ParquetOptions()))
    with pytest.raises(FileParseError, match="not a readable Parquet file"):
        list(parse(Unseekable(b"garbage" * 10), ParquetOptions()))
    with pytest.raises(FileParseError, match="unknown Parquet column"):
        list(parse(io.BytesIO(to_bytes(pa.table({"n": [1]}))), ParquetOptions(columns=["nope"])))
