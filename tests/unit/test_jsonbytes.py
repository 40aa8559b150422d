"""Compact JSON bytes: the same text as the standard library for what fluentsync serialises."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from fluentsync import jsonbytes


def stdlib(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode()


@dataclass
class Point:
    x: int


@pytest.mark.parametrize("value", [
    {"skuRef": "S-1", "qty": 0, "price": 1.5, "ok": False, "none": None, "tags": ["a", "b"]},
    {"text": "Zürich \u2028 \"quoted\" \\ tab\t nl\n \u0001 emoji \U0001F600"},
    [1, -2, 2**63 - 1, -(2**63), 0.1, 1e-7, {"nested": {"deep": []}}],
    {"when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "dec": Decimal("1.50"), "point": Point(3)},
    (1, "tuple"),
])
def test_same_value_as_the_standard_library(value: Any) -> None:
    assert json.loads(jsonbytes.dumps(value)) == json.loads(stdlib(value))


def test_datetimes_and_unknown_types_are_written_as_their_str() -> None:
    value = {"when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "dec": Decimal("1.50"), "point": Point(3)}
    assert jsonbytes.dumps(value) == stdlib(value)


@pytest.mark.parametrize("value", [{"big": 2**70}, {1: "int key"}, {"nested": [{"big": -(2**64)}]}])
def test_what_orjson_refuses_falls_back_to_the_standard_library(value: Any) -> None:
    assert jsonbytes.dumps(value) == stdlib(value)


def test_loads_reads_bytes_and_text() -> None:
    assert jsonbytes.loads(b'{"a":[1,2]}') == jsonbytes.loads('{"a":[1,2]}') == {"a": [1, 2]}


@pytest.mark.parametrize("value", [{"when": datetime(2026, 1, 1, tzinfo=UTC)}, {"x": object()}, {"p": Point(1)}])
def test_strict_refuses_what_json_cannot_hold(value: Any) -> None:
    with pytest.raises(TypeError, match="JSON serializable"):
        jsonbytes.dumps_strict(value)


def test_strict_writes_what_json_holds_as_the_standard_library_does() -> None:
    value = {"a": [1, 2.5, None, True], "b": "Zürich", "big": 2**70}
    assert jsonbytes.dumps_strict(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
