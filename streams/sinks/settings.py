"""Configuration of the Batch API sink.

Why a frozen pydantic model: the limits here are contractual (fluent-api.md §5.8: at most 5000 entities
and 10 MB per batch; R31), so a bad value must fail when the workflow config loads, not when the first
batch is refused hours into a file. Frozen because one settings object is shared by every sender task.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fluentsync.connectors.fluent.jobs import MAX_BATCH_BYTES, MAX_BATCH_ENTITIES

__all__ = ["BatchSinkSettings", "JobStrategy"]

JobStrategy = Literal["daily", "per_file", "per_run", "long_running"]


class BatchSinkSettings(BaseModel):
    """How entities are grouped into batches and batches into jobs (R30-R35)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_batch_size: int = Field(default=1000, ge=1, le=MAX_BATCH_ENTITIES)
    """Entities per batch: 1000 by default, 5000 at most (R31)."""
    max_body_bytes: int = Field(default=MAX_BATCH_BYTES, ge=1024, le=MAX_BATCH_BYTES)
    """Serialised body cap; a batch is cut at whichever of the two limits is reached first."""
    linger: float = Field(default=5.0, gt=0)
    """Seconds a partial batch may wait before it is flushed anyway (R32 ``flush_interval``)."""
    max_in_flight: int = Field(default=5, ge=1)
    """Concurrent batch POSTs (R33)."""

    entity_type: str = "INVENTORY"
    action: Literal["UPSERT"] = "UPSERT"
    source: str | None = None
    """Batch ``source``; None means the workflow id (fluent-api.md §5.3)."""
    event: str = "InventoryChanged"
    catalogue_ref: str | None = None

    job_strategy: JobStrategy = "per_file"
    job_max_age: timedelta = Field(default=timedelta(hours=24), ge=timedelta(hours=1))
    """A stored job is reused only while younger than this (and, for ``daily``, on the same UTC date)."""
    job_meta: dict[str, str] = Field(default_factory=dict)
    """Extra ``meta`` for created jobs, e.g. ``{"preprocessing": "skip"}`` for delta feeds (§5.9)."""
    daily_job_name: str = "Daily Inventory - {date}"
    per_file_job_name: str = "Inventory - {file}"
    per_run_job_name: str = "{workflow} run {run}"
    long_running_job_name: str = "{workflow} inventory"

    def source_for(self, workflow: str) -> str:
        return self.source or workflow
