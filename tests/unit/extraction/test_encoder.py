"""The compiled node encoder writes exactly the bytes of converter + codec, or fails exactly as they do.

Nodes are generated from each entity schema with a seeded RNG, mixing ordinary values with the awkward
ones (missing fields, ids as ints, JSON objects in string fields, bools, ints at the Avro ``int``
limits, long and non-ASCII strings, lone surrogates, truncated and malformed connections, values of the
wrong type), and every node goes through both paths: same bytes or same exception, same
``nested_truncated`` count.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import pytest

from fluentsync.schemas import default_codec
from fluentsync.streams.extraction import ENTITIES
from fluentsync.streams.extraction.convert import Conversion, compile_converter
from fluentsync.streams.extraction.encoder import NodeEncoder, Unsupported, compile_encoder

META = ("fluentsync.outbound.ExtractionMeta", {"extraction": "x", "run_id": "x-20260101T000000Z-abcdef",
                                              "extracted_at": datetime(2026, 1, 1, 12, tzinfo=UTC)})
_MISSING = object()

_STRINGS: list[Any] = [None, "", "abc", "é" * 40, "x" * 63, "x" * 64, "y" * 9000, "\ud800", 12, -3, 3.5, True,
                       False, {"b": 1, "a": [1, None]}, [1, "two"]]
_INTS: list[Any] = [None, 0, 1, -1, 63, 64, -65, 8191, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**63, True,
                    2.0, "5"]
_DOUBLES: list[Any] = [None, 0, 1, -7, 2**53 + 1, 2**1100, 0.1, -2.5, 1e308, float("inf"), True, "1.5"]
_BOOLEANS: list[Any] = [None, True, False, 1, "true"]


def _names(schema: Any, named: dict[str, Any]) -> dict[str, Any]:
    """The named records of a parsed schema (a reference may come before a generated definition)."""
    if isinstance(schema, list):
        for branch in schema:
            _names(branch, named)
    elif isinstance(schema, dict):
        if schema.get("type") == "record":
            named[schema["name"]] = schema
            for field in schema["fields"]:
                _names(field["type"], named)
        elif schema.get("type") == "array":
            _names(schema["items"], named)
    return named


def _value(schema: Any, named: dict[str, Any], rng: random.Random, depth: int, rate: float) -> Any:
    """A value for ``schema``; ``rate``: how often an awkward one."""
    if isinstance(schema, list):
        return None if rng.random() < 0.15 else _value(next(b for b in schema if b != "null"), named, rng, depth, rate)
    if isinstance(schema, str) and schema in named:
        return _value(named[schema], named, rng, depth, rate)
    kind = schema if isinstance(schema, str) else schema["type"]
    if isinstance(kind, dict | list):
        return _value(kind, named, rng, depth, rate)
    if kind == "string":
        return rng.choice(_STRINGS) if rng.random() < rate else f"v{rng.randrange(10**6)}"
    if kind in ("int", "long"):
        return rng.choice(_INTS) if rng.random() < rate else rng.randrange(-1000, 100000)
    if kind in ("double", "float"):
        return rng.choice(_DOUBLES) if rng.random() < rate else rng.uniform(-1e6, 1e6)
    if kind == "boolean":
        return rng.choice(_BOOLEANS) if rng.random() < rate else rng.random() < 0.5
    if kind == "record":
        if depth > 0 and rng.random() < rate / 10:
            return rng.choice(["not an object", OrderedDict(), 7])
        node = {}
        for field in schema["fields"]:
            if rng.random() < 0.1:
                continue  # missing: the default
            node[field["name"]] = _value(field["type"], named, rng, depth + 1, rate)
        if rng.random() < 0.2:
            node["unknownField"] = "dropped"
        return node
    if kind == "array":
        items = [_value(schema["items"], named, rng, depth + 1, rate) for _ in range(rng.choice([0, 1, 2, 5]))]
        if rng.random() < rate / 2:
            return rng.choice([tuple(items), "not a list"])
        if rng.random() < 0.4:
            return rng.choice([items, None])
        edges: list[Any] = [{"cursor": str(i), "node": item} for i, item in enumerate(items)]
        if rng.random() < rate / 3:
            edges.append("not an edge")
        page_info: Any = {"hasNextPage": rng.random() < 0.3}
        if rng.random() < rate / 6:
            page_info = None  # malformed: the converter fails on it
        return {"edges": edges, "pageInfo": page_info}
    raise AssertionError(f"unexpected schema {schema!r}")


def _both(info: Any, node: Any) -> tuple[tuple[Any, int], tuple[Any, int], bool]:
    """(old outcome, new outcome, whether the compiled encoder itself wrote the node)."""
    codec = default_codec()
    old_stats, new_stats = Conversion(), Conversion()
    convert = compile_converter(info.parsed, old_stats, skip=frozenset({"extraction"}))
    encoder = NodeEncoder(codec, info, compile_converter(info.parsed, new_stats, skip=frozenset({"extraction"})),
                          new_stats, "extraction", META)
    assert encoder.compiled

    def old() -> Any:
        datum = convert(node)
        datum["extraction"] = META
        return codec.encode(info, datum)

    results = []
    for run, stats in ((old, old_stats), (lambda: encoder(node), new_stats)):
        try:
            outcome: Any = run()
        except Exception as exc:  # the failure itself is compared
            outcome = (type(exc), str(exc))
        results.append((outcome, stats.nested_truncated))
    try:
        compile_encoder(info.parsed, Conversion(), fixed={"extraction": (META[0], b"")})(node)
    except Exception:  # refused: the node went the codec path
        return results[0], results[1], False
    return results[0], results[1], True


@pytest.mark.parametrize("entity", sorted(ENTITIES))
def test_compiled_encoding_is_the_codec_encoding(entity: str) -> None:
    info = default_codec().repository.get(ENTITIES[entity].schema)
    rng = random.Random(f"encoder-{entity}")
    outcomes = {"compiled": 0, "codec": 0, "errors": 0}
    for n in range(400):
        node = _value(info.parsed, _names(info.parsed, {}), rng, 0, 0.3 if n % 2 else 0.01)
        old, new, compiled = _both(info, node)
        assert new == old, node
        outcomes["compiled" if compiled else "codec" if isinstance(old[0], bytes) else "errors"] += 1
    assert outcomes["compiled"] > 50 and outcomes["errors"] > 5, outcomes  # both outcomes were exercised


@pytest.mark.parametrize("node", [
    {"ref": "O-1", "items": ({"ref": "I-1", "quantity": 1},)},  # a tuple for an array
    {"ref": "O-1", "customer": OrderedDict(ref="C-1")},  # a dict subclass for a record
], ids=["tuple", "ordered-dict"])
def test_values_it_refuses_but_the_codec_takes(node: dict[str, Any]) -> None:
    info = default_codec().repository.get("fluentsync.outbound.Order")
    old, new, compiled = _both(info, node)
    assert not compiled and isinstance(old[0], bytes) and new == old


def test_sandbox_shaped_nodes() -> None:
    info = default_codec().repository.get("fluentsync.outbound.Order")
    node = {
        "id": "7", "ref": "ORD-7", "type": "HD", "status": "BOOKED", "totalPrice": 10, "totalTaxPrice": 1.5,
        "currency": "AUD", "retailer": {"id": "1"}, "customer": {"id": "3", "ref": "C-3", "email": None},
        "deliveryAddress": None, "billingAddress": {"ref": "A-1", "latitude": -33.86, "longitude": 151},
        "items": {"edges": [{"cursor": "a", "node": {"id": 1, "ref": "ORD-7-1", "quantity": 2, "price": 5,
                                                      "attributes": [{"name": "gift", "type": "JSON",
                                                                      "value": {"wrap": True}}]}}],
                  "pageInfo": {"hasNextPage": True}},
        "attributes": [{"name": "channel", "type": "STRING", "value": "web"}],
        "createdOn": "2025-01-01T00:00:00.000Z", "updatedOn": "2025-01-01T00:00:00.000Z",
    }
    old, new, compiled = _both(info, node)
    assert compiled and isinstance(old[0], bytes) and new == old and new[1] == 1
    event = default_codec().decode(new[0])
    assert event["items"][0]["price"] == 5.0 and event["extraction"]["run_id"] == META[1]["run_id"]


def test_schemas_it_cannot_write_keep_the_codec() -> None:
    codec = default_codec()
    run = codec.repository.get("fluentsync.outbound.ExtractionRun")  # enums and logical types
    with pytest.raises(Unsupported):
        compile_encoder(run.parsed, Conversion())
    info = codec.repository.get("fluentsync.outbound.InventoryPosition")
    stats = Conversion()
    encoder = NodeEncoder(codec, info, compile_converter(info.parsed, stats, skip=frozenset({"extraction"})), stats,
                          "extraction", META, compiled=False)
    node = {"ref": "P-1", "onHand": 3}
    assert not encoder.compiled
    assert codec.decode(encoder(node))["onHand"] == 3
