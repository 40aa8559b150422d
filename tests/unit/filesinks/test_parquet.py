"""Parquet: schema from Avro (nested, unions with null, logical types), values read back equal, row groups."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fluentsync.connectors.filesinks import ParquetFormat, RecordEncodingError, avro_to_arrow, open_writer
from fluentsync.connectors.filesinks.parquet import SchemaError

SCHEMA: dict[str, Any] = {
    "type": "record", "name": "Order", "namespace": "fluent.out",
    "fields": [
        {"name": "ref", "type": "string"},
        {"name": "qty", "type": ["null", "int"], "default": None},
        {"name": "total", "type": "double"},
        {"name": "ratio", "type": "float"},
        {"name": "big", "type": "long"},
        {"name": "paid", "type": "boolean"},
        {"name": "raw", "type": ["null", "bytes"]},
        {"name": "created", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "seen", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
        {"name": "local", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "at", "type": {"type": "int", "logicalType": "time-millis"}},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "DONE"]}},
        {"name": "customer", "type": ["null", {"type": "record", "name": "Customer", "fields": [
            {"name": "ref", "type": "string"},
            {"name": "tier", "type": ["null", "string"], "default": None},
        ]}]},
        {"name": "billing", "type": ["null", "fluent.out.Customer"], "default": None},
        {"name": "lines", "type": {"type": "array", "items": {"type": "record", "name": "Line", "fields": [
            {"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}}},
        {"name": "tags", "type": {"type": "array", "items": ["null", "string"]}},
        {"name": "attrs", "type": {"type": "map", "values": "string"}},
        {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 4}},
    ],
}

UTC = dt.UTC


def order(i: int) -> dict[str, Any]:
    return {
        "ref": f"O{i}", "qty": i if i % 2 else None, "total": i * 1.5, "ratio": 0.5, "big": 2**40 + i,
        "paid": bool(i % 2), "raw": b"\x00\xff" if i % 3 else None,
        "created": dt.datetime(2024, 6, 1, 10, 0, i % 60, tzinfo=UTC),
        "seen": "2024-06-01T10:00:00.123456Z" if i % 2 else None,
        "local": dt.datetime(2024, 6, 1, 12, 0), "day": "2024-06-01", "at": "10:15:30.250",
        "price": "19.99", "id": "6b2f0b7e-6f2d-4ad5-9d46-3c3a2d5f5f4e", "status": "NEW",
        "customer": {"ref": f"C{i}"} if i % 2 else None, "billing": None,
        "lines": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": i}], "tags": ["x", None], "attrs": {"k": "v"},
        "hash": b"abcd",
    }


def test_avro_schema_becomes_the_arrow_schema() -> None:
    schema = avro_to_arrow(SCHEMA)
    assert schema.field("ref").type == pa.string() and not schema.field("ref").nullable
    assert schema.field("qty").type == pa.int32() and schema.field("qty").nullable
    assert schema.field("ratio").type == pa.float32()
    assert schema.field("big").type == pa.int64()
    assert schema.field("created").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("seen").type == pa.timestamp("us", tz="UTC") and schema.field("seen").nullable
    assert schema.field("local").type == pa.timestamp("ms")
    assert schema.field("day").type == pa.date32()
    assert schema.field("at").type == pa.time32("ms")
    assert schema.field("price").type == pa.decimal128(12, 2)
    assert schema.field("id").type == pa.string()
    assert schema.field("status").type == pa.string()
    customer = schema.field("customer")
    assert customer.nullable and customer.type == pa.struct([pa.field("ref", pa.string(), nullable=False),
                                                             pa.field("tier", pa.string())])
    assert schema.field("billing").type == customer.type  # a named type referenced by its full name
    assert schema.field("lines").type.value_type == pa.struct([pa.field("sku", pa.string(), nullable=False),
                                                               pa.field("qty", pa.int32(), nullable=False)])
    assert schema.field("tags").type.value_field.nullable
    assert schema.field("attrs").type == pa.map_(pa.string(), pa.field("value", pa.string(), nullable=False))
    assert schema.field("hash").type == pa.binary(4)


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "record", "name": "R", "fields": [{"name": "x", "type": ["int", "string"]}]},
        {"type": "record", "name": "R", "fields": [{"name": "x", "type": "Nope"}]},
        {"type": "array", "items": "string"},
    ],
)
def test_schemas_parquet_cannot_express_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(SchemaError):
        avro_to_arrow(bad)


def test_values_read_back_equal_in_row_groups(tmp_path: Path) -> None:
    path = tmp_path / "out.parquet"
    writer = open_writer(ParquetFormat(row_group_records=40, compression="zstd"), path, SCHEMA)
    for i in range(100):
        writer.write(order(i))
    writer.close()
    meta = pq.ParquetFile(path).metadata
    assert meta.num_rows == 100 and meta.num_row_groups == 3  # 40 + 40 + 20
    assert meta.row_group(0).column(0).compression == "ZSTD"
    rows = pq.read_table(path).to_pylist()
    first, second = rows[0], rows[1]
    assert first["ref"] == "O0" and first["qty"] is None and first["customer"] is None
    assert second["qty"] == 1 and second["customer"] == {"ref": "C1", "tier": None}
    assert first["created"] == dt.datetime(2024, 6, 1, 10, 0, 0, tzinfo=UTC)
    assert second["seen"] == dt.datetime(2024, 6, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert first["local"] == dt.datetime(2024, 6, 1, 12, 0)
    assert first["day"] == dt.date(2024, 6, 1)
    assert first["at"] == dt.time(10, 15, 30, 250000)
    assert first["price"] == Decimal("19.99")
    assert second["raw"] == b"\x00\xff" and first["raw"] is None
    assert second["lines"] == [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 1}]
    assert first["tags"] == ["x", None] and first["attrs"] == [("k", "v")] and first["hash"] == b"abcd"
    assert [r["ref"] for r in rows] == [f"O{i}" for i in range(100)]
    assert [r["big"] for r in rows] == [2**40 + i for i in range(100)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ref": None}, "required"),
        ({"qty": "3"}, "qty"),
        ({"qty": 2**31}, "qty"),
        ({"paid": 1}, "boolean"),
        ({"created": "yesterday"}, "timestamp"),
        ({"price": "1.234"}, "decimal"),
        ({"status": "LOST"}, "one of"),
        ({"lines": [{"sku": "A"}]}, "required"),
        ({"attrs": {"k": 1}}, "string"),
    ],
)
def test_a_record_that_does_not_fit_is_refused_alone(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    path = tmp_path / "out.parquet"
    writer = open_writer(ParquetFormat(row_group_records=2), path, SCHEMA)
    writer.write(order(1))
    with pytest.raises(RecordEncodingError, match=message):
        writer.write({**order(2), **change})
    writer.write(order(3))
    writer.close()
    assert [r["ref"] for r in pq.read_table(path).to_pylist()] == ["O1", "O3"]


def test_compression_none_and_empty_file_keeps_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    open_writer(ParquetFormat(compression="none"), path, SCHEMA).close()
    table = pq.read_table(path)
    assert table.num_rows == 0 and table.schema.names == [f["name"] for f in SCHEMA["fields"]]


def test_without_avro_schema_the_first_row_group_sets_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "inferred.parquet"
    writer = open_writer(ParquetFormat(row_group_records=2), path)
    for i in range(5):
        writer.write({"ref": f"O{i}", "n": i})
    writer.close()
    assert pq.read_table(path).to_pylist() == [{"ref": f"O{i}", "n": i} for i in range(5)]


def test_a_lone_surrogate_is_refused_alone(tmp_path: Path) -> None:
    writer = open_writer(ParquetFormat(), tmp_path / "out.parquet", SCHEMA)
    with pytest.raises(RecordEncodingError, match="UTF-8"):
        writer.write({**order(1), "ref": "bad \ud800"})
    writer.write(order(2))
    writer.close()
    assert pq.read_table(tmp_path / "out.parquet").column("ref").to_pylist() == ["O2"]
