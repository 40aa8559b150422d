"""Reading a worker's live state for ``GET /status``: files in flight, Fluent jobs, counters.

Pure functions over what the runtimes hold, so they can be tested with plain dicts in place of Faust
tables (a table is read through ``items()`` and ``get()`` only; nothing here writes).

Why files in flight come from two tables: the ``processed-files-<wf>`` table says which versions this
worker is publishing (``in_progress``) or has published and not yet archived (``published``); the
``ledger-<wf>`` table, keyed the same way and co-partitioned, holds the outcome counts of each version
and whether it settled. A Faust RocksDB table iterates only the partitions this worker owns, so each
worker lists its own files and ``fluentsync status`` merges them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from fluentsync.streams.ledger import FileLedger

__all__ = ["FILES_SHOWN", "JOBS_SHOWN", "TableLike", "files_in_flight", "job_entries", "percent"]

FILES_SHOWN = 50  #: files in flight listed per workflow (the total is reported too)
JOBS_SHOWN = 20  #: newest jobs listed per workflow
ACTIVE = ("in_progress", "published")


class TableLike(Protocol):
    def items(self) -> Iterable[tuple[Any, Any]]: ...

    def get(self, key: Any, default: Any = None) -> Any: ...


def percent(done: int, expected: int | None) -> float | None:
    """Share of ``expected`` records with an outcome, 0-100 (None while the total is unknown)."""
    if expected is None:
        return None
    if expected <= 0:
        return 100.0
    return round(min(100.0, 100.0 * done / expected), 1)


def _identity(key: Any) -> dict[str, Any]:
    """The files/ledger key is ``[workflow, source, location, path]`` as JSON."""
    try:
        raw = key.decode() if isinstance(key, bytes) else str(key)
        _, source, location, path = json.loads(raw)
        return {"source": source, "location": location, "path": path}
    except (ValueError, TypeError):
        return {"source": None, "location": None, "path": str(key)}


def files_in_flight(files: TableLike, ledger: TableLike | None, *,
                    limit: int = FILES_SHOWN) -> tuple[list[dict[str, Any]], int]:
    """``(entries, total)``: versions being published, or published and not yet settled, oldest first.

    Without a ledger (a workflow with no target) a published file is done, so only ``in_progress``
    versions count. Each entry: identity, ``state`` (``publishing`` or ``processing``), records
    expected (known once the file's COMPLETED event was counted), records with an outcome and the
    percentage, outcome counts and when the version last changed.
    """
    found: list[dict[str, Any]] = []
    for key, value in files.items():
        versions = (value or {}).get("versions") or {}
        active = {v: e for v, e in versions.items()
                  if e.get("status") == "in_progress" or (ledger is not None and e.get("status") == "published")}
        if not active:
            continue
        accounts = FileLedger(ledger.get(key)).versions if ledger is not None else {}
        for version, entry in active.items():
            account = accounts.get(version)
            if account is not None and account.settled:
                continue  # settled: only the archive move is left
            expected = account.record_count if account is not None else None
            done = account.outcomes if account is not None else 0
            completed = (account.completed or {}) if account is not None else {}
            found.append({
                **_identity(key), "version": version, "uri": completed.get("source_uri"),
                "state": "publishing" if entry.get("status") == "in_progress" else "processing",
                "run_id": entry.get("run_id"), "records_expected": expected, "records_done": done,
                "percent": percent(done, expected),
                "accepted": account.accepted if account else 0,
                "rejected": (account.rejected + account.parse_rejected) if account else 0,
                "unchanged": account.unchanged if account else 0,
                "job_ids": list(account.job_ids) if account else [],
                "first_errors": list(account.first_errors[:3]) if account else [],
                "since": entry.get("updated_at"),
            })
    found.sort(key=lambda f: (f["since"] or "", f["path"] or ""))
    return found[:limit], len(found)


def job_entries(table: TableLike, workflow: str, now: datetime | None = None, *,
                limit: int = JOBS_SHOWN) -> list[dict[str, Any]]:
    """The workflow's Fluent jobs from its job table (``<workflow>|<strategy key>`` -> job record), newest
    first. ``state`` is ``open`` while the job may take batches (not expired), else ``expired``;
    Fluent's own status is added by the caller (it needs an API call)."""
    now = now or datetime.now(UTC)
    prefix = f"{workflow}|"
    jobs: list[dict[str, Any]] = []
    for key, value in table.items():
        if not isinstance(key, str) or not key.startswith(prefix) or not value:
            continue
        try:
            expires = datetime.fromisoformat(value["expires_at"])
        except (KeyError, TypeError, ValueError):
            expires = None
        jobs.append({"job_id": str(value.get("job_id")), "key": key[len(prefix):],
                     "created_at": value.get("created_at"), "expires_at": value.get("expires_at"),
                     "batches": int(value.get("batch_count", 0)),
                     "state": "open" if expires is None or now < expires else "expired"})
    jobs.sort(key=lambda j: j["created_at"] or "", reverse=True)
    return jobs[:limit]
