"""CSV flattening: dotted names, arrays joined or exploded with the parent repeated, schema columns."""

from __future__ import annotations

from typing import Any

from fluentsync.connectors.filesinks import explode_rows, flatten, schema_columns

ORDER: dict[str, Any] = {
    "ref": "O1",
    "customer": {"ref": "C1", "address": {"city": "Sydney"}},
    "tags": ["gift", "rush"],
    "lines": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2, "note": None}],
    "meta": {},
}


def test_nested_objects_become_dotted_names_and_arrays_are_joined() -> None:
    assert flatten(ORDER) == {
        "ref": "O1",
        "customer.ref": "C1",
        "customer.address.city": "Sydney",
        "tags": "gift|rush",
        "lines.sku": "A|B",
        "lines.qty": "1|2",
        "lines.note": "|",  # the first line has no note: positions stay aligned
    }


def test_separators_are_configurable_and_empty_arrays_are_null() -> None:
    row = flatten({"a": {"b": [1, True, None]}, "c": []}, separator="_", join_separator=";")
    assert row == {"a_b": "1;true;", "c": None}


def test_deeper_arrays_are_json_in_their_cell() -> None:
    row = flatten({"lines": [{"sku": "A", "serials": [[1, 2]]}]})
    assert row == {"lines.sku": "A", "lines.serials": "[1,2]"}


def test_leaves_keep_an_object_in_one_cell() -> None:
    row = flatten({"attrs": {"k": "v"}, "c": {"d": 1}}, leaves=frozenset({"attrs"}))
    assert row == {"attrs": '{"k":"v"}', "c.d": 1}


def test_explode_gives_one_row_per_child_with_the_parent_repeated() -> None:
    rows = list(explode_rows(ORDER, "lines"))
    parent = {"ref": "O1", "customer.ref": "C1", "customer.address.city": "Sydney", "tags": "gift|rush"}
    assert rows == [
        {**parent, "lines.sku": "A", "lines.qty": 1},
        {**parent, "lines.sku": "B", "lines.qty": 2, "lines.note": None},
    ]
    assert ORDER["lines"][0] == {"sku": "A", "qty": 1}  # the input record is not modified


def test_explode_a_nested_path_and_scalars() -> None:
    record = {"id": 1, "shipment": {"carrier": "X", "parcels": ["P1", "P2"]}}
    assert list(explode_rows(record, "shipment.parcels")) == [
        {"id": 1, "shipment.carrier": "X", "shipment.parcels": "P1"},
        {"id": 1, "shipment.carrier": "X", "shipment.parcels": "P2"},
    ]


def test_explode_keeps_a_record_whose_array_is_missing_or_empty() -> None:
    assert list(explode_rows({"ref": "O2", "lines": []}, "lines")) == [{"ref": "O2"}]
    assert list(explode_rows({"ref": "O3"}, "lines")) == [{"ref": "O3"}]
    assert list(explode_rows({"ref": "O4", "lines": None}, "lines")) == [{"ref": "O4"}]


def test_schema_columns_follow_the_avro_field_order() -> None:
    schema = {
        "type": "record", "name": "Order", "namespace": "fc",
        "fields": [
            {"name": "ref", "type": "string"},
            {"name": "customer", "type": ["null", {"type": "record", "name": "Customer",
                                                   "fields": [{"name": "ref", "type": "string"}]}]},
            {"name": "billing", "type": ["null", "fc.Customer"]},
            {"name": "lines", "type": {"type": "array", "items": {
                "type": "record", "name": "Line",
                "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}}},
            {"name": "tags", "type": {"type": "array", "items": "string"}},
            {"name": "attrs", "type": {"type": "map", "values": "string"}},
        ],
    }
    assert schema_columns(schema) == [
        "ref", "customer.ref", "billing.ref", "lines.sku", "lines.qty", "tags", "attrs",
    ]
