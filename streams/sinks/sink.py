"""The Batch API sink: buffer inventory entities, send them as batches, report what Fluent accepted.

Why this shape (a batching sink with ``add()``/``flush()``, as in quix-streams): the stream processor
must not commit a Kafka offset, nor move the dedupe baseline, for a record Fluent has not acknowledged.
So the sink hands back the caller's opaque *tokens* only through ``on_sent`` and only after a 2xx with a
batch id. Checkpoint order for the caller: ``await sink.flush()`` (every buffered entity is then sent and
reported one way or another), then commit.

Every token ends up in exactly one of three places, never silently dropped:

* ``on_sent(BatchResult)`` - acknowledged by Fluent;
* ``on_rejected(tokens, reason)`` - the entity itself is bad: a whole-batch 4xx validation error was
  bisected down to it, or it alone exceeds the body limit. Resending it cannot help;
* ``on_failed(tokens, error)`` - Fluent could not be reached or kept failing after the client's own
  retries (RetryPolicy), or refused for a non-validation reason. Retrying later may help.

A closed or expired job (fluent-api.md §5.7) is replaced by a new job and the batch is resent once.
Concurrency: ``max_in_flight`` POSTs at a time (R33); ``add`` blocks when more than that many batches
are queued behind them, which is the back-pressure on the consumer.

Without callbacks the outcomes are collected in ``results``, ``rejected`` and ``failed``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from fluentsync.connectors.fluent import (
    BatchStatus,
    FluentClient,
    FluentClientError,
    FluentError,
    FluentJobClosedError,
    FluentValidationError,
)
from fluentsync.streams.observability.logs import bind

from .base import FailedCallback, RejectedCallback, SentCallback, SinkBase
from .batching import BatchResult, Buffer, entity_bytes, fits_alone
from .jobs import JobManager, JobStore
from .settings import BatchSinkSettings

__all__ = ["BatchSink", "FailedCallback", "RejectedCallback", "SentCallback"]

T = TypeVar("T")

_BISECT_STATUSES = frozenset({400, 413, 422})


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _is_whole_batch_rejection(exc: FluentError) -> bool:
    """A 400/413/422 on the batch POST, or the client refusing an oversized body ("… split it")."""
    if isinstance(exc, FluentJobClosedError):
        return False
    if isinstance(exc, FluentClientError):
        return exc.status in _BISECT_STATUSES
    return isinstance(exc, FluentValidationError) and "split it" in exc.message


class BatchSink(SinkBase[T]):
    """Send inventory entities to the Fluent Batch API; see the module docstring for the contract."""

    def __init__(
        self,
        client: FluentClient,
        settings: BatchSinkSettings,
        job_store: JobStore,
        workflow: str,
        *,
        clock: Callable[[], datetime] = _utcnow,
        on_sent: SentCallback[T] | None = None,
        on_rejected: RejectedCallback[T] | None = None,
        on_failed: FailedCallback[T] | None = None,
    ) -> None:
        super().__init__(concurrency=settings.max_in_flight, linger=settings.linger, on_sent=on_sent,
                         on_rejected=on_rejected, on_failed=on_failed)
        self.settings = settings
        self.workflow = workflow
        self._client = client
        self._jobs = JobManager(client, settings, job_store, workflow, clock)

    # -- public API ---------------------------------------------------------------------------------

    async def add(self, entity: Mapping[str, Any], token: T, job_key: str = "") -> None:
        """Buffer ``entity`` for the job selected by ``job_key`` (file id for ``per_file``, run id for
        ``per_run``; ignored by ``daily``/``long_running``). Sends a batch when it is full and waits when
        too many batches are queued. Raises the first unexpected error of an earlier send (e.g. from a
        callback)."""
        self._check_open()
        body = dict(entity)
        size = entity_bytes(body)
        if not fits_alone(size, self.settings.max_body_bytes):
            await self._reject([token], f"entity of {size} bytes exceeds max_body_bytes={self.settings.max_body_bytes}")
            return
        buffer = self._buffers.get(job_key)
        if buffer is None:
            buffer = self._buffers[job_key] = Buffer(job_key)
        if buffer.entities and not buffer.fits(size, self.settings.max_batch_size, self.settings.max_body_bytes):
            self._dispatch(buffer.take())
        was_empty = not buffer.entities
        buffer.append(body, token, size, asyncio.get_running_loop().time() if was_empty else 0.0)
        if len(buffer) >= self.settings.max_batch_size:
            self._dispatch(buffer.take())
        elif was_empty:
            self._ensure_linger()
            self._wakeup.set()
        if len(self._tasks) > self._concurrency:
            await self._backpressure()

    async def _send_buffer(self, batch: Buffer[T]) -> None:
        await self._send(batch.job_key, batch.entities, batch.tokens)

    # -- sending ------------------------------------------------------------------------------------

    async def _send(self, job_key: str, entities: list[dict[str, Any]], tokens: list[T]) -> None:
        key = self._jobs.key_for(job_key)
        try:
            job_id = await self._jobs.get_or_create(key, job_key)
        except FluentError as exc:
            await self._fail(tokens, exc)
            return
        bind(job_id=job_id)  # this batch's own task (see _dispatch): its lines carry the Fluent job
        await self._post(key, job_key, job_id, entities, tokens, resent=False)

    async def _post(
        self, key: str, job_key: str, job_id: str, entities: list[dict[str, Any]], tokens: list[T], *, resent: bool
    ) -> None:
        try:
            status = await self._send_batch(job_id, entities)
        except FluentJobClosedError as exc:
            if resent:
                await self._fail(tokens, exc)
                return
            key = self._jobs.key_for(job_key)  # the UTC date may have moved on (daily jobs close at midnight)
            try:
                new_job = await self._jobs.replace_closed(key, job_key, job_id)
            except FluentError as create_error:
                await self._fail(tokens, create_error)
                return
            await self._post(key, job_key, new_job, entities, tokens, resent=True)
            return
        except FluentError as exc:
            if not _is_whole_batch_rejection(exc):
                await self._fail(tokens, exc)
            elif len(entities) == 1:
                await self._reject(tokens, str(exc))
            else:
                mid = len(entities) // 2
                await self._post(key, job_key, job_id, entities[:mid], tokens[:mid], resent=False)
                await self._post(key, job_key, job_id, entities[mid:], tokens[mid:], resent=False)
            return
        await self._jobs.acknowledged(key, job_id)
        await self._deliver(BatchResult(job_id, status.id, list(tokens), status.status, job_key))

    async def _send_batch(self, job_id: str, entities: Sequence[Mapping[str, Any]]) -> BatchStatus:
        s = self.settings
        self.in_flight += 1
        self.max_in_flight_seen = max(self.max_in_flight_seen, self.in_flight)
        try:
            return await self._client.jobs.send_batch(
                job_id,
                entities,
                action=s.action,
                entity_type=s.entity_type,
                source=s.source_for(self.workflow),
                event=s.event,
                catalogue_ref=s.catalogue_ref,
            )
        finally:
            self.in_flight -= 1
