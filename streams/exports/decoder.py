"""Outbound events to dicts with readers compiled per schema: fastavro's values for less CPU.

Why: decoding is the largest single cost of the sink consumer (fastavro's ``schemaless_reader``
takes ~8 µs for an inventory position, much of it resolving each nullable union generically).
:func:`compile_reader` walks a writer schema once and returns a reader specialised to it: about 60%
of the CPU for the same dict.

The same values, or none:

- only when the reader schema is the writer schema (the codec's newest schema of that name has the
  writer's fingerprint): anything to resolve (an older or newer writer) goes to ``codec.decode``;
- only the types the outbound schemas use: null, boolean, int, long, float, double, string, records,
  arrays, unions of null and one type, ``timestamp-millis`` (the extraction metadata); a schema with
  anything else gets no reader (:class:`Unsupported`) and its events go to ``codec.decode``;
- strict: a byte it does not expect (a union index other than the two, a boolean byte other than 0
  and 1, a negative array block, an over-long varint, invalid UTF-8, a body shorter or longer than
  the schema says) raises, and :class:`EventDecoder` hands that event to ``codec.decode``, which
  returns fastavro's value or raises its :class:`~fluentsync.schemas.codec.AvroDecodeError`.
  ``tests/unit/exports/test_decoder.py`` compares the two on generated and corrupted events.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fluentsync.schemas.codec import AvroCodec
from fluentsync.schemas.repository import SchemaInfo, UnknownSchemaError

__all__ = ["EventDecoder", "Unsupported", "compile_reader"]

Reader = Callable[[bytes, int], tuple[Any, int]]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DOUBLE = struct.Struct("<d").unpack_from
_FLOAT = struct.Struct("<f").unpack_from
_UNSET: Any = object()


class Unsupported(ValueError):
    """The schema uses a type the compiled readers do not read (its events go to the codec)."""


def _long(data: bytes, pos: int) -> tuple[int, int]:
    """A zig-zag varint (at most 10 bytes, as a 64-bit long)."""
    byte = data[pos]
    pos += 1
    if byte < 0x80:
        return (byte >> 1) ^ -(byte & 1), pos
    value, shift = byte & 0x7F, 7
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than a long")
    if value >> 64:
        raise ValueError("varint beyond a long")
    return (value >> 1) ^ -(value & 1), pos


def _string(data: bytes, pos: int) -> tuple[str, int]:
    size = data[pos]
    if size < 0x80 and not size & 1:  # a short string: its length in one byte
        start, end = pos + 1, pos + 1 + (size >> 1)
    else:
        size, start = _long(data, pos)
        end = start + size
        if size < 0:
            raise ValueError("negative length")
    if end > len(data):
        raise ValueError("truncated")
    return data[start:end].decode("utf-8"), end


def _boolean(data: bytes, pos: int) -> tuple[bool, int]:
    byte = data[pos]
    if byte > 1:
        raise ValueError("not a boolean byte")
    return byte == 1, pos + 1


def _double(data: bytes, pos: int) -> tuple[float, int]:
    return _DOUBLE(data, pos)[0], pos + 8


def _float(data: bytes, pos: int) -> tuple[float, int]:
    return _FLOAT(data, pos)[0], pos + 4


def _null(data: bytes, pos: int) -> tuple[None, int]:
    return None, pos


def _timestamp_millis(data: bytes, pos: int) -> tuple[datetime, int]:
    millis, pos = _long(data, pos)
    return _EPOCH + timedelta(microseconds=millis * 1000), pos  # fastavro's arithmetic


_PRIMITIVES: dict[str, Reader] = {"null": _null, "boolean": _boolean, "int": _long, "long": _long,
                                  "float": _float, "double": _double, "string": _string}


def compile_reader(schema: Any) -> Reader:
    """A reader of the Avro body of parsed writer ``schema``: ``(data, position) -> (value, end)``.
    Raises :class:`Unsupported` for a schema with types it does not read."""
    return _compile(schema, {})


def _compile(schema: Any, named: dict[str, Reader]) -> Reader:
    if isinstance(schema, list):
        return _union(schema, named)
    if isinstance(schema, str):
        if schema in named:
            return lambda data, pos: named[schema](data, pos)
        if schema in _PRIMITIVES:
            return _PRIMITIVES[schema]
        raise Unsupported(f"type {schema!r}")
    if not isinstance(schema, dict):
        raise Unsupported(f"schema {schema!r}")
    kind, logical = schema.get("type"), schema.get("logicalType")
    if logical is not None:
        if logical == "timestamp-millis" and kind == "long":
            return _timestamp_millis
        raise Unsupported(f"logical type {logical!r}")
    if isinstance(kind, dict | list):
        return _compile(kind, named)
    if kind == "record":
        return _record(schema, named)
    if kind == "array":
        return _array(_compile(schema["items"], named))
    if isinstance(kind, str) and kind in _PRIMITIVES:
        return _PRIMITIVES[kind]
    raise Unsupported(f"schema {schema!r}")


def _union(schema: list[Any], named: dict[str, Reader]) -> Reader:
    if len(schema) != 2 or "null" not in schema:
        raise Unsupported(f"union {schema!r}: only null and one type")
    null_index = 2 * schema.index("null")  # zig-zag: 0 -> 0, 1 -> 2
    some_index = 2 - null_index
    inner = _compile(schema[1 - schema.index("null")], named)

    def union(data: bytes, pos: int) -> tuple[Any, int]:
        index = data[pos]
        if index == null_index:
            return None, pos + 1
        if index != some_index:
            raise ValueError("union index out of range")
        return inner(data, pos + 1)

    if inner is not _string:
        return union

    def string(data: bytes, pos: int) -> tuple[Any, int]:  # the most common field, without another call
        index = data[pos]
        if index == null_index:
            return None, pos + 1
        if index != some_index:
            raise ValueError("union index out of range")
        size = data[pos + 1]
        if size < 0x80 and not size & 1:
            start = pos + 2
            end = start + (size >> 1)
            if end > len(data):
                raise ValueError("truncated")
            return data[start:end].decode("utf-8"), end
        return _string(data, pos + 1)

    return string


def _array(item: Reader) -> Reader:
    def array(data: bytes, pos: int) -> tuple[list[Any], int]:
        out: list[Any] = []
        while True:
            count, pos = _long(data, pos)
            if count == 0:
                return out, pos
            if count < 0 or count > len(data) - pos:  # a block with its byte size (other writers), or corrupt
                raise ValueError("negative or impossible block count")
            for _ in range(count):
                value, pos = item(data, pos)
                out.append(value)

    return array


def _record(schema: dict[str, Any], named: dict[str, Reader]) -> Reader:
    fields: list[tuple[str, Reader]] = []

    def record(data: bytes, pos: int) -> tuple[dict[str, Any], int]:
        out: dict[str, Any] = {}
        for name, read in fields:
            out[name], pos = read(data, pos)
        return out, pos

    named[schema["name"]] = record
    fields.extend((field["name"], _compile(field["type"], named)) for field in schema["fields"])
    return record


class EventDecoder:
    """``codec.decode`` with compiled readers: events of a schema read as written use its reader."""

    def __init__(self, codec: AvroCodec) -> None:
        self.codec = codec
        self._readers: dict[bytes, Reader | None] = {}  # writer fingerprint -> reader (None: unsupported)

    def __call__(self, raw: bytes) -> Any:
        """The event's value; raises what ``codec.decode`` raises."""
        try:
            writer, offset = self.codec.framing.writer(raw)
            try:
                newest = self.codec.repository.get(writer.name)
            except UnknownSchemaError:
                newest = writer
            if newest.fingerprint == writer.fingerprint:
                read = self._readers.get(writer.fingerprint, _UNSET)
                if read is _UNSET:
                    read = self._readers[writer.fingerprint] = _reader(writer)
                if read is not None:
                    value, end = read(raw, offset)
                    if end == len(raw):
                        return value
        except Exception:  # refused, or not an event at all: the codec gives the value or the error
            pass
        return self.codec.decode(raw)


def _reader(info: SchemaInfo) -> Reader | None:
    try:
        return compile_reader(info.parsed)
    except Unsupported:
        return None
