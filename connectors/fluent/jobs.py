"""Job/Batch REST API (fluent-api.md §5): create job, send batch, job/batch status, results.

Why the status handling looks the way it does: sources disagree on the status vocabulary (§5.6:
``COMPLETE`` vs ``COMPLETED``, ``RUNNING`` vs ``PROCESSING``, …). Statuses are therefore kept as free,
upper-cased strings and only *classified*: success ``COMPLETE``/``COMPLETED``; success with errors
``COMPLETED_WITH_ERRORS``/``PARTIAL``; failure ``FAILED``/``EXPIRED``; **everything else, including
values never seen before, is non-terminal**. A poll that runs out of time reports ``TIMED_OUT``, which is
not success. A ``COMPLETE`` batch may still carry entity errors: read ``errors``.

Closed jobs (§5.7): a batch POST answered 404, or with a body mentioning "closed"/"expired", or code
``JOB_EXPIRED``, raises :class:`~fluentsync.connectors.fluent.errors.FluentJobClosedError`; the caller
opens a new job and resends that batch once. Deciding when to *reuse* a job (``job_max_age``, same UTC
date) is the sink's job, not the client's.

Payload rules enforced before sending: never an empty batch; at most 5000 entities and 10 MB serialised
(§5.8); ``action``/``entityType``/``source``/``event`` always set; ``retailerId`` put into every entity
(a number when the id is all digits; §5.4, conflict #8). Ids in responses are normalised to strings.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from fluentsync import jsonbytes

from .errors import (
    FluentClientError,
    FluentConfigError,
    FluentJobClosedError,
    FluentValidationError,
)
from .transport import RequestCore

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_ENTITIES",
    "BatchStatus",
    "JobStatus",
    "JobsAPI",
    "StatusKind",
    "is_job_closed_error",
    "is_terminal",
    "normalise_id",
    "normalise_status",
    "status_kind",
]

MAX_BATCH_ENTITIES = 5000
MAX_BATCH_BYTES = 10 * 1024 * 1024

StatusKind = Literal["success", "success_with_errors", "failure", "pending", "timed_out"]

_SUCCESS = frozenset({"COMPLETE", "COMPLETED"})
_WITH_ERRORS = frozenset({"COMPLETED_WITH_ERRORS", "PARTIAL"})
_FAILURE = frozenset({"FAILED", "EXPIRED"})
TIMED_OUT = "TIMED_OUT"


def normalise_status(value: Any) -> str:
    """Upper-case, trimmed, spaces and dashes as underscores; a missing value is ``UNKNOWN``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return "UNKNOWN"
    return str(value).strip().upper().replace(" ", "_").replace("-", "_")


def status_kind(status: Any) -> StatusKind:
    """Classify a (raw or normalised) job/batch status; unknown values are ``pending``."""
    value = normalise_status(status)
    if value in _SUCCESS:
        return "success"
    if value in _WITH_ERRORS:
        return "success_with_errors"
    if value in _FAILURE:
        return "failure"
    if value == TIMED_OUT:
        return "timed_out"
    return "pending"


def is_terminal(status: Any) -> bool:
    """True for the success, success-with-errors and failure sets (§5.6)."""
    return status_kind(status) in ("success", "success_with_errors", "failure")


def normalise_id(value: Any) -> str | None:
    """Ids may be JSON strings or numbers; the service keeps strings (§3.3)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class JobStatus:
    """A job as returned by create or status calls; ``raw`` keeps every field."""

    id: str
    status: str
    name: str | None = None
    retailer_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_open(self) -> bool:
        """``CLOSED`` means "no more batches accepted"; anything else is treated as open."""
        return self.status != "CLOSED"

    @classmethod
    def from_body(cls, body: Any, job_id: str | None = None) -> JobStatus:
        data = body if isinstance(body, dict) else {}
        ident = normalise_id(data.get("id")) or job_id
        if ident is None:
            raise FluentValidationError("Fluent job response has no id", status=None)
        return cls(
            id=ident,
            status=normalise_status(data.get("status")),
            name=data.get("name"),
            retailer_id=normalise_id(data.get("retailerId")),
            raw=data,
        )


@dataclass(frozen=True)
class BatchStatus:
    """A batch's state. ``errors`` are entity errors (``entityIndex`` = 0-based position)."""

    id: str
    job_id: str
    status: str
    processed: int | None = None
    total: int | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def kind(self) -> StatusKind:
        return status_kind(self.status)

    @property
    def is_terminal(self) -> bool:
        return is_terminal(self.status)

    def errors_by_index(self) -> dict[int, list[dict[str, Any]]]:
        """Entity errors keyed by ``entityIndex`` (else ``recordIndex``); errors without one are skipped."""
        out: dict[int, list[dict[str, Any]]] = {}
        for err in self.errors:
            index = _as_int(err.get("entityIndex", err.get("recordIndex")))
            if index is not None:
                out.setdefault(index, []).append(err)
        return out

    @classmethod
    def from_body(cls, body: Any, job_id: str, batch_id: str | None = None) -> BatchStatus:
        data = body if isinstance(body, dict) else {}
        ident = normalise_id(data.get("id")) or batch_id
        if ident is None:
            raise FluentValidationError("Fluent batch response has no id")
        errors = data.get("errors")
        return cls(
            id=ident,
            job_id=normalise_id(data.get("jobId")) or job_id,
            status=normalise_status(data.get("status")),
            processed=_as_int(data.get("processedEntities", data.get("processed"))),
            total=_as_int(data.get("totalEntities")),
            errors=[e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else [],
            raw=data,
        )


def is_job_closed_error(error: FluentClientError) -> bool:
    """404 on a batch POST, ``JOB_EXPIRED``, or a body mentioning closed/expired (§5.7)."""
    if error.status == 404:
        return True
    body = error.body
    if isinstance(body, dict) and str(body.get("code", "")).upper() == "JOB_EXPIRED":
        return True
    text = json.dumps(body) if not isinstance(body, str) else body
    lowered = text.lower()
    return "job_expired" in lowered or "closed" in lowered or "expired" in lowered


def _retailer_for_entity(retailer_id: str) -> int | str:
    return int(retailer_id) if retailer_id.isdigit() else retailer_id


def _as_dict(entity: Mapping[str, Any]) -> Mapping[str, Any]:
    """``entity`` itself when it is a plain dict (read-only use: it is only serialised), else a dict copy,
    since the JSON encoders take dicts but not other mappings."""
    return entity if type(entity) is dict else dict(entity)


class JobsAPI:
    """``/api/v4.1/job…`` calls; every call uses the ``job`` time-out (300 s by default)."""

    def __init__(
        self,
        core: RequestCore,
        retailer_id: Callable[[], str | None],
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        default_source: str = "fluentsync",
        default_event: str = "InventoryChanged",
    ) -> None:
        self._core = core
        self._retailer_id = retailer_id
        self._sleep = sleep
        self._clock = clock
        self.default_source = default_source
        self.default_event = default_event

    def _require_retailer(self, retailer_id: str | int | None) -> str:
        value = normalise_id(retailer_id) if retailer_id is not None else self._retailer_id()
        if not value:
            raise FluentConfigError(
                "a retailer id is required for Job/Batch calls: pass retailer_id or set FLUENT_RETAILER_ID"
            )
        return value

    async def create_job(
        self, name: str, *, retailer_id: str | int | None = None, meta: Mapping[str, Any] | None = None
    ) -> JobStatus:
        """``POST /api/v4.1/job`` with ``{name, retailerId, meta?}``."""
        if not name:
            raise FluentValidationError("a job name is required")
        body: dict[str, Any] = {"name": name, "retailerId": self._require_retailer(retailer_id)}
        if meta:
            body["meta"] = dict(meta)
        response = await self._core.request(
            "POST", "/api/v4.1/job", operation="job", json_body=body, op_name="job_create"
        )
        return JobStatus.from_body(response.body)

    async def send_batch(
        self,
        job_id: str | int,
        entities: Sequence[Mapping[str, Any]],
        *,
        action: str = "UPSERT",
        entity_type: str = "INVENTORY",
        source: str | None = None,
        event: str | None = None,
        catalogue_ref: str | None = None,
        conditions: Mapping[str, Any] | None = None,
        retailer_id: str | int | None = None,
        stamp_retailer_id: bool = True,
    ) -> BatchStatus:
        """``POST /api/v4.1/job/{id}/batch``; returns ``{id, status}`` as a :class:`BatchStatus`.

        Raises :class:`FluentJobClosedError` when the job no longer accepts batches.
        """
        job = normalise_id(job_id)
        if not job:
            raise FluentValidationError("a job id is required")
        if not entities:
            raise FluentValidationError("refusing to send an empty batch")
        if len(entities) > MAX_BATCH_ENTITIES:
            raise FluentValidationError(
                f"a batch holds at most {MAX_BATCH_ENTITIES} entities, got {len(entities)}: split it"
            )
        retailer = self._require_retailer(retailer_id) if stamp_retailer_id else None
        payload: dict[str, Any] = {
            "action": action,
            "entityType": entity_type,
            "source": source or self.default_source,
            "event": event or self.default_event,
        }
        if catalogue_ref:
            payload["catalogueRef"] = catalogue_ref
        if conditions:
            payload["conditions"] = dict(conditions)
        # The payload lives only until it is serialised just below, so an entity that needs no change goes in
        # as it is (no per-entity copy); only an entity lacking retailerId is copied to add it, never stamped in
        # place (the caller's dict stays as it was). An entity's own retailerId wins over the stamp.
        if retailer is not None:
            stamped = _retailer_for_entity(retailer)
            payload["entities"] = [_as_dict(e) if "retailerId" in e else {**e, "retailerId": stamped}
                                   for e in entities]
        else:
            payload["entities"] = [_as_dict(e) for e in entities]
        content = jsonbytes.dumps_strict(payload)
        if len(content) > MAX_BATCH_BYTES:
            raise FluentValidationError(
                f"a batch body may be at most {MAX_BATCH_BYTES} bytes, got {len(content)}: split it"
            )
        try:
            response = await self._core.request(
                "POST", f"/api/v4.1/job/{job}/batch", operation="job", content=content, op_name="batch_create"
            )
        except FluentClientError as exc:
            if is_job_closed_error(exc):
                raise FluentJobClosedError(
                    f"job {job} no longer accepts batches (HTTP {exc.status}): open a new job and resend",
                    status=exc.status,
                    body=exc.body,
                    job_id=job,
                ) from exc
            raise
        return BatchStatus.from_body(response.body, job_id=job)

    async def get_job(self, job_id: str | int) -> JobStatus:
        """``GET /api/v4.1/job/{id}``."""
        job = normalise_id(job_id)
        response = await self._core.request("GET", f"/api/v4.1/job/{job}", operation="job", op_name="job_get")
        return JobStatus.from_body(response.body, job_id=job)

    get_job_status = get_job

    async def get_batch(self, job_id: str | int, batch_id: str | int) -> BatchStatus:
        """``GET /api/v4.1/job/{id}/batch/{batchId}``."""
        job, batch = normalise_id(job_id), normalise_id(batch_id)
        assert job is not None and batch is not None
        response = await self._core.request(
            "GET", f"/api/v4.1/job/{job}/batch/{batch}", operation="job", op_name="batch_get"
        )
        return BatchStatus.from_body(response.body, job_id=job, batch_id=batch)

    get_batch_status = get_batch

    async def get_job_results(self, job_id: str | int) -> dict[str, Any]:
        """``GET /api/v4.1/job/{id}/results`` — shapes vary (§5.5), so the body comes back as a dict."""
        job = normalise_id(job_id)
        response = await self._core.request(
            "GET", f"/api/v4.1/job/{job}/results", operation="job", op_name="job_results"
        )
        body = response.body if isinstance(response.body, dict) else {"results": response.body}
        if "id" in body:
            body["id"] = normalise_id(body["id"])
        return body

    async def wait_for_batch(
        self,
        job_id: str | int,
        batch_id: str | int,
        *,
        max_wait: float = 300.0,
        interval: float = 1.0,
        max_interval: float = 10.0,
    ) -> BatchStatus:
        """Poll until the batch status is terminal; after ``max_wait`` s report ``TIMED_OUT``.

        The interval grows by half per poll up to ``max_interval``. Errors of the status call propagate.
        """
        deadline = self._clock() + max_wait
        delay = interval
        while True:
            status = await self.get_batch(job_id, batch_id)
            if status.is_terminal:
                return status
            remaining = deadline - self._clock()
            if remaining <= 0:
                return BatchStatus(
                    id=status.id,
                    job_id=status.job_id,
                    status=TIMED_OUT,
                    processed=status.processed,
                    total=status.total,
                    errors=status.errors,
                    raw=status.raw,
                )
            await self._sleep(min(delay, remaining))
            delay = min(delay * 1.5, max_interval)
