"""Merging the Kafka view and several workers' ``/status`` into one pipeline status."""

from __future__ import annotations

from fluentsync.streams.observability.status_merge import merge
from tests.unit.observability.status_samples import APP, in_flight, kafka_view, worker_snapshot


def test_counters_are_summed_and_files_listed_from_every_worker() -> None:
    one = worker_snapshot("h1:1", accepted=100, rejected=2, partitions=[0, 1], files=[in_flight("a.csv", 50, 200)],
                          jobs=[{"job_id": "J1", "key": "daily:2026-12-01", "created_at": "2026-12-01T08:00:00Z",
                                 "state": "open", "batches": 3, "fluent_status": "OPEN"}])
    two = worker_snapshot("h2:7", accepted=40, rejected=1, partitions=[2], files=[in_flight("b.csv", 5, None)],
                          jobs=[{"job_id": "J1", "key": "daily:2026-12-01", "created_at": "2026-12-01T08:00:00Z",
                                 "state": "open", "batches": 3, "fluent_status": None}])
    merged = merge(kafka_view(lag=7, dlq={"MAP": 2, "PARSE": 1}),
                   [{"url": "http://h1:6066", "snapshot": one}, {"url": "http://h2:6066", "snapshot": two}])
    view = merged["workflows"]["inventory"]
    assert (view["records"]["accepted"], view["records"]["rejected"]) == (140, 3)
    assert view["batches"] == {"sent": 6, "pending": 4, "complete": 2, "failed": 0}
    assert view["in_flight"]["records"] == 20
    assert [(f["path"], f["worker"]) for f in view["files_in_flight"]] == [("a.csv", "h1:1"), ("b.csv", "h2:7")]
    assert view["files_in_flight_total"] == 2
    assert view["jobs"] == [{"job_id": "J1", "key": "daily:2026-12-01", "created_at": "2026-12-01T08:00:00Z",
                             "state": "open", "batches": 3, "fluent_status": "OPEN"}]  # one shared job table
    assert view["partitions"] == {"h1:1": {"records.inventory": [0, 1], "files.inventory": [0, 1]},
                                  "h2:7": {"records.inventory": [2], "files.inventory": [2]}}
    assert view["lag"]["total"] == 7 and view["dlq"]["by_stage"] == {"MAP": 2, "PARSE": 1}
    assert view["reports"][0]["accepted"] == 196
    assert [(w["id"], w["partitions"], w["error"]) for w in merged["workers"]] == [("h1:1", 4, None), ("h2:7", 2, None)]
    assert merged["extractions"]["orders"]["watermark"]["age_s"] == 960.0


def test_a_file_answered_by_two_workers_keeps_the_more_advanced_one() -> None:
    behind = worker_snapshot("h1:1", files=[in_flight("a.csv", 10, 200)])
    ahead = worker_snapshot("h2:2", files=[in_flight("a.csv", 150, 200)])
    view = merge(None, [{"url": "u1", "snapshot": behind}, {"url": "u2", "snapshot": ahead}])["workflows"]["inventory"]
    assert [(f["records_done"], f["worker"]) for f in view["files_in_flight"]] == [(150, "h2:2")]


def test_errors_are_interleaved_newest_first_and_tagged() -> None:
    one = worker_snapshot("h1:1", errors=[{"time": "2026-12-01T09:00:00Z", "level": "WARNING", "message": "old"}])
    two = worker_snapshot("h2:2", errors=[{"time": "2026-12-01T09:30:00Z", "level": "ERROR", "message": "new"}])
    view = merge(None, [{"url": "u1", "snapshot": one}, {"url": "u2", "snapshot": two}])["workflows"]["inventory"]
    assert [(e["message"], e["worker"]) for e in view["errors"]] == [("new", "h2:2"), ("old", "h1:1")]


def test_unreachable_and_foreign_workers_are_listed_not_merged() -> None:
    stray = worker_snapshot("h9:9", app_id="another-app", accepted=999)
    merged = merge(kafka_view(), [{"url": "http://down:6066", "error": "ConnectError: refused"},
                                  {"url": "http://stray:6066", "snapshot": stray}], app_id=APP)
    down, foreign = merged["workers"]
    assert down == {"url": "http://down:6066", "id": None, "error": "ConnectError: refused"}
    assert foreign["id"] == "h9:9" and "another-app" in foreign["error"]
    assert merged["workflows"]["inventory"]["records"] == {}  # nothing of the stray worker was counted
    assert merged["workflows"]["inventory"]["lag"]["total"] == 0  # Kafka still shows


def test_workflow_filter_and_a_failed_workflow_status() -> None:
    snapshot = worker_snapshot("h1:1", accepted=5)
    snapshot["workflows"]["orders"] = {"error": "KeyError: 'x'"}
    merged = merge(kafka_view(), [{"url": "u", "snapshot": snapshot}], workflows=["orders"])
    assert list(merged["workflows"]) == ["orders"]
    [error] = merged["workflows"]["orders"]["errors"]
    assert "KeyError" in error["message"] and error["worker"] == "h1:1"


def test_without_kafka_extractions_come_from_the_workers() -> None:
    snapshot = worker_snapshot("h1:1")
    snapshot["extractions"] = {"orders": {"state": "RUNNING", "watermark": None, "errors": [
        {"time": "2026-12-01T09:00:00Z", "level": "ERROR", "message": "boom", "scope": "extraction"}],
        "last_run_here": {"run_id": "orders-9", "status": "FAILED", "nodes": 0, "ended_at": None}}}
    merged = merge(None, [{"url": "u", "snapshot": snapshot}])
    orders = merged["extractions"]["orders"]
    assert orders["state"] == "RUNNING" and orders["runs_here"][0]["worker"] == "h1:1"
    assert orders["errors"][0]["message"] == "boom"
    assert merged["bootstrap"] is None and merged["workers"][0]["bootstrap"] == "127.0.0.1:9092"
