"""Batch status polling: turn an acknowledged batch into per-entity outcomes (requirements.md R38, R39, R48).

Why a separate component: a 2xx on the batch POST only means Fluent *queued* the batch (fluent-api.md
§5.10); entities are validated later and their errors appear only in the batch status. Waiting for that
inside :class:`~.sink.BatchSink` would stall ingestion for minutes, so the sink hands its
:class:`~.batching.BatchResult` over (``submit`` is synchronous and O(1)) and this poller watches every
registered batch on its own schedule, a few status GETs at a time.

Why the interval adapts to the number of tracked batches (R38): a handful of batches finish quickly and
deserve a fast answer (10 s); hundreds of batches polled every 10 s would be thousands of GETs a minute
against a rate-limited API (30 s under 100 batches, 60 s above). Polling is bounded by ``poll_timeout``
(1 h) and optionally ``max_poll_attempts`` (the advanced guide's 30 polls 10 s apart); running out yields
``TIMED_OUT``, which is **not** success: its tokens are reported in ``timed_out`` so the caller commits
nothing for them.

Why statuses are classified with :mod:`fluentsync.connectors.fluent.jobs` helpers (R39): the sources
disagree on the vocabulary (``COMPLETE`` vs ``COMPLETED``, ``RUNNING`` vs ``PROCESSING``); only the
classification matters here, and unknown values keep the batch polling. A ``COMPLETE`` batch may still
carry entity errors, so ``errors[]`` is always read and mapped back to the tokens by ``entityIndex``
(the 0-based position in the submitted ``entities``), else ``recordIndex``. Errors that cannot be mapped
(no index, or an index outside the batch) are reported as batch-level errors; their ``ref`` is kept so
a caller that knows its refs can still match them.

Why a failing status call is not fatal: the batch was accepted; a network error or a 5xx that outlived
the client's own retries says nothing about the batch. It is logged (exception class and the client's
redacted message only) and the batch is polled again at its next turn; attempts still count towards
``max_poll_attempts`` and the clock towards ``poll_timeout``, so a status endpoint that never recovers
still ends in ``TIMED_OUT`` rather than polling forever.

Every submitted token ends up in exactly one of ``accepted``, ``errors`` and ``timed_out`` of one
:class:`BatchCompletion`, delivered through ``on_done`` (or collected in ``completed``).

Why :meth:`~BatchStatusPoller.watch` beside ``submit``: the records agent keeps a batch's records on disk
until its verdict (:mod:`fluentsync.streams.agents.verifier`), so it registers the batch by its ids with
``range(n)`` as tokens (a completion then names entity positions), and after a restart with the batch's
age, so ``poll_timeout`` counts from Fluent's acknowledgement. ``forget`` drops a batch whose partition
moved to another worker; ``expedite`` polls a batch early because a record waits for its verdict.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fluentsync.connectors.fluent.jobs import (
    TIMED_OUT,
    BatchStatus,
    StatusKind,
    normalise_status,
    status_kind,
)
from fluentsync.streams.observability.logs import bind, task_context

from .batching import BatchResult

__all__ = [
    "TIMED_OUT",
    "BatchCompletion",
    "BatchStatusPoller",
    "BatchStatusSource",
    "DoneCallback",
    "EntityError",
    "StatusPollSettings",
    "map_batch_errors",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

_EPSILON = 1e-6
"""Clock slack: a fake clock advanced by ``due - now`` may land a rounding error short of ``due``."""


class StatusPollSettings(BaseModel):
    """How often and for how long batch statuses are polled (R38).

    The interval is ``intervals[0]`` while fewer than ``thresholds[0]`` batches are tracked,
    ``intervals[1]`` while fewer than ``thresholds[1]``, else ``intervals[2]``; never below
    ``min_interval``. Frozen because one object is shared by the loop and every poll task.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    intervals: tuple[float, float, float] = (10.0, 30.0, 60.0)
    """Seconds between polls of one batch for few / some / many tracked batches."""
    thresholds: tuple[int, int] = (10, 100)
    """Tracked-batch counts at which the next (longer) interval applies."""
    min_interval: float = Field(default=1.0, gt=0)
    """Floor for every interval: protects Fluent from a mis-typed tiny interval; tests lower it."""
    poll_timeout: float = Field(default=3600.0, gt=0)
    """Seconds after ``submit`` at which a batch that is still not terminal ends ``TIMED_OUT``."""
    max_poll_attempts: int | None = Field(default=None, ge=1)
    """Status GETs (failed ones included) after which a non-terminal batch ends ``TIMED_OUT``."""
    max_concurrency: int = Field(default=4, ge=1)
    """Status GETs in flight at once, across all batches."""
    max_awaiting_records: int = Field(default=1_000_000, ge=1)
    """Records of one workflow awaiting their batch's verdict on one worker before intake pauses. Their
    verdict state is on disk (the records agent's ``submitted-batches`` table); what stays in memory is a
    small index (about 100 bytes a record), which this bounds."""

    @model_validator(mode="after")
    def _check(self) -> StatusPollSettings:
        if any(i <= 0 for i in self.intervals):
            raise ValueError("intervals must be positive")
        if not 0 < self.thresholds[0] <= self.thresholds[1]:
            raise ValueError("thresholds must be positive and ascending")
        return self

    def interval_for(self, tracked: int) -> float:
        """The poll interval while ``tracked`` batches are being watched."""
        if tracked < self.thresholds[0]:
            chosen = self.intervals[0]
        elif tracked < self.thresholds[1]:
            chosen = self.intervals[1]
        else:
            chosen = self.intervals[2]
        return max(chosen, self.min_interval)


class BatchStatusSource(Protocol):
    """What the poller needs from Fluent: :class:`~fluentsync.connectors.fluent.jobs.JobsAPI` fits."""

    async def get_batch(self, job_id: str, batch_id: str) -> BatchStatus: ...


@dataclass(frozen=True)
class EntityError:
    """One error Fluent reported for a batch; ``entity_index`` is None when it named no entity."""

    code: str | None
    message: str
    entity_index: int | None = None
    ref: str | None = None


@dataclass(frozen=True)
class BatchCompletion(Generic[T]):
    """The final outcome of one submitted batch.

    ``status`` is the normalised terminal status, or ``TIMED_OUT``. ``accepted`` holds the tokens Fluent
    applied; ``errors`` one ``(token, error)`` per failed entity in entity order; ``timed_out`` the tokens
    whose fate is unknown (only for ``TIMED_OUT``). ``batch_errors`` are errors naming no entity of the
    batch. ``polls`` counts status GETs, failed ones included.
    """

    job_id: str
    batch_id: str
    status: str
    accepted: list[T]
    errors: list[tuple[T, EntityError]]
    timed_out: list[T] = field(default_factory=list)
    batch_errors: list[EntityError] = field(default_factory=list)
    polls: int = 0
    job_key: str = ""
    last_status: BatchStatus | None = field(default=None, repr=False)

    @property
    def kind(self) -> StatusKind:
        """``success``, ``success_with_errors``, ``failure`` or ``timed_out`` (R39)."""
        return status_kind(self.status)

    @property
    def succeeded(self) -> bool:
        """True only when every token was accepted: anything else makes a run ``partial`` (R48)."""
        return not self.errors and not self.timed_out and self.kind in ("success", "success_with_errors")


DoneCallback = Callable[[BatchCompletion[T]], Awaitable[None]]


def _as_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _entity_error(raw: dict[str, Any]) -> EntityError:
    """Lenient parse of ``{code, message, entityIndex}`` and the doc variant ``{recordIndex, error, ref}``."""
    index = _as_int(raw.get("entityIndex"))
    if index is None:
        index = _as_int(raw.get("recordIndex"))
    message: Any = raw.get("message")
    code: Any = raw.get("code") or raw.get("errorType") or raw.get("type")
    detail = raw.get("error")
    if isinstance(detail, dict):
        message = message or detail.get("message")
        code = code or detail.get("code")
    elif detail is not None and not message:
        message = detail
    ref = raw.get("ref", raw.get("recordRef"))
    return EntityError(
        code=str(code) if code is not None else None,
        message=str(message) if message else "entity error (no message)",
        entity_index=index,
        ref=str(ref) if ref is not None else None,
    )


def _merge(first: EntityError, other: EntityError) -> EntityError:
    if other.message in first.message.split("; "):
        return first
    return EntityError(first.code, f"{first.message}; {other.message}", first.entity_index, first.ref)


def _batch_message(status: BatchStatus, unmatched: Sequence[EntityError]) -> str:
    for key in ("message", "error", "errorMessage"):
        value = status.raw.get(key)
        if isinstance(value, str) and value:
            return value
    if unmatched:
        return unmatched[0].message
    return f"batch {status.id} ended {status.status}"


def map_batch_errors(
    status: BatchStatus, tokens: Sequence[T]
) -> tuple[list[T], list[tuple[T, EntityError]], list[EntityError]]:
    """Split ``tokens`` by a terminal ``status`` into ``(accepted, errors, batch_errors)``.

    Errors are matched by ``entityIndex``, else ``recordIndex``; several errors on one entity are merged
    so each token appears once. A failed batch (``FAILED``/``EXPIRED``) accepts nothing: tokens without
    their own error get the batch's message (code ``BATCH_FAILED``), because a batch Fluent calls failed
    gives no assurance about any entity and resending a good upsert is harmless, losing one is not.
    """
    per_index: dict[int, EntityError] = {}
    unmatched: list[EntityError] = []
    for raw in status.errors:
        error = _entity_error(raw)
        index = error.entity_index
        if index is None or not 0 <= index < len(tokens):
            unmatched.append(error)
        elif index in per_index:
            per_index[index] = _merge(per_index[index], error)
        else:
            per_index[index] = error
    failed_batch = status_kind(status.status) == "failure"
    fallback = EntityError("BATCH_FAILED", _batch_message(status, unmatched)) if failed_batch else None
    accepted: list[T] = []
    errors: list[tuple[T, EntityError]] = []
    for index, token in enumerate(tokens):
        error_at = per_index.get(index)
        if error_at is not None:
            errors.append((token, error_at))
        elif fallback is not None:
            errors.append((token, EntityError(fallback.code, fallback.message, index)))
        else:
            accepted.append(token)
    return accepted, errors, unmatched


@dataclass
class _Tracked(Generic[T]):
    job_id: str
    batch_id: str
    tokens: Sequence[T]
    """The batch's tokens in entity order; ``range(n)`` when the caller keeps its own (positions)."""
    job_key: str
    submitted_at: float
    deadline: float
    last_at: float
    """When the batch was submitted or last polled; its next poll is one current interval later."""
    attempts: int = 0
    in_flight: bool = False
    last: BatchStatus | None = None


class BatchStatusPoller(Generic[T]):
    """Poll the status of submitted batches until terminal and report per-entity outcomes.

    Usage::

        poller = BatchStatusPoller(client.jobs, StatusPollSettings(), on_done=handle)
        await poller.start()

        async def on_sent(result: BatchResult[Ref]) -> None:
            poller.submit(result)  # returns at once; ingestion carries on

        sink = BatchSink(client, settings, store, workflow, on_sent=on_sent)
        ...
        await poller.aclose(drain=True)

    ``clock`` (seconds, monotonic) and ``sleep`` are injectable so a fake clock runs hours of polling
    instantly. An exception raised by ``on_done`` is kept and re-raised by ``submit``, ``drain`` or
    ``aclose``, as the sink does with its callbacks.
    """

    def __init__(
        self,
        jobs: BatchStatusSource,
        settings: StatusPollSettings | None = None,
        *,
        on_done: DoneCallback[T] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings or StatusPollSettings()
        self._jobs = jobs
        self._on_done = on_done
        self._clock = clock
        self._sleep = sleep
        self.completed: list[BatchCompletion[T]] = []
        """Outcomes, when no ``on_done`` is given."""
        self._tracked: dict[tuple[str, str], _Tracked[T]] = {}
        self._semaphore = asyncio.Semaphore(self.settings.max_concurrency)
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._errors: list[BaseException] = []
        self._closed = False
        self.status_calls = 0
        """Status GETs made (diagnostics and tests)."""
        self.status_call_errors = 0
        """Status GETs that raised (each logged, the batch polled again later)."""

    # -- public API ---------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Batches registered and not yet reported."""
        return len(self._tracked)

    def interval(self) -> float:
        """The current poll interval, from the number of tracked batches (R38)."""
        return self.settings.interval_for(len(self._tracked))

    def submit(self, result: BatchResult[T]) -> None:
        """Register an acknowledged batch; never blocks. Re-submitting a tracked batch is a no-op, so a
        replayed ``batch_submitted`` message causes no extra polling."""
        self.watch(result.job_id, result.batch_id, result.tokens, job_key=result.job_key)

    def watch(self, job_id: str, batch_id: str, tokens: Sequence[T], *, job_key: str = "", age: float = 0.0) -> None:
        """Register a batch by its ids: what :meth:`submit` does, for a caller that keeps the batch's
        records elsewhere (on disk) and passes ``range(n)`` as tokens, so a completion names entity
        positions. ``age`` is how long ago Fluent acknowledged the batch (a batch resumed after a restart):
        ``poll_timeout`` counts from then, so a crash loop cannot poll a batch forever. Its attempts
        start again from 0. A batch already tracked is left as it is."""
        if self._closed:
            raise RuntimeError("the status poller is closed")
        self._raise_errors()
        key = (job_id, batch_id)
        if key in self._tracked:
            return
        now = self._clock()
        submitted = now - max(age, 0.0)
        self._tracked[key] = _Tracked(job_id, batch_id, tokens, job_key, submitted,
                                      submitted + self.settings.poll_timeout, now)
        self._idle.clear()
        self._wakeup.set()

    def forget(self, job_id: str, batch_id: str) -> bool:
        """Stop polling a batch without reporting it (its partition moved to another worker, which polls
        it from its own copy). A poll already running may still report it. Returns whether it was tracked."""
        tracked = self._tracked.pop((job_id, batch_id), None)
        if not self._tracked:
            self._idle.set()
        return tracked is not None

    def expedite(self, job_id: str, batch_id: str) -> None:
        """Poll a tracked batch as soon as ``min_interval`` since its last poll allows, instead of one full
        interval later: a record waits for this batch's verdict (an earlier version of its key is in it).
        The caller bounds how often it asks; one poll per request, then the normal schedule resumes."""
        tracked = self._tracked.get((job_id, batch_id))
        if tracked is None or tracked.in_flight:
            return
        interval = self.interval()
        due = max(self._clock(), tracked.last_at + self.settings.min_interval)
        tracked.last_at = min(tracked.last_at, due - interval)  # the loop polls at last_at + interval
        self._wakeup.set()

    async def start(self) -> None:
        """Start the polling loop as a background task (idempotent)."""
        if self._closed:
            raise RuntimeError("the status poller is closed")
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.create_task(self.run(), name="batch-status-poller",
                                                  context=task_context("workflow"))  # outlives every batch

    async def run(self) -> None:
        """The polling loop: dispatch due polls, then sleep until the next is due or a batch arrives.

        Runs until cancelled; use :meth:`start`/:meth:`aclose` unless you manage the task yourself.
        """
        while True:
            now = self._clock()
            interval = self.interval()  # from the current count, so schedules stretch and shrink with it
            next_due: float | None = None
            for tracked in list(self._tracked.values()):
                if tracked.in_flight:
                    continue
                due = min(tracked.last_at + interval, tracked.deadline)
                if due <= now + _EPSILON:
                    tracked.in_flight = True
                    self._spawn(self._poll(tracked))
                elif next_due is None or due < next_due:
                    next_due = due
            self._wakeup.clear()
            if next_due is None:
                await self._wakeup.wait()  # a poll finishing or a new batch
                continue
            await self._sleep_or_wakeup(next_due - now)

    async def drain(self) -> None:
        """Wait until every submitted batch has been reported (bounded by ``poll_timeout``); needs the
        loop running. Re-raises the first error of an ``on_done`` callback."""
        await self._idle.wait()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._raise_errors()

    async def aclose(self, *, drain: bool = False, finish_running: bool = False) -> None:
        """Stop polling; with ``drain`` first wait for every tracked batch to be reported.

        Without ``drain``, batches still tracked are dropped unreported: the caller keeps them durably
        and registers them again after a restart. ``finish_running`` lets polls already running (and the
        ``on_done`` they call) end instead of cancelling them half-way.
        """
        try:
            if drain and self._tracked:
                await self.start()
                await self.drain()
        finally:
            self._closed = True
            if finish_running:
                if self._loop_task is not None:
                    self._loop_task.cancel()
                while self._tasks:
                    await asyncio.gather(*list(self._tasks), return_exceptions=True)
            tasks = [t for t in (self._loop_task, *self._tasks) if t is not None]
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._loop_task = None
        self._raise_errors()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose(drain=exc_type is None)

    # -- internals ----------------------------------------------------------------------------------

    def _raise_errors(self) -> None:
        if self._errors:
            error, self._errors = self._errors[0], []
            raise error

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sleep_or_wakeup(self, delay: float) -> None:
        """Sleep with the injected ``sleep`` but return early when ``submit`` or a poll sets the wakeup."""
        sleeper = asyncio.ensure_future(self._sleep(max(delay, 0.0)))
        waiter = asyncio.ensure_future(self._wakeup.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in (sleeper, waiter):
                if not future.done():
                    future.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await future

    async def _poll(self, tracked: _Tracked[T]) -> None:
        bind(job_id=tracked.job_id)  # a task of its own (see _spawn)
        try:
            async with self._semaphore:
                started = self._clock()
                tracked.attempts += 1
                self.status_calls += 1
                status: BatchStatus | None = None
                try:
                    status = await self._jobs.get_batch(tracked.job_id, tracked.batch_id)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the status call failing is not the batch failing
                    self.status_call_errors += 1
                    log.warning(
                        "batch status call failed for job %s batch %s (attempt %d), polling again later: %s: %s",
                        tracked.job_id,
                        tracked.batch_id,
                        tracked.attempts,
                        type(exc).__name__,
                        exc,
                    )
            if status is not None:
                tracked.last = status
                if status_kind(status.status) in ("success", "success_with_errors", "failure"):
                    await self._finish(tracked, status)
                    return
            out_of_time = started >= tracked.deadline - _EPSILON
            limit = self.settings.max_poll_attempts
            if out_of_time or (limit is not None and tracked.attempts >= limit):
                await self._time_out(tracked)
                return
            tracked.last_at = started
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # from on_done: kept, re-raised from submit/drain/aclose
            self._errors.append(exc)
        finally:
            tracked.in_flight = False
            self._wakeup.set()

    async def _finish(self, tracked: _Tracked[T], status: BatchStatus) -> None:
        accepted, errors, batch_errors = map_batch_errors(status, tracked.tokens)
        log.debug(
            "batch %s of job %s ended %s after %d polls: %d accepted, %d entity errors",
            tracked.batch_id,
            tracked.job_id,
            status.status,
            tracked.attempts,
            len(accepted),
            len(errors),
        )
        await self._report(
            tracked,
            BatchCompletion(
                job_id=tracked.job_id,
                batch_id=tracked.batch_id,
                status=normalise_status(status.status),
                accepted=accepted,
                errors=errors,
                batch_errors=batch_errors,
                polls=tracked.attempts,
                job_key=tracked.job_key,
                last_status=status,
            ),
        )

    async def _time_out(self, tracked: _Tracked[T]) -> None:
        last = tracked.last.status if tracked.last is not None else "no status"
        log.warning(
            "batch %s of job %s not terminal after %d polls / %.0f s (last: %s): reporting TIMED_OUT",
            tracked.batch_id,
            tracked.job_id,
            tracked.attempts,
            self._clock() - tracked.submitted_at,
            last,
        )
        await self._report(
            tracked,
            BatchCompletion(
                job_id=tracked.job_id,
                batch_id=tracked.batch_id,
                status=TIMED_OUT,
                accepted=[],
                errors=[],
                timed_out=list(tracked.tokens),
                polls=tracked.attempts,
                job_key=tracked.job_key,
                last_status=tracked.last,
            ),
        )

    async def _report(self, tracked: _Tracked[T], completion: BatchCompletion[T]) -> None:
        # Untrack first: a failing callback must not leave the batch polled forever.
        key = (tracked.job_id, tracked.batch_id)
        if self._tracked.get(key) is not tracked:
            return  # forgotten (partition revoked) while its poll ran: its new owner reports it
        del self._tracked[key]
        if not self._tracked:
            self._idle.set()
        if self._on_done is not None:
            await self._on_done(completion)
        else:
            self.completed.append(completion)
