"""fluentsync's strict number resolvers: what they accept, what they refuse, and where they are used."""

from __future__ import annotations

import math
from typing import Any

import pytest

from fluentsync.streams.mapping import Mapper
from fluentsync.streams.mapping.mutations import GraphQLMutationMapper, MutationMappingError
from fluentsync.streams.mapping.strict import FLUENTSYNC_RESOLVERS, strict_decimal, strict_integer

DECIMALS: list[tuple[Any, Any]] = [
    ("59.90", 59.9), ("19.95", 19.95), ("12", 12), ("12.0", 12), (" -0.5 ", -0.5), ("+3", 3), (".5", 0.5),
    ("5.", 5), ("1e3", 1000), ("2.5E-1", 0.25), ("0.000", 0), (7, 7), (2.5, 2.5), (3.0, 3), (None, None), ("", ""),
]
NOT_DECIMALS: list[Any] = ["1,234.50", "59.90 AUD", "$5", "abc", "NaN", "inf", "-Infinity", "1e999", "-", ".",
                           "1e", "0x1A", "١٢", True, math.nan, math.inf, [1], {"#text": "1"}]


@pytest.mark.parametrize(("value", "expected"), DECIMALS)
def test_decimal_accepts_plain_decimal_notation(value: Any, expected: Any) -> None:
    result = strict_decimal(value)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize("value", NOT_DECIMALS)
def test_decimal_refuses_everything_else(value: Any) -> None:
    with pytest.raises(ValueError, match="not a decimal number"):
        strict_decimal(value)


def test_integer_unchanged() -> None:
    assert [strict_integer(v) for v in ("12", 12, 12.0, None, "")] == [12, 12, 12, None, ""]
    with pytest.raises(ValueError, match="not an integer"):
        strict_integer("12.5")


@pytest.mark.parametrize(("value", "expected"), [(" 12 ", 12), ("+7", 7), ("-0", 0), ("\t007\n", 7), ("١٢", 12)])
def test_integer_takes_signed_decimal_digits_around_whitespace(value: str, expected: int) -> None:
    assert strict_integer(value) == expected


@pytest.mark.parametrize("value", ["1_000", "+", "-", " ", "+-1", "²", "12a", "0x1f", "1e3", "\u22125", True, 1.5])
def test_integer_refuses_what_is_not_signed_digits(value: Any) -> None:
    with pytest.raises(ValueError, match="not an integer"):
        strict_integer(value)


def test_decimal_in_a_worker_mapping_is_a_field_error() -> None:
    mapper = Mapper.compile({"fields": {"price": {"source": "p", "resolver": "fluentsync.decimal"}}},
                            resolvers=FLUENTSYNC_RESOLVERS, fail_on_field_error=True)
    assert mapper.map({"p": "19.95"}).data == {"price": 19.95}
    failed = mapper.map({"p": "1,234.50"})
    assert not failed.success and "not a decimal number: '1,234.50'" in failed.errors[0].message


def test_decimal_and_integer_as_mutation_transforms() -> None:
    """The worker hands FLUENTSYNC_RESOLVERS to mutation mappings: both patterns can use them."""
    arguments = {"version": "1.0.0", "mutation": "createOrder", "sourceFormat": "xml", "returnFields": ["id"],
                 "arguments": {"input": {"totalPrice": {"source": "t", "transform": "fluentsync.decimal"},
                                         "qty": {"source": "q", "transform": "fluentsync.integer"}}}}
    mapper = GraphQLMutationMapper(arguments, custom_transforms=FLUENTSYNC_RESOLVERS)
    assert mapper.map_variables({"t": "59.90", "q": "2"}) == {"input": {"totalPrice": 59.9, "qty": 2}}
    with pytest.raises(MutationMappingError, match=r"Transform 'fluentsync.decimal' failed for 'input.totalPrice'"):
        mapper.map_variables({"t": "59,90", "q": "2"})
    fields = {"version": "1.0.0", "mutation": "createOrder", "sourceFormat": "xml", "returnFields": ["id"],
              "fields": {"totalPrice": {"source": "t", "transform": "fluentsync.decimal"},
                         "qty": {"source": "q", "resolver": "fluentsync.integer"}}}
    result = GraphQLMutationMapper(fields, custom_transforms=FLUENTSYNC_RESOLVERS).map_with_nodes({"t": "5", "q": "3"})
    assert result.success and result.variables == {"input": {"totalPrice": 5, "qty": 3}}
