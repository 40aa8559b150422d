"""The machinery the Event and Mutation sinks share: grouped buffers, linger, bounded sends, pacing, reporting.

Why a shared base: both real-time sinks need the same grouping, pacing and per-request accounting on top
of what every sink shares with the Batch API sink (:class:`~.base.SinkBase`: the delivery contract, the
linger timer, back-pressure). Writing that once keeps the two sinks to what differs: how a group of
entities becomes HTTP requests and how the answer is attributed.

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
from typing import Any, TypeVar

from .base import FailedCallback, RejectedCallback, SentCallback, SinkBase
from .batching import Buffer

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


class GroupingSink(SinkBase[T]):
    """Base of the real-time sinks: buffers entities per group key, sends groups as tasks, reports tokens.

    Subclasses implement :meth:`_send_buffer` (one group, already taken from its buffer) and call
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
        super().__init__(concurrency=max_concurrency, linger=linger, on_sent=on_sent, on_rejected=on_rejected,
                         on_failed=on_failed)
        self._max_group_size = max_group_size
        self._bucket = TokenBucket(rate_limit, rate_burst) if rate_limit is not None else None

    # -- for subclasses -----------------------------------------------------------------------------

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
