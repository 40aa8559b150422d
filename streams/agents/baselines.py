"""Moving a record key's dedupe baseline once Fluent accepted it (R23), in one place for both paths.

A key's baseline moves when its record is *accepted*: on the 2xx when no batch status is awaited, else on
its batch's verdict, which may come after a restart from the ``submitted-batches`` table. Rejected keys
keep the old value, so the next file sends them again. Value forms: :mod:`.snapshot`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fluentsync.streams.agents.snapshot import identity, stamped

__all__ = ["accept", "stamp_seen"]


def accept(baseline: Any, key: bytes, digest: str | None, *, delete: bool = False, generation: int | None = None,
           payload: Mapping[str, Any] | None = None, fields: Iterable[str] = ()) -> None:
    """The baseline of an accepted record: its digest (stamped with the snapshot ``generation`` in
    snapshot workflows); an accepted soft delete removes the key. Call inside the key's partition."""
    if delete:
        baseline.pop(key, None)
    elif generation is None:
        baseline[key] = digest
    else:
        baseline[key] = stamped(baseline.get(key), digest, generation, identity(payload, fields))


def stamp_seen(baseline: Any, key: bytes, payload: Mapping[str, Any] | None, generation: int,
               fields: Iterable[str]) -> None:
    """Snapshot workflows: a key the file contained but that was not sent (unchanged or invalid) keeps
    its digest and gets the file's generation, so the sweep does not take it for deleted."""
    baseline[key] = stamped(baseline.get(key), None, generation, identity(payload, fields))
