"""Topic names per workflow: one place, so every component and the docs agree.

- ``files.<wf>``: ``fluentsync.files.FileEvent``, keyed by workflow + file path (a JSON array). A
  file's life cycle; all versions of one path share a partition, so one worker owns a file.
- ``records.<wf>``: ``fluentsync.records.RecordBatch``, keyed by the batch's first record key. Parsed
  records, batched per partition of their record keys.
- ``dlq.<wf>``: ``fluentsync.dlq.DeadLetter``. Every rejected record, with stage and reason.
- ``ledger.<wf>``: ``fluentsync.ledger.BatchOutcome``, keyed like ``files.<wf>``. The outcomes of every
  record of one record batch (accepted, rejected, unchanged), counted per file by the ledger agent.
- ``reports.<wf>``: ``fluentsync.reports.RunReport``, keyed like ``files.<wf>``. One report per settled
  file: counts by outcome, Fluent jobs and batches, throughput, first errors (``fluentsync reports``).
- ``webhooks.<wf>``: ``fluentsync.webhooks.WebhookEvent``, keyed by event id (webhook workflows only).
  Every verified webhook request byte for byte, published before the sender got its 2xx.

An optional prefix (e.g. ``prod.``) namespaces several installations on one cluster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["WorkflowTopics", "validate_workflow_id"]

_WORKFLOW_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")


def validate_workflow_id(workflow: str) -> str:
    """Workflow ids become topic names and state-key prefixes: letters, digits, '-' and '_' only."""
    if not _WORKFLOW_ID.match(workflow):
        raise ValueError(
            f"invalid workflow id {workflow!r}: use 1-100 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return workflow


@dataclass(frozen=True)
class WorkflowTopics:
    workflow: str
    files: str
    records: str
    dlq: str
    ledger: str
    reports: str
    webhooks: str

    @classmethod
    def of(cls, workflow: str, prefix: str = "") -> WorkflowTopics:
        validate_workflow_id(workflow)
        return cls(workflow, f"{prefix}files.{workflow}", f"{prefix}records.{workflow}",
                   f"{prefix}dlq.{workflow}", f"{prefix}ledger.{workflow}", f"{prefix}reports.{workflow}",
                   f"{prefix}webhooks.{workflow}")

    def all(self) -> list[str]:
        """The topics every workflow has (``webhooks`` exists only for webhook workflows)."""
        return [self.files, self.records, self.dlq, self.ledger, self.reports]
