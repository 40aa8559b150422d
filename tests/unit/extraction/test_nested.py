"""Which nested connections follow-up queries can complete, and that those queries are valid GraphQL."""

from __future__ import annotations

import pytest
from graphql import build_schema, parse, validate

from fluentsync.connectors.sandbox.graphql_schema import build_sdl
from fluentsync.streams.extraction import ENTITIES
from fluentsync.streams.extraction.nested import followable


@pytest.mark.parametrize(("entity", "root"), [("orders", "orderById"), ("fulfilments", "fulfilmentById")])
def test_the_item_connections_of_the_builtin_queries_are_followed(entity: str, root: str) -> None:
    spec = ENTITIES[entity]
    [items] = followable(spec.query, spec.result_path)
    assert (items.key, items.root) == ("items", root)
    assert validate(build_schema(build_sdl()), parse(items.query)) == []
    assert "items(first: 100, after: $after)" in items.query and "cursor" in items.query


def test_entities_without_nested_connections_follow_nothing() -> None:
    assert followable(ENTITIES["inventory_positions"].query, "inventoryPositions") == []
    assert followable(ENTITIES["orders"].query, None) == []  # the root connection is not known


@pytest.mark.parametrize("items", [
    "items(first: 100) { edges { node { ref } } pageInfo { hasNextPage } }",  # no cursor: cannot resume
    "items(first: $n) { edges { cursor node { ref } } pageInfo { hasNextPage } }",  # a variable argument
    "items(first: 100) { edges { cursor node { ref } } }",  # no pageInfo: never known to be truncated
])
def test_connections_a_follow_up_cannot_resume_are_left_alone(items: str) -> None:
    query = f"query Q($n: Int) {{ orders {{ edges {{ node {{ id {items} }} }} pageInfo {{ hasNextPage }} }} }}"
    assert followable(query, "orders") == []


def test_an_aliased_connection_keeps_its_alias() -> None:
    query = ("{ open: orders { edges { node { id lines: items(first: 50, after: \"x\") { edges { cursor node { ref } } "
             "pageInfo { hasNextPage } } } } pageInfo { hasNextPage } } }")
    [lines] = followable(query, "open")
    assert lines.key == "lines" and lines.root == "orderById"
    assert "lines: items(first: 50, after: $after)" in lines.query
    assert validate(build_schema(build_sdl()), parse(lines.query)) == []
