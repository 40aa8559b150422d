"""Avro encode/decode with writer→reader schema resolution and two framings.

Framings (how a message says which schema wrote it):

- **Single-object encoding** (default; Avro specification): ``C3 01`` + the writer schema's 8-byte
  little-endian CRC-64-AVRO fingerprint + the Avro binary body. No registry is needed: the reader looks
  the fingerprint up in its :class:`~fluentsync.schemas.repository.SchemaRepository`.
- **Confluent wire format**: ``00`` + a 4-byte big-endian schema id + the body. The id comes from a
  schema registry (:class:`SchemaRegistry`); this is what Kafka tooling around a Confluent-compatible
  registry expects. A codec with this framing still *reads* single-object messages (the first byte
  tells them apart), so a topic switched over mid-life stays readable. Which registry subject a schema
  goes under depends on the topic (``encode(..., topic=...)``) and the subject strategy
  (:mod:`fluentsync.schemas.registry`, which also configures the process-wide codec).

Decoding always resolves the writer's schema against the reader's (the newest shipped schema of the
same name unless told otherwise), so a field added with a default reads fine in both directions.
Every failure raises an :class:`AvroCodecError` that says which schema, which framing and what went
wrong - never a bare ``EOFError`` from deep inside fastavro.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any, Literal, Protocol

from fastavro import schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError, validate

from fluentsync.schemas.repository import SchemaInfo, SchemaRepository, UnknownSchemaError

__all__ = [
    "AvroCodec",
    "AvroCodecError",
    "AvroDecodeError",
    "AvroEncodeError",
    "ConfluentFraming",
    "Framing",
    "InMemorySchemaRegistry",
    "SchemaRegistry",
    "SingleObjectFraming",
    "SubjectNamer",
    "default_codec",
    "record_name_subject",
]

SINGLE_OBJECT_MAGIC: bytes = b"\xc3\x01"
CONFLUENT_MAGIC: bytes = b"\x00"


class AvroCodecError(ValueError):
    """Base class: a message could not be encoded or decoded."""


class AvroEncodeError(AvroCodecError):
    """The datum does not match the schema it was written with."""


class AvroDecodeError(AvroCodecError):
    """The bytes are not a valid message: bad framing, unknown writer schema, corrupt or truncated body,
    or a writer schema that cannot be resolved to the reader's."""


class SchemaRegistry(Protocol):
    """The part of a Confluent-compatible schema registry the codec needs (synchronous, cached)."""

    def register(self, subject: str, schema_json: str) -> int: ...

    def schema(self, schema_id: int) -> str: ...


class InMemorySchemaRegistry:
    """A process-local registry: ids for schemas, stable for the life of the object.

    Useful for tests and single-process tools; production uses a real registry (docker-compose).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: dict[str, int] = {}
        self._schemas: dict[int, str] = {}
        self.subjects: dict[str, list[int]] = {}

    def register(self, subject: str, schema_json: str) -> int:
        with self._lock:
            schema_id = self._ids.get(schema_json)
            if schema_id is None:
                schema_id = len(self._schemas) + 1
                self._ids[schema_json] = schema_id
                self._schemas[schema_id] = schema_json
            versions = self.subjects.setdefault(subject, [])
            if schema_id not in versions:
                versions.append(schema_id)
            return schema_id

    def schema(self, schema_id: int) -> str:
        try:
            return self._schemas[schema_id]
        except KeyError:
            raise UnknownSchemaError(f"schema id {schema_id} is not in the registry") from None


class Framing(Protocol):
    """How the writer's schema is named in front of the Avro body."""

    name: str

    def header(self, info: SchemaInfo, topic: str | None = None) -> bytes:
        """The header for ``info``; ``topic`` (where the message goes) may decide the registry subject."""
        ...

    def writer(self, data: bytes) -> tuple[SchemaInfo, int]:
        """The writer schema named by ``data``'s header, and where the body starts."""
        ...


class SingleObjectFraming:
    """Avro single-object encoding: magic ``C3 01`` + 8-byte fingerprint."""

    name = "single-object"

    def __init__(self, repository: SchemaRepository) -> None:
        self.repository = repository

    def header(self, info: SchemaInfo, topic: str | None = None) -> bytes:
        return SINGLE_OBJECT_MAGIC + info.fingerprint

    def writer(self, data: bytes) -> tuple[SchemaInfo, int]:
        if len(data) < 10 or data[:2] != SINGLE_OBJECT_MAGIC:
            raise AvroDecodeError(
                f"not an Avro single-object message: expected header c301 + 8-byte fingerprint,"
                f" got {data[:10].hex() or 'empty input'} ({len(data)} bytes)"
            )
        try:
            return self.repository.by_fingerprint(bytes(data[2:10])), 10
        except UnknownSchemaError as exc:
            raise AvroDecodeError(str(exc)) from None


#: The registry subject of a schema written to a topic (``None``: the caller did not say which topic).
SubjectNamer = Callable[[SchemaInfo, str | None], str]


def record_name_subject(info: SchemaInfo, topic: str | None) -> str:
    """The RecordNameStrategy: the schema's full name, whatever the topic."""
    return info.name


class ConfluentFraming:
    """Confluent wire format: magic ``00`` + 4-byte big-endian registry id; reads single-object too.

    ``subject`` names the registry subject (default: the schema's full name, the RecordNameStrategy, so
    one topic may carry several record types); :mod:`fluentsync.schemas.registry` has the topic-based
    strategies. Ids are cached both ways for the life of the framing: after the first message of a
    schema on a topic, writing and reading never ask the registry again.
    """

    name = "confluent"

    def __init__(self, repository: SchemaRepository, registry: SchemaRegistry,
                 subject: SubjectNamer = record_name_subject) -> None:
        self.repository = repository
        self.registry = registry
        self.subject = subject
        self.single_object = SingleObjectFraming(repository)
        self._ids: dict[tuple[str | None, bytes], int] = {}
        self._by_id: dict[int, SchemaInfo] = {}

    def header(self, info: SchemaInfo, topic: str | None = None) -> bytes:
        schema_id = self._ids.get((topic, info.fingerprint))
        if schema_id is None:
            schema_id = self.registry.register(self.subject(info, topic), info.to_json())
            self._ids[(topic, info.fingerprint)] = schema_id
            self._by_id.setdefault(schema_id, info)
        return CONFLUENT_MAGIC + schema_id.to_bytes(4, "big")

    def writer(self, data: bytes) -> tuple[SchemaInfo, int]:
        if data[:2] == SINGLE_OBJECT_MAGIC:  # written before the switch to the registry, or by a process without it
            return self.single_object.writer(data)
        if len(data) < 5 or data[:1] != CONFLUENT_MAGIC:
            raise AvroDecodeError(
                f"not a Confluent-framed Avro message: expected magic 00 + 4-byte schema id"
                f" (or single-object c301), got {data[:5].hex() or 'empty input'} ({len(data)} bytes)"
            )
        schema_id = int.from_bytes(data[1:5], "big")
        info = self._by_id.get(schema_id)
        if info is None:
            try:
                info = self.repository.register(self.registry.schema(schema_id))
            except UnknownSchemaError as exc:
                raise AvroDecodeError(str(exc)) from None
            self._by_id[schema_id] = info
        return info, 5


class AvroCodec:
    """Encode dicts to framed Avro and back, resolving writer and reader schemas.

    ``framing`` is ``"single-object"`` (default, no registry) or ``"confluent"`` (needs ``registry``).
    """

    def __init__(
        self,
        repository: SchemaRepository | None = None,
        framing: Literal["single-object", "confluent"] | Framing = "single-object",
        registry: SchemaRegistry | None = None,
    ) -> None:
        self.repository = repository or SchemaRepository()
        if framing == "single-object":
            self.framing: Framing = SingleObjectFraming(self.repository)
        elif framing == "confluent":
            if registry is None:
                raise ValueError("the Confluent wire format needs a schema registry")
            self.framing = ConfluentFraming(self.repository, registry)
        elif isinstance(framing, str):
            raise ValueError(f"unknown framing {framing!r}; use 'single-object' or 'confluent'")
        else:
            self.framing = framing

    def encode(self, schema: str | SchemaInfo, datum: Any, *, topic: str | None = None) -> bytes:
        """Frame and encode ``datum`` with the named (or given) schema.

        ``topic`` is where the message goes: with the Confluent framing it names the registry subject
        (topic-based strategies need it); the single-object framing ignores it."""
        info = schema if isinstance(schema, SchemaInfo) else self.repository.get(schema)
        buffer = io.BytesIO()
        buffer.write(self.framing.header(info, topic))
        try:
            schemaless_writer(buffer, info.parsed, datum)
        except Exception as exc:  # fastavro raises TypeError/ValueError/AttributeError/KeyError...
            raise AvroEncodeError(f"cannot encode as {info.name}: {_explain(info, datum, exc)}") from None
        return bytes(buffer.getvalue())

    def decode(self, data: bytes, reader: str | SchemaInfo | None = None) -> Any:
        """Decode a framed message; resolve it to ``reader`` (default: the newest schema of its name)."""
        writer, offset = self.framing.writer(data)
        if reader is None:
            try:
                reader_info = self.repository.get(writer.name)
            except UnknownSchemaError:
                reader_info = writer
        else:
            reader_info = reader if isinstance(reader, SchemaInfo) else self.repository.get(reader)
        buffer = io.BytesIO(data)
        buffer.seek(offset)
        same = reader_info.fingerprint == writer.fingerprint
        try:
            datum = schemaless_reader(buffer, writer.parsed, None if same else reader_info.parsed)
        except Exception as exc:
            what = "corrupt or truncated body" if same else "cannot read or resolve"
            raise AvroDecodeError(
                f"{what}: writer {writer.name} ({writer.fingerprint_hex}) -> reader {reader_info.name}"
                f" ({reader_info.fingerprint_hex}), {len(data)} bytes: {type(exc).__name__}: {exc}"
            ) from None
        if buffer.tell() != len(data):
            raise AvroDecodeError(
                f"corrupt message for {writer.name}: {len(data) - buffer.tell()} trailing bytes after"
                f" the Avro body ({len(data)} bytes in all)"
            )
        return datum


def _explain(info: SchemaInfo, datum: Any, exc: Exception) -> str:
    """A field-level explanation, computed only on the failure path (validation is slow)."""
    try:
        validate(datum, info.parsed, raise_errors=True)
    except ValidationError as verr:
        return "; ".join(str(err) for err in verr.errors) or str(verr)
    except Exception:
        pass
    return f"{type(exc).__name__}: {exc}"


_default: AvroCodec | None = None
_default_lock = threading.Lock()


def default_codec() -> AvroCodec:
    """The process-wide codec over the shipped schemas (built on first use).

    Single-object framing unless :func:`fluentsync.schemas.registry.configure_codec` switched it to the
    Confluent wire format: it changes this object's ``framing`` in place, so codecs taken before that
    (agents, Faust serializers, tails) follow."""
    global _default
    with _default_lock:
        if _default is None:
            _default = AvroCodec()
        return _default
