"""The machinery the Event and Mutation sinks share: grouped buffers, linger, bounded sends, pacing, reporting.

Why a shared base and not a copy of :class:`~.sink.BatchSink`: both real-time sinks need exactly the same
delivery contract as the Batch API sink (tokens come back only through ``on_sent``/``on_rejected``/
``on_failed``; ``flush()`` returns only when every handed-in token has been reported), the same linger
timer for partial groups and the same back-pressure. Writing that once keeps the two sinks to what differs:
how a group of entities becomes HTTP requests and how the answer is attributed. ``BatchSink`` itself is left
as it is (its behaviour is pinned by its own tests).

Why groups are keyed by more than the job key: records can only share one request when everything outside
the per-record payload is the same (an event's ``name``/``entityRef``/…, rendered per record from
templates), so a subclass passes a hashable *group key*; ``job_key`` is only carried through to
:class:`~.batching.BatchResult`.

Why a token bucket on top of the concurrency bound: Fluent publishes no numeric limits, and the templates
pace client-side (events: concurrency 1 ≈ 1/s, 10 ≈ 10/s; mutations: 10/s by default, fluent-api.md §4.5,
§6.5). A semaphore bounds parallelism, not rate; the bucket bounds rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from fluentsync.connectors.fluent import FluentError
from fluentsync.streams.observability.logs import task_context

from .batching import BatchResult, Buffer
from .sink import FailedCallback, RejectedCallback, SentCallback

__all__ = ["GroupingSink", "TokenBucket"]

T = TypeVar("T")


class TokenBucket:
    """Async token bucket: at most ``rate`` acquisitions per second on average, bursts of ``burst``.

    Waiters are served in arrival order (one lock), so a slow stream of ``add`` calls cannot be starved by
    bisection retries. ``clock``/``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a positive number, got {rate!r}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst!r}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._last = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
        self._last = now

    async def acquire(self) -> None:
        """Wait until one token is available and take it."""
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                await self._sleep((1 - self._tokens) / self.rate)
                self._refill()
            self._tokens = max(0.0, self._tokens - 1)


class GroupingSink(Generic[T]):
    """Base of the real-time sinks: buffers entities per group key, sends groups as tasks, reports tokens.

    Subclasses implement :meth:`_send` (one group, already taken from its buffer) and call
    :meth:`_enqueue` from their ``add``. Every HTTP call of a subclass goes through :meth:`_request_slot`,
    which applies the rate limit and keeps ``in_flight``/``max_in_flight_seen`` honest. Without callbacks the
    outcomes are collected in ``results``, ``rejected`` and ``failed`` (as in ``BatchSink``).
    """

    def __init__(
        self,
        *,
        max_concurrency: int,
        linger: float,
        max_group_size: int,
        rate_limit: float | None,
        rate_burst: int,
        on_sent: SentCallback[T] | None,
        on_rejected: RejectedCallback[T] | None,
        on_failed: FailedCallback[T] | None,
    ) -> None:
        self._max_concurrency = max_concurrency
        self._linger = linger
        self._max_group_size = max_group_size
        self._bucket = TokenBucket(rate_limit, rate_burst) if rate_limit is not None else None
        self._on_sent = on_sent
        self._on_rejected = on_rejected
        self._on_failed = on_failed
        self.results: list[BatchResult[T]] = []
        self.rejected: list[tuple[list[T], str]] = []
        self.failed: list[tuple[list[T], FluentError]] = []
        self._buffers: dict[Hashable, Buffer[T]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._wakeup = asyncio.Event()
        self._linger_task: asyncio.Task[None] | None = None
        self._errors: list[BaseException] = []
        self._closed = False
        self.in_flight = 0
        self.max_in_flight_seen = 0
        """Highest number of concurrent HTTP requests observed (diagnostics and tests)."""

    # -- public API ---------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Entities buffered and not yet handed to a sender."""
        return sum(len(b) for b in self._buffers.values())

    async def flush(self, job_key: str | None = None) -> None:
        """Send the buffered entities (of ``job_key`` only, or all) and wait until every send in progress
        has been reported. Raises the first unexpected error of a send (e.g. from a callback)."""
        for group, buffer in list(self._buffers.items()):
            if job_key is None or buffer.job_key == job_key:
                del self._buffers[group]
                if buffer.entities:
                    self._dispatch(buffer.take())
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._raise_errors()

    async def aclose(self) -> None:
        """Flush, then stop the linger timer; ``add`` raises afterwards."""
        try:
            await self.flush()
        finally:
            self._closed = True
            if self._linger_task is not None:
                self._linger_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._linger_task
                self._linger_task = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- for subclasses -----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the sink is closed")
        self._raise_errors()

    async def _enqueue(self, group: Hashable, job_key: str, entity: dict[str, Any], token: T, size: int) -> None:
        """Buffer one entity in ``group``; send the group when full, else let the linger timer send it."""
        buffer = self._buffers.get(group)
        if buffer is None:
            buffer = self._buffers[group] = Buffer(job_key)
        buffer.append(entity, token, size, asyncio.get_running_loop().time())
        if len(buffer) >= self._max_group_size:
            del self._buffers[group]
            self._dispatch(buffer.take())
        elif len(buffer) == 1:
            self._ensure_linger()
            self._wakeup.set()
        await self._backpressure()

    async def _send_now(self, job_key: str, entity: dict[str, Any], token: T, size: int) -> None:
        """Send one entity as its own group at once (no linger), e.g. one event per record."""
        batch: Buffer[T] = Buffer(job_key)
        batch.append(entity, token, size, asyncio.get_running_loop().time())
        self._dispatch(batch)
        await self._backpressure()

    async def _send(self, batch: Buffer[T]) -> None:
        """Send ``batch`` and report every one of its tokens exactly once."""
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def _request_slot(self) -> AsyncIterator[None]:
        """Around one HTTP call: wait for the rate limit, count the call as in flight."""
        if self._bucket is not None:
            await self._bucket.acquire()
        self.in_flight += 1
        self.max_in_flight_seen = max(self.max_in_flight_seen, self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1

    async def _deliver(self, result: BatchResult[T]) -> None:
        if self._on_sent is not None:
            await self._on_sent(result)
        else:
            self.results.append(result)

    async def _reject(self, tokens: list[T], reason: str) -> None:
        if self._on_rejected is not None:
            await self._on_rejected(list(tokens), reason)
        else:
            self.rejected.append((list(tokens), reason))

    async def _fail(self, tokens: list[T], error: FluentError) -> None:
        if self._on_failed is not None:
            await self._on_failed(list(tokens), error)
        else:
            self.failed.append((list(tokens), error))

    # -- scheduling ---------------------------------------------------------------------------------

    def _raise_errors(self) -> None:
        if self._errors:
            error, self._errors = self._errors[0], []
            raise error

    def _dispatch(self, batch: Buffer[T]) -> None:
        task = asyncio.create_task(self._run(batch), context=task_context("workflow"))  # may mix files
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _backpressure(self) -> None:
        while len(self._tasks) > self._max_concurrency:
            await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)

    def _ensure_linger(self) -> None:
        if self._linger_task is None or self._linger_task.done():
            self._linger_task = asyncio.create_task(self._linger_loop(), context=task_context("workflow"))

    async def _linger_loop(self) -> None:
        loop = asyncio.get_running_loop()
        linger = self._linger
        while True:
            starts = [b.started for b in self._buffers.values() if b.started is not None]
            self._wakeup.clear()
            if not starts:
                await self._wakeup.wait()
                continue
            delay = min(starts) + linger - loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), delay)
                continue
            now = loop.time()
            for group, buffer in list(self._buffers.items()):
                if buffer.started is not None and buffer.started + linger <= now:
                    del self._buffers[group]  # templated group keys must not accumulate forever
                    self._dispatch(buffer.take())

    async def _run(self, batch: Buffer[T]) -> None:
        try:
            async with self._semaphore:
                await self._send(batch)
        except Exception as exc:  # kept; re-raised from add()/flush()
            self._errors.append(exc)
