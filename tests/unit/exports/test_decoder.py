"""The sink's compiled event readers return exactly what ``codec.decode`` returns, or fail as it does.

Events of every shipped schema are generated with a seeded RNG (long and non-ASCII strings, ints at the
64-bit limits, NaN and infinities, old and new timestamps, nested records and arrays), encoded by the
codec, and decoded both ways; then corrupted (truncated, a byte changed, a byte added) and decoded both
ways again. Values are compared with their types (``1`` is not ``1.0``).
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fluentsync.schemas import default_codec
from fluentsync.schemas.codec import AvroCodec
from fluentsync.schemas.repository import SchemaRepository
from fluentsync.streams.exports.decoder import EventDecoder, Unsupported, compile_reader

_STRINGS = ["", "a", "é" * 40, "x" * 63, "x" * 64, "y" * 9000, "日本語", "\x00"]
_LONGS = [0, 1, -1, 63, 64, -64, -65, 2**31 - 1, -(2**31), 2**63 - 1, -(2**63)]
_DOUBLES = [0.0, -0.0, 1.5, float("inf"), float("-inf"), float("nan"), 1e308, 5e-324]


def _names(schema: Any, named: dict[str, Any]) -> dict[str, Any]:
    """The named types of a parsed schema (a reference may come before a generated definition)."""
    if isinstance(schema, list):
        for branch in schema:
            _names(branch, named)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in ("record", "enum", "fixed"):
            named[schema["name"]] = schema
        if kind == "record":
            for field in schema["fields"]:
                _names(field["type"], named)
        elif kind in ("array", "map"):
            _names(schema["items" if kind == "array" else "values"], named)
        elif isinstance(kind, dict | list):
            _names(kind, named)
    return named


def _value(schema: Any, named: dict[str, Any], rng: random.Random, depth: int = 0) -> Any:
    if isinstance(schema, list):
        return _value(rng.choice(schema), named, rng, depth)
    if isinstance(schema, str) and schema in named:
        return _value(named[schema], named, rng, depth)
    kind = schema if isinstance(schema, str) else schema["type"]
    if isinstance(kind, dict | list):
        return _value(kind, named, rng, depth)
    if isinstance(schema, dict) and schema.get("logicalType") == "timestamp-millis":
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=rng.randrange(-10**13, 10**13))
    if kind == "null":
        return None
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice([0, 1, -1, 2**31 - 1, -(2**31), rng.randrange(-(2**31), 2**31)])
    if kind == "long":
        return rng.choice([*_LONGS, rng.randrange(-(2**63), 2**63)])
    if kind in ("float", "double"):
        return rng.choice([*_DOUBLES, rng.uniform(-1e9, 1e9)])
    if kind == "string":
        return rng.choice([*_STRINGS, f"v{rng.randrange(10**9)}"])
    if kind == "bytes":
        return rng.randbytes(rng.choice([0, 3, 200]))
    if kind == "fixed":
        return rng.randbytes(schema["size"])
    if kind == "enum":
        return rng.choice(schema["symbols"])
    if kind == "array":
        size = rng.choice([0, 1, 3] if depth < 3 else [0])
        return [_value(schema["items"], named, rng, depth + 1) for _ in range(size)]
    if kind == "map":
        size = rng.choice([0, 2] if depth < 3 else [0])
        return {f"k{i}": _value(schema["values"], named, rng, depth + 1) for i in range(size)}
    if kind == "record":
        return {f["name"]: _value(f["type"], named, rng, depth + 1) for f in schema["fields"]}
    raise AssertionError(f"unexpected schema {schema!r}")


def _typed(value: Any) -> Any:
    """``value`` with the type of every part (and NaN comparable)."""
    if isinstance(value, dict):
        return ("dict", [(k, _typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_typed(v) for v in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    if isinstance(value, datetime):
        return ("datetime", value.isoformat(), str(value.tzinfo))
    return (type(value).__name__, value)


def _outcome(decode: Any, raw: bytes) -> Any:
    try:
        return _typed(decode(raw))
    except Exception as exc:  # the failure itself is compared
        return (type(exc), str(exc))


def _events(codec: AvroCodec, name: str, count: int, seed: str) -> list[bytes]:
    info = codec.repository.get(name)
    rng = random.Random(seed)
    return [codec.encode(info, _value(info.parsed, _names(info.parsed, {}), rng)) for _ in range(count)]


@pytest.mark.parametrize("name", default_codec().repository.names())
def test_compiled_reading_is_the_codec_reading(name: str) -> None:
    codec = default_codec()
    decoder = EventDecoder(codec)
    rng = random.Random(f"corrupt-{name}")
    for raw in _events(codec, name, 60, name):
        assert _outcome(decoder, raw) == _outcome(codec.decode, raw)
        cut = raw[:rng.randrange(len(raw))]
        flipped = bytearray(raw)
        flipped[rng.randrange(10, len(raw))] = rng.randrange(256) if len(raw) > 10 else 0
        for broken in (cut, bytes(flipped), raw + b"\x00"):
            assert _outcome(decoder, broken) == _outcome(codec.decode, broken)


def test_every_outbound_entity_schema_has_a_reader() -> None:
    repository = default_codec().repository
    for name in repository.names():
        if name.startswith("fluentsync.outbound.") and not name.startswith("fluentsync.outbound.Extraction"):
            compile_reader(repository.get(name).parsed)
    compile_reader(repository.get("fluentsync.outbound.ExtractionMeta").parsed)
    with pytest.raises(Unsupported):  # an enum: its events go to the codec
        compile_reader(repository.get("fluentsync.outbound.ExtractionRun").parsed)


def test_an_older_writer_is_resolved_by_the_codec(tmp_path: Path) -> None:
    old = {"type": "record", "name": "t.Thing", "fields": [{"name": "ref", "type": "string"}]}
    new = {"type": "record", "name": "t.Thing", "fields": [
        {"name": "ref", "type": "string"}, {"name": "qty", "type": ["null", "int"], "default": None}]}
    (tmp_path / "t.Thing.avsc").write_text(json.dumps(new))
    codec = AvroCodec(SchemaRepository([tmp_path]))
    writer = AvroCodec(SchemaRepository([]))
    writer.repository.register(old, latest=True)
    codec.repository.register(old)  # known by fingerprint only: read as the newest t.Thing
    raw = writer.encode("t.Thing", {"ref": "R-1"})
    assert EventDecoder(codec)(raw) == codec.decode(raw) == {"ref": "R-1", "qty": None}
