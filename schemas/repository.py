"""The Avro schemas fluentsync ships, and every writer schema it has met, by name and by fingerprint.

Schemas live in ``schemas/avro`` as one ``.avsc`` file per named type, the file named after the type's
full name (``fluentsync.records.SourceRecord.avsc``). A schema may refer to another file's type by full
name; fastavro's ``load_schema`` inlines it, so every loaded schema is self-contained and has one
Parsing Canonical Form and one fingerprint.

A reader needs the *writer's* schema to decode. The single-object framing names it by its 64-bit
CRC-64-AVRO fingerprint, so the repository indexes schemas by fingerprint; schemas of older or newer
producers are added with :meth:`SchemaRepository.register` (or shipped as extra ``.avsc`` files).

Every earlier version of a shipped schema lives in ``avro/history/`` (``<full name>@<fingerprint>.avsc``,
self-contained): messages already on Kafka when a schema gains a field must stay readable by upgraded
workers. A test fails when a committed version of a schema is missing there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import load_schema, to_parsing_canonical_form

__all__ = ["SCHEMA_DIR", "SchemaInfo", "SchemaRepository", "UnknownSchemaError", "crc64_avro"]

#: Folder of the shipped ``.avsc`` files.
SCHEMA_DIR = Path(str(resources.files("fluentsync.schemas").joinpath("avro")))

_EMPTY64 = 0xC15D213AA4D7A795


def _crc64_table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY64 & -(fp & 1))
        table.append(fp)
    return table


_TABLE = _crc64_table()


def crc64_avro(data: bytes) -> int:
    """The Avro specification's 64-bit Rabin fingerprint (CRC-64-AVRO) of ``data``."""
    fp = _EMPTY64
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


class UnknownSchemaError(LookupError):
    """No schema with that name or fingerprint is known to the repository."""


@dataclass(frozen=True)
class SchemaInfo:
    """One Avro schema, parsed once: its name, canonical form and 8-byte fingerprint."""

    name: str
    schema: Any
    parsed: Any
    canonical: str
    fingerprint: bytes  # CRC-64-AVRO of the canonical form, little-endian (single-object header order)

    @property
    def fingerprint_hex(self) -> str:
        return self.fingerprint.hex()

    def to_json(self) -> str:
        return json.dumps(self.schema, separators=(",", ":"))


def _schema_name(schema: Any) -> str:
    if isinstance(schema, dict):
        name = schema.get("name")
        namespace = schema.get("namespace")
        if isinstance(name, str):
            return name if "." in name or not namespace else f"{namespace}.{name}"
        return str(schema.get("type"))
    return str(schema) if isinstance(schema, str) else "union"


class SchemaRepository:
    """Schemas by full name (the newest, used for writing and as reader) and by fingerprint (any)."""

    def __init__(self, directories: Iterable[Path] = (SCHEMA_DIR,)) -> None:
        self._by_name: dict[str, SchemaInfo] = {}
        self._by_fingerprint: dict[bytes, SchemaInfo] = {}
        for directory in directories:
            for path in sorted(Path(directory).glob("*.avsc")):
                self.register(load_schema(str(path), _write_hint=False), latest=True)
            for path in sorted(Path(directory).glob("history/*.avsc")):
                self.register(json.loads(path.read_text(encoding="utf-8")))

    def register(self, schema: Any, *, latest: bool = False) -> SchemaInfo:
        """Add a schema (dict or JSON text). ``latest`` makes it the one used by name.

        A schema registered without ``latest`` is known only by fingerprint: that is how the schema of
        an older or newer producer is made readable without changing what this process writes.
        """
        if isinstance(schema, str | bytes):
            schema = json.loads(schema)
        canonical = to_parsing_canonical_form(schema)
        fingerprint = crc64_avro(canonical.encode()).to_bytes(8, "little")
        info = self._by_fingerprint.get(fingerprint)
        if info is None:
            parsed = parse_schema(schema, named_schemas={}, _write_hint=True)
            info = SchemaInfo(_schema_name(schema), schema, parsed, canonical, fingerprint)
            self._by_fingerprint[fingerprint] = info
        if latest or info.name not in self._by_name:
            self._by_name[info.name] = info
        return info

    def get(self, name: str) -> SchemaInfo:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name)) or "none"
            raise UnknownSchemaError(f"no Avro schema named {name!r} (known: {known})") from None

    def by_fingerprint(self, fingerprint: bytes) -> SchemaInfo:
        try:
            return self._by_fingerprint[fingerprint]
        except KeyError:
            raise UnknownSchemaError(
                f"no Avro schema with fingerprint {fingerprint.hex()}; register the writer's schema"
                " (it may come from a newer producer)"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._by_name)
