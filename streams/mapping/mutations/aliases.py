"""Attribution of a batched (aliased) GraphQL response to its aliases.

A batch request sends several mutations under aliases ``<mutation>1..n``; :func:`parse_aliased_response`
splits the response back into one :class:`AliasOutcome` per alias, so callers can tell which records
succeeded. It depends on nothing else in the package.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AliasOutcome", "AliasedResponse", "parse_aliased_response"]


@dataclass(slots=True)
class AliasOutcome:
    alias: str
    success: bool
    data: Any
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class AliasedResponse:
    """``{executed, failed, results, errors, allSucceeded, allFailed}``; ``errors`` carry ``alias``."""

    executed: int
    failed: int
    results: list[AliasOutcome]
    errors: list[dict[str, Any]]

    @property
    def all_succeeded(self) -> bool:
        return self.executed > 0 and self.failed == 0

    @property
    def all_failed(self) -> bool:
        return self.executed > 0 and self.failed == self.executed

    @property
    def succeeded(self) -> int:
        return self.executed - self.failed


def _alias_order(alias: str, mutation: str | None) -> tuple[int, str]:
    if mutation and alias.startswith(mutation) and alias[len(mutation):].isdigit():
        return int(alias[len(mutation):]), alias
    return 1 << 30, alias


def parse_aliased_response(response: Mapping[str, Any], mutation: str | None = None,
                           count: int | None = None) -> AliasedResponse:
    """Attribute a batched response to its aliases.

    Errors go to the alias in ``path[0]``; an alias whose data is null and that has no error is a failure too
    ("likely validation error"). Aliases are ``<mutation>1..count`` when both are given, otherwise every key of
    ``data`` plus every ``path[0]`` seen. Errors without a path are reported with ``alias: None`` and fail only
    aliases whose data is null.
    """
    data = response.get("data")
    data = data if isinstance(data, Mapping) else {}
    raw_errors = response.get("errors")
    raw_errors = raw_errors if isinstance(raw_errors, list) else []
    if mutation and count is not None:
        aliases = [f"{mutation}{i}" for i in range(1, count + 1)]
    else:
        seen = dict.fromkeys(str(k) for k in data)
        for err in raw_errors:
            p = err.get("path") if isinstance(err, Mapping) else None
            if isinstance(p, list) and p:
                seen.setdefault(str(p[0]), None)
        aliases = sorted(seen, key=lambda a: _alias_order(a, mutation))
    by_alias: dict[str, list[dict[str, Any]]] = {a: [] for a in aliases}
    errors: list[dict[str, Any]] = []
    unattributed: list[dict[str, Any]] = []
    for err in raw_errors:
        e = dict(err) if isinstance(err, Mapping) else {"message": str(err)}
        p = e.get("path")
        alias = str(p[0]) if isinstance(p, list) and p else None
        entry = {"alias": alias, "message": str(e.get("message", "")), "path": p,
                 "extensions": e.get("extensions")}
        errors.append(entry)
        if alias is None:
            unattributed.append(entry)
        else:
            by_alias.setdefault(alias, []).append(entry)
            if alias not in aliases:
                aliases.append(alias)
    results: list[AliasOutcome] = []
    failed = 0
    for alias in aliases:
        value = data.get(alias)
        own = by_alias.get(alias, [])
        if value is None and not own:
            synthetic = {"alias": alias, "message": f"No data returned for alias '{alias}' (likely validation error)",
                         "path": [alias], "extensions": None}
            own = [synthetic, *unattributed] if unattributed else [synthetic]
            errors.append(synthetic)
        ok = value is not None and not own
        failed += not ok
        results.append(AliasOutcome(alias, ok, value, own))
    return AliasedResponse(len(aliases), failed, results, errors)
