"""Files in flight and Fluent jobs read from the worker's tables (plain dicts stand in for Faust tables)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fluentsync.streams.ledger import FileLedger
from fluentsync.streams.observability.status_runtime import files_in_flight, job_entries, percent


def key(path: str) -> bytes:
    return json.dumps(["inventory", "local", "/inbox", path], separators=(",", ":")).encode()


def versions(**status: str) -> dict[str, Any]:
    return {"versions": {v: {"status": s, "run_id": f"run-{v}", "updated_at": f"2026-12-01T10:00:0{i}+00:00"}
                         for i, (v, s) in enumerate(status.items())}}


def ledger_value(version: str, *, record_count: int | None, accepted: int = 0, rejected: int = 0,
                 parse_rejected: int = 0, settled: bool = False) -> dict[str, Any]:
    ledger = FileLedger()
    if record_count is not None:
        ledger.completed(version, {"record_count": record_count, "error_count": parse_rejected,
                                   "source_uri": f"file:///inbox/{version}", "first_errors": ["line 7: bad"]})
    account = ledger.batch(version, {"accepted": accepted, "rejected": rejected, "unchanged": 0,
                                     "job_ids": ["J1"], "first_errors": []})
    account.settled = settled
    return ledger.to_value()


def test_percent() -> None:
    assert (percent(50, 200), percent(0, None), percent(0, 0), percent(300, 200)) == (25.0, None, 100.0, 100.0)


def test_files_publishing_processing_and_settled() -> None:
    files = {
        key("incoming/a.csv"): versions(v1="published"),
        key("incoming/b.csv"): versions(v2="in_progress"),
        key("incoming/c.csv"): versions(v3="published"),  # settled, waiting for its archive move
        key("incoming/d.csv"): versions(v4="archived", v5="failed"),
    }
    ledger = {
        key("incoming/a.csv"): ledger_value("v1", record_count=200, accepted=97, rejected=1, parse_rejected=2),
        key("incoming/c.csv"): ledger_value("v3", record_count=10, accepted=10, settled=True),
    }
    entries, total = files_in_flight(files, ledger)
    assert total == 2
    a, b = entries
    assert (a["path"], a["state"], a["records_expected"], a["records_done"], a["percent"]) == \
        ("incoming/a.csv", "processing", 200, 100, 50.0)
    assert (a["accepted"], a["rejected"], a["job_ids"], a["first_errors"]) == (97, 3, ["J1"], ["line 7: bad"])
    assert (a["uri"], a["run_id"], a["source"], a["location"]) == ("file:///inbox/v1", "run-v1", "local", "/inbox")
    assert (b["path"], b["state"], b["records_expected"], b["percent"]) == ("incoming/b.csv", "publishing", None, None)


def test_outcomes_before_the_total_is_known() -> None:
    files = {key("x.csv"): versions(v1="published")}
    ledger = {key("x.csv"): ledger_value("v1", record_count=None, accepted=30)}
    [entry], _ = files_in_flight(files, ledger)
    assert (entry["records_done"], entry["records_expected"], entry["percent"]) == (30, None, None)


def test_without_a_ledger_a_published_file_is_done_and_the_list_is_bounded() -> None:
    files = {key(f"f{i}.csv"): versions(v="in_progress") for i in range(5)}
    files[key("done.csv")] = versions(v="published")
    entries, total = files_in_flight(files, None, limit=3)
    assert total == 5 and len(entries) == 3 and all(e["state"] == "publishing" for e in entries)


def test_jobs_of_one_workflow_newest_first() -> None:
    table = {
        "inventory|daily:2026-11-30": {"job_id": "11", "created_at": "2026-11-30T00:00:01+00:00",
                                       "expires_at": "2026-11-30T23:59:59+00:00", "batch_count": 40},
        "inventory|daily:2026-12-01": {"job_id": "12", "created_at": "2026-12-01T00:00:01+00:00",
                                       "expires_at": "2026-12-01T23:59:59+00:00", "batch_count": 3},
        "inventory-eu|daily:2026-12-01": {"job_id": "99", "created_at": "2026-12-01T00:00:01+00:00",
                                          "expires_at": "2026-12-01T23:59:59+00:00"},
    }
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    jobs = job_entries(table, "inventory", now)
    assert [(j["job_id"], j["key"], j["state"], j["batches"]) for j in jobs] == [
        ("12", "daily:2026-12-01", "open", 3), ("11", "daily:2026-11-30", "expired", 40)]
    assert len(job_entries(table, "inventory", now, limit=1)) == 1
