"""One status for a pipeline: the Kafka-derived view and each worker's ``/status``, merged.

Why merge at all: every worker owns some partitions, so each knows only its own files in flight,
batches and counters; Kafka knows lag, dead letters and run reports for all of them. The merge rules:

- counters (records by outcome, records and batches in flight, batches by state) are **summed**: each
  worker counts only what it processed since it started;
- files in flight are **listed** from every worker (each file is owned by one worker; if two answer for
  the same version, e.g. during a rebalance, the one with more outcomes wins);
- Fluent jobs are one table shared by every worker: **united** by job id;
- last errors are **interleaved** newest first, each tagged with its worker;
- assigned partitions are kept **per worker**;
- lag, dead letters, run reports and extractions come from Kafka; without it (no broker reachable),
  extractions fall back to what the workers read.

A worker that did not answer is listed with its error; a worker of another app id (a stray process on
the port) is refused rather than merged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from fluentsync.streams.observability.status_kafka import iso

__all__ = ["ERRORS_SHOWN", "empty_workflow", "merge"]

ERRORS_SHOWN = 20
_COUNTERS = ("records", "in_flight", "batches")


def empty_workflow() -> dict[str, Any]:
    return {"source": None, "target": None, "lag": None, "dlq": None, "reports": None,
            "records": {}, "in_flight": {}, "batches": {}, "files_in_flight": [], "files_in_flight_total": 0,
            "jobs": [], "errors": [], "partitions": {}}


def _add(into: dict[str, Any], counts: Mapping[str, Any]) -> None:
    for name, value in counts.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            into[name] = into.get(name, 0) + value


def merge(kafka: Mapping[str, Any] | None, workers: Iterable[Mapping[str, Any]], *,
          app_id: str | None = None, workflows: Iterable[str] | None = None) -> dict[str, Any]:
    """The merged status. ``workers``: ``{"url", "snapshot"}`` or ``{"url", "error"}`` each; ``workflows``
    names the workflows shown (default: every workflow either side knows)."""
    app_id = app_id or (kafka or {}).get("app_id")
    wanted = set(workflows) if workflows is not None else None
    result: dict[str, Any] = {"kind": "pipeline", "generated_at": iso(datetime.now(UTC)), "app_id": app_id,
                              "bootstrap": (kafka or {}).get("bootstrap"), "workers": [], "workflows": {},
                              "extractions": {}, "errors": list((kafka or {}).get("errors") or [])}
    flows: dict[str, dict[str, Any]] = result["workflows"]

    def flow(name: str) -> dict[str, Any] | None:
        if wanted is not None and name not in wanted:
            return None
        if name not in flows:
            flows[name] = empty_workflow()
        return flows[name]

    for name in wanted or ():  # named workflows show even when nothing answered for them
        flow(name)
    for name, view in ((kafka or {}).get("workflows") or {}).items():
        target = flow(name)
        if target is not None:
            target.update({k: view.get(k) for k in ("lag", "dlq", "reports")})
    snapshots: list[tuple[str, Mapping[str, Any]]] = []
    for answer in workers:
        snapshot = answer.get("snapshot")
        entry: dict[str, Any] = {"url": answer.get("url"), "id": None, "error": answer.get("error")}
        if snapshot is not None:
            info = snapshot.get("worker") or {}
            entry.update({k: info.get(k) for k in ("id", "host", "pid", "started_at", "uptime_s", "leader",
                                                   "bootstrap")})
            if app_id is not None and info.get("app_id") != app_id:
                entry["error"] = f"app id {info.get('app_id')!r}, not {app_id!r}: another pipeline's worker"
            else:
                snapshots.append((entry["id"] or str(entry["url"]), snapshot))
                entry["partitions"] = sum(len(parts) for wf in (snapshot.get("workflows") or {}).values()
                                          for parts in (wf.get("partitions") or {}).values())
        result["workers"].append(entry)
    for worker_id, snapshot in snapshots:
        _merge_worker(worker_id, snapshot, flow, result)
    for target in flows.values():
        target["files_in_flight"].sort(key=lambda f: (f.get("since") or "", f.get("path") or ""))
        target["jobs"].sort(key=lambda j: j.get("created_at") or "", reverse=True)
        target["errors"] = sorted(target["errors"], key=lambda e: e.get("time") or "", reverse=True)[:ERRORS_SHOWN]
    result["errors"] = sorted(result["errors"], key=lambda e: e.get("time") or "", reverse=True)[:ERRORS_SHOWN]
    if kafka is not None and "extractions" in kafka and not _failed(kafka, "extractions"):
        result["extractions"] = dict(kafka["extractions"])
    for worker_id, snapshot in snapshots:  # what each worker ran itself, and its extraction errors
        for name, view in (snapshot.get("extractions") or {}).items():
            known = result["extractions"].setdefault(
                name, {k: v for k, v in view.items() if k not in ("last_run_here", "errors")})
            if view.get("last_run_here"):
                known.setdefault("runs_here", []).append({**view["last_run_here"], "worker": worker_id})
            known.setdefault("errors", []).extend({**e, "worker": worker_id} for e in view.get("errors") or [])
    return result


def _failed(kafka: Mapping[str, Any], scope: str) -> bool:
    return any(e.get("scope") == scope for e in kafka.get("errors") or [])


def _merge_worker(worker_id: str, snapshot: Mapping[str, Any], flow: Any, result: dict[str, Any]) -> None:
    for name, view in (snapshot.get("workflows") or {}).items():
        target = flow(name)
        if target is None:
            continue
        for key in ("source", "target"):
            target[key] = target[key] or view.get(key)
        if view.get("error"):
            target["errors"].append({"time": snapshot.get("generated_at"), "level": "ERROR", "worker": worker_id,
                                     "message": f"status of this workflow failed: {view['error']}"})
            continue
        for counter in _COUNTERS:
            _add(target[counter], view.get(counter) or {})
        files = {(f.get("path"), f.get("version")): f for f in target["files_in_flight"]}
        for entry in view.get("files_in_flight") or []:
            version = (entry.get("path"), entry.get("version"))
            if version not in files or (entry.get("records_done") or 0) > (files[version].get("records_done") or 0):
                files[version] = {**entry, "worker": worker_id}
        target["files_in_flight"] = list(files.values())
        target["files_in_flight_total"] += int(view.get("files_in_flight_total") or 0)
        jobs = {j["job_id"]: j for j in target["jobs"]}
        for job in view.get("jobs") or []:
            if job["job_id"] not in jobs or (job.get("fluent_status") and not jobs[job["job_id"]].get("fluent_status")):
                jobs[job["job_id"]] = dict(job)
        target["jobs"] = list(jobs.values())
        target["errors"].extend({**e, "worker": worker_id} for e in view.get("errors") or [])
        target["partitions"][worker_id] = view.get("partitions") or {}
    result["errors"].extend({**e, "worker": worker_id} for e in snapshot.get("errors") or [])
