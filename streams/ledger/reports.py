"""The ``RunReport`` of a settled run, built in one place for the two places that settle runs.

A file is settled by the ledger agent once all its record batches are counted. A record batch that
holds *every* record of its "file" (``RecordBatch.whole_file``: a webhook whose records share one
partition and all parsed) is settled by the records agent itself, without the ledger's round trips:
the two reports must be the same shape and mean the same thing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["RunCounts", "run_report"]


@dataclass(frozen=True)
class RunCounts:
    record_count: int
    accepted: int
    rejected: int  #: dead-lettered at any stage, parse failures included
    unchanged: int
    fluent_batches: int
    job_ids: list[str] = field(default_factory=list)
    first_errors: list[str] = field(default_factory=list)
    processing_ms: int | None = None


def run_report(workflow: str, origin: dict[str, Any], counts: RunCounts, *, dead_letter_topic: str,
               settled_at: datetime, report_id: str | None = None) -> dict[str, Any]:
    """The ``fluentsync.reports.RunReport`` value; ``origin`` has ``run_id``, ``file``, ``source_uri``.

    ``report_id`` defaults to a random id; pass a deterministic one where a crash may publish the same
    report twice, so consumers can drop the copy.
    """
    ms = counts.processing_ms
    return {
        "report_id": report_id or uuid.uuid4().hex, "workflow": workflow, "run_id": origin.get("run_id"),
        "file": origin.get("file"), "source_uri": origin.get("source_uri"),
        "record_count": counts.record_count, "accepted": counts.accepted, "rejected": counts.rejected,
        "unchanged": counts.unchanged, "fluent_batches": counts.fluent_batches, "job_ids": counts.job_ids,
        "first_errors": counts.first_errors, "processing_ms": ms,
        "records_per_second": (1000.0 * counts.record_count / ms) if ms else None,
        "dead_letter_topic": dead_letter_topic, "settled_at": settled_at,
    }
