"""The records agent: map, validate, dedupe and micro-batch records into Fluent, one outcome each.

One Faust agent per workflow consumes ``records.<wf>`` (``RecordBatch`` messages, each up to a few
hundred records of one partition) and runs the stages fused, record by record, inside the agent: a
Faust hop costs ~100 µs an event (design.md §4), so separate agents per stage would cap a worker near
10k records/s. Per record:

1. **map** with the workflow's UniversalMapper config (absent: the record as parsed);
2. **validate** the payload against the target's model and the workflow's rules;
3. **dedupe**: hash the payload (typed, canonical) and compare with the baseline of the record key in
   the changelog-backed ``baseline-<wf>`` table (co-partitioned with the records topic); equal means
   *unchanged*;
4. **sink**: the Batch API sink buffers entities into Fluent batches (size, bytes, linger, in-flight
   bound, job strategies, bisection of whole-batch rejections).

This module takes records in; :mod:`.settling` (its base class) settles them.

Outcomes: a record failing 1 or 2, or refused by Fluent, is *rejected* - a ``DeadLetter`` with the
stage, the field-level problems and the original record goes to ``dlq.<wf>``; 3 makes it *unchanged*;
a batch acknowledged by Fluent makes its records *accepted* - once its batch status says so (R38, R48),
unless ``await_status`` is off.

Handing over: when every record of a ``RecordBatch`` has its outcome *or* is in a Fluent batch that
Fluent acknowledged, the agent (in this order) moves the baseline of the keys accepted so far, writes
what is still awaited (the record batch's counts and header) to the ``submitted-batches-<wf>`` table
beside the acknowledged batches' records (:mod:`.pending`, :mod:`.verifier`), waits until its dead
letters - and, if nothing is awaited, one ``BatchOutcome`` on ``ledger.<wf>`` - are acknowledged by the
broker, and only then acks the Kafka message so Faust may commit its offset (Faust flushes the producer,
table changelogs included, before it commits). The verdict of the last awaited Fluent batch publishes
the ``BatchOutcome`` later, from the table, on whichever worker owns the partition then. So intake is
not held up by the status interval, and memory holds records only until Fluent's 2xx. The stream runs
with manual acks, so later batches are processed while earlier ones wait for Fluent; Faust commits the
highest offset below which everything is acked.

Crash safety: an un-acked batch is redelivered after a restart; records accepted before the crash are
then *unchanged* (their baseline moved) or re-sent as idempotent UPSERTs, and the ledger counts a batch
id once. A batch redelivered although it was handed over (crash between the ack and the commit) is
acked at once: its entry settles it. Per-key order: a record whose key is still on its way to Fluent or
awaiting its batch's verdict waits for it (:class:`~.pending.KeyGate`; the batch is polled early), so two
versions of one key are never in flight at once and a later version is compared with the baseline its
predecessor left.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import faust

from fluentsync.connectors.fluent import FluentClient
from fluentsync.schemas.codec import AvroCodec, default_codec
from fluentsync.schemas.faust_codec import avro_schema
from fluentsync.schemas.records import BatchRecord, batch_records
from fluentsync.streams.agents.outcomes import Outcomes
from fluentsync.streams.agents.pending import KeyGate, key_hash
from fluentsync.streams.agents.settling import Settlement, Token, Tracker
from fluentsync.streams.agents.snapshot import generation_of, missing_keys
from fluentsync.streams.agents.verifier import Verifier
from fluentsync.streams.app import table_options
from fluentsync.streams.config import BatchTargetConfig, EventTargetConfig, WorkflowConfig
from fluentsync.streams.dedupe import RecordHasher
from fluentsync.streams.dedupe.baseline import BaselineTable
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.partitioning import Strategy, partition_function
from fluentsync.streams.mapping import Mapper
from fluentsync.streams.mapping.mutations import GraphQLMutationMapper
from fluentsync.streams.mapping.strict import FLUENTSYNC_RESOLVERS
from fluentsync.streams.observability.logs import batch_ids, correlate
from fluentsync.streams.problems import FieldProblem
from fluentsync.streams.sinks import (
    BatchSink,
    BatchSinkSettings,
    BatchStatusPoller,
    EventSink,
    JobStore,
    MutationSink,
)
from fluentsync.streams.validation import EntityValidator

__all__ = ["RecordsRuntime", "buffered_batches", "records_topic", "register"]

log = logging.getLogger(__name__)

#: Records the agent may hold decoded ahead of the batch it works on.
BUFFERED_RECORDS = 32_000


def buffered_batches(batch_records: int) -> int:
    """How many RecordBatch events the records agent's stream buffers (the topic channel's ``maxsize``).

    Why not Faust's ``stream_buffer_maxsize`` (4,096 events): Faust decodes every event before it queues
    it, and one event carries up to ``publish.batch_records`` records, so the default let a worker hold
    a whole multi-million-row file decoded (about 500 bytes a record) whenever the ingest ran ahead of
    Fluent, which it does by 5x. With a buffer of about ``BUFFERED_RECORDS`` records Faust pauses fetching
    the partition instead and the rows wait in Kafka. At least 16 events, so single-record events
    (webhooks, a small ``batch_records``) still keep the agent busy between fetches. Measured with
    ``bench/bench_pipeline.py`` once the bound applied (:func:`records_topic`): 1M rows at 17.9k-25.0k
    records/s, as before, and a flat peak RSS (300-341 MB for 1M to 4M rows instead of up to 757 MB).
    """
    return max(16, -(-BUFFERED_RECORDS // max(1, batch_records)))


def records_topic(app: faust.App, name: str, partitions: int, batch_records: int) -> Any:
    """The records topic as the agent consumes it: ``RecordBatch`` values, a stream buffer of
    :func:`buffered_batches` events.

    Why the attribute is set after creation: ``faust.App.topic`` accepts ``maxsize`` but does not pass it on
    to the topic (faust-streaming 0.15), so the buffer silently stayed at ``stream_buffer_maxsize`` (4,096
    events, i.e. whole files decoded). The agent's stream clones the topic, and clones copy ``maxsize``.
    """
    topic = app.topic(name, schema=avro_schema("fluentsync.records.RecordBatch"), partitions=partitions)
    topic.maxsize = buffered_batches(batch_records)
    return topic


class RecordsRuntime(Settlement):
    """Map → validate → dedupe → Fluent for one workflow inside one worker."""

    def __init__(self, name: str, config: WorkflowConfig, topics: WorkflowTopics, app: faust.App,
                 client: FluentClient, job_store: JobStore, *, partitions: int = 1,
                 partitioning: Strategy = "crc32", codec: AvroCodec | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.name = name
        self.config = config
        self.topics = topics
        self.app = app
        self.client = client
        self.codec = codec or default_codec()
        self.now = now
        self.outcomes = Outcomes(name, topics, self.codec, now)
        self.mapper = (Mapper.compile(config.mapping, resolvers=FLUENTSYNC_RESOLVERS, fail_on_field_error=True)
                       if config.mapping is not None else None)
        target = config.target
        if target is None:
            raise ValueError(f"workflow {name!r} has no target")
        self.target = target
        # The Batch API has a typed entity model; events and mutations carry what the mapping makes of a
        # record, so only the workflow's rules apply to them.
        self.validator = (EntityValidator(target.entity_type, config.rules)
                          if isinstance(target, BatchTargetConfig) else None)
        snapshot = config.snapshot
        self.snapshot = snapshot if snapshot is not None and snapshot.delete_policy != "ignore" else None
        self.partitions = partitions
        self.partition_of = partition_function(partitioning)
        dedupe = config.dedupe
        self.hasher = (RecordHasher(dedupe.fields, algorithm=dedupe.algorithm, version=dedupe.version)
                       if dedupe.enabled else None)
        self.sink = self._build_sink(client, job_store)
        #: the Batch API with ``await_status``: records count as accepted on their batch's status (R38, R48)
        self.awaits_status = isinstance(target, BatchTargetConfig) and target.await_status
        self.verifier: Verifier | None = None  #: set by :meth:`attach_verifier` (``register``)
        self.baseline: Any = None
        self.force = False  #: resend even when unchanged (``replay --force``)
        self.gate = KeyGate()  #: keys on their way to Fluent or awaiting a verdict (per-key order)
        self._live: dict[tuple[int, int], Tracker] = {}  #: not handed over yet, by (partition, offset)
        self._finishers: set[asyncio.Task[None]] = set()
        self._pending_records = 0
        self._room = asyncio.Event()
        self.counts: dict[str, int] = {"accepted": 0, "rejected": 0, "unchanged": 0}
        self.job_store = job_store  #: read by ``GET /status`` (the workflow's Fluent jobs)
        #: Fluent batches (events, requests) by state since start, for ``GET /status``
        self.batches: dict[str, int] = {"sent": 0, "complete": 0, "failed": 0}

    def attach_verifier(self, table: Any, owned: Callable[[], set[int]]) -> Verifier:
        """Keep acknowledged batches in ``table`` (``submitted-batches-<wf>``) until their verdict."""
        target = self.target
        if not isinstance(target, BatchTargetConfig):
            raise TypeError("batch statuses exist for the Batch API only")
        self.verifier = Verifier(self.name, table, self.topics.records, self.client.jobs, target.status, self.gate,
                                 self._apply_verdict, on_completion=self._on_completion, on_room=self._room.set,
                                 owned=owned)
        return self.verifier

    @property
    def poller(self) -> BatchStatusPoller[int] | None:
        """The status poller (``GET /status`` reads ``pending``: Fluent batches awaiting their verdict)."""
        return self.verifier.poller if self.verifier is not None else None

    @property
    def pending_records(self) -> int:
        """Records taken from Kafka and not settled yet (``GET /status``): in hand, or awaiting a verdict."""
        return self._pending_records + self.awaiting_records

    @property
    def awaiting_records(self) -> int:
        """Records handed over whose Fluent batch's verdict is pending (their state is in the table)."""
        return self.verifier.records if self.verifier is not None else 0

    def _build_sink(self, client: FluentClient, job_store: JobStore) -> Any:
        target = self.target
        callbacks: dict[str, Any] = {"on_sent": self._on_sent, "on_rejected": self._on_rejected,
                                     "on_failed": self._on_failed}
        if isinstance(target, BatchTargetConfig):
            settings = BatchSinkSettings(max_batch_size=target.max_batch_size, linger=target.linger,
                                         max_in_flight=target.max_in_flight, entity_type=target.entity_type,
                                         job_strategy=target.job_strategy, job_meta=target.job_meta)
            return BatchSink(client, settings, job_store, self.name, **callbacks)
        if isinstance(target, EventTargetConfig):
            return EventSink(client, target.event, **callbacks)
        mapper = GraphQLMutationMapper(target.mutation, custom_transforms=FLUENTSYNC_RESOLVERS)
        return MutationSink(client, mapper, target.requests, on_unmappable=self._on_unmappable, **callbacks)
    # -- per record ---------------------------------------------------------------------------------
    def prepare(self, record: BatchRecord) -> tuple[dict[str, Any] | None, str, list[FieldProblem]]:
        """Map and validate one record: ``(payload, stage, problems)``; payload None means rejected."""
        data: Any = record.record
        if self.mapper is not None:
            result = self.mapper.map(record.record)
            if not result.success:
                return None, "MAP", result.errors or [FieldProblem("MAP", None, "mapping failed")]
            data = result.data
        if not isinstance(data, dict):
            return None, "MAP", [FieldProblem("MAP", None, f"mapping produced {type(data).__name__}, not an object")]
        if self.validator is None:
            problems = self.config.rules.check(data)
            return (None, "VALIDATE", problems) if problems else (data, "VALIDATE", [])
        outcome = self.validator.validate(data)
        if outcome.payload is None:
            return None, "VALIDATE", outcome.problems
        return outcome.payload, "VALIDATE", []

    async def on_batch(self, event: Any) -> None:
        """Process one ``RecordBatch`` message (its Kafka offset is acked once it is handed over)."""
        batch: dict[str, Any] = event.value
        message = event.message
        if self.verifier is not None and self.verifier.handed(message.partition, message.offset) is not None:
            # handed over before a crash that came ahead of the offset commit: its entry settles it
            log.info("workflow %s: record batch %s was handed over before a restart; its verdicts are pending",
                     self.name, batch.get("batch_id"))
            event.ack()
            return
        if batch.get("control") == "sweep":
            await self._sweep(event, batch)
            return
        tracker = Tracker(event, batch, len(batch["record_keys"]), self.now())
        await self._wait_for_room(tracker.total)
        self._pending_records += tracker.total
        self._live[tracker.place] = tracker
        job_key = self._job_key(batch)
        # replay --force: batch.force sends even unchanged records (baselines still move on acceptance)
        force = self.force or batch.get("force")
        baseline = self.baseline.digests() if self.hasher is not None else None  # this partition's baselines
        for record in batch_records(batch):
            payload, stage, problems = self.prepare(record)
            if payload is None:
                self._reject(tracker, record, stage, problems)
                if self.snapshot:  # present in the snapshot, even if invalid: not a delete
                    tracker.stamps.append((record.record_key.encode(), None))
                continue
            key = record.record_key.encode()
            digest = self.hasher(payload) if self.hasher is not None else None
            hashed = key_hash(key)
            if self.gate.busy(hashed):  # an earlier version of this key is on its way: keep per-key order
                await self._wait_key(hashed)
            if digest is not None and baseline is not None and not force and baseline(key) == digest:
                tracker.unchanged += 1
                if self.snapshot:
                    tracker.stamps.append((key, payload))
                continue
            self.gate.acquire(hashed)
            await self.sink.add(payload, Token(tracker, key, digest, record, payload), job_key)
        tracker.seal()
        self._maybe_finish(tracker)

    async def _wait_for_room(self, records: int) -> None:
        """Bounded memory: records in hand (``max_pending_records``) and the verdict index
        (``status.max_awaiting_records``)."""
        limit = self.target.max_pending_records
        while ((self._pending_records > 0 and self._pending_records + records > limit)
               or (self.verifier is not None and self.verifier.full)):
            self._room.clear()
            await self._room.wait()

    async def _wait_key(self, hashed: int) -> None:
        if self.verifier is not None:
            await self.verifier.wait_key(hashed)
            return
        while self.gate.busy(hashed):
            await asyncio.shield(self.gate.waiter(hashed))

    async def _sweep(self, event: Any, batch: dict[str, Any]) -> None:
        """Apply the delete policy to keys of this partition that the settled snapshot did not contain."""
        tracker = Tracker(event, batch, 0, self.now(), control=True)
        generation = generation_of(batch)
        policy = self.snapshot.delete_policy if self.snapshot else "ignore"
        if generation is None or policy == "ignore" or self.snapshot is None:
            tracker.seal()
            self._maybe_finish(tracker)
            return
        partition = event.message.partition
        missing = missing_keys(list(self.baseline.items()), partition, self.partitions, self.partition_of, generation)
        uri = batch.get("source_uri")
        if policy == "alert" or not missing:
            if missing:
                log.error("workflow %s: %d keys on partition %d are missing from snapshot %s (first: %s)",
                          self.name, len(missing), partition, uri,
                          ", ".join(k.decode(errors="replace") for k, _ in missing[:5]))
            self.counts["missing"] = self.counts.get("missing", 0) + len(missing)
            tracker.seal()
            self._maybe_finish(tracker)
            return
        tracker.total = len(missing)
        self._pending_records += tracker.total
        self._live[tracker.place] = tracker
        job_key = self._job_key(batch)
        for key, value in missing:
            entity = {**(value.get("i") or {}), **self.snapshot.soft_delete}
            record = BatchRecord(key.decode(), entity, -1, batch.get("chunk_id", "chunk-00000"), None, None, None)
            self.gate.acquire(key_hash(key))  # counted, not waited for: the settled snapshot's keys are done
            await self.sink.add(entity, Token(tracker, key, None, record, entity, delete=True), job_key)
        log.warning("workflow %s: soft-deleting %d keys on partition %d missing from snapshot %s",
                    self.name, len(missing), partition, uri)
        self.counts["deleted"] = self.counts.get("deleted", 0) + len(missing)
        tracker.seal()
        self._maybe_finish(tracker)

    async def aclose(self) -> None:
        """On worker shutdown: send what is buffered, hand over what Fluent acknowledged, stop polling.
        Verdicts still pending stay in the table; the partition's next owner polls them."""
        await self.sink.aclose()
        while self._finishers:
            await asyncio.gather(*list(self._finishers), return_exceptions=True)
        if self.verifier is not None:
            await self.verifier.aclose()
        while self._finishers:
            await asyncio.gather(*list(self._finishers), return_exceptions=True)


def register(app: faust.App, name: str, config: WorkflowConfig, topics: WorkflowTopics, partitions: int,
             client: FluentClient, job_store: JobStore, partitioning: Strategy = "crc32") -> RecordsRuntime:
    """Attach the baseline table and the records agent of one workflow."""
    runtime = RecordsRuntime(name, config, topics, app, client, job_store, partitions=partitions,
                             partitioning=partitioning)
    runtime.baseline = BaselineTable(app.Table(f"baseline-{name}", key_type=bytes, partitions=partitions,
                                               options=table_options()))
    topic = records_topic(app, topics.records, partitions, config.publish.batch_records)
    if runtime.awaits_status:
        # co-partitioned with the records topic; bytes (raw): rows are encoded once, by pending.PendingRows
        table = app.Table(f"submitted-batches-{name}", key_type=bytes, value_type=bytes, partitions=partitions,
                          options=table_options())

        def owned() -> set[int]:
            return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topics.records}

        verifier = runtime.attach_verifier(table, owned)
        table.on_recover(verifier.recovered)  # after recovery, before the stream resumes

        async def _revoked(sender: Any, revoked: Any = (), **kwargs: Any) -> None:
            await verifier.revoked({tp.partition for tp in revoked if tp.topic == topics.records})

        app.on_partitions_revoked.connect(_revoked)  # type: ignore[arg-type]  # faust types a bound signature

    async def records_agent(stream: Any) -> None:
        started = time.monotonic()
        async for event in stream.noack().events():
            with correlate(**batch_ids(name, event.value)):  # per event: the agent outlives every file
                await runtime.on_batch(event)
        log.info("workflow %s: records agent stopped after %.0f s", name, time.monotonic() - started,
                 extra={"workflow": name})

    records_agent.__name__ = records_agent.__qualname__ = f"records_{name.replace('-', '_')}"
    app.agent(topic, name=f"records-{name}")(records_agent)

    async def _flush(sender: Any, *args: Any, **kwargs: Any) -> None:
        await runtime.aclose()

    app.on_before_shutdown.connect(_flush)  # type: ignore[arg-type]  # faust types a bound signature

    return runtime
