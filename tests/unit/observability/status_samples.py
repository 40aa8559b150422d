"""Worker snapshots and a Kafka view as the status modules produce them, for the merge and render tests."""

from __future__ import annotations

from typing import Any

APP = "fluentsync-test"


def worker_snapshot(worker_id: str, *, app_id: str = APP, accepted: int = 0, rejected: int = 0,
                    files: list[dict[str, Any]] | None = None, jobs: list[dict[str, Any]] | None = None,
                    errors: list[dict[str, Any]] | None = None, partitions: list[int] | None = None,
                    batches: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "kind": "worker", "version": 1, "generated_at": "2026-12-01T10:00:00Z",
        "worker": {"id": worker_id, "host": worker_id.split(":")[0], "pid": 1, "app_id": app_id,
                   "bootstrap": "127.0.0.1:9092", "started_at": "2026-12-01T09:00:00Z", "uptime_s": 3600.0,
                   "leader": worker_id.endswith(":1"), "ops": None},
        "workflows": {"inventory": {
            "source": "local", "target": "batch",
            "partitions": {"records.inventory": partitions or [], "files.inventory": partitions or []},
            "records": {"published": accepted + rejected, "accepted": accepted, "rejected": rejected,
                        "unchanged": 0, "parse_rejected": 0},
            "in_flight": {"records": 10, "buffered": 0, "sending": 1, "awaiting_status": 2},
            "batches": batches or {"sent": 3, "pending": 2, "complete": 1, "failed": 0},
            "files_in_flight": files or [], "files_in_flight_total": len(files or []),
            "jobs": jobs or [], "errors": errors or [],
        }},
        "extractions": {},
        "errors": [],
    }


def in_flight(path: str, done: int, expected: int | None, since: str = "2026-12-01T09:59:00Z") -> dict[str, Any]:
    return {"source": "local", "location": "/inbox", "path": path, "version": "v1", "uri": f"file:///inbox/{path}",
            "state": "processing" if expected is not None else "publishing", "run_id": "r1",
            "records_expected": expected, "records_done": done,
            "percent": None if expected is None else round(100 * done / expected, 1),
            "accepted": done, "rejected": 0, "unchanged": 0, "job_ids": [], "first_errors": [], "since": since}


def kafka_view(*, lag: int = 0, dlq: dict[str, int] | None = None) -> dict[str, Any]:
    stages = dlq or {}
    return {
        "kind": "kafka", "generated_at": "2026-12-01T10:00:01Z", "bootstrap": "127.0.0.1:9092", "app_id": APP,
        "workflows": {"inventory": {
            "lag": {"total": lag, "topics": {
                "records.inventory": {"lag": lag, "end": 100, "partitions": []},
                "files.inventory": {"lag": 0, "end": 8, "partitions": []}}},
            "dlq": {"total": sum(stages.values()), "by_stage": stages,
                    "latest": [{"time": "2026-12-01T09:58:00Z", "id": "d1", "stage": "MAP",
                                "reason": "qty: not an integer: '12.5'", "record_key": '["S-13","L-1"]',
                                "where": "incoming/a.csv:15", "attempt": 1}] if stages else []},
            "reports": [{"settled_at": "2026-12-01T09:30:00Z", "run_id": "r0", "path": "incoming/old.csv",
                         "source_uri": "file:///inbox/incoming/old.csv", "records": 200, "accepted": 196,
                         "rejected": 4, "unchanged": 0, "fluent_batches": 4, "job_ids": ["J1"],
                         "processing_ms": 2000, "records_per_second": 100.0, "first_errors": []}],
        }},
        "extractions": {"orders": {
            "state": "COMPLETED", "schedule": "*/15 * * * *", "entity": "orders", "topic": "outbound.orders",
            "last_run": {"run_id": "orders-1", "status": "COMPLETED", "stage": "done", "triggered_by": "schedule",
                         "created_at": "2026-12-01T09:45:00Z", "started_at": "2026-12-01T09:45:01Z",
                         "ended_at": "2026-12-01T09:45:09Z", "nodes": 1234, "pages": 7, "duration_ms": 8000,
                         "error": None},
            "last_finished": None,
            "watermark": {"value": "2026-12-01T09:44:00.000Z", "field": "updatedOn", "run_id": "orders-1",
                          "updated_at": "2026-12-01T09:45:09Z", "age_s": 960.0}}},
        "errors": [],
    }
