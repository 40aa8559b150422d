"""Which variables carry the cursor and page size, and where the connection is in a response.

Why a module of its own: getting this wrong is the 0.1.55 bug class (``$cursor``/``$pageSize`` were
not recognised, so page 1 was re-fetched forever), so the rules are kept small, separate and tested on
their own (sdk-parity.md §18):

1. The document is parsed with graphql-core; the first field (document order, depth first, through
   inline fragments and fragment spreads) that binds ``after:`` or ``before:`` to a variable is the
   connection. Its ``first:``/``last:`` variables are the page-size variables, and its response path
   (aliases included) is where the connection is read from.
2. Fallback (no such usage, or a document graphql-core cannot parse): variables are recognised by
   their declared name and type (``…first``/``…First: Int``, ``…after``/``…After: String``, same for
   last/before), then by regex on ``after: $x`` usage.

A connection in a response is an object with an ``edges`` list and a ``pageInfo`` holding a boolean
``hasNextPage`` or ``hasPreviousPage``; ``endCursor`` is never needed (Fluent does not return it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["CursorVariables", "Direction", "detect_cursor_variables", "find_connection"]

Direction = Literal["forward", "backward"]


@dataclass(frozen=True)
class CursorVariables:
    """Which declared variables play which role; ``connection_path`` when derivable from the query."""

    first: str | None = None
    after: str | None = None
    last: str | None = None
    before: str | None = None
    connection_path: tuple[str, ...] | None = None
    size_defaults: frozenset[str] = frozenset()
    """Size variables declared with a default value (left alone when the caller omits them)."""
    is_mutation: bool = False

    @property
    def direction(self) -> Direction | None:
        if self.after or self.first:
            return "forward"
        if self.before or self.last:
            return "backward"
        return None


# ---------------------------------------------------------------------------------------- detection


def detect_cursor_variables(query: str) -> CursorVariables:
    """Find the cursor and page-size variables of ``query`` (see the module docstring)."""
    try:
        return _detect_ast(query)
    except _Unparsable:
        return _detect_regex(query)


class _Unparsable(Exception):
    pass


def _detect_ast(query: str) -> CursorVariables:
    try:
        from graphql import parse
        from graphql.error import GraphQLSyntaxError
        from graphql.language import ast
    except ImportError as exc:  # pragma: no cover - graphql-core is a declared dependency
        raise _Unparsable from exc
    try:
        doc = parse(query, no_location=True)
    except GraphQLSyntaxError as exc:
        raise _Unparsable from exc
    ops = [d for d in doc.definitions if isinstance(d, ast.OperationDefinitionNode)]
    if not ops:
        raise _Unparsable
    op = ops[0]
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, ast.FragmentDefinitionNode)}
    declared: dict[str, tuple[str, bool]] = {}
    for var in op.variable_definitions or ():
        declared[var.variable.name.value] = (_type_name(var.type), var.default_value is not None)
    is_mutation = op.operation.value == "mutation"

    def walk(selections: Sequence[Any], path: tuple[str, ...], seen: frozenset[str]) -> CursorVariables | None:
        for sel in selections:
            if isinstance(sel, ast.FieldNode):
                key = sel.alias.value if sel.alias else sel.name.value
                roles = {
                    arg.name.value: arg.value.name.value
                    for arg in sel.arguments or ()
                    if arg.name.value in ("first", "after", "last", "before")
                    and isinstance(arg.value, ast.VariableNode)
                }
                if "after" in roles or "before" in roles:
                    sizes = {roles.get("first"), roles.get("last")} - {None}
                    return CursorVariables(
                        first=roles.get("first"),
                        after=roles.get("after"),
                        last=roles.get("last"),
                        before=roles.get("before"),
                        connection_path=(*path, key),
                        size_defaults=frozenset(n for n in sizes if n and declared.get(n, ("", False))[1]),
                        is_mutation=is_mutation,
                    )
                if sel.selection_set is not None:
                    found = walk(sel.selection_set.selections, (*path, key), seen)
                    if found:
                        return found
            elif isinstance(sel, ast.InlineFragmentNode):
                found = walk(sel.selection_set.selections, path, seen)
                if found:
                    return found
            elif isinstance(sel, ast.FragmentSpreadNode):
                name = sel.name.value
                if name in fragments and name not in seen:
                    found = walk(fragments[name].selection_set.selections, path, seen | {name})
                    if found:
                        return found
        return None

    found = walk(op.selection_set.selections, (), frozenset())
    if found is not None:
        return found
    by_name = _by_declared_name({n: t for n, (t, _d) in declared.items()})
    defaults = frozenset(n for n, (_t, has_default) in declared.items() if has_default)
    return CursorVariables(
        first=by_name.get("first"),
        after=by_name.get("after"),
        last=by_name.get("last"),
        before=by_name.get("before"),
        size_defaults=defaults & {by_name.get("first"), by_name.get("last")},
        is_mutation=is_mutation,
    )


def _type_name(node: Any) -> str:
    while hasattr(node, "type"):
        node = node.type
    return str(node.name.value)


def _by_declared_name(declared: Mapping[str, str]) -> dict[str, str]:
    roles: dict[str, str] = {}
    for name, type_name in declared.items():
        for role, wanted in (("first", "Int"), ("after", "String"), ("last", "Int"), ("before", "String")):
            suffix = name.endswith(role) or name.endswith(role.capitalize())
            if role not in roles and type_name == wanted and suffix:
                roles[role] = name
    return roles


_COMMENT = re.compile(r"#[^\n]*")
_DECL = re.compile(r"^\s*(query|mutation|subscription)\b[^(\{]*\(([^)]*)\)")
_VAR_DECL = re.compile(r"\$(\w+)\s*:\s*\[?\s*(\w+)")
_USAGE = re.compile(r"\b(first|after|last|before)\s*:\s*\$(\w+)")


def _detect_regex(query: str) -> CursorVariables:
    text = " ".join(_COMMENT.sub("", query).split())
    is_mutation = text.startswith("mutation")
    match = _DECL.match(text)
    declared = dict(_VAR_DECL.findall(match.group(2))) if match else {}
    roles = _by_declared_name(declared)
    for role, var in _USAGE.findall(text):
        if role not in roles and var in declared:
            roles[role] = var
    return CursorVariables(
        first=roles.get("first"),
        after=roles.get("after"),
        last=roles.get("last"),
        before=roles.get("before"),
        is_mutation=is_mutation,
    )


# ---------------------------------------------------------------------------------------- connection


def _is_connection(value: Any) -> bool:
    if not isinstance(value, Mapping) or not isinstance(value.get("edges"), list):
        return False
    info = value.get("pageInfo")
    return isinstance(info, Mapping) and (
        isinstance(info.get("hasNextPage"), bool) or isinstance(info.get("hasPreviousPage"), bool)
    )


def find_connection(data: Any, path: str | Sequence[str] | None = None) -> Mapping[str, Any] | None:
    """The connection at ``path`` (dots or a sequence of keys), else the first one found depth first."""
    if path:
        node = data
        for key in path.split(".") if isinstance(path, str) else path:
            if not isinstance(node, Mapping) or key not in node:
                return None
            node = node[key]
        return node if _is_connection(node) else None
    stack = [data]
    while stack:
        node = stack.pop()
        if _is_connection(node):
            assert isinstance(node, Mapping)
            return node
        if isinstance(node, Mapping):
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return None
