"""Nested records to flat rows for CSV: dotted column names, child arrays joined or exploded.

``{"ref": "O1", "customer": {"ref": "C1"}, "tags": ["a", "b"]}`` becomes
``{"ref": "O1", "customer.ref": "C1", "tags": "a|b"}``.

Child arrays have two treatments, because both are what partners ask for:

- **join** (default): an array of scalars becomes one cell, the values joined with a separator; an array
  of objects becomes one column per child field, each cell the joined values of that field
  (``lines.sku = "A|B"``, ``lines.qty = "1|2"``), so columns stay stable whatever the array length.
  Deeper arrays (an array inside an array element) are written as JSON in the cell.
- **explode**: one row per element of the array at a configured dotted path, with the parent's fields
  repeated on every row (``ref, customer.ref, lines.sku, lines.qty``). A record whose array is missing
  or empty still gives one row, with empty child columns, so no record disappears from the file. Other
  arrays in the record are joined.

Values are left as Python values; the CSV writer decides how they print.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["explode_rows", "flatten", "schema_columns"]


def flatten(
    record: Mapping[str, Any], *, separator: str = ".", join_separator: str = "|",
    leaves: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """One flat row: nested objects as dotted names, arrays joined.

    ``leaves`` are column names whose object values stay one cell (as JSON) instead of being expanded:
    an Avro ``map`` has no fixed keys, so its schema column is the map's own name.
    """
    row: dict[str, Any] = {}
    _flatten_into(row, "", record, separator, join_separator, leaves)
    return row


def _flatten_into(
    row: dict[str, Any], prefix: str, value: Mapping[str, Any], sep: str, join: str,
    leaves: frozenset[str] = frozenset(),
) -> None:
    for key, child in value.items():
        name = f"{prefix}{key}"
        if child is None or isinstance(child, str | int | float):  # most values: before the (slow) ABC test
            row[name] = child
        elif isinstance(child, Mapping):
            if name in leaves:
                row[name] = _cell(child)
            else:
                _flatten_into(row, name + sep, child, sep, join, leaves)  # an empty object adds no column
        elif isinstance(child, list | tuple):
            _join_into(row, name, child, sep, join)
        else:
            row[name] = child


def _join_into(row: dict[str, Any], name: str, items: list[Any] | tuple[Any, ...], sep: str, join: str) -> None:
    if not any(isinstance(item, Mapping) for item in items):
        row[name] = join.join([_cell(item) for item in items]) if items else None
        return
    # objects: one column per (flattened) child field, the values of all elements joined
    flats = [flatten(item, separator=sep, join_separator=join) if isinstance(item, Mapping) else {"": item}
             for item in items]
    keys: dict[str, None] = {}
    for flat in flats:
        keys.update(dict.fromkeys(flat))
    for key in keys:
        column = f"{name}{sep}{key}" if key else name
        row[column] = join.join([_cell(flat.get(key)) for flat in flats])


def _cell(value: Any) -> str:
    kind = type(value)
    if kind is str:  # most cells: before the (slow) ABC tests below
        return value  # type: ignore[no-any-return]
    if kind is int or kind is float:
        return str(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False)
    return str(value)


def explode_rows(
    record: Mapping[str, Any], path: str, *, separator: str = ".", join_separator: str = "|",
    leaves: frozenset[str] = frozenset(),
) -> Iterator[dict[str, Any]]:
    """One row per element of the array at dotted ``path``, parent fields repeated on each row.

    ``path`` is dotted with ``.`` whatever ``separator`` (the column name separator) is. A missing,
    null or empty array gives a single row holding only the parent's fields.
    """
    keys = path.split(".")
    parent = _without(record, keys)
    base = flatten(parent, separator=separator, join_separator=join_separator, leaves=leaves)
    column = separator.join(keys)
    items = _get(record, keys)
    if not isinstance(items, list | tuple) or not items:
        yield base
        return
    for item in items:
        row = dict(base)
        if isinstance(item, Mapping):
            _flatten_into(row, column + separator, item, separator, join_separator, leaves)
        else:
            row[column] = item
        yield row


def _get(record: Mapping[str, Any], keys: list[str]) -> Any:
    value: Any = record
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _without(record: Mapping[str, Any], keys: list[str]) -> dict[str, Any]:
    """A shallow copy of ``record`` without the value at ``keys`` (copies only along the path)."""
    head, rest = keys[0], keys[1:]
    out = dict(record)
    if not rest:
        out.pop(head, None)
    elif isinstance(out.get(head), Mapping):
        out[head] = _without(out[head], rest)
    return out


def schema_columns(schema: Mapping[str, Any], *, separator: str = ".") -> list[str]:
    """CSV columns from an Avro record schema, in field order, as :func:`flatten` names them.

    Nested records give dotted names; an array of records gives one column per child field (joined or
    exploded, the names are the same); unions with null take the non-null branch. Named types
    defined earlier in the schema can be referenced by name.
    """
    named: dict[str, Any] = {}
    columns: list[str] = []
    _columns(schema, [], columns, named, separator)
    return columns


def _resolve(schema: Any, named: dict[str, Any]) -> Any:
    if isinstance(schema, str):  # a named type: full name, or its short name (namespaces inherited)
        return named.get(schema) or named.get(schema.rsplit(".", 1)[-1], schema)
    if isinstance(schema, list):
        branches = [s for s in schema if s != "null"]
        return _resolve(branches[0], named) if len(branches) == 1 else schema
    if isinstance(schema, dict) and schema.get("type") in {"record", "enum", "fixed"} and "name" in schema:
        named[schema["name"]] = schema
        if "namespace" in schema:
            named[f"{schema['namespace']}.{schema['name']}"] = schema
    return schema


def _columns(schema: Any, path: list[str], out: list[str], named: dict[str, Any], sep: str) -> None:
    schema = _resolve(schema, named)
    if isinstance(schema, dict) and schema.get("type") == "record":
        for field in schema.get("fields", []):
            _columns(field["type"], [*path, field["name"]], out, named, sep)
        return
    if isinstance(schema, dict) and schema.get("type") == "array":
        items = _resolve(schema["items"], named)
        if isinstance(items, dict) and items.get("type") == "record":
            _columns(items, path, out, named, sep)
            return
    out.append(sep.join(path))
