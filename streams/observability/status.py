"""``GET /status`` on the worker's ops port: a JSON snapshot of what this worker is doing now.

Why built on each request from the live runtimes instead of kept as separate state: every number is
read from the component that owns it - the records runtime's outcome counters and Fluent batches by
state, the sink's and status poller's in-flight gauges, the changelog-backed files and ledger tables of
the partitions this worker owns (files in flight), the job table (Fluent jobs), the consumer's
assignment - so the status cannot drift from the work, and nothing here writes.

Per workflow: source and target, assigned partitions, records by outcome since start (``rejected``
includes the parser's dead letters, also shown as ``parse_rejected``), records and batches in flight,
Fluent batches by state (``sent``: acknowledged by Fluent; ``pending``: waiting for a final batch
status; ``complete``; ``failed``: failed or timed-out statuses and sends Fluent did not take), files in
flight with their percentage, Fluent jobs with Fluent's own status (one cached ``GET job`` per open
job, at most every :data:`JOB_STATUS_TTL` seconds), and the last warnings and errors logged. Per
extraction: state, last run, watermark and its age, read from Kafka (cached :data:`KAFKA_TTL` s).

``GET /status?cluster=1`` returns what ``fluentsync status --json`` prints, for this worker alone: the
snapshot merged with the Kafka-derived view (consumer lag, dead letters, run reports).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web
from mode import Service

from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.observability.status_errors import WORKER, RecentErrors
from fluentsync.streams.observability.status_kafka import KafkaStatus, extraction_status, iso
from fluentsync.streams.observability.status_merge import merge
from fluentsync.streams.observability.status_runtime import files_in_flight, job_entries

if TYPE_CHECKING:
    from fluentsync.streams.worker import Worker

__all__ = ["JOB_STATUS_TTL", "KAFKA_TTL", "WorkerStatus", "mount_status"]

log = logging.getLogger(__name__)

JOB_STATUS_TTL = 30.0  #: seconds Fluent's status of a job is reused
JOB_LOOKUPS = 5  #: open jobs per workflow whose Fluent status is looked up
KAFKA_TTL = 5.0  #: seconds Kafka-derived parts (extractions, cluster view) are reused
LOOKUP_TIMEOUT = 3.0
_dumps = functools.partial(json.dumps, default=str)  #: a stray non-JSON value must not fail the endpoint


class _Cached:
    """One value recomputed at most every ``ttl`` seconds; concurrent callers share one computation."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._at = -1e18
        self._value: Any = None
        self._lock = asyncio.Lock()

    async def get(self, compute: Callable[[], Awaitable[Any]]) -> Any:
        async with self._lock:
            if time.monotonic() - self._at >= self.ttl:
                self._value = await compute()
                self._at = time.monotonic()
            return self._value


class WorkerStatus:
    """Builds the snapshot of one worker; :meth:`handle` serves it."""

    def __init__(self, worker: Worker, bootstrap: str) -> None:
        self.worker = worker
        self.bootstrap = bootstrap
        self.started_at = datetime.now(UTC)
        self._started = time.monotonic()
        self.errors = RecentErrors()
        self._extractions = _Cached(KAFKA_TTL)
        self._cluster = _Cached(KAFKA_TTL)
        self._kafka: KafkaStatus | None = None
        self._job_states: dict[str, tuple[float, str]] = {}

    # -- the snapshot -----------------------------------------------------------------------------
    async def snapshot(self) -> dict[str, Any]:
        config = self.worker.config
        workflows: dict[str, Any] = {}
        for name in config.workflows:
            try:
                workflows[name] = await self.workflow(name)
            except Exception as exc:  # one broken part must not hide the rest
                log.debug("status of workflow %s failed", name, exc_info=True)
                workflows[name] = {"error": f"{type(exc).__name__}: {exc}"}
        return {"kind": "worker", "version": 1, "generated_at": iso(datetime.now(UTC)), "worker": self.identity(),
                "workflows": workflows, "extractions": await self.extractions(),
                "errors": self.errors.recent(WORKER)}

    def identity(self) -> dict[str, Any]:
        app = self.worker.app
        ops = self.worker.ops
        try:
            leader = bool(app.is_leader())
        except Exception:  # before the first assignment
            leader = False
        return {"id": f"{socket.gethostname()}:{os.getpid()}", "host": socket.gethostname(), "pid": os.getpid(),
                "app_id": self.worker.config.kafka.app_id, "bootstrap": self.bootstrap,
                "started_at": iso(self.started_at), "uptime_s": round(time.monotonic() - self._started, 1),
                "leader": leader, "ops": f"http://{ops.host}:{ops.port}" if ops is not None else None}

    def partitions(self, name: str) -> dict[str, list[int]]:
        """This worker's active partitions of the workflow's topics."""
        topics = WorkflowTopics.of(name, self.worker.config.kafka.topic_prefix)
        wanted = {*topics.all(), topics.webhooks}
        try:
            assigned = self.worker.app.assignor.assigned_actives()
        except Exception:
            return {}
        found: dict[str, list[int]] = {}
        for tp in assigned:
            if tp.topic in wanted:
                found.setdefault(tp.topic, []).append(tp.partition)
        return {topic: sorted(parts) for topic, parts in sorted(found.items())}

    async def workflow(self, name: str) -> dict[str, Any]:
        worker = self.worker
        settings = worker.config.workflows[name]
        files_runtime, ledger, records = worker.files.get(name), worker.ledgers.get(name), worker.records.get(name)
        publisher = files_runtime.publisher if files_runtime is not None else None
        parse_rejected = publisher.dead_lettered if publisher is not None else 0
        view: dict[str, Any] = {
            "source": settings.source.type, "target": settings.target.api if settings.target else None,
            "partitions": self.partitions(name),
            "records": {"published": publisher.published if publisher is not None else 0,
                        "accepted": 0, "rejected": parse_rejected, "unchanged": 0, "parse_rejected": parse_rejected},
            "in_flight": {}, "batches": {}, "files_in_flight": [], "files_in_flight_total": 0, "jobs": [],
            "errors": self.errors.recent(name),
        }
        if records is not None:
            counts = view["records"]
            for outcome, value in records.counts.items():
                counts[outcome] = counts.get(outcome, 0) + value
            sink, poller = records.sink, records.poller
            view["in_flight"] = {"records": records.pending_records, "buffered": sink.pending,
                                 "sending": sink.in_flight, "awaiting_status": poller.pending if poller else 0,
                                 "awaiting_records": records.awaiting_records}
            view["batches"] = {"sent": records.batches["sent"], "pending": poller.pending if poller else 0,
                               "complete": records.batches["complete"], "failed": records.batches["failed"]}
            table = getattr(records.job_store, "table", None)
            if table is not None:
                view["jobs"] = await self._with_fluent_status(job_entries(table, name))
        if files_runtime is not None and files_runtime.table is not None:
            ledger_table = ledger.table if ledger is not None else None
            view["files_in_flight"], view["files_in_flight_total"] = files_in_flight(files_runtime.table,
                                                                                     ledger_table)
        return view

    async def _with_fluent_status(self, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add Fluent's status of the newest open jobs (cached; a failed lookup says why)."""
        client = self.worker.client
        if client is None:
            return jobs
        now = time.monotonic()
        lookups = [job for job in jobs if job["state"] == "open"][:JOB_LOOKUPS]
        stale = [job["job_id"] for job in lookups
                 if now - self._job_states.get(job["job_id"], (-1e18, ""))[0] >= JOB_STATUS_TTL]

        async def lookup(job_id: str) -> None:
            try:
                status = await asyncio.wait_for(client.jobs.get_job(job_id), LOOKUP_TIMEOUT)
                self._job_states[job_id] = (time.monotonic(), status.status)
            except Exception as exc:
                self._job_states[job_id] = (time.monotonic(), f"unknown ({type(exc).__name__})")

        if stale:
            await asyncio.gather(*(lookup(job_id) for job_id in stale))
        for job in jobs:
            known = self._job_states.get(job["job_id"])
            job["fluent_status"] = known[1] if known is not None else None
        if len(self._job_states) > 500:  # forget jobs no longer listed
            listed = {job["job_id"] for job in jobs}
            self._job_states = {k: v for k, v in self._job_states.items() if k in listed}
        return jobs

    async def extractions(self) -> dict[str, Any]:
        config = self.worker.config
        if not config.extractions:
            return {}

        async def read() -> dict[str, Any]:
            try:
                found: dict[str, Any] = await extraction_status(self.bootstrap, config)
                return found
            except Exception as exc:
                message = f"cannot read the extraction state topics: {type(exc).__name__}: {exc}"
                return {name: {"state": "UNKNOWN", "error": message} for name in config.extractions}

        found = {name: dict(view) for name, view in (await self._extractions.get(read)).items()}
        runtime = self.worker.extractions
        for name, view in found.items():
            mine = [run for run in (runtime.completed if runtime is not None else []) if run.extraction == name]
            view["last_run_here"] = ({"run_id": mine[-1].run_id, "status": mine[-1].status,
                                      "nodes": mine[-1].nodes, "ended_at": iso(mine[-1].completed_at
                                                                               or mine[-1].failed_at)}
                                     if mine else None)
            view["errors"] = self.errors.recent(f"extraction:{name}")
        return found

    async def cluster(self) -> dict[str, Any]:
        """This worker's snapshot merged with the Kafka-derived view (``?cluster=1``)."""
        if self._kafka is None:
            self._kafka = KafkaStatus(self.bootstrap, self.worker.config)
        kafka = self._kafka

        async def collect() -> dict[str, Any]:
            return await kafka.collect()

        view = await self._cluster.get(collect)
        ops = self.worker.ops
        url = f"http://{ops.host}:{ops.port}" if ops is not None else "local"
        return merge(view, [{"url": url, "snapshot": await self.snapshot()}], app_id=self.worker.config.kafka.app_id)

    # -- HTTP -------------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        cluster = request.query.get("cluster", "").lower() in ("1", "true", "yes")
        body = await (self.cluster() if cluster else self.snapshot())
        return web.json_response(body, dumps=_dumps)


def mount_status(worker: Worker, bootstrap: str) -> WorkerStatus:
    """Serve ``GET /status`` on ``worker.ops`` (call before the ops server starts) and keep the last
    warnings and errors logged while the worker runs."""
    if worker.ops is None:
        raise ValueError("the worker serves no ops endpoints (no web port)")
    status = WorkerStatus(worker, bootstrap)
    worker.ops.add_get("/status", status.handle)

    class StatusService(Service):
        """Collects logged warnings and errors while the worker runs."""

        async def on_start(self) -> None:
            status.errors.attach()

        async def on_stop(self) -> None:
            status.errors.detach()

    worker.app.service(StatusService)
    return status
