"""Nested connections past their first page: follow-up queries by the node's id and the edge cursor.

Why: the built-in queries fetch an order's (or a fulfilment's) items with ``items(first: 100)``, so an
order with more items arrives with the first 100 and ``pageInfo.hasNextPage: true``. An event must hold
every item, so before a page is encoded the runner completes such nodes here, one follow-up query per
100 further items, built from the extraction's own query (graphql-core):

.. code-block:: graphql

    query FluentsyncNested($id: ID!, $after: String) {
      orderById(id: $id) { items(first: 100, after: $after) { <the query's own selection> } }
    }

``$after`` starts at the cursor of the node's last item edge and then follows the follow-ups' cursors.
The new edges are appended in order (an item id already present is skipped), and the connection's
``hasNextPage`` is set to false once the last page is in: the converter then no longer counts it as
``nested_truncated``.

Which connections: fields directly under the root connection's ``node`` that select ``edges { cursor
node }`` and ``pageInfo { hasNextPage }``, with literal arguments only, under a root with a by-id query
(``orders`` -> ``orderById``, ``fulfilments`` -> ``fulfilmentById``). Anything else (a custom query
without ``cursor`` on the nested edges, a node without ``id``, a nested connection inside a fragment)
stays as fetched and is counted in ``nested_truncated``, as before. A follow-up whose cursor does not
advance is an error (the run fails, the watermark stays); GraphQL errors are retried like page errors
(the runner's client). Memory: the node with all its items, which the event holds anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    ArgumentNode,
    FieldNode,
    GraphQLError,
    NameNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    parse,
    print_ast,
)

from fluentsync.connectors.fluent import FluentPaginationError, GraphQLAPI

__all__ = ["BY_ID", "FollowUp", "NestedPages", "followable"]

log = logging.getLogger(__name__)

#: The root query fetching one node of a root connection by id, per root connection (Fluent's names).
BY_ID: dict[str, str] = {"orders": "orderById", "fulfilments": "fulfilmentById"}


@dataclass(frozen=True)
class FollowUp:
    """How to fetch the rest of one nested connection."""

    key: str  #: the connection's key in the node (its alias, else its name)
    query: str  #: the follow-up query: ``$id`` and ``$after``
    root: str  #: the by-id field, the key of the follow-up's data


class NestedPages:
    """Completes the followable nested connections of the nodes of one extraction's query."""

    def __init__(self, graphql: GraphQLAPI, query: str, connection_path: str | None) -> None:
        self.graphql = graphql
        self.connections = followable(query, connection_path)
        self.completed = 0  #: nested connections completed
        self.requests = 0  #: follow-up requests made

    async def complete(self, node: Mapping[str, Any]) -> None:
        """Fetch the missing pages of ``node``'s truncated connections into it (in place)."""
        for connection in self.connections:
            value = node.get(connection.key)
            if type(value) is not dict:
                continue
            info = value.get("pageInfo")
            if isinstance(info, dict) and info.get("hasNextPage") is True:
                await self._follow(node.get("id"), value, connection)

    async def _follow(self, node_id: Any, value: dict[str, Any], connection: FollowUp) -> None:
        edges = value.get("edges")
        cursor = edges[-1].get("cursor") if isinstance(edges, list) and edges and isinstance(edges[-1], dict) else None
        if node_id is None or not isinstance(cursor, str):
            return  # cannot say where the first page ended: stays truncated (counted)
        assert isinstance(edges, list)
        seen = {_node_id(edge) for edge in edges} - {None}
        while True:
            self.requests += 1
            result = await self.graphql.execute(connection.query, {"id": str(node_id), "after": cursor},
                                                "FluentsyncNested")
            holder = result.data.get(connection.root) if isinstance(result.data, dict) else None
            page = holder.get(connection.key) if isinstance(holder, dict) else None
            if not isinstance(page, dict):
                log.warning("nested connection %s of node %s vanished while it was followed: kept as fetched",
                            connection.key, node_id)
                return
            more = page.get("edges") or []
            for edge in more:
                key = _node_id(edge)
                if key is None or key not in seen:
                    edges.append(edge)
                    seen.add(key)
            if (page.get("pageInfo") or {}).get("hasNextPage") is not True:
                value["pageInfo"] = {**value["pageInfo"], "hasNextPage": False}
                self.completed += 1
                return
            last = more[-1].get("cursor") if more and isinstance(more[-1], dict) else None
            if not isinstance(last, str) or last == cursor:
                raise FluentPaginationError(f"nested connection {connection.key} of node {node_id}: the cursor "
                                            f"did not advance ({cursor!r})")
            cursor = last


def _node_id(edge: Any) -> Any:
    node = edge.get("node") if isinstance(edge, dict) else None
    return node.get("id") if isinstance(node, dict) else None


def followable(query: str, connection_path: str | None) -> list[FollowUp]:
    """The nested connections of the query's nodes that follow-up queries can complete."""
    if not connection_path:
        return []
    try:
        document = parse(query)
    except GraphQLError:
        return []
    operation = next((d for d in document.definitions if isinstance(d, OperationDefinitionNode)), None)
    root: FieldNode | None = None
    selections = operation.selection_set if operation is not None else None
    for key in connection_path.split("."):
        root = _field(selections, key)
        selections = root.selection_set if root is not None else None
    by_id = BY_ID.get(root.name.value) if root is not None else None
    edges = _field(selections, "edges")
    node = _field(edges.selection_set if edges is not None else None, "node")
    if by_id is None or node is None or node.selection_set is None:
        return []
    found = []
    for field in node.selection_set.selections:
        if not isinstance(field, FieldNode) or field.selection_set is None:
            continue
        inner, info = _field(field.selection_set, "edges"), _field(field.selection_set, "pageInfo")
        if inner is None or info is None or _field(inner.selection_set, "cursor") is None \
                or _field(inner.selection_set, "node") is None or _field(info.selection_set, "hasNextPage") is None \
                or any(not _literal(argument.value) for argument in field.arguments or ()):
            continue
        after = ArgumentNode(name=NameNode(value="after"), value=VariableNode(name=NameNode(value="after")))
        arguments = (*(a for a in field.arguments or () if a.name.value != "after"), after)
        follow = FieldNode(alias=field.alias, name=field.name, arguments=arguments, directives=(),
                           selection_set=field.selection_set)
        text = (f"query FluentsyncNested($id: ID!, $after: String) {{ {by_id}(id: $id) "
                f"{{ {print_ast(follow)} }} }}")
        found.append(FollowUp((field.alias or field.name).value, text, by_id))
    return found


def _field(selections: SelectionSetNode | None, key: str) -> FieldNode | None:
    """The field of ``selections`` answering under ``key`` (its alias, else its name)."""
    for selection in selections.selections if selections is not None else ():
        if isinstance(selection, FieldNode) and (selection.alias or selection.name).value == key:
            return selection
    return None


def _literal(value: Any) -> bool:
    """Whether an argument value holds no variable (a follow-up query declares only $id and $after)."""
    if isinstance(value, VariableNode):
        return False
    children = [*getattr(value, "values", ()), *(f.value for f in getattr(value, "fields", ()))]
    return all(_literal(child) for child in children)
