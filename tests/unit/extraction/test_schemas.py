"""Built-in queries, typed schemas and converters agree with each other and with Fluent's schema.

The sandbox's SDL is the project's model of Fluent's GraphQL schema: every built-in query must validate
against it, and must select exactly the fields of its Avro schema, so that an event never silently lacks
a field the schema promises (or drops one the query paid for).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from graphql import FieldNode, OperationDefinitionNode, build_schema, parse, validate

from fluentsync.connectors.sandbox.graphql_schema import build_sdl
from fluentsync.schemas import default_codec
from fluentsync.streams.extraction import ENTITIES
from fluentsync.streams.extraction.convert import Conversion, compile_converter, convert_generic

META = {"extraction": "x", "run_id": "x-1", "extracted_at": datetime(2026, 1, 1, tzinfo=UTC)}


def _selected(query: str) -> list[str]:
    operation = parse(query).definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    root = operation.selection_set.selections[0]
    assert isinstance(root, FieldNode) and root.selection_set is not None
    edges = next(s for s in root.selection_set.selections if isinstance(s, FieldNode) and s.name.value == "edges")
    assert edges.selection_set is not None
    node = next(s for s in edges.selection_set.selections if isinstance(s, FieldNode) and s.name.value == "node")
    assert node.selection_set is not None
    return [s.name.value for s in node.selection_set.selections if isinstance(s, FieldNode)]


@pytest.mark.parametrize("entity", sorted(ENTITIES))
def test_builtin_queries_validate_and_match_their_schema(entity: str) -> None:
    spec = ENTITIES[entity]
    schema = build_schema(build_sdl())
    assert validate(schema, parse(spec.query)) == []
    avro_fields = [f["name"] for f in default_codec().repository.get(spec.schema).schema["fields"]]
    assert sorted(_selected(spec.query)) == sorted(f for f in avro_fields if f != "extraction")


def _encode_decode(schema: str, datum: dict[str, Any]) -> Any:
    codec = default_codec()
    return codec.decode(codec.encode(schema, datum))


def test_order_nodes_keep_items_nested_and_coerce_types() -> None:
    stats = Conversion()
    info = default_codec().repository.get("fluentsync.outbound.Order")
    convert = compile_converter(info.parsed, stats, skip=frozenset({"extraction"}))
    node = {
        "id": 7, "ref": "ORD-7", "status": "BOOKED", "totalPrice": 10, "unknownField": "dropped",
        "customer": {"id": "3", "ref": "C-3", "email": None},
        "items": {"edges": [{"cursor": "a", "node": {"id": 1, "ref": "ORD-7-1", "quantity": 2, "price": 5,
                                                      "attributes": [{"name": "gift", "type": "JSON",
                                                                      "value": {"wrap": True}}]}}],
                  "pageInfo": {"hasNextPage": True}},
        "attributes": [{"name": "channel", "type": "STRING", "value": "web"}],
        "updatedOn": "2025-01-01T00:00:00.000Z",
    }
    datum = convert(node)
    datum["extraction"] = META
    event = _encode_decode("fluentsync.outbound.Order", datum)
    assert event["id"] == "7" and event["totalPrice"] == 10.0 and "unknownField" not in event
    assert event["items"][0]["ref"] == "ORD-7-1" and event["items"][0]["price"] == 5.0
    assert json.loads(event["items"][0]["attributes"][0]["value"]) == {"wrap": True}
    assert event["deliveryAddress"] is None and event["billingAddress"] is None  # not selected -> null
    assert event["customer"]["ref"] == "C-3" and event["extraction"]["run_id"] == "x-1"
    assert stats.nested_truncated == 1  # more items than fetched is counted, not hidden


def test_every_typed_schema_encodes_a_sparse_node() -> None:
    for spec in ENTITIES.values():
        info = default_codec().repository.get(spec.schema)
        datum = compile_converter(info.parsed, Conversion(), skip=frozenset({"extraction"}))({"ref": "R-1"})
        datum["extraction"] = META
        assert _encode_decode(spec.schema, datum)["ref"] == "R-1"


def test_generic_nodes_unwrap_connections() -> None:
    stats = Conversion()
    node = {"id": "1", "ref": "CG-1", "controls": {"edges": [{"cursor": "c", "node": {"ref": "CT-1"}}],
                                                   "pageInfo": {"hasNextPage": False}}}
    datum = convert_generic("controlGroups", stats)(node)
    datum["extraction"] = META
    event = _encode_decode("fluentsync.outbound.Node", datum)
    assert event["entity"] == "controlGroups" and event["ref"] == "CG-1" and event["updatedOn"] is None
    assert json.loads(event["json"]) == {"id": "1", "ref": "CG-1", "controls": [{"ref": "CT-1"}]}
    assert stats.nested_truncated == 0


@pytest.mark.parametrize("entity", sorted(ENTITIES))
def test_the_documented_query_files_are_the_builtin_queries(entity: str) -> None:
    path = Path(__file__).resolve().parents[3] / "docs" / "queries" / f"{entity}.graphql"
    text = "".join(line for line in path.read_text().splitlines(keepends=True) if not line.startswith("#"))
    assert text == ENTITIES[entity].query
