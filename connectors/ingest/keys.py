"""Record keys: the business key of a record, encoded so that it can never be ambiguous.

A key is the JSON array of the configured key fields' values, e.g. ``["SKU-1","LOC-9"]`` - never
``"SKU-1" + "-" + "LOC-9"``, which makes ``("A-B","C")`` and ``("A","B-C")`` collide (R4). Values are
taken as text (a JSON number ``12`` and the CSV cell ``"12"`` name the same entity), so CSV, JSON and
XML feeds of one system produce the same keys.

Key building runs once per record on the ingestion hot path: fields are compiled to getters once, and
values that need no JSON escaping are joined directly (~0.5 µs instead of ~3.5 µs for ``json.dumps``).
:meth:`RecordKeyBuilder.of_rows` keys a whole run of CSV rows with C-level passes over the key columns
(~0.15 µs a record), and gives up (None) when any row needs the per-record rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

__all__ = ["MissingKeyField", "RecordKeyBuilder", "decode_key"]

_NEEDS_ESCAPING = re.compile(r'["\\\x00-\x1f\u2028\u2029]')


class MissingKeyField(ValueError):
    """A key field is absent, null or empty in a record."""

    def __init__(self, fields: Sequence[str]) -> None:
        self.fields = list(fields)
        super().__init__(f"missing key field{'s' if len(fields) > 1 else ''}: {', '.join(fields)}")


def _getter(path: str) -> Callable[[Mapping[str, Any]], Any]:
    if "." not in path:
        return lambda record: record.get(path)
    parts = path.split(".")

    def get(record: Mapping[str, Any]) -> Any:
        value: Any = record
        for part in parts:
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return value

    return get


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class RecordKeyBuilder:
    """Builds the key of a record from the configured fields (dotted paths reach into nested objects)."""

    def __init__(self, fields: Sequence[str]) -> None:
        if not fields:
            raise ValueError("a workflow needs at least one key field")
        self.fields = list(fields)
        self._getters = [_getter(field) for field in self.fields]
        self._plain_fields = not any("." in field for field in self.fields)

    def __call__(self, record: Mapping[str, Any]) -> str:
        values: list[Any]
        if self._plain_fields:
            get = record.get
            values = [get(field) for field in self.fields]
        else:
            values = [getter(record) for getter in self._getters]
        try:
            plain = "".join(values)  # TypeError unless every value is a string: the hot path is
        except TypeError:  # non-empty strings that need no escaping
            plain = None
        if plain is not None and "" not in values and not _NEEDS_ESCAPING.search(plain):
            return '["' + '","'.join(values) + '"]'
        missing = [field for field, value in zip(self.fields, values, strict=True) if value is None or value == ""]
        if missing:
            raise MissingKeyField(missing)
        return json.dumps([_text(value) for value in values], ensure_ascii=False, separators=(",", ":"))


    def of_rows(self, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str] | None:
        """The keys of flat all-text rows aligned with ``columns`` (a CSV run), exactly as calling the
        builder on each row's record would give; None when any row needs the per-record rules (a key
        field that is not a column, an empty value, a value that needs escaping, a dotted field)."""
        if not self._plain_fields:
            return None
        if not rows:
            return []
        try:
            positions = [columns.index(field) for field in self.fields]
        except ValueError:
            return None
        values = [list(map(itemgetter(position), rows)) for position in positions]
        for column in values:
            if "" in column or _NEEDS_ESCAPING.search("".join(column)):
                return None
        # every key at once: joined with NUL (which no value holds: it needs escaping) and split again
        joined = values[0] if len(values) == 1 else map('","'.join, zip(*values, strict=True))
        return ('["' + '"]\x00["'.join(joined) + '"]').split("\x00")


def decode_key(key: str) -> list[str]:
    """The field values of a key built by :class:`RecordKeyBuilder`."""
    values = json.loads(key)
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"not a record key: {key!r}")
    return values
