"""Durable extraction state in compacted Kafka topics: watermarks, run records and triggers.

Why compacted topics read with a plain consumer, not Faust tables: the state must be readable and
writable by the worker *and* by the standalone CLI (``fluentsync extract``, ``fluentsync runs``), which
has no Faust app. A compacted topic keyed by extraction name (watermarks) or run id (runs) keeps the
latest value per key; a reader consumes it from the beginning to the *exact* end
(:func:`~fluentsync.streams.kafka.offsets.exact_end_offsets`: the embedded broker under-reports end
offsets) and keeps the last value of each key. No consumer group, no committed offsets, so none of
the embedded broker's gaps (``offsets_for_times``, admin ``list_consumer_group_offsets``) matter.

Topics (``<prefix>`` is ``kafka.topic_prefix``), all created explicitly:

- ``<prefix>extraction.watermarks``: ``fluentsync.outbound.ExtractionWatermark`` keyed by extraction
  name, 1 partition, compacted. Written only after every event of the run was acknowledged.
- ``<prefix>extraction.runs``: ``fluentsync.outbound.ExtractionRun`` keyed by run id, 1 partition,
  compacted; the latest record of a run is its state (queued -> running -> completed | failed).
- ``<prefix>extraction.triggers``: ``fluentsync.outbound.ExtractionTrigger`` keyed by extraction name,
  ``kafka.partitions`` partitions (the worker owning a partition runs that extraction: one at a time).

Watermarks never go backwards: :meth:`ExtractionState.advance_watermark` re-reads the stored value just
before writing and keeps the larger one, so a slow older run cannot lower what a newer one stored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from fluentsync.schemas.codec import AvroCodec, default_codec
from fluentsync.streams.kafka.connection import client_options
from fluentsync.streams.kafka.offsets import exact_end_offsets
from fluentsync.streams.kafka.topics import TopicSpec

__all__ = [
    "RUN_SCHEMA",
    "TRIGGER_SCHEMA",
    "WATERMARK_SCHEMA",
    "ExtractionState",
    "RunRecord",
    "StateTopics",
    "Watermark",
    "new_run_id",
    "parse_timestamp",
    "read_compacted",
    "validate_run_id",
]

RUN_SCHEMA = "fluentsync.outbound.ExtractionRun"
WATERMARK_SCHEMA = "fluentsync.outbound.ExtractionWatermark"
TRIGGER_SCHEMA = "fluentsync.outbound.ExtractionTrigger"

RunStatus = Literal["QUEUED", "RUNNING", "COMPLETED", "FAILED", "UNKNOWN"]
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def validate_run_id(run_id: str) -> str:
    """Run ids become Kafka keys and file names: ``^[A-Za-z0-9_-]+$`` (R63)."""
    if not _RUN_ID.match(run_id):
        raise ValueError(f"invalid run id {run_id!r}: use letters, digits, '-' and '_' only")
    return run_id


def new_run_id(extraction: str, now: datetime | None = None) -> str:
    """``<extraction>-<yyyymmddThhmmssZ>-<6 hex>``: sortable by time, unique, valid per R63."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return validate_run_id(f"{extraction}-{stamp}-{uuid.uuid4().hex[:6]}")


def parse_timestamp(text: str) -> datetime:
    """ISO-8601 (``Z`` or offset; naive means UTC) -> aware UTC datetime."""
    value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """Fluent's wire format: ``2025-01-31T12:00:00.000Z``."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


@dataclass(frozen=True)
class StateTopics:
    watermarks: str
    runs: str
    triggers: str

    @classmethod
    def of(cls, prefix: str = "") -> StateTopics:
        return cls(f"{prefix}extraction.watermarks", f"{prefix}extraction.runs", f"{prefix}extraction.triggers")

    def specs(self, partitions: int) -> list[TopicSpec]:
        return [TopicSpec.compacted(self.watermarks, 1), TopicSpec.compacted(self.runs, 1),
                TopicSpec(self.triggers, partitions)]


@dataclass(frozen=True)
class Watermark:
    extraction: str
    watermark: str
    run_id: str
    updated_at: datetime
    field: str = "updatedOn"
    overlap_keys: list[str] = dataclasses.field(default_factory=list)

    @property
    def value(self) -> datetime:
        return parse_timestamp(self.watermark)


@dataclass
class RunRecord:
    """The run audit record (R63); ``status`` moves QUEUED -> RUNNING -> COMPLETED | FAILED."""

    run_id: str
    extraction: str
    status: RunStatus
    created_at: datetime
    updated_at: datetime
    stage: str = ""
    triggered_by: str = "manual"
    topic: str = ""
    schema: str = ""
    window_from: str | None = None
    window_to: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    failed_at: datetime | None = None
    nodes: int = 0
    pages: int = 0
    duplicates: int = 0
    overlap_skipped: int = 0
    nested_truncated: int = 0
    truncated: str | None = None
    duration_ms: int | None = None
    watermark_before: str | None = None
    watermark_after: str | None = None
    end_offsets: list[dict[str, int]] = field(default_factory=list)
    error: str | None = None

    def transition(self, status: RunStatus, stage: str, now: datetime | None = None) -> None:
        """Move to ``status``; ``started_at``/``completed_at``/``failed_at`` are set once, on the first move."""
        now = now or datetime.now(UTC)
        self.status, self.stage, self.updated_at = status, stage, now
        if status == "RUNNING" and self.started_at is None:
            self.started_at = now
        elif status == "COMPLETED" and self.completed_at is None:
            self.completed_at = now
        elif status == "FAILED" and self.failed_at is None:
            self.failed_at = now


_RUN_FIELDS = {f.name for f in dataclasses.fields(RunRecord)}
_WM_FIELDS = {f.name for f in dataclasses.fields(Watermark)}


def _run_from(datum: dict[str, Any]) -> RunRecord:
    return RunRecord(**{k: v for k, v in datum.items() if k in _RUN_FIELDS})


def _watermark_from(datum: dict[str, Any]) -> Watermark:
    return Watermark(**{k: v for k, v in datum.items() if k in _WM_FIELDS})


async def read_compacted(
    bootstrap: str, topic: str, codec: AvroCodec | None = None, *, timeout: float = 30.0
) -> dict[bytes, Any]:
    """The latest decoded value of every key of ``topic`` (tombstones remove keys), read to its end."""
    codec = codec or default_codec()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", fetch_max_wait_ms=100, **client_options())
    await consumer.start()
    latest: dict[bytes, Any] = {}
    try:
        if topic not in await consumer.topics():  # all-topics metadata: never auto-creates the topic
            return latest
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return latest
        ends = await exact_end_offsets(bootstrap, tps)
        pending = [tp for tp in tps if ends.get(tp, 0) > 0]
        if not pending:
            return latest
        consumer.assign(pending)
        await consumer.seek_to_beginning(*pending)
        deadline = time.monotonic() + timeout
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=200)
            for messages in batch.values():
                for message in messages:
                    if message.key is None:
                        continue
                    latest[message.key] = None if message.value is None else codec.decode(message.value)
                    if latest[message.key] is None:
                        del latest[message.key]
            pending = [tp for tp in pending if await consumer.position(tp) < ends[tp]]
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end in {timeout:.0f}s")
    finally:
        await asyncio.shield(consumer.stop())
    return latest


class ExtractionState:
    """Reads and writes watermarks, run records and triggers; owns an aiokafka producer unless given one."""

    def __init__(self, bootstrap: str, topics: StateTopics, *, producer: AIOKafkaProducer | None = None,
                 codec: AvroCodec | None = None) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.codec = codec or default_codec()
        self._producer = producer
        self._owns_producer = producer is None

    async def start(self) -> None:
        if self._producer is None:
            self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", **client_options())
            await self._producer.start()

    async def stop(self) -> None:
        if self._owns_producer and self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def __aenter__(self) -> ExtractionState:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("ExtractionState is not started")
        return self._producer

    async def _put(self, topic: str, key: str, schema: str, datum: dict[str, Any]) -> None:
        value = self.codec.encode(schema, datum, topic=topic)
        await (await self.producer.send(topic, value, key=key.encode()))  # wait for the broker's ack

    # -- watermarks --------------------------------------------------------------------------------

    async def watermarks(self) -> dict[str, Watermark]:
        found = await read_compacted(self.bootstrap, self.topics.watermarks, self.codec)
        return {k.decode(): _watermark_from(v) for k, v in found.items()}

    async def watermark(self, extraction: str) -> Watermark | None:
        return (await self.watermarks()).get(extraction)

    async def advance_watermark(self, proposed: Watermark) -> Watermark:
        """Store ``proposed`` unless the stored watermark is already higher; returns what is stored."""
        current = await self.watermark(proposed.extraction)
        if current is not None and current.value >= proposed.value:
            if current.value > proposed.value or not proposed.overlap_keys:
                return current
            keys = sorted(set(current.overlap_keys) | set(proposed.overlap_keys))
            proposed = dataclasses.replace(proposed, overlap_keys=keys)
        await self._put(self.topics.watermarks, proposed.extraction, WATERMARK_SCHEMA, dataclasses.asdict(proposed))
        return proposed

    async def reset_watermark(self, extraction: str) -> None:
        """Forget the watermark (a tombstone): the next run extracts everything."""
        await (await self.producer.send(self.topics.watermarks, None, key=extraction.encode()))

    # -- runs -------------------------------------------------------------------------------------

    async def put_run(self, run: RunRecord) -> None:
        await self._put(self.topics.runs, run.run_id, RUN_SCHEMA, dataclasses.asdict(run))

    async def runs(self, extractions: Iterable[str] | None = None) -> list[RunRecord]:
        """Every tracked run (optionally of some extractions), oldest first."""
        wanted = set(extractions) if extractions is not None else None
        found = await read_compacted(self.bootstrap, self.topics.runs, self.codec)
        runs = [_run_from(v) for v in found.values()]
        return sorted((r for r in runs if wanted is None or r.extraction in wanted), key=lambda r: r.created_at)

    async def prune_runs(self, older_than: timedelta, now: datetime | None = None) -> list[str]:
        """Tombstone finished runs whose last update is older than ``older_than`` (R64); returns their ids.

        Runs still QUEUED or RUNNING are kept whatever their age: they may be stuck, and an operator
        should see them.
        """
        cutoff = (now or datetime.now(UTC)) - older_than
        expired = [run.run_id for run in await self.runs()
                   if run.status in ("COMPLETED", "FAILED") and run.updated_at < cutoff]
        futures = [await self.producer.send(self.topics.runs, None, key=run_id.encode()) for run_id in expired]
        for future in futures:
            await future
        return expired

    # -- triggers ---------------------------------------------------------------------------------

    async def trigger(self, extraction: str, *, triggered_by: str = "manual", window_from: str | None = None,
                      window_to: str | None = None, full: bool = False, topic: str = "",
                      schema: str = "") -> RunRecord:
        """Queue a run for the worker: a QUEUED run record, then the trigger (both acknowledged)."""
        now = datetime.now(UTC)
        run = RunRecord(new_run_id(extraction, now), extraction, "QUEUED", now, now, stage="queued",
                        triggered_by=triggered_by, topic=topic, schema=schema, window_from=window_from,
                        window_to=window_to)
        await self.put_run(run)
        await self._put(self.topics.triggers, extraction, TRIGGER_SCHEMA, {
            "extraction": extraction, "run_id": run.run_id, "triggered_by": triggered_by,
            "window_from": window_from, "window_to": window_to, "full": full, "requested_at": now})
        return run
