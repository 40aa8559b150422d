"""Parquet files with a schema derived from the topic's Avro schema, written row group by row group.

**Avro → Arrow.** ``boolean`` → bool, ``int`` → int32, ``long`` → int64, ``float`` → float32,
``double`` → float64, ``string``/``enum``/``uuid`` → string, ``bytes``/``fixed`` → binary (``fixed``
sized), ``record`` → struct, ``array`` → list, ``map`` → map<string, …>; ``["null", T]`` is a nullable
``T``. Logical types: ``date`` → date32, ``time-millis``/``time-micros`` → time32[ms]/time64[us],
``timestamp-millis``/``-micros`` → timestamp[ms|us, UTC], ``local-timestamp-*`` → timestamp without a
zone, ``decimal`` → decimal128(precision, scale). Named types may be referenced by (full) name.
A union of several non-null types has no Arrow equivalent and is refused when the sink starts.

**Values** are checked and converted per record, in Python, when the record is added: timestamps may be
datetimes, epoch numbers in the column's unit or ISO 8601 strings (what JSON from GraphQL carries);
dates and times likewise; decimals may be Decimals, strings or numbers. A record that does not fit the
schema is refused alone (:class:`RecordEncodingError`) instead of failing the row group it would have
joined later.

**Memory.** Rows wait in a list of at most ``row_group_records`` and are then written as one row group;
nothing else is held, so memory does not grow with the file. ``size`` counts the bytes on disk (whole
row groups), so ``max_bytes`` may be passed by up to one row group.

Without an Avro schema the schema is inferred from the first row group; later row groups must fit it,
and a record that does not fails the whole file (the Avro schema is the supported way).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from fluentsync.connectors.filesinks.settings import ParquetFormat
from fluentsync.connectors.filesinks.writers import RecordEncodingError, RecordWriter

__all__ = ["ParquetWriter", "SchemaError", "avro_to_arrow"]

Convert = Callable[[Any], Any]


class SchemaError(ValueError):
    """The Avro schema cannot be expressed in Arrow/Parquet."""


_PRIMITIVES: dict[str, pa.DataType] = {
    "null": pa.null(), "boolean": pa.bool_(), "int": pa.int32(), "long": pa.int64(), "float": pa.float32(),
    "double": pa.float64(), "bytes": pa.binary(), "string": pa.string(),
}


class _Builder:
    """Walks an Avro schema once, producing the Arrow type and the per-value converter together."""

    def __init__(self) -> None:
        self.named: dict[str, Any] = {}

    def _remember(self, schema: dict[str, Any], namespace: str | None) -> str | None:
        name = schema.get("name")
        if not name:
            return namespace
        ns = schema.get("namespace", namespace)
        full = name if "." in name or not ns else f"{ns}.{name}"
        self.named[full] = schema
        self.named[name.rsplit(".", 1)[-1]] = schema
        return full.rsplit(".", 1)[0] if "." in full else ns

    def build(self, schema: Any, namespace: str | None = None) -> tuple[pa.DataType, bool, Convert]:
        """(arrow type, nullable, converter) for an Avro schema."""
        if isinstance(schema, list):
            branches = [s for s in schema if s != "null"]
            if len(branches) != 1:
                raise SchemaError(f"union {schema} has {len(branches)} non-null branches; only [null, T] is supported")
            arrow, _, convert = self.build(branches[0], namespace)
            return arrow, "null" in schema, convert
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return self._primitive(schema)
            ref = self.named.get(schema) or self.named.get(f"{namespace}.{schema}")
            if ref is None:
                raise SchemaError(f"unknown Avro type {schema!r}")
            return self.build(ref, namespace)
        if not isinstance(schema, dict):
            raise SchemaError(f"bad Avro schema {schema!r}")
        kind = schema.get("type")
        logical = schema.get("logicalType")
        if logical:
            built = self._logical(schema, logical)
            if built is not None:
                return built
        if kind == "record":
            inner_ns = self._remember(schema, namespace)
            fields = []
            converters: list[tuple[str, bool, Convert, Any]] = []
            for field in schema.get("fields", []):
                arrow, nullable, convert = self.build(field["type"], inner_ns)
                fields.append(pa.field(field["name"], arrow, nullable=nullable))
                converters.append((field["name"], nullable, convert, field.get("default", _MISSING)))
            return pa.struct(fields), False, _record(converters)
        if kind == "array":
            arrow, nullable, convert = self.build(schema["items"], namespace)
            return pa.list_(pa.field("element", arrow, nullable=nullable)), False, _array(convert, nullable)
        if kind == "map":
            arrow, nullable, convert = self.build(schema["values"], namespace)
            return pa.map_(pa.string(), pa.field("value", arrow, nullable=nullable)), False, _map(convert, nullable)
        if kind == "enum":
            self._remember(schema, namespace)
            symbols = set(schema.get("symbols", []))
            return pa.string(), False, _enum(symbols)
        if kind == "fixed":
            self._remember(schema, namespace)
            return pa.binary(int(schema["size"])), False, _bytes
        if isinstance(kind, str | list | dict):
            return self.build(kind, namespace)  # {"type": "string"} and friends
        raise SchemaError(f"bad Avro schema {schema!r}")

    def _primitive(self, name: str) -> tuple[pa.DataType, bool, Convert]:
        converters: dict[str, Convert] = {
            "null": _null, "boolean": _bool, "int": _int(-(2**31), 2**31 - 1), "long": _int(-(2**63), 2**63 - 1),
            "float": _float, "double": _float, "bytes": _bytes, "string": _string,
        }
        return _PRIMITIVES[name], name == "null", converters[name]

    def _logical(self, schema: dict[str, Any], logical: str) -> tuple[pa.DataType, bool, Convert] | None:
        base = schema.get("type")
        if logical == "date" and base == "int":
            return pa.date32(), False, _date
        if logical == "time-millis" and base == "int":
            return pa.time32("ms"), False, _time(1000)
        if logical == "time-micros" and base == "long":
            return pa.time64("us"), False, _time(1_000_000)
        stamps = {"timestamp-millis": ("ms", "UTC"), "timestamp-micros": ("us", "UTC"),
                  "local-timestamp-millis": ("ms", None), "local-timestamp-micros": ("us", None)}
        if logical in stamps and base == "long":
            unit, tz = stamps[logical]
            return pa.timestamp(unit, tz=tz), False, _timestamp(tz is not None)
        if logical == "decimal" and base in {"bytes", "fixed"}:
            if base == "fixed":
                self._remember(schema, None)
            precision, scale = int(schema["precision"]), int(schema.get("scale", 0))
            arrow = pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
            return arrow, False, _decimal(scale)
        if logical == "uuid" and base == "string":
            return pa.string(), False, _string
        return None  # unknown logical types fall back to the underlying type (Avro's own rule)


_MISSING = object()


def avro_to_arrow(schema: Mapping[str, Any]) -> pa.Schema:
    """The Arrow schema for an Avro record schema (see the module docstring for the mapping)."""
    return _compile(schema)[0]


def _compile(schema: Mapping[str, Any]) -> tuple[pa.Schema, Convert]:
    if not isinstance(schema, Mapping) or schema.get("type") != "record":
        raise SchemaError("the Avro schema of a Parquet sink must be a record")
    arrow, _, convert = _Builder().build(dict(schema))
    return pa.schema(list(arrow)), convert


# -- converters: check one value, return what pyarrow takes -----------------------------------------


def _bad(value: Any, expected: str) -> RecordEncodingError:
    return RecordEncodingError(f"{type(value).__name__} {str(value)[:40]!r} is not {expected}")


def _null(value: Any) -> Any:
    if value is not None:
        raise _bad(value, "null")
    return None


def _bool(value: Any) -> Any:
    if not isinstance(value, bool):
        raise _bad(value, "a boolean")
    return value


def _int(low: int, high: int) -> Convert:
    def convert(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _bad(value, f"an integer in [{low}, {high}]")
        return value

    return convert


def _float(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(value, "a number")
    return float(value)


def _string(value: Any) -> Any:
    if not isinstance(value, str):
        raise _bad(value, "a string")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate would fail the whole row group later
            raise RecordEncodingError("a string holds a character that cannot be encoded as UTF-8") from None
    return value


def _enum(symbols: set[str]) -> Convert:
    def convert(value: Any) -> Any:
        if not isinstance(value, str) or (symbols and value not in symbols):
            raise _bad(value, f"one of {sorted(symbols)}")
        return value  # a symbol: a valid Avro name, ASCII

    return convert


def _bytes(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise _bad(value, "bytes")


def _date(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return dt.date(1970, 1, 1) + dt.timedelta(days=value)
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            pass
    raise _bad(value, "a date")


def _time(per_second: int) -> Convert:
    def convert(value: Any) -> Any:
        if isinstance(value, dt.time):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 86_400 * per_second:
            return value
        if isinstance(value, str):
            try:
                return dt.time.fromisoformat(value)
            except ValueError:
                pass
        raise _bad(value, "a time of day")

    return convert


def _timestamp(utc: bool) -> Convert:
    def convert(value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = dt.datetime.fromisoformat(value)
            except ValueError:
                raise _bad(value, "an ISO 8601 timestamp") from None
        if isinstance(value, dt.datetime):
            if utc and value.tzinfo is None:
                return value.replace(tzinfo=dt.UTC)  # naive means UTC, as in Avro
            if not utc and value.tzinfo is not None:
                return value.replace(tzinfo=None)  # local-timestamp: wall-clock as written
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return value  # epoch in the column's unit
        raise _bad(value, "a timestamp")

    return convert


def _decimal(scale: int) -> Convert:
    quantum = Decimal(1).scaleb(-scale)

    def convert(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
            raise _bad(value, "a decimal")
        try:
            number = value if isinstance(value, Decimal) else Decimal(str(value))
            quantised = number.quantize(quantum)
        except InvalidOperation:
            raise _bad(value, f"a decimal with scale {scale}") from None
        if quantised != number:
            raise _bad(value, f"a decimal with at most {scale} decimal places")
        return quantised

    return convert


def _record(fields: list[tuple[str, bool, Convert, Any]]) -> Convert:
    def convert(value: Any) -> Any:
        if type(value) is not dict and not isinstance(value, Mapping):  # dict first: the ABC test is slow
            raise _bad(value, "an object")
        out: dict[str, Any] = {}
        for name, nullable, field_convert, default in fields:
            item = value.get(name, _MISSING)
            if item is _MISSING:
                item = None if default is _MISSING else default
            if item is None:
                if not nullable:
                    raise RecordEncodingError(f"field {name!r} is required")
                out[name] = None
                continue
            try:
                out[name] = field_convert(item)
            except RecordEncodingError as exc:
                raise RecordEncodingError(f"{name}: {exc}") from None
        return out

    return convert


def _array(convert_item: Convert, nullable: bool) -> Convert:
    def convert(value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise _bad(value, "an array")
        return [_nullable(convert_item, nullable, item) for item in value]

    return convert


def _map(convert_value: Convert, nullable: bool) -> Convert:
    def convert(value: Any) -> Any:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise _bad(value, "a map with string keys")
        return [(k, _nullable(convert_value, nullable, v)) for k, v in value.items()]

    return convert


def _nullable(convert: Convert, nullable: bool, value: Any) -> Any:
    if value is None:
        if not nullable:
            raise RecordEncodingError("null where a value is required")
        return None
    return convert(value)


# -- the writer -------------------------------------------------------------------------------------


class ParquetWriter(RecordWriter):
    extension = "parquet"

    def __init__(self, path: Path, options: ParquetFormat, avro_schema: Mapping[str, Any] | None = None) -> None:
        self.options = options
        self._schema: pa.Schema | None = None
        self._convert: Convert | None = None
        if avro_schema is not None:
            self._schema, self._convert = _compile(avro_schema)  # before the file exists: fail fast
        super().__init__(path)
        self._rows: list[Any] = []
        self._writer: pq.ParquetWriter | None = None

    def write(self, record: Mapping[str, Any]) -> None:
        row = self._convert(record) if self._convert is not None else dict(record)
        self._rows.append(row)
        self.records += 1
        if len(self._rows) >= self.options.row_group_records:
            self._write_group()

    def _write_group(self) -> None:
        if not self._rows:
            return
        if self._schema is None:
            self._schema = pa.RecordBatch.from_pylist(self._rows).schema
        batch = pa.RecordBatch.from_pylist(self._rows, schema=self._schema)
        self._rows = []
        if self._writer is None:
            compression = None if self.options.compression == "none" else self.options.compression
            self._writer = pq.ParquetWriter(self._file, self._schema, compression=compression or "none",
                                            compression_level=self.options.compression_level)
        self._writer.write_batch(batch)
        self._file.flush()
        self._size = os.fstat(self._file.fileno()).st_size

    def _footer(self) -> None:
        self._write_group()
        if self._writer is None:  # no rows: still a valid (empty) Parquet file with the schema
            schema = self._schema if self._schema is not None else pa.schema([])
            self._writer = pq.ParquetWriter(self._file, schema)
        self._writer.close()

    def abort(self) -> None:
        self._rows = []
        super().abort()
