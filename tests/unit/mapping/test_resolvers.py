"""Table-driven cases for the 16 ``sdk.*`` resolvers (sdk-parity.md §4)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from fluentsync.streams.mapping import MISSING, SDK_RESOLVERS, Mapper, js_stringify, js_to_string

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

CASES: list[tuple[str, Any, Any]] = [
    # uppercase / lowercase / trim
    ("sdk.uppercase", "straße", "STRASSE"),
    ("sdk.uppercase", "abc", "ABC"),
    ("sdk.uppercase", 12, 12),
    ("sdk.uppercase", None, None),
    ("sdk.uppercase", MISSING, MISSING),
    ("sdk.lowercase", "ÀBC", "àbc"),
    ("sdk.lowercase", True, True),
    ("sdk.trim", "\ufeff  a b \n\u2028", "a b"),
    ("sdk.trim", "\t x\r\n", "x"),
    ("sdk.trim", "\x1cx\x1c", "\x1cx\x1c"),  # not JS whitespace, though str.strip() removes it
    ("sdk.trim", 5, 5),
    # parseInt
    ("sdk.parseInt", "12abc", 12),
    ("sdk.parseInt", "  42", 42),
    ("sdk.parseInt", 12.9, 12),
    ("sdk.parseInt", "1e3", 1),
    ("sdk.parseInt", "0x1A", 0),
    ("sdk.parseInt", 5e-7, 5),
    ("sdk.parseInt", "-7.5", -7),
    ("sdk.parseInt", "+3", 3),
    ("sdk.parseInt", None, 0),
    ("sdk.parseInt", MISSING, 0),
    ("sdk.parseInt", True, 0),
    ("sdk.parseInt", "", 0),
    ("sdk.parseInt", "abc", 0),
    ("sdk.parseInt", "\ufeff 8", 8),
    ("sdk.parseInt", 0, 0),
    # parseFloat / number
    ("sdk.parseFloat", "3.5kg", 3.5),
    ("sdk.parseFloat", "1e3", 1000),
    ("sdk.parseFloat", "1,234", 1),
    ("sdk.parseFloat", ".5", 0.5),
    ("sdk.parseFloat", "5", 5),
    ("sdk.parseFloat", "-Infinityx", -math.inf),
    ("sdk.parseFloat", "1e", 1),
    ("sdk.parseFloat", "abc", 0),
    ("sdk.parseFloat", None, 0),
    ("sdk.parseFloat", MISSING, 0),
    ("sdk.parseFloat", 2.25, 2.25),
    ("sdk.number", "3.5kg", 3.5),
    ("sdk.number", "12.0", 12),
    ("sdk.number", "x", 0),
    # formatDate
    ("sdk.formatDate", "2024-01-15", "2024-01-15T00:00:00.000Z"),
    ("sdk.formatDate", "2024-01-15T10:30:00", "2024-01-15T10:30:00.000Z"),  # naive = UTC (documented)
    ("sdk.formatDate", "2024-01-15T10:30:00.5+02:00", "2024-01-15T08:30:00.500Z"),
    ("sdk.formatDate", "Mon, 15 Jan 2024 10:00:00 GMT", "2024-01-15T10:00:00.000Z"),
    ("sdk.formatDate", "01/02/2024", "2024-01-02T00:00:00.000Z"),
    ("sdk.formatDate", "not a date", "not a date"),
    ("sdk.formatDate", "15/01/2024", "15/01/2024"),  # not day-first: month 15 is invalid
    ("sdk.formatDate", 1700000000000, "1700000000000"),  # numeric epoch → String(v)
    ("sdk.formatDate", True, "true"),
    ("sdk.formatDate", "", ""),
    ("sdk.formatDate", 0, 0),
    ("sdk.formatDate", None, None),
    ("sdk.formatDate", MISSING, MISSING),
    ("sdk.formatDate", datetime(2024, 1, 15, 1, 2, 3, 4000, tzinfo=UTC), "2024-01-15T01:02:03.004Z"),
    # formatDateShort
    ("sdk.formatDateShort", "2024-01-15T23:30:00-02:00", "2024-01-16"),
    ("sdk.formatDateShort", 86400000, "1970-01-02"),
    ("sdk.formatDateShort", "garbage", "garbage"),
    ("sdk.formatDateShort", 0, 0),
    ("sdk.formatDateShort", "", ""),
    # parseDate
    ("sdk.parseDate", "2024-01-15", datetime(2024, 1, 15, tzinfo=UTC)),
    ("sdk.parseDate", None, EPOCH),
    ("sdk.parseDate", MISSING, None),
    ("sdk.parseDate", 1000, datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)),
    ("sdk.parseDate", "31/12/2024", None),
    ("sdk.parseDate", "20240115", None),
    ("sdk.parseDate", "nope", None),
    # boolean
    ("sdk.boolean", None, False),
    ("sdk.boolean", MISSING, False),
    ("sdk.boolean", "TRUE", True),
    ("sdk.boolean", "1", True),
    ("sdk.boolean", "Yes", True),
    ("sdk.boolean", "y", True),
    ("sdk.boolean", "on", False),
    ("sdk.boolean", " yes", False),
    ("sdk.boolean", True, True),
    ("sdk.boolean", False, False),
    ("sdk.boolean", 1, True),
    ("sdk.boolean", 1.0, True),
    ("sdk.boolean", 2, False),
    ("sdk.boolean", 0, False),
    # toString
    ("sdk.toString", None, ""),
    ("sdk.toString", MISSING, ""),
    ("sdk.toString", True, "true"),
    ("sdk.toString", 5.0, "5"),
    ("sdk.toString", 1e21, "1e+21"),
    ("sdk.toString", 0.1, "0.1"),
    ("sdk.toString", [1, None, "a"], "1,,a"),
    ("sdk.toString", {"a": 1}, "[object Object]"),
    ("sdk.toString", "x", "x"),
    # default / identity
    ("sdk.default", None, None),
    ("sdk.default", MISSING, MISSING),
    ("sdk.default", "", ""),
    ("sdk.identity", 0, 0),
    ("sdk.identity", MISSING, MISSING),
    # parseJson
    ("sdk.parseJson", '{"a": [1, 2.0]}', {"a": [1, 2]}),
    ("sdk.parseJson", "null", None),
    ("sdk.parseJson", "NaN", "NaN"),
    ("sdk.parseJson", "{'a': 1}", "{'a': 1}"),
    ("sdk.parseJson", "[1,", "[1,"),
    ("sdk.parseJson", 5, 5),
    # toJson
    ("sdk.toJson", {"b": 1, "a": "é", "n": math.nan}, '{"b":1,"a":"é","n":null}'),
    ("sdk.toJson", [1.0, MISSING, None], "[1,null,null]"),
    ("sdk.toJson", {"d": datetime(2024, 1, 15, tzinfo=UTC), "u": MISSING}, '{"d":"2024-01-15T00:00:00.000Z"}'),
    ("sdk.toJson", "a\"b\n", '"a\\"b\\n"'),
    ("sdk.toJson", None, "null"),
    ("sdk.toJson", MISSING, MISSING),
    # coalesce
    ("sdk.coalesce", None, MISSING),
    ("sdk.coalesce", MISSING, MISSING),
    ("sdk.coalesce", 0, 0),
    ("sdk.coalesce", "", ""),
]


def test_all_sixteen_have_cases() -> None:
    assert len(SDK_RESOLVERS) == 16
    assert {name for name, _, _ in CASES} == set(SDK_RESOLVERS)


@pytest.mark.parametrize(("name", "value", "expected"), CASES, ids=[f"{n}-{v!r}" for n, v, _ in CASES])
def test_resolver(name: str, value: Any, expected: Any) -> None:
    got = SDK_RESOLVERS[name](value, {}, None, None)
    assert got == expected
    assert type(got) is type(expected)  # 5 is int, not 5.0: JSON output must match JS


def test_to_json_cycle_returns_value() -> None:
    value: dict[str, Any] = {}
    value["self"] = value
    assert SDK_RESOLVERS["sdk.toJson"](value, {}, None, None) is value


def test_resolver_runs_on_missing_value_in_mapper() -> None:
    """§3.3.4: the resolver runs even when the column is absent, so parseInt gives 0."""
    mapper = Mapper.compile({"fields": {"qty": {"source": "q", "resolver": "sdk.parseInt"}}})
    assert mapper.map({}).data == {"qty": 0}


def test_coalesce_and_to_json_missing_skip_the_field() -> None:
    mapper = Mapper.compile({"fields": {"a": {"source": "a", "resolver": "sdk.coalesce"},
                                        "b": {"source": "b", "resolver": "sdk.toJson"}}})
    result = mapper.map({"a": None})
    assert result.success and result.data == {}
    assert result.skipped_fields == ["a", "b"]


def test_parse_json_null_sets_field() -> None:
    mapper = Mapper.compile({"fields": {"a": {"source": "a", "resolver": "sdk.parseJson"}}})
    assert mapper.map({"a": "null"}).data == {"a": None}


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.0, "1"), (1e21, "1e+21"), (1e20, "100000000000000000000"), (1.5e-7, "1.5e-7"), (1e-6, "0.000001"),
     (-0.0, "0"), (2**60, "1152921504606847000"), (math.inf, "Infinity"), (math.nan, "NaN"), (False, "false")],
)
def test_js_to_string_numbers(value: Any, text: str) -> None:
    assert js_to_string(value) == text


def test_stringify_non_finite_is_null() -> None:
    assert js_stringify([math.inf, -math.inf]) == "[null,null]"
