"""Ledger accounting for one file path: pure functions over a JSON-able table value.

Why per path, with versions inside: the ledger table is keyed like ``files.<wf>`` (workflow + path), so
a file's ``COMPLETED`` event (which carries its record count) and its record batches' outcomes
(``ledger.<wf>``, published by the records agent) land on the same partition and the same worker.

The rules that make "every record has exactly one outcome" checkable:

- A ``BatchOutcome`` is counted once per ``batch_id``: a batch replayed after a crash (same id, same
  records) brings no second set of outcomes. The caller keeps the ids it has counted (a second table,
  one key per batch, so no value grows with the file).
- Records the parser dead-lettered are rejected outcomes too; ``COMPLETED`` reports them as
  ``error_count``.
- The file is settled when the outcomes reach ``record_count``. Outcomes may arrive before
  ``COMPLETED`` (the records agent is faster than the files agent's round trip): they are kept and
  counted when the total becomes known. A settled file stays settled (no second ``SETTLED``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["FIRST_ERRORS", "FileAccount", "FileLedger"]

FIRST_ERRORS = 10  #: reasons kept per file for reports
MAX_VERSIONS = 10  #: versions of one path kept (oldest settled ones are forgotten first)


@dataclass
class FileAccount:
    """Outcome counts of one file version."""

    record_count: int | None = None  #: from COMPLETED; None until then
    parse_rejected: int = 0  #: records the parser dead-lettered (COMPLETED ``error_count``)
    accepted: int = 0
    rejected: int = 0
    unchanged: int = 0
    batches: int = 0  #: record batches counted
    fluent_batches: int = 0  #: Fluent batches / events that acknowledged records
    job_ids: list[str] = field(default_factory=list)
    first_errors: list[str] = field(default_factory=list)
    first_seen_ms: int | None = None  #: earliest ``started_at`` of a counted batch
    last_seen_ms: int | None = None  #: latest outcome time
    completed: dict[str, Any] | None = None  #: the COMPLETED event (the file's reference for SETTLED)
    settled: bool = False

    @property
    def outcomes(self) -> int:
        return self.accepted + self.rejected + self.unchanged + self.parse_rejected

    @property
    def is_complete(self) -> bool:
        return self.record_count is not None and self.outcomes >= self.record_count

    def add_errors(self, errors: list[str]) -> None:
        room = FIRST_ERRORS - len(self.first_errors)
        if room > 0:
            self.first_errors.extend(errors[:room])


class FileLedger:
    """The table value of one path: ``{"versions": {version: FileAccount as dict}}``."""

    def __init__(self, value: dict[str, Any] | None = None) -> None:
        versions = (value or {}).get("versions", {})
        self.versions: dict[str, FileAccount] = {v: FileAccount(**a) for v, a in versions.items()}

    def to_value(self) -> dict[str, Any]:
        return {"versions": {v: asdict(a) for v, a in self.versions.items()}}

    def account(self, version: str) -> FileAccount:
        account = self.versions.get(version)
        if account is None:
            account = self.versions[version] = FileAccount()
            while len(self.versions) > MAX_VERSIONS:
                oldest = next((v for v, a in self.versions.items() if a.settled), next(iter(self.versions)))
                del self.versions[oldest]
        return account

    def completed(self, version: str, event: dict[str, Any]) -> FileAccount:
        """Apply a file's ``COMPLETED`` event (its total and the parser's rejections)."""
        account = self.account(version)
        if account.record_count is None:
            account.record_count = int(event.get("record_count") or 0)
            account.parse_rejected = int(event.get("error_count") or 0)
            account.add_errors(list(event.get("first_errors") or []))
            account.completed = event
        return account

    def batch(self, version: str, outcome: dict[str, Any]) -> FileAccount:
        """Apply one ``BatchOutcome`` (the caller made sure its ``batch_id`` was not counted before)."""
        account = self.account(version)
        account.accepted += int(outcome.get("accepted") or 0)
        account.rejected += int(outcome.get("rejected") or 0)
        account.unchanged += int(outcome.get("unchanged") or 0)
        account.batches += 1
        account.fluent_batches += len(outcome.get("fluent_batch_ids") or [])
        for job in outcome.get("job_ids") or []:
            if job not in account.job_ids:
                account.job_ids.append(job)
        account.add_errors(list(outcome.get("first_errors") or []))
        started, occurred = _millis(outcome.get("started_at")), _millis(outcome.get("occurred_at"))
        if started is not None:
            account.first_seen_ms = started if account.first_seen_ms is None else min(account.first_seen_ms, started)
        if occurred is not None:
            account.last_seen_ms = occurred if account.last_seen_ms is None else max(account.last_seen_ms, occurred)
        return account


def _millis(value: Any) -> int | None:
    """Avro timestamp-millis decode to datetimes; tests may pass ints."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    return int(value.timestamp() * 1000)
