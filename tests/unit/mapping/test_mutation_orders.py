"""Orders as GraphQL mutations: XML orders (parsed by the real parser) → createOrder, JSON → updateOrder.

What the webhook/file → GraphQL path relies on: nested objects, arrays of child objects from repeated
``<Item>`` elements (one ``<Item>`` is parsed as an object, several as a list), order-level values inside
items, numbers from XML text, and an ``attributes`` list built from a named field.
"""

from __future__ import annotations

import io
from typing import Any

import pytest

from fluentsync.connectors.parsers import ParsedRecord, XmlOptions, parse
from fluentsync.streams.mapping.mutations import GraphQLMutationMapper, MutationMappingError
from fluentsync.streams.mapping.strict import FLUENTSYNC_RESOLVERS

ONE = b"""<Orders><Order ref="W-1"><Currency>AUD</Currency><Total>39.90</Total>
<Customer ref="C-1"><Email>ada@example.com</Email><Name><First>Ada</First></Name></Customer>
<Items><Item line="1"><Sku>S-1</Sku><Qty>2</Qty><Price>19.95</Price></Item></Items></Order></Orders>"""
TWO = ONE.replace(b"</Items>", b'<Item line="2"><Sku>S-2</Sku><Qty>1</Qty><Price>0.5</Price></Item></Items>')


def order(xml: bytes, **options: Any) -> dict[str, Any]:
    [item] = list(parse(io.BytesIO(xml), XmlOptions(item_path="Order", **options)))
    assert isinstance(item, ParsedRecord)
    record: dict[str, Any] = item.record
    return record


def fields_mapper() -> GraphQLMutationMapper:
    return GraphQLMutationMapper({
        "version": "1.0.0", "mutation": "createOrder", "sourceFormat": "xml", "returnFields": ["id", "ref"],
        "fields": {
            "ref": {"source": "@ref", "required": True},
            "retailer": {"fields": {"id": {"value": "1"}}},
            "currency": "Currency",
            "totalPrice": {"source": "Total", "transform": "fluentsync.decimal"},
            "customer": {"source": "Customer", "fields": {"ref": "$.@ref", "email": "$.Email",
                                                          "firstName": "$.Name.First"}},
            "items": {"isArray": True, "source": "Items.Item", "required": True, "fields": {
                "ref": "$.@line", "productRef": "$.Sku",
                "quantity": {"source": "$.Qty", "transform": "fluentsync.integer"},
                "price": {"source": "$.Price", "transform": "fluentsync.decimal"},
                "currency": "Currency"}},  # a plain path inside an array reads the order
        }}, custom_transforms=FLUENTSYNC_RESOLVERS)


def test_parser_gives_one_item_as_an_object_and_force_list_makes_it_a_list() -> None:
    assert isinstance(order(ONE)["Items"]["Item"], dict)
    assert isinstance(order(TWO)["Items"]["Item"], list)
    assert order(ONE, force_list=["Item"])["Items"]["Item"] == [
        {"@line": "1", "Sku": "S-1", "Qty": "2", "Price": "19.95"}]


def test_create_order_fields_pattern_one_or_several_items() -> None:
    mapper = fields_mapper()
    one = mapper.map_variables(order(ONE))["input"]
    assert one == {
        "ref": "W-1", "retailer": {"id": "1"}, "currency": "AUD", "totalPrice": 39.9,
        "customer": {"ref": "C-1", "email": "ada@example.com", "firstName": "Ada"},
        "items": [{"ref": "1", "productRef": "S-1", "quantity": 2, "price": 19.95, "currency": "AUD"}],
    }
    two = mapper.map_variables(order(TWO))["input"]
    assert [(i["ref"], i["quantity"], i["price"], i["currency"]) for i in two["items"]] == [
        ("1", 2, 19.95, "AUD"), ("2", 1, 0.5, "AUD")]


def test_create_order_refuses_text_that_is_not_a_number() -> None:
    with pytest.raises(MutationMappingError) as info:
        fields_mapper().map_variables(order(ONE.replace(b"<Qty>2</Qty>", b"<Qty>2.5</Qty>")))
    assert [p.field for p in info.value.problems] == ["items[0].quantity"]
    assert "not an integer: '2.5'" in info.value.problems[0].message


def test_arguments_pattern_needs_auto_wrap_or_force_list_for_one_item() -> None:
    """Item fields of the arguments pattern are item-relative: order-level values need the fields pattern."""
    config = {"version": "1.0.0", "mutation": "createOrder", "sourceFormat": "xml", "returnFields": ["id"],
              "arguments": {"input": {"ref": {"source": "@ref"}, "items": {
                  "isArray": True, "source": "Items.Item", "fields": {"productRef": "Sku"}}}}}
    strict = GraphQLMutationMapper(config)
    with pytest.raises(MutationMappingError, match="must be an array"):
        strict.map_variables(order(ONE))
    expected = {"input": {"ref": "W-1", "items": [{"productRef": "S-1"}]}}
    assert strict.map_variables(order(ONE, force_list=["Item"])) == expected
    config["arguments"]["input"]["items"]["autoWrap"] = True  # type: ignore[index]
    assert GraphQLMutationMapper(config).map_variables(order(ONE)) == expected


def test_update_order_attribute_from_a_named_field() -> None:
    """``source: "*"`` is the record itself; ``autoWrap`` makes it a one-item list mapped into an attribute."""
    mapper = GraphQLMutationMapper({
        "version": "1.0.0", "mutation": "updateOrder", "sourceFormat": "json", "returnFields": ["id"],
        "arguments": {"input": {
            "id": {"source": "orderId", "required": True},
            "attributes": {"isArray": True, "source": "*", "autoWrap": True, "fields": {
                "name": {"value": "giftMessage"}, "type": {"value": "STRING"},
                "value": {"source": "giftMessage", "required": True}}}}}})
    assert mapper.map_variables({"orderId": "42", "giftMessage": "Happy birthday"}) == {"input": {
        "id": "42", "attributes": [{"name": "giftMessage", "type": "STRING", "value": "Happy birthday"}]}}
    with pytest.raises(MutationMappingError, match=r"Required field 'input.attributes\[0\].value'"):
        mapper.map_variables({"orderId": "42"})
