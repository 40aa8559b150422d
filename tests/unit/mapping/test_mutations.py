"""GraphQLMutationMapper, arguments pattern and alias batching (sdk-parity.md §6, fluent-api.md §4.5/§4.7)."""

from __future__ import annotations

import copy
import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest

from fluentsync.streams.mapping import MISSING, MappingConfigError
from fluentsync.streams.mapping.mutations import (
    BUILTIN_TRANSFORMS,
    GraphQLMutationMapper,
    MutationMappingError,
    build_mutation_query,
    parse_aliased_response,
    substitute_env,
    validate_mapping_config,
)
from fluentsync.streams.mapping.mutations.paths import MutationPathError, compile_mutation_path

# --- transforms (table-driven) ----------------------------------------------------------------------------

TRANSFORM_CASES: list[tuple[str, Any, Any]] = [
    ("parseInt", "12abc", 12),
    ("parseInt", "  42", 42),
    ("parseInt", 12.9, 12),
    ("parseInt", "0x1A", 0),
    ("parseFloat", "3.5kg", 3.5),
    ("parseFloat", "1e3", 1000),
    ("parseFloat", "5", 5),
    ("toString", None, ""),
    ("toString", True, "true"),
    ("toString", 5.0, "5"),
    ("toString", [1, 2], "1,2"),
    ("toUpperCase", "straße", "STRASSE"),
    ("toUpperCase", 7, 7),
    ("toLowerCase", "ÀBC", "àbc"),
    ("toLowerCase", None, None),
    ("trim", "\ufeff a \n", "a"),
    ("trim", 3, 3),
    ("toBoolean", "on", True),
    ("toBoolean", "Yes", True),
    ("toBoolean", "y", True),
    ("toBoolean", "1", True),
    ("toBoolean", "off", False),
    ("toBoolean", "", False),
    ("toBoolean", 2, True),
    ("toBoolean", 0, False),
    ("toBoolean", None, False),
    ("toBoolean", False, False),
    ("toISO8601", "2024-01-15", "2024-01-15T00:00:00.000Z"),
    ("toISO8601", "2024-01-15T10:20:30+02:00", "2024-01-15T08:20:30.000Z"),
    ("toISO8601", "not a date", "not a date"),
    ("toISO8601", 0, "1970-01-01T00:00:00.000Z"),
    ("toISO8601", None, None),
    ("toDate", "2024-01-15", datetime(2024, 1, 15, tzinfo=UTC)),
    ("toDate", "garbage", None),
    ("toDate", None, None),
]


@pytest.mark.parametrize(("name", "value", "expected"), TRANSFORM_CASES)
def test_builtin_transforms(name: str, value: Any, expected: Any) -> None:
    out = BUILTIN_TRANSFORMS[name](value)
    assert out == expected
    assert type(out) is type(expected)


@pytest.mark.parametrize(("name", "value"), [("parseInt", "abc"), ("parseInt", None), ("parseFloat", "x")])
def test_parse_transforms_have_no_nan_guard(name: str, value: Any) -> None:
    assert math.isnan(BUILTIN_TRANSFORMS[name](value))


# --- helpers ----------------------------------------------------------------------------------------------

def cfg(arguments: dict[str, Any], **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"version": "1.0.0", "mutation": "updateOrder", "sourceFormat": "json",
                            "returnFields": ["id", "ref"], "arguments": arguments}
    base.update(extra)
    return base


def variables(arguments: dict[str, Any], record: Any, **kw: Any) -> Any:
    return GraphQLMutationMapper(cfg({"input": arguments}), **kw).map(record)["variables"]["input"]


# --- §4.7-style configs ------------------------------------------------------------------------------------

UPDATE_ORDER = {
    "version": "1.0.0",
    "name": "order status update",
    "mutation": "updateOrder",
    "sourceFormat": "json",
    "returnFields": ["id", "ref", "status"],
    "arguments": {
        "_comment": "id is the internal id, looked up by ref first",
        "input": {
            "id": {"source": "order.id", "required": True},
            "status": {"source": "status", "transform": "toUpperCase", "defaultValue": "BOOKED"},
            "attributes": {
                "isArray": True,
                "source": "attrs",
                "fields": {
                    "name": "key",
                    "type": {"value": "STRING"},
                    "value": {"source": "val", "transform": "toString"},
                },
            },
        },
    },
}


def test_update_order_query_and_variables() -> None:
    mapper = GraphQLMutationMapper(UPDATE_ORDER)
    record = {"order": {"id": "123"}, "status": "shipped", "attrs": [{"key": "carrier", "val": "DHL"},
                                                                      {"key": "weight", "val": 2.5}]}
    request = mapper.map(record)
    assert request["query"] == (
        "mutation updateOrderMutation($input: UpdateOrderInput!) "
        "{ updateOrder(input: $input) { id ref status } }"
    )
    assert request["variables"] == {
        "input": {
            "id": "123",
            "status": "SHIPPED",
            "attributes": [
                {"name": "carrier", "type": "STRING", "value": "DHL"},
                {"name": "weight", "type": "STRING", "value": "2.5"},
            ],
        }
    }
    assert mapper.warnings == []
    json.dumps(request)  # JSON-ready


CREATE_LOCATION = {
    "version": "1.0.0",
    "mutation": "createLocation",
    "operationName": "CreateStore",
    "sourceFormat": "json",
    "returnFields": "id ref name type status",
    "arguments": {
        "input": {
            "ref": {"source": "store_code", "required": True, "transform": "trim"},
            "name": {"source": "store_name"},
            "type": {"source": "kind", "mapping": {"S": "STORE", "W": "WAREHOUSE"}, "defaultValue": "STORE"},
            "primaryAddress": {
                "ref": {"source": "store_code"},
                "street": {"source": "addr.line1"},
                "city": {"source": "addr.city"},
                "country": {"value": "USA"},
                "latitude": {"source": "addr.lat", "transform": "parseFloat"},
                "timeZone": {"value": "${STORE_TZ}"},
            },
            "openingSchedule": {
                "_nested": True,
                "fields": {
                    "allHours": {"value": False},
                    "monStart": {"source": "hours.mon.open", "transform": "parseInt"},
                    "monEnd": {"source": "hours.mon.close", "transform": "parseInt"},
                },
            },
        }
    },
}


def test_create_location_nested_objects_mapping_and_env() -> None:
    mapper = GraphQLMutationMapper(CREATE_LOCATION, environ={"STORE_TZ": "America/New_York"})
    record = {"store_code": " S001 ", "store_name": "Main St", "kind": "W",
              "addr": {"line1": "1 Main St", "city": "Springfield", "lat": "39.78"},
              "hours": {"mon": {"open": "0800", "close": "2000"}}}
    request = mapper.map(record)
    assert request["query"] == (
        "mutation CreateStore($input: CreateLocationInput!) "
        "{ createLocation(input: $input) { id ref name type status } }"
    )
    assert request["variables"]["input"] == {
        "ref": "S001",
        "name": "Main St",
        "type": "WAREHOUSE",
        "primaryAddress": {"ref": " S001 ", "street": "1 Main St", "city": "Springfield", "country": "USA",
                           "latitude": 39.78, "timeZone": "America/New_York"},
        "openingSchedule": {"allHours": False, "monStart": 800, "monEnd": 2000},
    }


def test_arguments_not_under_input_are_wrapped() -> None:
    mapper = GraphQLMutationMapper(cfg({"ref": {"source": "sku"}, "_note": {"value": "skipped"}},
                                       mutation="createCustomer"))
    assert mapper.map({"sku": "A"}) == {
        "query": "mutation createCustomerMutation($input: CreateCustomerInput!) "
                 "{ createCustomer(input: $input) { id ref } }",
        "variables": {"input": {"ref": "A"}},
    }


def test_default_return_fields_and_query_builder() -> None:
    assert build_mutation_query("createCustomer") == (
        "mutation createCustomerMutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id ref } }"
    )


# --- required / default --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"s": "X"}, "X"),
        ({"s": None}, "DEF"),
        ({}, "DEF"),
        ({"s": ""}, ""),  # the default applies to null/missing only, not ''
        ({"s": 0}, 0),
    ],
)
def test_default_applies_to_null_and_missing_only(record: dict[str, Any], expected: Any) -> None:
    assert variables({"v": {"source": "s", "defaultValue": "DEF"}}, record) == {"v": expected}


@pytest.mark.parametrize("record", [{}, {"s": None}, {"s": ""}])
def test_required_rejects_null_missing_and_empty(record: dict[str, Any]) -> None:
    mapper = GraphQLMutationMapper(cfg({"input": {"ref": {"source": "s", "required": True}}}))
    with pytest.raises(MutationMappingError) as info:
        mapper.map(record)
    (problem,) = info.value.problems
    assert problem.stage == "MAP"
    assert problem.field == "input.ref"
    assert problem.code == "required"
    assert problem.message == "Required field 'input.ref' is missing or empty"


def test_required_satisfied_by_default() -> None:
    assert variables({"v": {"source": "s", "required": True, "defaultValue": "D"}}, {}) == {"v": "D"}


def test_missing_optional_fields_are_left_out_and_not_transformed() -> None:
    out = variables({"a": {"source": "a", "transform": "parseInt"}, "b": {"source": "b", "transform": "toString"}},
                    {"b": None})
    assert out == {"b": ""}


def test_nan_is_sent_as_null() -> None:
    assert variables({"q": {"source": "q", "transform": "parseInt"}}, {"q": "abc"}) == {"q": None}


def test_required_rechecked_after_transform() -> None:
    mapper = GraphQLMutationMapper(cfg({"input": {"r": {"source": "r", "required": True, "transform": "trim"}}}))
    with pytest.raises(MutationMappingError, match="empty after transform 'trim'"):
        mapper.map({"r": "   "})


def test_all_field_errors_reported_and_map_safe_never_raises() -> None:
    mapper = GraphQLMutationMapper(cfg({"input": {"a": {"source": "a", "required": True},
                                                 "b": {"source": "b", "required": True}}}))
    result = mapper.map_safe({})
    assert not result.success and result.query is None and result.variables is None
    assert [p.field for p in result.errors] == ["input.a", "input.b"]
    assert mapper.map_safe({"a": 1, "b": 2}).request()["variables"] == {"input": {"a": 1, "b": 2}}
    # hooks that raise, odd records: still no exception
    bad = GraphQLMutationMapper(cfg({"input": {"a": {"source": "a"}}}),
                                before_mapping=lambda r: 1 / 0)
    res = bad.map_safe({"a": 1})
    assert not res.success and res.errors[0].code == "hook_failed"
    assert GraphQLMutationMapper(cfg({"input": {"a": {"source": "a[0]"}}})).map_safe({"a": "x"}).errors[0].code \
        == "bad_path"


# --- value literals and ${VAR} ---------------------------------------------------------------------------

def test_value_literals_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FS_RETAILER", "34")
    monkeypatch.delenv("FS_UNSET", raising=False)
    out = variables({
        "retailer": {"id": {"value": "${FS_RETAILER}"}},
        "unset": {"value": "${FS_UNSET}"},
        "mixed": {"value": "r-${FS_RETAILER}-x"},
        "nullValue": {"value": None},
        "num": {"value": 5},
        "obj": {"value": {"k": ["${FS_RETAILER}"]}},
        "wins": {"value": "literal", "source": "s"},
    }, {"s": "from source"})
    assert out == {"retailer": {"id": "34"}, "unset": "${FS_UNSET}", "mixed": "r-34-x", "nullValue": None,
                   "num": 5, "obj": {"k": ["34"]}, "wins": "literal"}


def test_substitute_env_with_explicit_environ() -> None:
    assert substitute_env("${A}/${B}", {"A": "1"}) == "1/${B}"
    assert substitute_env(3, {}) == 3


def test_value_constants_are_not_shared_between_records() -> None:
    mapper = GraphQLMutationMapper(cfg({"input": {"o": {"value": {"k": [1]}}}}))
    first = mapper.map({})
    first["variables"]["input"]["o"]["k"].append(2)
    assert mapper.map({})["variables"]["input"]["o"] == {"k": [1]}


# --- arrays ----------------------------------------------------------------------------------------------

def test_array_item_field_forms() -> None:
    out = variables({
        "items": {
            "_array": True,
            "source": "lines",
            "fields": {
                "ref": "sku",
                "productRef": "product.ref",
                "currency": {"value": "AUD"},
                "status": {"source": "st", "mapping": {"A": "ACTIVE", "I": "INACTIVE"}},
                "quantity": {"source": "qty", "transform": "parseInt", "defaultValue": "1", "required": True},
            },
        }
    }, {"lines": [{"sku": "S1", "product": {"ref": "P1"}, "st": "A", "qty": "3"},
                  {"sku": "S2", "product": {"ref": "P2"}, "st": "Z"}]})
    assert out == {"items": [
        {"ref": "S1", "productRef": "P1", "currency": "AUD", "status": "ACTIVE", "quantity": 3},
        {"ref": "S2", "productRef": "P2", "currency": "AUD", "status": "Z", "quantity": 1},
    ]}


def test_array_errors_name_the_item() -> None:
    mapper = GraphQLMutationMapper(cfg({"input": {"items": {"isArray": True, "source": "lines",
                                                            "fields": {"ref": {"source": "sku", "required": True}}}}}))
    with pytest.raises(MutationMappingError) as info:
        mapper.map({"lines": [{"sku": "a"}, {}]})
    assert [p.field for p in info.value.problems] == ["input.items[1].ref"]


def test_array_auto_wrap_min_items_and_missing() -> None:
    base = {"isArray": True, "source": "v"}
    assert variables({"a": {**base, "autoWrap": True}}, {"v": "x"}) == {"a": ["x"]}
    assert variables({"a": base}, {"v": [1, 2]}) == {"a": [1, 2]}
    assert variables({"a": base}, {}) == {}
    with pytest.raises(MutationMappingError, match="must be an array"):
        variables({"a": base}, {"v": "x"})
    with pytest.raises(MutationMappingError, match="at least 2 item"):
        variables({"a": {**base, "validation": {"minItems": 2}}}, {"v": [1]})
    with pytest.raises(MutationMappingError, match=r"Required field 'input\.a'"):
        variables({"a": {**base, "required": True}}, {"v": None})


def test_wildcard_and_quoted_paths() -> None:
    out = variables({"skus": {"source": "lines[*].sku"}, "dotted": {"source": "attrs['a.b']"},
                     "whole": {"source": "*", "transform": "toString"}}, {"lines": [{"sku": 1}, {}],
                                                                          "attrs": {"a.b": "q"}})
    assert out == {"skus": [1, None], "dotted": "q", "whole": "[object Object]"}
    with pytest.raises(MutationPathError):
        compile_mutation_path("a..b")
    with pytest.raises(MutationPathError):
        compile_mutation_path("a[x")
    with pytest.raises(MutationPathError, match="non-array"):
        compile_mutation_path("a[*].b").get({"a": {"b": 1}})
    assert compile_mutation_path("a[1].b").get({"a": [{}, {"b": MISSING}]}) is MISSING


# --- transforms from the registry / custom ------------------------------------------------------------------

def test_custom_and_sdk_transforms() -> None:
    seen: list[Any] = []

    def tag(value: Any, record: Any, context: Any, helpers: Any) -> Any:
        seen.append(context)
        return f"{value}-{record['suffix']}"

    mapper = GraphQLMutationMapper(cfg({"input": {"a": {"source": "a", "transform": "custom.tag"},
                                                 "b": {"source": "b", "transform": "sdk.boolean"}}}),
                                   custom_transforms={"custom.tag": tag}, context="ctx")
    assert mapper.map({"a": "x", "b": "yes", "suffix": "s"})["variables"]["input"] == {"a": "x-s", "b": True}
    assert seen == ["ctx"]


def test_failing_transform_is_a_field_error() -> None:
    def boom(*_: Any) -> Any:
        raise RuntimeError("nope")

    mapper = GraphQLMutationMapper(cfg({"input": {"a": {"source": "a", "transform": "boom"}}}),
                                   custom_transforms={"boom": boom})
    res = mapper.map_safe({"a": 1})
    assert res.errors[0].code == "transform_failed"
    assert "Transform 'boom' failed for 'input.a': nope" in res.errors[0].message


def test_hooks() -> None:
    mapper = GraphQLMutationMapper(
        cfg({"input": {"a": {"source": "a"}}}),
        before_mapping=lambda r: {"a": r["raw"] * 2},
        after_mapping=lambda v, r: {"input": {**v["input"], "extra": r["a"]}},
    )
    assert mapper.map({"raw": 2})["variables"] == {"input": {"a": 4, "extra": 4}}


# --- config validation -------------------------------------------------------------------------------------

def messages(report_items: Any) -> list[str]:
    return [str(p) for p in report_items]


def test_valid_config_has_no_problems() -> None:
    report = validate_mapping_config(UPDATE_ORDER)
    assert report.valid and report.errors == [] and report.warnings == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"version": None}, "version: is required"),
        ({"version": 1}, "version: must be a string, got int"),
        ({"mutation": None}, "mutation: is required"),
        ({"mutation": "UpdateOrder"}, "mutation: 'UpdateOrder' must match ^[a-z][a-zA-Z0-9]*$"),
        ({"mutation": "update-order"}, "mutation: 'update-order' must match"),
        ({"mutation": 5}, "mutation: must be a string, got int"),
        ({"sourceFormat": None}, "sourceFormat: is required"),
        ({"sourceFormat": "csv"}, "sourceFormat: 'csv' is not one of xml, json, jsonl"),
        ({"arguments": None}, "arguments: either 'arguments' or 'fields' is required"),
        ({"arguments": []}, "arguments: must be an object, got list"),
        ({"arguments": {"input": {"a..b": {"source": "x"}}}}, "arguments.input.a..b: field name contains '..'"),
        ({"arguments": None, "fields": {"a..b": {"source": "x"}}}, "fields.a..b: field name contains '..'"),
        ({"nodes": {"1bad": {"extract": "x"}}}, "nodes.1bad: node name '1bad' must match"),
        ({"nodes": [{"name": "n"}, {"name": "n"}]}, "nodes.n: duplicate node name 'n'"),
        ({"arguments": {"input": {"a": {"isArray": True}}}}, "arguments.input.a: an isArray field needs a 'source'"),
        ({"arguments": {"input": {"a": {"source": "x", "transform": "toUppercase"}}}},
         "arguments.input.a.transform: unknown transform 'toUppercase' (did you mean 'toUpperCase'?)"),
        ({"arguments": {"input": {"a": {"defaultValue": "x"}}}},
         "arguments.input.a: has defaultValue but no 'source' or 'value'"),
        ({"arguments": {"input": {"a": "col"}}}, "arguments.input.a: must be an object such as"),
        ({"aliasBatching": {"mutationsPerBatch": 0}}, "aliasBatching.mutationsPerBatch: must be a positive integer"),
    ],
)
def test_config_errors(change: dict[str, Any], expected: str) -> None:
    config = copy.deepcopy(UPDATE_ORDER)
    for key, value in change.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    report = validate_mapping_config(config)
    assert not report.valid
    assert any(m.startswith(expected) for m in messages(report.errors)), messages(report.errors)
    with pytest.raises(MappingConfigError):
        GraphQLMutationMapper(config)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"version": "1.0"}, "version: '1.0' is not a semantic version"),
        ({"fields": {"a": {"source": "x"}}}, "fields: both 'arguments' and 'fields' are given"),
        ({"nodes": {"inner": {"extract": "x", "unescape": True}}}, "nodes.inner: unescape without parse"),
        ({"arguments": {"input": {"a": {"source": "x", "value": 1}}}},
         "arguments.input.a: has both 'value' and 'source'"),
        ({"returnFields": None}, "returnFields: is missing; the mutation returns 'id ref'"),
    ],
)
def test_config_warnings_and_strict(change: dict[str, Any], expected: str) -> None:
    config = copy.deepcopy(UPDATE_ORDER)
    for key, value in change.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    report = validate_mapping_config(config)
    assert report.valid, messages(report.errors)
    assert any(m.startswith(expected) for m in messages(report.warnings)), messages(report.warnings)
    assert GraphQLMutationMapper(config).warnings == report.warnings
    strict = validate_mapping_config(config, strict=True)
    assert not strict.valid and strict.warnings == []
    assert any(m.startswith(expected) for m in messages(strict.errors))
    with pytest.raises(MappingConfigError):
        GraphQLMutationMapper(config, strict=True)


# --- fields pattern (map_with_nodes, JSON sources) -----------------------------------------------------------

FIELDS_CONFIG: dict[str, Any] = {
    "version": "1.0.0",
    "mutation": "createOrder",
    "sourceFormat": "json",
    "returnFields": ["id", "ref"],
    "nodes": {"payload": {"extract": "body", "unescape": True, "parse": "json", "required": True}},
    "fields": {
        "ref": {"source": "$payload.orderRef", "required": True},
        "type": {"value": "HD"},
        "retailer": {"fields": {"id": {"source": "retailerId", "transform": "parseInt"}}},
        "currency": {"source": "$payload.currency", "defaultValue": "AUD"},
        "items": {
            "isArray": True,
            "source": "$payload.lines",
            "fields": {
                "ref": "$.sku",
                "productRef": {"source": "$.sku", "resolver": "sdk.uppercase"},
                "currency": {"source": "payload.currency"},  # plain paths are root(+nodes)-relative
                "price": {"source": "$.price", "resolver": "custom.price"},
            },
        },
    },
}


async def _price(value: Any, record: Any, context: Any, helpers: Any) -> Any:
    return round(float(value) * context["rate"], 2)


def test_fields_pattern_nodes_item_relative_paths_and_async_resolvers() -> None:
    import asyncio

    mapper = GraphQLMutationMapper(FIELDS_CONFIG, custom_transforms={"custom.price": _price}, context={"rate": 2})
    body = '{&quot;orderRef&quot;: &quot;O1&quot;, &quot;currency&quot;: &quot;USD&quot;, ' \
           '&quot;lines&quot;: [{&quot;sku&quot;: &quot;ab&quot;, &quot;price&quot;: &quot;1.25&quot;}]}'
    result = asyncio.run(mapper.amap_with_nodes({"body": body, "retailerId": "34"}))
    assert result.errors == []
    assert result.success
    assert result.data == {"ref": "O1", "type": "HD", "retailer": {"id": 34}, "currency": "USD",
                           "items": [{"ref": "ab", "productRef": "AB", "currency": "USD", "price": 2.5}]}
    assert result.variables == {"input": result.data}
    assert result.query.startswith("mutation createOrderMutation($input: CreateOrderInput!)")
    assert result.context["nodes"]["payload"]["orderRef"] == "O1"
    # an async resolver that never suspends also works from the sync entry point
    assert mapper.map_with_nodes({"body": body, "retailerId": "34"}).data == result.data

    async def slow(value: Any, *_: Any) -> Any:
        await asyncio.sleep(0)
        return value

    suspending = GraphQLMutationMapper(FIELDS_CONFIG, custom_transforms={"custom.price": slow})
    sync = suspending.map_with_nodes({"body": body, "retailerId": "34"})
    assert not sync.success and "amap_with_nodes" in sync.errors[0].message
    assert asyncio.run(suspending.amap_with_nodes({"body": body, "retailerId": "34"})).success


def test_fields_pattern_sync_errors_and_map() -> None:
    config = copy.deepcopy(FIELDS_CONFIG)
    config["fields"]["items"]["fields"].pop("price")
    mapper = GraphQLMutationMapper(config)
    ok = mapper.map({"body": '{"orderRef": "O2", "lines": []}', "retailerId": 1})
    assert ok["variables"] == {"input": {"ref": "O2", "type": "HD", "retailer": {"id": 1}, "currency": "AUD",
                                         "items": []}}
    missing_node = mapper.map_with_nodes({"retailerId": 1})
    assert not missing_node.success and missing_node.data is None
    assert [p.code for p in missing_node.errors] == ["required", "required"]  # node, then the required ref
    bad_json = mapper.map_with_nodes({"body": "{nope"})
    assert bad_json.errors[0].code == "node_parse"
    assert GraphQLMutationMapper(UPDATE_ORDER).map_with_nodes({}).success is False


def test_fields_pattern_config_errors() -> None:
    config = copy.deepcopy(FIELDS_CONFIG)
    config["fields"] = {"a": {"source": "$nope.x"}, "b": {"source": "x", "resolver": "custom.missing"},
                        "c": {"isArray": True}}
    with pytest.raises(MappingConfigError) as info:
        GraphQLMutationMapper(config)
    text = str(info.value)
    assert "unknown node '$nope'" in text
    assert "Resolver 'custom.missing' not found" in text
    assert "fields.c: an isArray field needs a 'source'" in text
    config = copy.deepcopy(FIELDS_CONFIG)
    config["nodes"] = {"x": {"extract": "body", "parse": "xml"}}
    config["fields"] = {"a": "b"}
    with pytest.raises(MappingConfigError, match="only 'json'"):
        GraphQLMutationMapper(config)


# --- alias batching ----------------------------------------------------------------------------------------

def test_batch_map_chunks_every_record() -> None:
    mapper = GraphQLMutationMapper(cfg({"input": {"ref": {"source": "ref", "required": True}}},
                                       mutation="createCustomer"))
    records = [{"ref": f"C{i}"} for i in range(12)]
    requests = mapper.batch_map(records)
    assert [len(r["variables"]) for r in requests] == [5, 5, 2]
    sent = [v["ref"] for r in requests for v in r["variables"].values()]
    assert sent == [f"C{i}" for i in range(12)]
    assert requests[2]["query"] == (
        "mutation BatchCreateCustomers($input1: CreateCustomerInput!, $input2: CreateCustomerInput!) "
        "{ createCustomer1: createCustomer(input: $input1) { id ref } "
        "createCustomer2: createCustomer(input: $input2) { id ref } }"
    )
    assert list(requests[0]["variables"]) == ["input1", "input2", "input3", "input4", "input5"]
    assert requests[0]["query"].count("createCustomer(input: $input") == 5


def test_batch_size_config_and_cap() -> None:
    config = cfg({"input": {"ref": {"source": "ref"}}}, aliasBatching={"mutationsPerBatch": 50})
    mapper = GraphQLMutationMapper(config)
    assert mapper.mutations_per_batch == 20
    records = [{"ref": i} for i in range(45)]
    assert [len(r["variables"]) for r in mapper.batch_map(records)] == [20, 20, 5]
    assert [len(r["variables"]) for r in mapper.batch_map(records, mutations_per_batch=7)][:2] == [7, 7]
    assert mapper.batch_map([]) == []
    with pytest.raises(ValueError):
        mapper.batch_map(records, mutations_per_batch=0)


def test_batch_map_reports_bad_records_by_index() -> None:
    mapper = GraphQLMutationMapper(cfg({"input": {"ref": {"source": "ref", "required": True}}}))
    with pytest.raises(MutationMappingError) as info:
        mapper.batch_map([{"ref": 1}, {}, {"ref": 3}])
    assert [p.field for p in info.value.problems] == ["[1].input.ref"]


def test_parse_aliased_response_with_error_and_null_alias() -> None:
    response = {
        "data": {
            "createCustomer1": {"id": "1", "ref": "C1"},
            "createCustomer2": None,
            "createCustomer3": None,
            "createCustomer4": {"id": "4", "ref": "C4"},
        },
        "errors": [{"message": "Duplicate ref", "path": ["createCustomer2"],
                    "extensions": {"code": "C0005E"}}],
    }
    parsed = parse_aliased_response(response, "createCustomer")
    assert parsed.executed == 4 and parsed.failed == 2 and parsed.succeeded == 2
    assert not parsed.all_succeeded and not parsed.all_failed
    assert [(r.alias, r.success) for r in parsed.results] == [
        ("createCustomer1", True), ("createCustomer2", False), ("createCustomer3", False), ("createCustomer4", True)]
    assert parsed.results[1].errors[0]["message"] == "Duplicate ref"
    assert parsed.results[1].errors[0]["extensions"] == {"code": "C0005E"}
    assert "likely validation error" in parsed.results[2].errors[0]["message"]
    assert [e["alias"] for e in parsed.errors] == ["createCustomer2", "createCustomer3"]
    assert parsed.results[0].data == {"id": "1", "ref": "C1"}


def test_parse_aliased_response_edge_cases() -> None:
    ok = parse_aliased_response({"data": {"m1": {"id": 1}, "m2": {"id": 2}}}, "m")
    assert ok.all_succeeded and not ok.all_failed and ok.errors == []
    # whole request failed: no data at all; count says which aliases were sent
    down = parse_aliased_response({"data": None, "errors": [{"message": "rate limited"}]}, "m", count=3)
    assert down.executed == 3 and down.all_failed
    assert down.errors[0]["alias"] is None
    # numeric ordering of aliases beyond 9
    many = parse_aliased_response({"data": {f"m{i}": {"id": i} for i in (10, 2, 1)}}, "m")
    assert [r.alias for r in many.results] == ["m1", "m2", "m10"]


def test_mapper_round_trip_batch_and_parse() -> None:
    mapper = GraphQLMutationMapper(cfg({"input": {"ref": {"source": "ref"}}}, mutation="createCustomer"))
    (request,) = mapper.batch_map([{"ref": "a"}, {"ref": "b"}])
    parsed = mapper.parse_aliased_response({"data": {"createCustomer1": {"id": "1"}}}, count=2)
    assert len(request["variables"]) == 2
    assert parsed.executed == 2 and parsed.failed == 1
    assert parsed.results[1].alias == "createCustomer2"
