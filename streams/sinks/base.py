"""What every sink shares: buffers sent as tasks, the linger timer, back-pressure, reporting, closing.

Why one base: the Batch API sink (:mod:`.sink`) and the real-time sinks (:mod:`.dispatch`) keep the
same delivery contract - a token comes back exactly once, through ``on_sent``, ``on_rejected`` or
``on_failed`` (or the ``results``/``rejected``/``failed`` lists without callbacks), and ``flush()``
returns only when every handed-in token has been reported - with the same linger timer for partial
buffers and the same bound on queued sends. Written once, each sink is only what differs: how a
buffer becomes HTTP requests and how Fluent's answer is attributed (:meth:`SinkBase._send_buffer`).

Buffers are keyed by a hashable *group* (the job key for the Batch API sink; the rendered event or
request envelope for the real-time sinks). A buffer sent by the linger timer or by ``flush`` leaves the
dict, so per-file job keys and templated groups do not accumulate.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable
from types import TracebackType
from typing import Generic, Self, TypeVar

from fluentsync.connectors.fluent import FluentError
from fluentsync.streams.observability.logs import task_context

from .batching import BatchResult, Buffer

__all__ = ["FailedCallback", "RejectedCallback", "SentCallback", "SinkBase"]

T = TypeVar("T")

SentCallback = Callable[[BatchResult[T]], Awaitable[None]]
RejectedCallback = Callable[[list[T], str], Awaitable[None]]
FailedCallback = Callable[[list[T], FluentError], Awaitable[None]]


class SinkBase(Generic[T]):
    """Buffers, send tasks (at most ``concurrency`` at once, ``add`` waits beyond that), linger, reporting."""

    def __init__(
        self,
        *,
        concurrency: int,
        linger: float,
        on_sent: SentCallback[T] | None,
        on_rejected: RejectedCallback[T] | None,
        on_failed: FailedCallback[T] | None,
    ) -> None:
        self._concurrency = concurrency
        self._linger = linger
        self._on_sent = on_sent
        self._on_rejected = on_rejected
        self._on_failed = on_failed
        self.results: list[BatchResult[T]] = []
        self.rejected: list[tuple[list[T], str]] = []
        self.failed: list[tuple[list[T], FluentError]] = []
        self._buffers: dict[Hashable, Buffer[T]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._semaphore = asyncio.Semaphore(concurrency)
        self._wakeup = asyncio.Event()
        self._linger_task: asyncio.Task[None] | None = None
        self._errors: list[BaseException] = []
        self._closed = False
        self.in_flight = 0
        self.max_in_flight_seen = 0
        """Highest number of concurrent HTTP requests observed (diagnostics and tests)."""

    @property
    def pending(self) -> int:
        """Entities buffered and not yet handed to a sender."""
        return sum(len(b) for b in self._buffers.values())

    async def flush(self, job_key: str | None = None) -> None:
        """Send the buffered entities (of ``job_key`` only, e.g. at end of file, or all) and wait until
        every send in progress has been reported. Raises the first unexpected error of a send."""
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

    async def _send_buffer(self, batch: Buffer[T]) -> None:
        """Send ``batch`` and report every one of its tokens exactly once."""
        raise NotImplementedError

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the sink is closed")
        self._raise_errors()

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
        # a batch may mix files and outlives the add() that filled it: its log lines name the workflow (and job)
        task = asyncio.create_task(self._run(batch), context=task_context("workflow"))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _backpressure(self) -> None:
        while len(self._tasks) > self._concurrency:
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
                    del self._buffers[group]
                    self._dispatch(buffer.take())

    async def _run(self, batch: Buffer[T]) -> None:
        try:
            async with self._semaphore:
                await self._send_buffer(batch)
        except Exception as exc:  # kept; re-raised from add()/flush()
            self._errors.append(exc)
