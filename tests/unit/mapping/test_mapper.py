"""Mapper semantics (sdk-parity.md §3), config validation and custom resolvers."""

from __future__ import annotations

import asyncio
import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from fluentsync.streams.mapping import (
    MISSING,
    Mapper,
    MappingConfigError,
    ResolverRegistry,
    compile_path,
    get_path,
    set_path,
)

# The reference's sample inventory mapping (UniversalMapper format, §3.1), applied to a CSV row.
INVENTORY_MAPPING: dict[str, Any] = {
    "version": "1.0",
    "description": "Warehouse CSV → INVENTORY batch entity",
    "fields": {
        "skuRef": {"source": "sku", "required": True, "resolver": "sdk.trim"},
        "locationRef": {"source": "location", "required": True, "resolver": "sdk.uppercase"},
        "qty": {"source": "quantity", "resolver": "sdk.parseInt", "required": True},
        "reservedQty": {"source": "reserved", "resolver": "sdk.parseInt"},
        "expectedOn": {"source": "expected_date", "resolver": "sdk.formatDate"},
        "retailerId": {"value": "1"},
        "type": {"source": "stock_type", "defaultValue": "LAST_ON_HAND"},
        "status": {"value": "ACTIVE"},
        "attributes.batchNo": {"source": "batch"},
    },
}


def test_sample_inventory_mapping_turns_csv_row_into_entity(tmp_path: Path) -> None:
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(INVENTORY_MAPPING))
    mapper = Mapper.compile(path)
    row = {"sku": " SKU-001 ", "location": "loc-7", "quantity": "0", "reserved": "",
           "expected_date": "2024-03-01", "stock_type": "", "batch": "B9"}
    result = mapper.map(row)
    assert result.success, result.errors
    assert result.data == {
        "skuRef": "SKU-001", "locationRef": "LOC-7", "qty": 0, "reservedQty": 0,
        "expectedOn": "2024-03-01T00:00:00.000Z", "retailerId": "1", "type": "LAST_ON_HAND",
        "status": "ACTIVE", "attributes": {"batchNo": "B9"},
    }
    assert mapper.warnings == []


def test_inventory_missing_required_fails_the_record_only() -> None:
    mapper = Mapper.compile(INVENTORY_MAPPING)
    rows = [{"sku": "A", "location": "L", "quantity": "1"}, {"sku": "", "location": "L", "quantity": "2"},
            {"sku": "C", "location": "L", "quantity": "3"}]
    results = [mapper.map(r) for r in rows]
    assert [r.success for r in results] == [True, False, True]
    bad = results[1]
    assert bad.data is None
    assert [(e.field, e.message, e.value, e.severity, e.code) for e in bad.errors] == [
        ("skuRef", "Required field 'skuRef' is missing or empty", "", "ERROR", "required")]


@pytest.mark.parametrize(("value", "present"), [(0, True), (False, True), ("0", True), (None, False),
                                                 ("", False), (MISSING, False)])
def test_required_zero_and_false_are_values(value: Any, present: bool) -> None:
    mapper = Mapper.compile({"fields": {"qty": {"source": "qty", "required": True}}})
    record = {} if value is MISSING else {"qty": value}
    result = mapper.map(record)
    assert result.success is present
    if present:
        assert result.data == {"qty": value}


def test_default_value_replaces_null_missing_and_empty_but_not_zero() -> None:
    mapper = Mapper.compile({"fields": {"a": {"source": "a", "defaultValue": "D"}}})
    assert [mapper.map(r).data for r in ({}, {"a": None}, {"a": ""}, {"a": 0}, {"a": False})] == [
        {"a": "D"}, {"a": "D"}, {"a": "D"}, {"a": 0}, {"a": False}]


def test_value_constant_wins_even_null_and_is_not_shared() -> None:
    mapper = Mapper.compile({"fields": {"n": {"value": None, "source": "n"}, "l": {"value": []}}})
    first = mapper.map({"n": 5})
    assert first.data == {"n": None, "l": []}
    first.data["l"].append(1)
    assert mapper.map({}).data["l"] == []
    assert [w.message for w in mapper.warnings] == ["'value' takes precedence, so 'source' is never read"]


def test_missing_optional_field_is_skipped() -> None:
    mapper = Mapper.compile({"fields": {"a": {"source": "x.y"}, "b": {"source": "b"}}})
    result = mapper.map({"x": None, "b": 1})
    assert result.data == {"b": 1} and result.skipped_fields == ["a"]


def test_dotted_and_indexed_targets_pad_arrays() -> None:
    mapper = Mapper.compile({"fields": {"items[2].ref": {"source": "r"}, "a.b.c": {"source": "r"}}})
    assert mapper.map({"r": "X"}).data == {"items": [{}, {}, {"ref": "X"}], "a": {"b": {"c": "X"}}}


def test_source_paths_with_indexes_and_literal_keys() -> None:
    mapper = Mapper.compile({"fields": {"a": {"source": "lines[1].@id"}, "b": {"source": "x.#text"},
                                        "c": {"source": "lines.0.@id"}}})
    rec = {"lines": [{"@id": "L0"}, {"@id": "L1"}], "x": {"#text": "t"}}
    assert mapper.map(rec).data == {"a": "L1", "b": "t", "c": "L0"}


def test_nested_object_rerooted_and_required_root() -> None:
    cfg = {"fields": {"addr": {"source": "customer.address", "fields": {"city": {"source": "city"}}},
                      "meta": {"fields": {"id": {"source": "id"}}}}}
    mapper = Mapper.compile(cfg)
    assert mapper.map({"id": 1, "customer": {"address": {"city": "Oslo"}}}).data == {
        "addr": {"city": "Oslo"}, "meta": {"id": 1}}
    assert mapper.map({"id": 1}).data == {"meta": {"id": 1}}
    cfg["fields"]["addr"]["required"] = True
    failed = Mapper.compile(cfg).map({"id": 1})
    assert not failed.success and failed.errors[0].message == "Required field 'addr' is missing or empty"


def test_array_field_item_relative_paths_and_required_subfield() -> None:
    cfg = {"fields": {"lines": {"source": "order.lines", "isArray": True, "required": True,
                                "fields": {"sku": {"source": "sku", "required": True},
                                           "qty": {"source": "q", "resolver": "sdk.parseInt"}}}}}
    mapper = Mapper.compile(cfg)
    result = mapper.map({"order": {"lines": [{"sku": "A", "q": "2"}, {"sku": "B"}]}})
    assert result.data == {"lines": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 0}]}
    assert mapper.map({}).data == {"lines": []}  # always set; required ignored for arrays
    bad = mapper.map({"order": {"lines": [{"sku": "A"}, {"q": "1"}]}})
    assert not bad.success and bad.errors[0].field == "lines[1].sku"


@pytest.mark.parametrize(("value", "expected"), [
    ({"edges": [{"node": {"id": 1}}, {"id": 2}]}, [{"v": 1}, {"v": 2}]),
    ({"id": 9}, [{"v": 9}]),
    (0, []),
    ("", []),
])
def test_array_source_shapes(value: Any, expected: Any) -> None:
    mapper = Mapper.compile({"fields": {"out": {"source": "src", "isArray": True, "fields": {"v": {"source": "id"}}}}})
    assert mapper.map({"src": value}).data == {"out": expected}


def test_array_wildcard_projection() -> None:
    cfg = {"fields": {"skus": {"source": "lines[*].product", "isArray": True, "fields": {"ref": {"source": "sku"}}},
                      "whole": {"source": "lines[*]", "isArray": True, "fields": {"n": {"source": "n"}}}}}
    rec = {"lines": [{"n": 1, "product": {"sku": "A"}}, {"n": 2, "product": {"sku": "B"}}]}
    assert Mapper.compile(cfg).map(rec).data == {"skus": [{"ref": "A"}, {"ref": "B"}], "whole": [{"n": 1}, {"n": 2}]}


def test_resolver_error_on_optional_field_is_recorded_and_mapping_continues() -> None:
    def boom(value: Any, *_: Any) -> Any:
        raise ValueError("bad input")

    cfg = {"fields": {"a": {"source": "a", "resolver": "custom.boom"}, "b": {"source": "b"}}}
    result = Mapper.compile(cfg, resolvers={"custom.boom": boom}).map({"a": 1, "b": 2})
    assert result.success and result.data == {"b": 2}
    assert [(e.field, e.message, e.value, e.severity) for e in result.errors] == [
        ("a", "Resolver 'custom.boom' failed: bad input", "1", "WARNING")]
    strict = Mapper.compile(cfg, resolvers={"custom.boom": boom}, fail_on_field_error=True).map({"a": 1})
    assert not strict.success and strict.errors[0].severity == "ERROR"


def test_resolver_only_required_checked_after_resolver() -> None:
    mapper = Mapper.compile({"fields": {"ref": {"resolver": "custom.ref", "required": True}}},
                            resolvers={"custom.ref": lambda v, rec, ctx, h: rec.get("a", "") + rec.get("b", "")})
    assert mapper.map({"a": "x", "b": "y"}).data == {"ref": "xy"}
    assert not mapper.map({}).success


def test_resolver_gets_record_context_and_helpers() -> None:
    seen: list[Any] = []

    def spy(value: Any, record: Any, context: Any, helpers: Any) -> Any:
        seen.append((value, record, context, helpers.getXmlAttribute({"$": {"id": "7"}}, "id")))
        return value

    mapper = Mapper.compile({"fields": {"items": {"source": "items", "isArray": True,
                                                  "fields": {"v": {"source": "v", "resolver": "spy"}}}}},
                            resolvers={"spy": spy}, context="kv")
    mapper.map({"items": [{"v": 1}]})
    assert seen == [(1, {"v": 1}, "kv", "7")]


def test_map_list_aggregates() -> None:
    mapper = Mapper.compile({"fields": {"a": {"source": "a", "required": True}}})
    result = mapper.map([{"a": 1}, {}, {"a": 3}])
    assert result.success and result.data == [{"a": 1}, {"a": 3}] and len(result.errors) == 1


def test_async_resolver_needs_amap() -> None:
    async def slow(value: Any, *_: Any) -> Any:
        await asyncio.sleep(0)
        return value * 2

    async def quick(value: Any, *_: Any) -> Any:
        return value + 1

    assert Mapper.compile({"fields": {"a": {"source": "a", "resolver": "q"}}},
                          resolvers={"q": quick}).map({"a": 1}).data == {"a": 2}
    mapper = Mapper.compile({"fields": {"a": {"source": "a", "resolver": "s"}}}, resolvers={"s": slow})
    assert asyncio.run(mapper.amap({"a": 2})).data == {"a": 4}
    with pytest.raises(RuntimeError, match="amap"):
        mapper.map({"a": 2})


# --- custom resolver registration --------------------------------------------------------------------


def test_register_callable_and_refuse_sdk_prefix() -> None:
    registry = ResolverRegistry()
    registry.register("custom.sku", lambda v, *_: f"SKU-{v}")
    with pytest.raises(ValueError, match="reserved"):
        registry.register("sdk.mine", lambda v, *_: v)
    assert Mapper.compile({"fields": {"s": {"source": "s", "resolver": "custom.sku"}}}, registry).map(
        {"s": 1}).data == {"s": "SKU-1"}


def test_constructor_resolvers_may_shadow_sdk() -> None:
    mapper = Mapper.compile({"fields": {"s": {"source": "s", "resolver": "sdk.uppercase"}}},
                            resolvers={"sdk.uppercase": lambda v, *_: "shadowed"})
    assert mapper.map({"s": "a"}).data == {"s": "shadowed"}


def test_module_path_resolvers(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("fs_test_resolvers")
    module.double = lambda v, *_: v * 2  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fs_test_resolvers", module)
    cfg = {"resolvers": {"custom.double": "fs_test_resolvers:double"},
           "fields": {"a": {"source": "a", "resolver": "custom.double"},
                      "b": {"source": "a", "resolver": "fs_test_resolvers:double"}}}
    assert Mapper.compile(cfg).map({"a": 3}).data == {"a": 6, "b": 6}


# --- config validation -------------------------------------------------------------------------------


def _problems(cfg: Any) -> list[str]:
    with pytest.raises(MappingConfigError) as info:
        Mapper.compile(cfg)
    return [str(p) for p in info.value.problems]


def test_validation_lists_every_problem_with_suggestions() -> None:
    problems = _problems({"fields": {
        "qty": {"source": "q", "resolver": "sdk.parseint"},
        "ref": {"required": True},
        "a..b": {"source": "x"},
        "c": {"source": "lines[x]"},
        "d": {"source": "q", "required": True, "defaultValue": 0},
        "e": {"source": "a[*].b[*].c", "isArray": True, "fields": {"x": {"source": "x"}}},
        "f": {"source": "a[*].b"},
        "g": {"isArray": True, "fields": {"x": {"source": "x"}}},
        "h": {"source": "h", "required": "yes"},
        "i": {"source": "i", "resolver": "nope.mod:fn"},
    }})
    assert problems == [
        "fields.qty: Resolver 'sdk.parseint' not found (did you mean 'sdk.parseInt'?)",
        "fields.ref: has no 'source', 'value', 'resolver' or 'fields' "
        "(add \"source\": \"<column>\" or \"value\": <constant>)",
        "fields.a..b: bad target path: path 'a..b' has an empty segment (remove the doubled, leading or trailing '.')",
        "fields.c: bad source path: segment 'lines[x]' of path 'lines[x]' has malformed brackets "
        "(indexes are written name[<int>])",
        "fields.d: 'required' with 'defaultValue': the default is never used (required is checked first) "
        "(remove 'required' to fall back to the default, or remove 'defaultValue')",
        "fields.e: source 'a[*].b[*].c' has more than one '[*]' (the reference maps it to []) "
        "(use one '[*]' and a nested isArray field for inner lists)",
        "fields.f: bad source path: '[*]' in 'a[*].b' needs an isArray field (add \"isArray\": true)",
        "fields.g: an isArray field has no 'source' (point 'source' at the list, e.g. \"lines\")",
        "fields.h: 'required' must be true or false, got 'yes' (write \"required\": true)",
        "fields.i: Resolver 'nope.mod:fn' could not be imported: No module named 'nope' "
        "(check the 'package.module:function' path)",
    ]


def test_validation_nested_paths_and_missing_fields() -> None:
    assert _problems({"fields": {"o": {"fields": {"x": {"resolver": "sdk.trm"}}}}}) == [
        "fields.o.fields.x: Resolver 'sdk.trm' not found (did you mean 'sdk.trim'?)"]
    assert _problems({"version": "1"}) == ["fields: is missing (a mapping needs {\"fields\": {<target>: {...}}})"]


def test_unknown_keys_are_warnings_or_errors_when_strict() -> None:
    cfg = {"fields": {"a": {"source": "a", "requried": True, "transform": "x"}}}
    mapper = Mapper.compile(cfg)
    assert [str(w) for w in mapper.warnings] == [
        "fields.a: unknown key 'requried' is ignored (did you mean 'required'?)",
        "fields.a: unknown key 'transform' is ignored (that key belongs to the GraphQL mutation mapper; "
        "use 'resolver' here)",
    ]
    with pytest.raises(MappingConfigError):
        Mapper.compile(cfg, strict=True)


def test_paths_roundtrip() -> None:
    steps = compile_path("a.b[0][1].c")
    assert steps == ("a", "b", 0, 1, "c")
    obj: dict[str, Any] = {}
    set_path(obj, steps, 5)
    assert obj == {"a": {"b": [[{}, {"c": 5}]]}}
    assert get_path(obj, steps) == 5
    assert get_path({"a": None}, compile_path("a")) is None
    assert get_path({"a": None}, compile_path("a.b")) is MISSING


@pytest.mark.parametrize(("raw", "resolver"), [("   ", "sdk.trim"), (None, "sdk.coalesce"), ("x", "custom.nothing")])
def test_required_rechecked_after_resolver_for_sourced_fields(raw: Any, resolver: str) -> None:
    """Known reference defect not copied: a resolver emptying or dropping a required field fails the record."""
    mapper = Mapper.compile({"fields": {"ref": {"source": "r", "resolver": resolver, "required": True}}},
                            resolvers={"custom.nothing": lambda v, *_: MISSING})
    record = {"r": raw}
    if raw is None:  # null fails the pre-resolver check already
        assert mapper.map(record).errors[0].message == "Required field 'ref' is missing or empty"
        return
    result = mapper.map(record)
    assert not result.success
    assert result.errors[0].message == f"Required field 'ref' is empty after resolver '{resolver}'"
