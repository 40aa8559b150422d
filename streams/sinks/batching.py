"""Buffers that cut entities into batches by count and by serialised size, and the result types.

Why estimate bytes here rather than let the client refuse: the client rejects a body over 10 MB only
after building it (fluent-api.md §5.8), when the batch can no longer be cut cleanly. Each entity's
compact JSON size is measured once on ``add``; a fixed per-entity allowance covers the ``retailerId``
the client stamps into every entity, and a fixed envelope allowance covers the batch header.

Why tokens: the sink never interprets what the caller hands in next to an entity (record key, offset,
index in file). It returns exactly those tokens once Fluent has acknowledged the batch, so the caller can
move its dedupe baseline and commit offsets for precisely the records that made it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from fluentsync import jsonbytes

__all__ = ["BatchResult", "Buffer", "entity_bytes"]

T = TypeVar("T")

ENTITY_OVERHEAD = 48
"""Bytes reserved per entity: the separating comma plus a ``"retailerId":<id>`` stamped by the client."""
ENVELOPE_OVERHEAD = 512
"""Bytes reserved for ``{action, entityType, source, event, catalogueRef, entities: []}``."""


def entity_bytes(entity: Mapping[str, Any]) -> int:
    """Compact UTF-8 JSON size of ``entity`` plus :data:`ENTITY_OVERHEAD` (as the client serialises it)."""
    return len(jsonbytes.dumps_strict(entity)) + ENTITY_OVERHEAD


@dataclass(frozen=True)
class BatchResult(Generic[T]):
    """A batch Fluent acknowledged (2xx with a batch id): its tokens may now be committed."""

    job_id: str
    batch_id: str
    tokens: list[T]
    status: str
    job_key: str = ""


@dataclass
class Buffer(Generic[T]):
    """The pending entities of one job key; ``started`` is the loop time of the oldest entity."""

    job_key: str
    entities: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[T] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    nbytes: int = 0
    started: float | None = None

    def __len__(self) -> int:
        return len(self.entities)

    def fits(self, size: int, max_entities: int, max_bytes: int) -> bool:
        return len(self.entities) < max_entities and ENVELOPE_OVERHEAD + self.nbytes + size <= max_bytes

    def append(self, entity: dict[str, Any], token: T, size: int, now: float) -> None:
        if not self.entities:
            self.started = now
        self.entities.append(entity)
        self.tokens.append(token)
        self.sizes.append(size)
        self.nbytes += size

    def take(self) -> Buffer[T]:
        """Move the contents into a new buffer and reset this one."""
        taken = Buffer(self.job_key, self.entities, self.tokens, self.sizes, self.nbytes, self.started)
        self.entities, self.tokens, self.sizes, self.nbytes, self.started = [], [], [], 0, None
        return taken


def fits_alone(size: int, max_bytes: int) -> bool:
    return ENVELOPE_OVERHEAD + size <= max_bytes
