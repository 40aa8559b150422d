"""Job/Batch REST API (fluent-api.md §5) with asynchronous batch processing.

Why asynchronous: on Fluent a batch POST only checks the payload and answers ``PENDING``; the entities
are validated and applied later, and entity errors surface only in the batch status. The service's
polling, ledger and DLQ logic depends on exactly that split, so the sandbox reproduces it: one worker
task takes batches in arrival order, moves them ``PENDING → RUNNING → COMPLETE`` with configurable
delays, and applies accepted INVENTORY upserts to the same store GraphQL reads, which closes the
ingest-then-extract loop.

Payload-level problems (unknown job, closed job, wrong action or entity type, empty or oversized
batch, body over the byte cap) reject the POST with a 4xx. Entity-level problems never do: they are
reported as ``errors[{code, message, entityIndex, ref}]`` with the 0-based index in ``entities``.

Entity error codes (sandbox choices in Fluent's ``C`` range): ``C0140E`` a required field is missing,
``C0125E`` a field has the wrong type, ``C0122E`` a negative quantity, ``C0126E`` the entity's
retailerId differs from the job's, ``C0160E`` an injected error (fault kind ``entity_error``).

Jobs close at the next UTC midnight of the injectable clock, after ``job_lifetime`` seconds when set,
or when closed through the admin API. A batch to a closed job gets ``closed_job_status`` (400) with
``{"code": "JOB_EXPIRED", "message": "Job <id> is closed"}``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .clock import format_datetime
from .responses import RequestError, json_response, read_json

if TYPE_CHECKING:
    from .state import SandboxState

__all__ = ["Batch", "Job", "JobService"]

_TERMINAL = ("COMPLETE", "FAILED")


@dataclass
class Job:
    """A Fluent job (canonical status values are Fluent's: OPEN, CLOSED)."""

    id: int
    name: str
    retailer_id: str
    meta: dict[str, Any]
    created_at: datetime
    closed_at: datetime | None = None
    close_reason: str | None = None
    batch_ids: list[int] = field(default_factory=list)


@dataclass
class Batch:
    """A batch and its processing outcome (canonical status: PENDING, RUNNING, COMPLETE)."""

    id: int
    job_id: int
    header: dict[str, Any]
    entities: list[Any]
    created_at: datetime
    received: float
    status: str = "PENDING"
    started_at: datetime | None = None
    completed_at: datetime | None = None
    processed: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


class JobService:
    """Jobs, batches and the worker that processes batches."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.jobs: dict[int, Job] = {}
        self.batches: dict[int, Batch] = {}
        self._job_ids = itertools.count(1)
        self._batch_ids = itertools.count(1)
        self._queue: asyncio.Queue[int] | None = None
        self._worker: asyncio.Task[None] | None = None
        self.entities_received = 0
        self.entities_applied = 0

    # -- lifecycle -----------------------------------------------------------------------------------

    def reset(self) -> None:
        self.stop()
        self.jobs.clear()
        self.batches.clear()
        self._job_ids = itertools.count(1)
        self._batch_ids = itertools.count(1)
        self.entities_received = 0
        self.entities_applied = 0

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        self._worker = None
        self._queue = None

    def _enqueue(self, batch_id: int) -> None:
        if self._queue is None or self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._work(self._queue), name="sandbox-batches")
            for batch in self.batches.values():
                if batch.status not in _TERMINAL and batch.id != batch_id:
                    self._queue.put_nowait(batch.id)
        self._queue.put_nowait(batch_id)

    async def _work(self, queue: asyncio.Queue[int]) -> None:
        while True:
            batch_id = await queue.get()
            batch = self.batches.get(batch_id)
            if batch is None or batch.status in _TERMINAL:
                continue
            settings = self.state.settings
            wait = batch.received + settings.batch_pending_delay - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            batch.status = "RUNNING"
            batch.started_at = self.state.clock.now()
            await asyncio.sleep(self.state.settings.batch_running_delay)
            while self.state.settings.batch_stuck:  # noqa: ASYNC110 - a settings flag, not an event
                await asyncio.sleep(0.05)
            if self.batches.get(batch_id) is not batch:
                continue
            await self._apply(batch)
            batch.status = "COMPLETE"
            batch.completed_at = self.state.clock.now()

    async def drain(self) -> None:
        """Wait until every batch is terminal (for tests and benchmarks; wrap it in a time-out)."""
        while any(b.status not in _TERMINAL for b in self.batches.values()):  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    # -- job status ----------------------------------------------------------------------------------

    def refresh(self, job: Job) -> None:
        """Close ``job`` if its time is up (evaluated lazily on every access)."""
        if job.closed_at is not None:
            return
        now = self.state.clock.now()
        settings = self.state.settings
        if settings.close_jobs_at_midnight:
            midnight = (job.created_at + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
            if now >= midnight:
                job.closed_at, job.close_reason = midnight, "midnight"
                return
        if settings.job_lifetime is not None and now >= job.created_at + timedelta(seconds=settings.job_lifetime):
            job.closed_at = job.created_at + timedelta(seconds=settings.job_lifetime)
            job.close_reason = "lifetime"

    def close(self, job_id: int, reason: str = "admin") -> Job | None:
        job = self.jobs.get(job_id)
        if job is None:
            return None
        self.refresh(job)
        if job.closed_at is None:
            job.closed_at, job.close_reason = self.state.clock.now(), reason
        return job

    def _job_status(self, job: Job) -> str:
        self.refresh(job)
        if self.state.settings.status_dialect == "fluent":
            return "CLOSED" if job.closed_at else "OPEN"
        if job.closed_at:
            return "COMPLETED"
        return "PROCESSING" if job.batch_ids else "PENDING"

    def _batch_status(self, batch: Batch) -> str:
        if self.state.settings.status_dialect == "fluent":
            return batch.status
        if batch.status == "RUNNING":
            return "PROCESSING"
        if batch.status == "COMPLETE":
            return "FAILED" if batch.entities and batch.failed == len(batch.entities) else "COMPLETED"
        return batch.status

    def job_view(self, job: Job) -> dict[str, Any]:
        fid = self.state.fmt_id
        batches = [self.batches[b] for b in job.batch_ids if b in self.batches]
        done = [b for b in batches if b.status in _TERMINAL]
        view: dict[str, Any] = {
            "id": fid(job.id),
            "name": job.name,
            "retailerId": job.retailer_id,
            "status": self._job_status(job),
            "meta": job.meta,
            "createdAt": format_datetime(job.created_at),
            "createdOn": format_datetime(job.created_at),
            "totalBatches": len(batches),
            "completedBatches": len(done),
            "pendingBatches": len(batches) - len(done),
            "totalRecords": sum(len(b.entities) for b in batches),
            "progress": 100 if not batches else round(100 * len(done) / len(batches)),
            "batches": [
                {"id": fid(b.id), "status": self._batch_status(b), "createdOn": format_datetime(b.created_at)}
                for b in batches
            ],
        }
        if job.closed_at:
            view["closedAt"] = format_datetime(job.closed_at)
            view["completedAt"] = view["closedAt"]
        return view

    def batch_view(self, batch: Batch, *, with_entities: bool = False) -> dict[str, Any]:
        fid = self.state.fmt_id
        total = len(batch.entities)
        complete = batch.status in _TERMINAL
        view: dict[str, Any] = {
            "id": fid(batch.id),
            "jobId": fid(batch.job_id),
            "status": self._batch_status(batch),
            "action": batch.header.get("action"),
            "entityType": batch.header.get("entityType"),
            "source": batch.header.get("source"),
            "event": batch.header.get("event"),
            "catalogueRef": batch.header.get("catalogueRef"),
            "progress": 100 if complete else 0,
            "totalEntities": total,
            "processedEntities": batch.processed,
            "unchangedEntities": batch.unchanged,
            "failedEntities": batch.failed,
            "createdOn": format_datetime(batch.created_at),
            "createdAt": format_datetime(batch.created_at),
            "startedAt": format_datetime(batch.started_at) if batch.started_at else None,
            "completedAt": format_datetime(batch.completed_at) if batch.completed_at else None,
            "errors": batch.errors,
        }
        if with_entities:
            view["entities"] = batch.entities
        return view

    # -- handlers ------------------------------------------------------------------------------------

    def _job_or_404(self, request: web.Request) -> Job:
        raw = request.match_info["job_id"]
        job = self.jobs.get(int(raw)) if raw.isdigit() else None
        if job is None:
            raise RequestError(404, "NOT_FOUND", f"Job {raw} not found")
        return job

    async def handle_create_job(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise RequestError(400, "VALIDATION_ERROR", "Job payload must be a JSON object")
        strict = self.state.settings.strict
        name = body.get("name")
        retailer = body.get("retailerId")
        if not isinstance(name, str) or not name.strip():
            raise RequestError(400, "VALIDATION_ERROR", "name is required")
        if retailer is None or retailer == "":
            raise RequestError(400, "VALIDATION_ERROR", "retailerId is required")
        if strict and not isinstance(retailer, str):
            raise RequestError(400, "VALIDATION_ERROR", "retailerId must be a string")
        if str(retailer) != self.state.config.retailer_id and strict:
            raise RequestError(403, "FORBIDDEN", f"No permission for retailer {retailer}")
        meta = body.get("meta") or {}
        if not isinstance(meta, dict):
            raise RequestError(400, "VALIDATION_ERROR", "meta must be an object")
        job = Job(
            id=next(self._job_ids),
            name=name,
            retailer_id=str(retailer),
            meta=meta,
            created_at=self.state.clock.now(),
        )
        self.jobs[job.id] = job
        view = self.job_view(job)
        view.pop("batches")
        return json_response(view)

    async def handle_get_job(self, request: web.Request) -> web.Response:
        return json_response(self.job_view(self._job_or_404(request)))

    async def handle_job_results(self, request: web.Request) -> web.Response:
        job = self._job_or_404(request)
        batches = [self.batches[b] for b in job.batch_ids if b in self.batches]
        statuses = [self._batch_status(b) for b in batches]
        fid = self.state.fmt_id
        return json_response(
            {
                "id": fid(job.id),
                "status": self._job_status(job),
                "totalBatches": len(batches),
                "successfulBatches": sum(1 for s in statuses if s in ("COMPLETE", "COMPLETED")),
                "failedBatches": sum(1 for s in statuses if s == "FAILED"),
                "results": [
                    {
                        "batchId": fid(b.id),
                        "status": s,
                        "processedEntities": b.processed,
                        "unchangedEntities": b.unchanged,
                        "failedEntities": b.failed,
                        "errors": b.errors,
                    }
                    for b, s in zip(batches, statuses, strict=True)
                ],
            }
        )

    async def handle_get_batch(self, request: web.Request) -> web.Response:
        job = self._job_or_404(request)
        raw = request.match_info["batch_id"]
        batch = self.batches.get(int(raw)) if raw.isdigit() else None
        if batch is None or batch.job_id != job.id:
            raise RequestError(404, "NOT_FOUND", f"Batch {raw} not found in job {self.state.fmt_id(job.id)}")
        return json_response(self.batch_view(batch))

    async def handle_create_batch(self, request: web.Request) -> web.Response:
        settings = self.state.settings
        job = self._job_or_404(request)
        self.refresh(job)
        if job.closed_at is not None:
            raise RequestError(settings.closed_job_status, "JOB_EXPIRED", f"Job {job.id} is closed")
        body = await read_json(request, max_bytes=settings.max_batch_bytes)
        if not isinstance(body, dict):
            raise RequestError(400, "VALIDATION_ERROR", "Batch payload must be a JSON object")
        action = body.get("action")
        if action != "UPSERT":
            raise RequestError(400, "VALIDATION_ERROR", f"Unsupported action {action!r}; only UPSERT exists")
        entity_type = body.get("entityType")
        if not isinstance(entity_type, str) or entity_type.upper() not in settings.allowed_entity_types:
            raise RequestError(
                400,
                "VALIDATION_ERROR",
                f"Unsupported entityType {entity_type!r}; allowed: {', '.join(settings.allowed_entity_types)}",
            )
        entities = body.get("entities")
        if not isinstance(entities, list) or not entities:
            raise RequestError(400, "VALIDATION_ERROR", "entities must be a non-empty array")
        if len(entities) > settings.max_batch_entities:
            raise RequestError(
                400,
                "VALIDATION_ERROR",
                f"Batch has {len(entities)} entities; the maximum is {settings.max_batch_entities}",
            )
        header = {k: v for k, v in body.items() if k != "entities"}
        batch = Batch(
            id=next(self._batch_ids),
            job_id=job.id,
            header=header,
            entities=entities,
            created_at=self.state.clock.now(),
            received=time.monotonic(),
        )
        self.batches[batch.id] = batch
        job.batch_ids.append(batch.id)
        self.entities_received += len(entities)
        self._enqueue(batch.id)
        fid = self.state.fmt_id
        return json_response(
            {
                "id": fid(batch.id),
                "jobId": fid(job.id),
                "status": self._batch_status(batch),
                "createdOn": format_datetime(batch.created_at),
            }
        )

    # -- processing ----------------------------------------------------------------------------------

    async def _apply(self, batch: Batch) -> None:
        job = self.jobs[batch.job_id]
        state = self.state
        strict = state.settings.strict
        bpp = state.settings.bpp_enabled and str(job.meta.get("preprocessing", "")).lower() != "skip"
        catalogue_ref = str(batch.header.get("catalogueRef") or f"DEFAULT:{job.retailer_id}")
        store = state.store
        now = state.clock.now()
        for index, entity in enumerate(batch.entities):
            if index and index % 1000 == 0:
                await asyncio.sleep(0)
                # time went on while other batches ran: entities stamped later sort after theirs, so the
                # paging index appends instead of inserting in the middle of a large list
                now = state.clock.now()
            problem = self._validate_entity(entity, job, strict)
            if problem is None:
                problem = state.faults.entity_error(entity)
            if problem is not None:
                code, message = problem
                error: dict[str, Any] = {"code": code, "message": message, "entityIndex": index}
                if isinstance(entity, dict) and entity.get("ref") is not None:
                    error["ref"] = entity["ref"]
                batch.errors.append(error)
                batch.failed += 1
                batch.processed += 1
                continue
            qty = int(entity["qty"])
            status = str(entity.get("status") or "ACTIVE")
            location_ref, sku_ref = str(entity["locationRef"]), str(entity["skuRef"])
            current = store.position_for(catalogue_ref, location_ref, sku_ref, job.retailer_id)
            if str(entity.get("type") or "LAST_ON_HAND").upper() == "DELTA":
                qty += int(current["onHand"]) if current else 0
            if bpp and current is not None and current["onHand"] == qty and current["status"] == status:
                batch.unchanged += 1
                batch.processed += 1
                continue
            extra: dict[str, int] = {}
            for source, qtype in (("correctedQty", "CORRECTION"), ("reservedQty", "RESERVED")):
                value = entity.get(source)
                if isinstance(value, int) and not isinstance(value, bool):
                    extra[qtype] = value
            store.upsert_inventory(
                catalogue_ref=catalogue_ref,
                location_ref=location_ref,
                sku_ref=sku_ref,
                qty=qty,
                status=status,
                now=now,
                ref=entity.get("ref"),
                expected_on=entity.get("expectedOn"),
                extra_quantities=extra,
                retailer_id=job.retailer_id,
            )
            batch.processed += 1
            self.entities_applied += 1

    @staticmethod
    def _validate_entity(entity: Any, job: Job, strict: bool) -> tuple[str, str] | None:
        if not isinstance(entity, dict):
            return "C0125E", "Entity must be a JSON object"
        for name in ("skuRef", "locationRef"):
            value = entity.get(name)
            if value is None or value == "":
                return "C0140E", f"{name} is required"
            if not isinstance(value, str):
                return "C0125E", f"{name} must be a string"
        qty = entity.get("qty")
        if qty is None:
            return "C0140E", "qty is required"
        if isinstance(qty, bool) or not isinstance(qty, int):
            return "C0125E", "qty must be an integer"
        kind = str(entity.get("type") or "LAST_ON_HAND").upper()
        if kind != "DELTA" and qty < 0:
            return "C0122E", f"qty must not be negative (got {qty})"
        retailer = entity.get("retailerId")
        if strict and retailer is not None and str(retailer) != job.retailer_id:
            return "C0126E", f"retailerId {retailer} does not match the job's retailer {job.retailer_id}"
        return None
