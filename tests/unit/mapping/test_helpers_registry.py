"""Resolver helpers (sdk-parity.md §5), the entry-point group and date parsing edge cases."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.metadata import EntryPoint
from typing import Any

import pytest

from fluentsync.streams.mapping import Mapper, ResolverHelpers, ResolverRegistry, js_parse_date
from fluentsync.streams.mapping import registry as registry_module


def test_xml_helpers() -> None:
    h = ResolverHelpers()
    assert h.getXmlAttribute({"$id": "a", "@id": "b"}, "id") == "a"
    assert h.get_xml_attribute({"$": {"id": "c"}, "@id": "b"}, "id") == "c"
    assert h.get_xml_attribute({"@id": "b", "id": "d"}, "id") == "b"
    assert h.get_xml_attribute({"_attributes": {"id": "e"}}, "id") == "e"
    assert h.get_xml_attribute({}, "id") is None
    assert h.getXmlTextContent({"#text": "t", "value": "v"}) == "t"
    assert h.get_xml_text_content({"_": "u"}) == "u"


@pytest.mark.parametrize(("value", "expected"), [(None, "D"), ("", "D"), ("  \ufeff", "D"), (0, 0), ("x", "x")])
def test_normalize_empty(value: Any, expected: Any) -> None:
    assert ResolverHelpers.normalize_empty(value, "D") == expected


@pytest.mark.parametrize(
    ("amount", "scale", "half_up", "compat"),
    [(1.005, 2, "1.01", "1.00"), ("2.345", 2, "2.35", "2.34"), (-2.345, 2, "-2.35", "-2.34"), (10, 2, "10.00", "10.00"),
     ("1.2349", 3, "1.235", "1.235"), ("abc", 2, "0.00", "0.00")],
)
def test_format_currency_half_up_and_compat(amount: Any, scale: int, half_up: str, compat: str) -> None:
    assert ResolverHelpers().formatCurrency(amount, scale) == half_up
    assert ResolverHelpers(currency_compat=True).format_currency(amount, scale) == compat


def test_misc_helpers() -> None:
    h = ResolverHelpers()
    assert h.parseIntSafe("x", 7) == 7 and h.parse_int_safe("12kg") == 12
    assert h.parseFloatSafe("1.5e1") == 15 and h.parse_float_safe(None, -1) == -1
    assert h.safeJsonParse("{bad", {}) == {} and h.safe_json_parse("[1]") == [1]
    assert h.mapValue(1, {"1": "one"}) == "one" and h.map_value("2", {"1": "one"}, "?") == "?"
    attrs = [{"@attribute-id": "color", "#text": "red"}, {"attributeId": "size", "value": "M"}]
    assert h.extractCustomAttribute(attrs, "color") == "red"
    assert h.extract_custom_attribute({"attributeId": "size", "value": "M"}, "size") == "M"
    assert h.template("{{ a }}-{{b.c}}-{{missing}}", {"a": 1, "b": {"c": True}}) == "1-true-"
    assert h.ensureArray(None) == [] and h.ensure_array(3) == [3] and h.ensure_array([1]) == [1]
    assert h.coalesce(None, 0, 1) == 0
    assert h.get({"a": [{"b": 2}]}, "a[0].b") == 2 and h.get({}, "x", "d") == "d"
    assert h.set({}, "a.b[1]", 3) == {"a": {"b": [{}, 3]}}
    assert h.dateDiff("2024-01-01", "2024-01-02T01:00:00Z") == 2
    assert h.addDays("2024-01-31", 1) == datetime(2024, 2, 1, tzinfo=UTC)
    assert h.chunk([1, 2, 3], 2) == [[1, 2], [3]] and h.unique([1, 1, 2]) == [1, 2]
    with pytest.raises(ValueError, match="Required field 'x'"):
        h.requireField("", "x")


def test_entry_point_resolvers(monkeypatch: pytest.MonkeyPatch) -> None:
    ep = EntryPoint(name="acme.sku", value="os.path:basename", group=registry_module.ENTRY_POINT_GROUP)

    def fake_entry_points(*, group: str) -> list[EntryPoint]:
        return [ep] if group == registry_module.ENTRY_POINT_GROUP else []

    monkeypatch.setattr(registry_module, "entry_points", fake_entry_points)
    registry = ResolverRegistry()
    assert "acme.sku" in registry
    assert registry.resolve("acme.sku").__name__ == "basename"  # loaded lazily, at compile time
    assert "acme.sku" in registry.names()


def test_with_custom_does_not_mutate_the_registry() -> None:
    base = ResolverRegistry(load_entry_points=False)
    Mapper.compile({"fields": {"a": {"source": "a", "resolver": "x.y"}}}, base, resolvers={"x.y": lambda v, *_: v})
    assert "x.y" not in base


@pytest.mark.parametrize(
    ("text", "iso"),
    [("15 Jan 2024", "2024-01-15T00:00:00"), ("2024-01-15 10:30:00", "2024-01-15T10:30:00"),
     ("2024-02-30", "2024-03-01T00:00:00"), ("2024-01-15T24:00:00Z", "2024-01-16T00:00:00"),
     ("12/31/2024 23:59", "2024-12-31T23:59:00"), ("2024-01-15T10:30:00.123456Z", "2024-01-15T10:30:00.123000"),
     ("2024-13-01", None), ("1", None), ("Jan 15, 2024", "2024-01-15T00:00:00")],
)
def test_js_parse_date(text: str, iso: str | None) -> None:
    got = js_parse_date(text)
    assert (got.replace(tzinfo=None).isoformat() if got else None) == iso
