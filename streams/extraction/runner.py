"""One extraction run: Fluent GraphQL pages -> Avro events on the outbound topic -> a new watermark.

The order of a run, and why:

1. The run record goes to RUNNING (``extraction.runs``) so ``fluentsync runs`` sees it at once.
2. The watermark is read back from ``extraction.watermarks``. The window is ``{from: watermark -
   overlap}`` (open-ended ``to``), or the ``--from``/``--to`` asked for, or nothing (a full extraction:
   no watermark yet, ``--full``, or ``incremental: null``).
3. A fetch task pages with the client's :class:`~fluentsync.connectors.fluent.Paginator` (constant
   memory, edges deduped by id, a cursor that does not advance is an error) into a queue of two pages,
   so the next GraphQL request is in flight while this page is encoded and sent. Retryable GraphQL
   errors (``S0002``, ``C0011``...) are retried ``retries`` times after Fluent's delay; HTTP errors are
   already retried by the client.
4. Each node is converted and Avro-encoded with the codec's framing (:mod:`.encoder`: straight from
   the node to Avro for the typed schemas, else :mod:`.convert` and the codec) and published keyed by
   its ``ref`` (:mod:`.publish`: per-partition record batches, ``acks=all``), each page's events sent
   at the end of the page without waiting; at most ``max_in_flight`` events wait for acknowledgement.
   Nodes of the overlap window that the previous run already delivered (same id and ``updatedOn``,
   remembered with the watermark) are skipped.
5. Only when **every** send is acknowledged is the new watermark (the highest ``updatedOn`` delivered)
   stored, and only then is the run COMPLETED. A crash or an error before that leaves the old
   watermark: the next run extracts the same window again (at-least-once; consumers dedupe on
   ``id`` + ``updatedOn``). Nothing is ever skipped.

When the watermark does *not* move: no node delivered (R62 "no changes"); a run stopped by
``max_records``/``max_pages``/``run_timeout`` unless ``incremental.ordered`` (an unordered connection
may hold older nodes on the pages not read); an explicit ``--from`` later than the stored watermark (it
would skip the nodes in between); a value lower than the stored one (watermarks never go backwards).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer

from fluentsync.connectors.fluent import FluentClient, FluentError, FluentGraphQLError, GraphQLAPI, Page, Paginator
from fluentsync.connectors.fluent.graphql import ErrorHandling, GraphQLResult
from fluentsync.schemas.codec import AvroCodec, default_codec
from fluentsync.streams.kafka.partitioning import Strategy
from fluentsync.streams.observability.logs import correlate

from .config import GENERIC_SCHEMA, ExtractionConfig
from .convert import Conversion, Converter, compile_converter, convert_generic
from .encoder import NodeEncoder
from .nested import NestedPages
from .publish import BatchPublisher
from .state import ExtractionState, RunRecord, Watermark, format_timestamp, new_run_id, parse_timestamp

__all__ = ["ExtractionError", "ExtractionRunner", "RunRequest"]

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 5.0  #: seconds between progress updates of the run record
_QUEUE_PAGES = 2


class ExtractionError(RuntimeError):
    """The extraction cannot run as configured (e.g. the query lacks the incremental variable)."""


@dataclass(frozen=True)
class RunRequest:
    """What to run: the whole incremental window by default; ``window_from``/``window_to``/``full`` override."""

    run_id: str | None = None
    triggered_by: str = "manual"
    window_from: datetime | None = None
    window_to: datetime | None = None
    full: bool = False
    created_at: datetime | None = None


class _RetryingGraphQL(GraphQLAPI):
    """GraphQL that retries errors Fluent classifies as retryable, honouring their delay (capped)."""

    def __init__(self, client: FluentClient, retries: int, max_delay: float,
                 sleep: Callable[[float], Awaitable[None]]) -> None:
        super().__init__(client.core)
        self._retries, self._max_delay, self._sleep = retries, max_delay, sleep

    async def execute(self, query: str, variables: Mapping[str, Any] | None = None,
                      operation_name: str | None = None, *, error_handling: ErrorHandling = "throw",
                      attempt_timeout: float | None = None) -> GraphQLResult:
        attempt = 0
        while True:
            try:
                return await super().execute(query, variables, operation_name, error_handling=error_handling,
                                             attempt_timeout=attempt_timeout)
            except FluentGraphQLError as exc:
                if not exc.retryable or attempt >= self._retries:
                    raise
                attempt += 1
                delay = min(exc.retry_after if exc.retry_after is not None else 1.0, self._max_delay)
                log.warning("retryable GraphQL error (%s); retry %d/%d in %.1fs", exc.error_code, attempt,
                            self._retries, delay)
                await self._sleep(delay)


class ExtractionRunner:
    """Runs one configured extraction; one instance may run it many times (one run at a time)."""

    def __init__(self, name: str, config: ExtractionConfig, *, client: FluentClient, producer: AIOKafkaProducer,
                 state: ExtractionState, topic: str, codec: AvroCodec | None = None, partitioning: Strategy = "crc32",
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.name, self.config, self.client, self.producer = name, config, client, producer
        self.state, self.topic, self.partitioning = state, topic, partitioning
        self.codec = codec or default_codec()
        self.schema = self.codec.repository.get(config.schema_name)
        self._graphql = _RetryingGraphQL(client, config.retries, config.max_retry_delay, sleep)
        self._lock = asyncio.Lock()

    # -- the window ---------------------------------------------------------------------------------

    def _variables(self, query: str, window_from: datetime | None, window_to: datetime | None) -> dict[str, Any]:
        variables = dict(self.config.variables)
        incremental = self.config.incremental
        if incremental is None:
            if window_from is not None or window_to is not None:
                raise ExtractionError(f"extraction {self.name!r} is not incremental: it takes no --from/--to")
            return variables
        if not re.search(rf"\${re.escape(incremental.variable)}\b", query):
            raise ExtractionError(f"extraction {self.name!r}: the query declares no ${incremental.variable} "
                                  "variable for the incremental window (or set incremental: null)")
        window: dict[str, str] = {}
        if window_from is not None:
            window["from"] = format_timestamp(window_from)
        if window_to is not None:
            window["to"] = format_timestamp(window_to)
        variables[incremental.variable] = window or None
        return variables

    # -- a run ----------------------------------------------------------------------------------------

    async def run(self, request: RunRequest | None = None,
                  on_progress: Callable[[RunRecord], None] | None = None) -> RunRecord:
        """Run once; returns the final run record (COMPLETED or FAILED). Cancellation marks it FAILED."""
        request = request or RunRequest()
        async with self._lock:
            now = datetime.now(UTC)
            run = RunRecord(request.run_id or new_run_id(self.name, now), self.name, "QUEUED",
                            request.created_at or now, now, stage="queued", triggered_by=request.triggered_by,
                            topic=self.topic, schema=self.schema.name)
            run.transition("RUNNING", "extracting", now)
            await self.state.put_run(run)
            started = time.monotonic()
            try:
                with correlate(extraction=self.name, run_id=run.run_id):  # the fetch task inherits them
                    await self._extract(run, request, started, on_progress)
            except (Exception, asyncio.CancelledError) as exc:
                run.duration_ms = int((time.monotonic() - started) * 1000)
                run.error = _describe(exc)
                run.transition("FAILED", "error")
                log.error("extraction %s run %s failed: %s", self.name, run.run_id, run.error,
                          extra={"extraction": self.name, "run_id": run.run_id})
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(self.state.put_run(run)), 10)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                return run
            run.duration_ms = int((time.monotonic() - started) * 1000)
            run.transition("COMPLETED", "completed-truncated" if run.truncated else "finished")
            await self.state.put_run(run)
            return run

    async def _extract(self, run: RunRecord, request: RunRequest, started: float,
                       on_progress: Callable[[RunRecord], None] | None) -> None:
        config, incremental = self.config, self.config.incremental
        stored = None if incremental is None else await self.state.watermark(self.name)
        run.watermark_before = stored.watermark if stored else None
        skip: frozenset[str] = frozenset()
        if request.window_from is not None or request.window_to is not None:
            window_from, window_to = request.window_from, request.window_to
        elif request.full or incremental is None:
            window_from, window_to = None, None
        elif stored is not None:
            window_from, window_to = stored.value - timedelta(seconds=incremental.overlap), None
            skip = frozenset(stored.overlap_keys)
        else:
            window_from, window_to = incremental.start, None
        # A run may move the watermark only if its window leaves no hole below it.
        contiguous = request.window_from is None or (stored is not None and request.window_from <= stored.value)
        run.window_from = format_timestamp(window_from) if window_from else None
        run.window_to = format_timestamp(window_to) if window_to else None
        query = config.query_text()
        paginator = Paginator(
            self._graphql, query, self._variables(query, window_from, window_to), page_size=config.page_size,
            connection_path=config.connection_path, max_pages=config.max_pages, max_records=config.max_records,
            timeout=config.run_timeout, page_timeout=config.request_timeout)

        conversion = Conversion()
        convert: Converter
        if self.schema.name == GENERIC_SCHEMA:
            convert = convert_generic(config.connection_path or self.name, conversion)
        else:
            convert = compile_converter(self.schema.parsed, conversion, skip=frozenset({"extraction"}))
        meta = ("fluentsync.outbound.ExtractionMeta",  # tuple notation: see .convert
                {"extraction": self.name, "run_id": run.run_id, "extracted_at": run.started_at})
        # node -> framed event: typed schemas are compiled straight to Avro (.encoder), same bytes
        encode = NodeEncoder(self.codec, self.schema, convert, conversion, "extraction", meta, topic=self.topic,
                             compiled=self.schema.name != GENERIC_SCHEMA)
        field = incremental.field if incremental is not None else "updatedOn"
        overlap = timedelta(seconds=incremental.overlap if incremental is not None else 0)
        cap = incremental.max_overlap_keys if incremental is not None else 0
        tail: dict[str, datetime] = {}
        tail_overflow = cap == 0
        highest: datetime | None = None
        partitions = await self.producer.partitions_for(self.topic)
        publisher = BatchPublisher(self.producer, self.topic, len(partitions), self.partitioning)
        key_field, limit = config.key_field, config.max_in_flight
        append, add = publisher.append, publisher.add
        floor: datetime | None = None  # highest - overlap
        last_progress = time.monotonic()

        queue: asyncio.Queue[Page | BaseException | None] = asyncio.Queue(_QUEUE_PAGES)
        nested = NestedPages(self._graphql, query, config.connection_path)  # items past the first 100

        async def fetch() -> None:
            try:
                async for page in paginator:
                    if nested.connections:  # complete truncated nodes here, while the last page is encoded
                        for edge in page.edges:
                            node = edge.get("node")
                            if isinstance(node, dict):
                                await nested.complete(node)
                    await queue.put(page)
                await queue.put(None)
            except Exception as exc:
                await queue.put(exc)

        fetcher = asyncio.create_task(fetch(), name=f"extract-{self.name}-fetch")
        try:
            while (page := await queue.get()) is not None:
                if isinstance(page, BaseException):
                    raise page
                run.pages += 1
                run.duplicates += page.duplicates
                for edge in page.edges:
                    node = edge.get("node")
                    if not isinstance(node, dict):
                        continue
                    raw = node.get(field)
                    stamp = parse_timestamp(raw) if isinstance(raw, str) else None
                    if skip and f"{node.get('id')}|{raw}" in skip:
                        run.overlap_skipped += 1
                        continue
                    key = node.get(key_field)
                    if key is None:
                        key = node.get("id")
                    event_key, event = None if key is None else str(key).encode(), encode(node)
                    if not append(event_key, event):  # the partition's batch is full: send it (awaits)
                        await add(event_key, event)
                    run.nodes += 1
                    if stamp is not None:
                        if highest is None or stamp > highest:
                            highest, floor = stamp, stamp - overlap
                        if not tail_overflow and floor is not None and stamp >= floor:
                            tail[f"{node.get('id')}|{raw}"] = stamp
                if publisher.in_flight >= limit:
                    await publisher.settle(limit // 2)
                else:
                    await publisher.flush()  # this page's events go out now, not with the next page's
                if highest is not None and tail:
                    floor = highest - overlap
                    tail = {k: v for k, v in tail.items() if v >= floor}
                    if len(tail) > cap:
                        tail, tail_overflow = {}, True
                if time.monotonic() - last_progress >= PROGRESS_INTERVAL:
                    last_progress = time.monotonic()
                    run.nested_truncated = conversion.nested_truncated
                    run.duration_ms = int((last_progress - started) * 1000)
                    run.updated_at = datetime.now(UTC)
                    await self.state.put_run(run)
                    if on_progress is not None:
                        on_progress(run)
            await publisher.settle(0)  # every event acknowledged (acks=all) before the watermark moves
        finally:
            if not fetcher.done():
                fetcher.cancel()
            with contextlib.suppress(BaseException):
                await fetcher
            if publisher.in_flight:
                publisher.abandon()
        run.nested_truncated = conversion.nested_truncated
        run.truncated = paginator.stats.truncation_reason
        if nested.requests:
            log.info("extraction %s run %s: %d nested connection(s) completed with %d follow-up request(s)",
                     self.name, run.run_id, nested.completed, nested.requests)
        run.end_offsets = [{"partition": p, "offset": o} for p, o in sorted(publisher.end_offsets.items())]
        if incremental is not None and highest is None and run.nodes:
            log.warning("extraction %s: the nodes carry no %r, so the watermark cannot advance; select it in the"
                        " query", self.name, field)
        if incremental is None or highest is None or not contiguous:
            return
        if run.truncated is not None and not incremental.ordered:
            log.warning("extraction %s run %s stopped early (%s): watermark kept", self.name, run.run_id, run.truncated)
            return
        proposed = Watermark(self.name, format_timestamp(highest), run.run_id, datetime.now(UTC), field,
                             [] if tail_overflow else sorted(k for k, v in tail.items() if v >= highest - overlap))
        result = await self.state.advance_watermark(proposed)
        if result.run_id == run.run_id:
            run.watermark_after = result.watermark


def _describe(exc: BaseException) -> str:
    """An error text for the run record: the message only (Fluent errors never carry secrets)."""
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled (worker stopping or run aborted)"
    text = str(exc) if isinstance(exc, FluentError | ExtractionError) else f"{type(exc).__name__}: {exc}"
    return text[:2000]
