"""Which attempt a dead letter is: the redrive history a ``RecordBatch`` carries for its records.

``fluentsync dlq redrive`` re-publishes dead-lettered records as ``RecordBatch`` messages whose
``redrive`` field names, per record, the dead letter it came from, that letter's attempt and every
failure so far. The records agent asks :func:`letter_lineage` when it dead-letters a record again, so
the new letter says "attempt 2, failed before at MAP because ..." instead of looking like a first
failure. It lives here, not in the agent, so that the agent's change stays one call and the rule is
unit-testable without Faust.

The new letter's id is deterministic (a batch redelivered after a crash yields the same letters, which
consumers may drop as duplicates) but differs from the redriven letter's id and from the ids of other
redrives of the same record: it includes the redrive id.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Lineage", "letter_id", "letter_lineage"]


@dataclass(frozen=True)
class Lineage:
    """The ``attempt`` and ``history`` a new dead letter carries, and the redrive it came from."""

    attempt: int = 1
    history: list[dict[str, Any]] = field(default_factory=list)
    redrive_id: str | None = None


def letter_lineage(batch: Mapping[str, Any], record_index: int) -> Lineage:
    """The lineage of record ``record_index`` of ``batch`` (a first failure unless the batch is a redrive)."""
    redrive = batch.get("redrive")
    if not redrive:
        return Lineage()
    for entry in redrive.get("records") or []:
        if entry["record_index"] == record_index:
            return Lineage(int(entry["attempt"]) + 1, [dict(h) for h in entry.get("history") or []],
                           str(redrive["redrive_id"]))
    return Lineage(redrive_id=str(redrive["redrive_id"]))


def letter_id(workflow: str, file_id: str, record_index: int, stage: str, lineage: Lineage) -> str:
    """Deterministic dead-letter id; a redriven record's letters get ids of their own (see the module doc)."""
    name = f"{workflow}|{file_id}|{record_index}|{stage}"
    if lineage.redrive_id is not None:
        name += f"|redrive:{lineage.redrive_id}"
    return uuid.uuid5(uuid.NAMESPACE_URL, name).hex
