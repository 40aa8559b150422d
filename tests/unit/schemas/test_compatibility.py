"""Schema evolution under a registry: the stand-in's resolution rules, and fluentsync's own schemas.

An upgraded worker registers each changed schema as a new version of its subject; a registry at
BACKWARD (its default) or FULL refuses a change old data or old readers cannot live with, and the
upgraded worker would stop at its first message. So every shipped schema must be FULL_TRANSITIVE
compatible with every earlier version kept in ``schemas/avro/history``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from fluentsync.schemas.repository import SCHEMA_DIR, SchemaRepository
from tests.fixtures.avro_compat import can_read, expand, incompatibilities

BASE: dict[str, Any] = {
    "type": "record", "name": "shop.Order", "fields": [
        {"name": "ref", "type": "string"},
        {"name": "qty", "type": "int"},
        {"name": "status", "type": {"type": "enum", "name": "shop.Status", "symbols": ["OPEN", "DONE"]}},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
    ],
}


def changed(change: Any) -> Any:
    schema = copy.deepcopy(BASE)
    change(schema)
    return expand(schema)


def field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(f for f in schema["fields"] if f["name"] == name)
    return found


CASES = [
    # (what changed, new reads old (backward), old reads new (forward))
    ("field added with a default", lambda s: s["fields"].append({"name": "channel", "type": "string",
                                                                 "default": "web"}), True, True),
    ("field added without a default", lambda s: s["fields"].append({"name": "channel", "type": "string"}),
     False, True),
    ("field without default removed", lambda s: s["fields"].pop(1), True, False),
    ("field with default removed", lambda s: s["fields"].pop(3), True, True),
    ("int widened to long", lambda s: field(s, "qty").update(type="long"), True, False),
    ("int changed to string", lambda s: field(s, "qty").update(type="string"), False, False),
    ("enum symbol added", lambda s: field(s, "status")["type"]["symbols"].append("LOST"), True, False),
    ("enum symbol and default added", lambda s: field(s, "status")["type"].update(  # old readers had none
        symbols=["UNKNOWN", "OPEN", "DONE", "LOST"], default="UNKNOWN"), True, False),
    ("union branch added", lambda s: field(s, "note").update(type=["null", "string", "int"]), True, False),
    ("field renamed with an alias", lambda s: field(s, "ref").update(name="reference", aliases=["ref"]),
     True, False),
    ("array items widened", lambda s: field(s, "tags").update(type={"type": "array", "items": ["null", "string"]}),
     True, False),
    ("record renamed", lambda s: s.update(name="shop.Purchase"), False, False),
]


@pytest.mark.parametrize(("what", "change", "backward", "forward"), CASES, ids=[c[0] for c in CASES])
def test_resolution_rules(what: str, change: Any, backward: bool, forward: bool) -> None:
    old, new = expand(copy.deepcopy(BASE)), changed(change)
    assert (not can_read(new, old)) is backward, can_read(new, old)
    assert (not can_read(old, new)) is forward, can_read(old, new)
    assert (not incompatibilities("FULL", new, [old])) is (backward and forward)
    assert not incompatibilities("NONE", new, [old])


def test_an_enum_with_a_default_can_grow_both_ways() -> None:
    """Why fluentsync's enums (fluentsync.Stage...) have an UNKNOWN default from their first version."""
    with_default = changed(lambda s: field(s, "status")["type"].update(symbols=["UNKNOWN", "OPEN", "DONE"],
                                                                       default="UNKNOWN"))
    grown = copy.deepcopy(with_default)
    field(grown, "status")["type"]["symbols"].append("LOST")
    assert not incompatibilities("FULL", grown, [with_default])


def test_transitive_levels_check_every_version() -> None:
    v1 = expand(copy.deepcopy(BASE))
    v2 = changed(lambda s: s["fields"].append({"name": "channel", "type": "string", "default": "web"}))
    # v3 drops the default again: it reads v2's data, not v1's
    v3 = changed(lambda s: s["fields"].append({"name": "channel", "type": "string"}))
    assert not incompatibilities("BACKWARD", v3, [v1, v2])
    problems = incompatibilities("BACKWARD_TRANSITIVE", v3, [v1, v2])
    assert len(problems) == 1 and "READER_FIELD_MISSING_DEFAULT_VALUE" in problems[0] and "channel" in problems[0]


def test_shipped_schemas_are_full_transitive_with_their_history() -> None:
    repository = SchemaRepository()
    history: dict[str, list[Any]] = {}
    for path in sorted(Path(SCHEMA_DIR, "history").glob("*.avsc")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        history.setdefault(path.name.split("@")[0], []).append(expand(schema))
    assert history, "no schema history"
    for name, versions in history.items():
        current = expand(repository.get(name).schema)
        assert incompatibilities("FULL_TRANSITIVE", current, versions) == [], name
