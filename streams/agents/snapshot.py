"""Snapshot delete detection: which baseline keys a full snapshot file no longer contains.

Why stamps in the baseline: a key missing from a snapshot leaves no trace in the stream - nothing
arrives for it. So in snapshot workflows every key a file does contain (accepted, unchanged or rejected)
is stamped in its baseline entry with the file's *generation* (its last-modified time in ms). After the
file settled, the ledger asks every partition to *sweep*: keys stamped with an older generation were not
in the snapshot. Generations only compare as older/newer, so a newer snapshot processed meanwhile never
makes the older one's sweep delete its keys.

Baseline values: a plain digest string in delta workflows (cheapest); ``{"h": digest, "g": generation,
"i": identity}`` in snapshot workflows, where ``identity`` holds the payload's identity fields (e.g.
``skuRef``, ``locationRef``) needed to build a soft-delete entity for a key that no longer arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

__all__ = ["digest_of", "generation_of", "identity", "missing_keys", "stamped"]


def digest_of(value: Any) -> str | None:
    """The baseline digest of a table value of either form."""
    if value is None or isinstance(value, str):
        return value
    digest = value.get("h")
    return digest if isinstance(digest, str) else None


def generation_of(batch: Mapping[str, Any]) -> int | None:
    """A record batch's snapshot generation: its file's last-modified time in milliseconds."""
    modified = batch.get("last_modified")
    if isinstance(modified, datetime):
        return int(modified.timestamp() * 1000)
    return int(modified) if isinstance(modified, int) else None


def identity(payload: Mapping[str, Any] | None, fields: Iterable[str]) -> dict[str, Any] | None:
    if payload is None:
        return None
    return {field: payload[field] for field in fields if payload.get(field) is not None}


def stamped(old: Any, digest: str | None, generation: int, ident: dict[str, Any] | None) -> dict[str, Any]:
    """The new value of a key seen in snapshot ``generation``; ``None`` keeps the old digest/identity."""
    previous = old if isinstance(old, dict) else {"h": old}
    return {"h": digest if digest is not None else previous.get("h"),
            "g": max(generation, int(previous.get("g") or 0)),
            "i": ident if ident else previous.get("i")}


def missing_keys(items: Iterable[tuple[bytes, Any]], partition: int, partitions: int,
                 partition_of: Callable[[bytes, int], int], generation: int) -> list[tuple[bytes, dict[str, Any]]]:
    """Keys of ``partition`` whose last snapshot is older than ``generation`` (absent stamp = older)."""
    missing = []
    for key, value in items:
        if partition_of(key, partitions) != partition:
            continue
        stamp = int(value.get("g") or 0) if isinstance(value, dict) else 0
        if stamp < generation:
            missing.append((key, value if isinstance(value, dict) else {"h": value}))
    return missing
