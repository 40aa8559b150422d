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

Outcomes: a record failing 1 or 2, or refused by Fluent, is *rejected* - a ``DeadLetter`` with the
stage, the field-level problems and the original record goes to ``dlq.<wf>``; 3 makes it *unchanged*;
a batch acknowledged by Fluent makes its records *accepted*. When every record of a ``RecordBatch`` has
its outcome, the agent (in this order) moves the baseline of the accepted keys (never for rejected
ones: they are retried by the next file), waits until its dead letters and one ``BatchOutcome`` on
``ledger.<wf>`` are acknowledged by the broker, and only then acks the Kafka message so Faust may
commit its offset. The stream runs with manual acks, so later batches are processed while earlier ones
wait for Fluent; Faust commits the highest offset below which everything is acked.

Crash safety: an un-acked batch is redelivered after a restart; records accepted before the crash are
then *unchanged* (their baseline moved) or re-sent as idempotent UPSERTs, and the ledger counts a batch
id once. Per-key order: a record whose key is still on its way to Fluent waits for it, so two versions
of one key are never in flight at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import faust

from fluentsync.connectors.fluent import FluentClient, FluentError
from fluentsync.connectors.ingest.publisher import file_event_key
from fluentsync.connectors.sources.base import FileRef
from fluentsync.schemas.codec import AvroCodec, default_codec
from fluentsync.schemas.faust_codec import avro_schema
from fluentsync.schemas.records import BatchRecord, batch_records
from fluentsync.streams.agents.snapshot import digest_of, generation_of, identity, missing_keys, stamped
from fluentsync.streams.config import BatchTargetConfig, EventTargetConfig, WorkflowConfig
from fluentsync.streams.dedupe import RecordHasher
from fluentsync.streams.kafka.context import in_event
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.partitioning import Strategy, partition_function
from fluentsync.streams.ledger import RunCounts, run_report
from fluentsync.streams.mapping import Mapper
from fluentsync.streams.mapping.mutations import GraphQLMutationMapper
from fluentsync.streams.mapping.strict import FLUENTSYNC_RESOLVERS
from fluentsync.streams.observability.logs import batch_ids, correlate, task_context
from fluentsync.streams.observability.metrics import metrics_of
from fluentsync.streams.operations.lineage import letter_id, letter_lineage
from fluentsync.streams.problems import FieldProblem
from fluentsync.streams.sinks import (
    BatchCompletion,
    BatchResult,
    BatchSink,
    BatchSinkSettings,
    BatchStatusPoller,
    EventSink,
    JobStore,
    MutationSink,
)
from fluentsync.streams.validation import EntityValidator

__all__ = ["RecordsRuntime", "register"]

log = logging.getLogger(__name__)

FIRST_ERRORS = 5  #: rejection reasons carried per BatchOutcome


@dataclass(slots=True)
class _Token:
    """What the sink hands back for one entity: enough to settle the record and, if needed, resend it."""

    tracker: _Tracker
    key: bytes
    digest: str | None
    record: BatchRecord
    payload: dict[str, Any]
    rounds: int = 1
    delete: bool = False  #: a soft delete from a snapshot sweep: accepted means the key is gone


@dataclass
class _Tracker:
    """The outcomes of one ``RecordBatch`` message until each of its records has one."""

    event: Any
    batch: dict[str, Any]
    total: int
    started: datetime
    accepted: list[_Token] = field(default_factory=list)
    rejected: int = 0
    unchanged: int = 0
    letters: list[tuple[bytes, dict[str, Any]]] = field(default_factory=list)
    first_errors: list[str] = field(default_factory=list)
    job_ids: list[str] = field(default_factory=list)
    fluent_batches: list[str] = field(default_factory=list)
    stamps: list[tuple[bytes, dict[str, Any] | None]] = field(default_factory=list)  #: snapshot: keys seen
    control: bool = False  #: a sweep, not records: no ledger entry
    sealed: bool = False  #: every record was handed to a stage
    finishing: bool = False

    @property
    def complete(self) -> bool:
        return self.sealed and len(self.accepted) + self.rejected + self.unchanged >= self.total


class RecordsRuntime:
    """Map → validate → dedupe → Fluent for one workflow inside one worker."""

    def __init__(self, name: str, config: WorkflowConfig, topics: WorkflowTopics, app: faust.App,
                 client: FluentClient, job_store: JobStore, *, partitions: int = 1,
                 partitioning: Strategy = "crc32", codec: AvroCodec | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.name = name
        self.config = config
        self.topics = topics
        self.app = app
        self.codec = codec or default_codec()
        self.now = now
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
        self.poller: BatchStatusPoller[_Token] | None = None
        if isinstance(target, BatchTargetConfig) and target.await_status:
            self.poller = BatchStatusPoller(client.jobs, target.status, on_done=self._on_status)
        self._poller_started = False
        self.baseline: Any = None
        self.force = False  #: resend even when unchanged (``replay --force``)
        #: keys on their way to Fluent -> a waiter, created only when a later version of the key arrives
        self._in_flight: dict[bytes, asyncio.Future[None] | None] = {}
        self._finishers: set[asyncio.Task[None]] = set()
        self._pending_records = 0
        self._room = asyncio.Event()
        self.counts: dict[str, int] = {"accepted": 0, "rejected": 0, "unchanged": 0}
        self.job_store = job_store  #: read by ``GET /status`` (the workflow's Fluent jobs)
        #: Fluent batches (events, requests) by state since start, for ``GET /status``
        self.batches: dict[str, int] = {"sent": 0, "complete": 0, "failed": 0}

    @property
    def pending_records(self) -> int:
        """Records taken from Kafka and not settled yet (``GET /status``)."""
        return self._pending_records

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
        """Process one ``RecordBatch`` message (its Kafka offset is acked once it is settled)."""
        batch: dict[str, Any] = event.value
        if batch.get("control") == "sweep":
            await self._sweep(event, batch)
            return
        tracker = _Tracker(event, batch, len(batch["record_keys"]), self.now())
        while self._pending_records > 0 and self._pending_records + tracker.total > self.target.max_pending_records:
            self._room.clear()  # bounded memory: wait until earlier batches settle
            await self._room.wait()
        self._pending_records += tracker.total
        job_key = self._job_key(batch)
        for record in batch_records(batch):
            payload, stage, problems = self.prepare(record)
            if payload is None:
                self._reject(tracker, record, stage, problems)
                if self.snapshot:  # present in the snapshot, even if invalid: not a delete
                    tracker.stamps.append((record.record_key.encode(), None))
                continue
            key = record.record_key.encode()
            digest = self.hasher(payload) if self.hasher is not None else None
            if key in self._in_flight:  # an earlier version of this key is on its way: keep per-key order
                waiter = self._in_flight[key]
                if waiter is None:
                    waiter = self._in_flight[key] = asyncio.get_running_loop().create_future()
                await asyncio.shield(waiter)
            # replay --force: batch.force sends even unchanged records (baselines still move on acceptance)
            force = self.force or batch.get("force")
            if digest is not None and not force and digest_of(self.baseline.get(key)) == digest:
                tracker.unchanged += 1
                if self.snapshot:
                    tracker.stamps.append((key, payload))
                continue
            self._in_flight[key] = None
            await self.sink.add(payload, _Token(tracker, key, digest, record, payload), job_key)
        tracker.sealed = True
        self._maybe_finish(tracker)

    def _job_key(self, batch: dict[str, Any]) -> str:
        if not isinstance(self.target, BatchTargetConfig):
            return ""
        strategy = self.target.job_strategy
        if strategy == "per_file":
            return str(batch.get("file_id") or batch.get("source_uri") or "")
        if strategy == "per_run":
            return str(batch.get("run_id") or "")
        return ""

    # -- outcomes -----------------------------------------------------------------------------------
    def _release(self, token: _Token) -> None:
        waiter = self._in_flight.pop(token.key, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _on_sent(self, result: BatchResult[_Token]) -> None:
        metrics_of(self.app).fluent_acknowledged(self.name, self.target.api, len(result.tokens))
        self.batches["sent"] += 1
        if result.tokens and result.batch_id:  # counted once: by the record batch of its first entity
            result.tokens[0].tracker.fluent_batches.append(result.batch_id)
        for token in result.tokens:
            if result.job_id and result.job_id not in token.tracker.job_ids:
                token.tracker.job_ids.append(result.job_id)
            self._release(token)  # Fluent has it, in order: the key's next version may follow
        if self.poller is not None:  # accepted only once the batch status says so (R38, R48)
            if not self._poller_started:
                self._poller_started = True
                await self.poller.start()
            self.poller.submit(result)
            return
        self.batches["complete"] += 1
        self._accept(result.tokens)

    def _accept(self, tokens: list[_Token]) -> None:
        for token in tokens:
            token.tracker.accepted.append(token)
            self._maybe_finish(token.tracker)

    async def _on_status(self, done: BatchCompletion[_Token]) -> None:
        """A polled batch reached a terminal status: its per-entity errors are dead letters (stage FLUENT)
        and keep their old baseline; the rest are accepted. A batch that never got a terminal status is
        not success: its records are dead-lettered too, so a redrive can send them again."""
        self.batches["complete" if done.kind in ("success", "success_with_errors") else "failed"] += 1
        self._accept(done.accepted)
        for token, error in done.errors:
            problem = FieldProblem("FLUENT", None, f"{error.code}: {error.message}" if error.code else error.message,
                                   code=error.code)
            self._reject(token.tracker, token.record, "FLUENT", [problem], token.payload)
            self._maybe_finish(token.tracker)
        if done.timed_out:
            metrics_of(self.app).status_timed_out(self.name)
        for token in done.timed_out:
            problem = FieldProblem("FLUENT", None, f"batch {done.batch_id} of job {done.job_id} reported no final "
                                   f"status in time (last: {done.last_status})", code="TIMED_OUT")
            self._reject(token.tracker, token.record, "FLUENT", [problem], token.payload)
            self._maybe_finish(token.tracker)

    async def _on_unmappable(self, token: _Token, problems: list[FieldProblem]) -> None:
        """A GraphQL target maps in its sink: a record its mutation mapping cannot map is a MAP failure."""
        self._reject(token.tracker, token.record, "MAP", problems, None)
        self._release(token)
        self._maybe_finish(token.tracker)

    async def _on_rejected(self, tokens: list[_Token], reason: str) -> None:
        for token in tokens:
            self._reject(token.tracker, token.record, "FLUENT", [FieldProblem("FLUENT", None, reason)], token.payload)
            self._release(token)
            self._maybe_finish(token.tracker)

    async def _on_failed(self, tokens: list[_Token], error: FluentError) -> None:
        """Fluent could not take the batch even after the client's retries: try again in a while, a
        bounded number of rounds, then dead-letter (stage FLUENT) so a redrive can send them later."""
        retry = [t for t in tokens if t.rounds < self.target.max_send_rounds]
        self.batches["failed"] += 1
        for token in tokens:
            if token.rounds >= self.target.max_send_rounds:
                message = f"Fluent unavailable after {token.rounds} send rounds: {error}"
                self._reject(token.tracker, token.record, "FLUENT",
                             [FieldProblem("FLUENT", None, message, code=type(error).__name__)], token.payload)
                self._release(token)
                self._maybe_finish(token.tracker)
        if retry:
            metrics_of(self.app).send_retried(self.name, len(retry))
            delay = min(60.0, 2.0 ** retry[0].rounds)
            log.warning("workflow %s: %d records not taken by Fluent (%s); resending in %.0f s",
                        self.name, len(retry), error, delay)
            task = asyncio.create_task(self._resend(retry, delay))
            self._finishers.add(task)
            task.add_done_callback(self._finishers.discard)

    async def _resend(self, tokens: list[_Token], delay: float) -> None:
        await asyncio.sleep(delay)
        for token in tokens:
            token.rounds += 1
            await self.sink.add(token.payload, token, self._job_key(token.tracker.batch))

    def _reject(self, tracker: _Tracker, record: BatchRecord, stage: str, problems: list[FieldProblem],
                payload: dict[str, Any] | None = None) -> None:
        tracker.rejected += 1
        reason = "; ".join(f"{p.field}: {p.message}" if p.field else p.message
                           for p in problems if p.severity == "ERROR") or "rejected"
        if len(tracker.first_errors) < FIRST_ERRORS:
            where = f"line {record.line}" if record.line is not None else f"record {record.record_index}"
            tracker.first_errors.append(f"{where}: {stage}: {reason}")
        tracker.letters.append(self._letter(tracker.batch, record, stage, reason, problems, payload))

    def _letter(self, batch: dict[str, Any], record: BatchRecord, stage: str, reason: str,
                problems: list[FieldProblem], payload: dict[str, Any] | None) -> tuple[bytes, dict[str, Any]]:
        file_id = batch.get("file_id") or batch.get("source_uri") or ""
        # Deterministic id: a batch redelivered after a crash produces the same dead letters (dedupable).
        # A redriven record (dlq redrive) fails again with attempt + 1 and its earlier failures as history.
        lineage = letter_lineage(batch, record.record_index)
        original = dict(record.record)
        if payload is not None:
            original = {"record": original, "payload": payload}
        letter = {
            "dead_letter_id": letter_id(self.name, file_id, record.record_index, stage, lineage),
            "workflow": self.name, "stage": stage, "reason": reason[:2000],
            "errors": [p.to_avro() for p in problems], "record_key": record.record_key,
            "record": json.dumps(original, ensure_ascii=False, default=str), "raw": None,
            "provenance": {
                "source_uri": batch["source_uri"], "file": batch.get("file"), "file_id": batch.get("file_id"),
                "etag": batch.get("etag"), "version_id": batch.get("version_id"),
                "last_modified": batch.get("last_modified"), "record_index": record.record_index,
                "chunk_id": record.chunk_id, "line": record.line, "byte_offset": record.byte_offset,
                "row_number": record.row_number, "item_path": batch.get("item_path"),
            },
            "attempt": lineage.attempt, "history": lineage.history, "occurred_at": self.now(),
        }
        return f"{file_id}#{record.record_index}".encode(), letter

    def _maybe_finish(self, tracker: _Tracker) -> None:
        if tracker.complete and not tracker.finishing:
            tracker.finishing = True
            # the batch's own ids, whichever sink or poller task completed it
            context = task_context(**batch_ids(self.name, tracker.batch))
            task = asyncio.create_task(self._finish(tracker), context=context)
            self._finishers.add(task)
            task.add_done_callback(self._finished, context=context.copy())  # a context runs in one place

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._finishers.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("workflow %s: settling a record batch failed; it will be redelivered",
                      self.name, exc_info=task.exception())

    async def _finish(self, tracker: _Tracker) -> None:
        """Baseline, dead letters, ledger - durable - then ack (see the module docstring for why)."""
        if self.hasher is not None:
            with in_event(tracker.event):
                self._write_baselines(tracker)
        producer = self.app.producer
        futures = [await producer.send(self.topics.dlq, key, self.codec.encode("fluentsync.dlq.DeadLetter", letter,
                                                                               topic=self.topics.dlq),
                                       None, None, None) for key, letter in tracker.letters]
        batch = tracker.batch
        # a redriven batch (dlq redrive) is not part of a file run: the file's ledger is left alone
        if batch.get("file") is not None and not tracker.control and batch.get("redrive") is None:
            file = batch["file"]
            ref = FileRef(source=file["source"], location=file["location"], path=file["path"],
                          version=file["version"], size=0, last_modified=self.now())
            key = file_event_key(self.name, ref)
            if batch.get("whole_file"):
                topic, value = self.topics.reports, self._whole_file_report(tracker)
            else:
                outcome = {
                    "workflow": self.name, "batch_id": batch["batch_id"], "file": batch["file"],
                    "file_id": batch.get("file_id"), "run_id": batch.get("run_id"), "record_count": tracker.total,
                    "accepted": len(tracker.accepted), "rejected": tracker.rejected, "unchanged": tracker.unchanged,
                    "first_errors": tracker.first_errors, "job_ids": tracker.job_ids,
                    "fluent_batch_ids": tracker.fluent_batches, "started_at": tracker.started,
                    "occurred_at": self.now(),
                }
                topic, value = self.topics.ledger, self.codec.encode("fluentsync.ledger.BatchOutcome", outcome,
                                                                     topic=self.topics.ledger)
            futures.append(await producer.send(topic, key, value, None, None, None))
        for future in futures:
            await future
        self.counts["accepted"] += len(tracker.accepted)
        self.counts["rejected"] += tracker.rejected
        self.counts["unchanged"] += tracker.unchanged
        metrics_of(self.app).records_settled(
            self.name, accepted=len(tracker.accepted), rejected=tracker.rejected, unchanged=tracker.unchanged,
            rejected_stages=[letter["stage"] for _, letter in tracker.letters], deletes=tracker.control)
        tracker.event.ack()
        self._pending_records -= tracker.total
        self._room.set()

    def _whole_file_report(self, tracker: _Tracker) -> bytes:
        """The RunReport of a batch that is its whole file (``whole_file``): settled here, no ledger.

        Its id derives from the batch id, so a report published twice (crash before the ack) is one
        report to a consumer that dedupes by ``report_id``."""
        batch = tracker.batch
        now = self.now()
        counts = RunCounts(
            record_count=tracker.total, accepted=len(tracker.accepted), rejected=tracker.rejected,
            unchanged=tracker.unchanged, fluent_batches=len(set(tracker.fluent_batches)), job_ids=tracker.job_ids,
            first_errors=tracker.first_errors,
            processing_ms=max(0, int((now - tracker.started).total_seconds() * 1000)),
        )
        report_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{self.name}|report|{batch['batch_id']}").hex
        report = run_report(self.name, batch, counts, dead_letter_topic=self.topics.dlq, settled_at=now,
                            report_id=report_id)
        return self.codec.encode("fluentsync.reports.RunReport", report, topic=self.topics.reports)

    def _write_baselines(self, tracker: _Tracker) -> None:
        """Accepted keys get their new digest (rejected ones keep the old one, R23); in snapshot workflows
        every key the file contained is stamped with its generation, and soft-deleted keys are removed."""
        generation = generation_of(tracker.batch) if self.snapshot else None
        if generation is None:
            for token in tracker.accepted:
                if token.delete:
                    self.baseline.pop(token.key, None)
                else:
                    self.baseline[token.key] = token.digest
            return
        fields = self.snapshot.identity_fields if self.snapshot else []
        for token in tracker.accepted:
            if token.delete:
                self.baseline.pop(token.key, None)
            else:
                self.baseline[token.key] = stamped(self.baseline.get(token.key), token.digest, generation,
                                                   identity(token.payload, fields))
        for key, payload in tracker.stamps:
            self.baseline[key] = stamped(self.baseline.get(key), None, generation, identity(payload, fields))

    async def _sweep(self, event: Any, batch: dict[str, Any]) -> None:
        """Apply the delete policy to keys of this partition that the settled snapshot did not contain."""
        tracker = _Tracker(event, batch, 0, self.now(), control=True)
        generation = generation_of(batch)
        policy = self.snapshot.delete_policy if self.snapshot else "ignore"
        if generation is None or policy == "ignore" or self.snapshot is None:
            tracker.sealed = True
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
            tracker.sealed = True
            self._maybe_finish(tracker)
            return
        tracker.total = len(missing)
        self._pending_records += tracker.total
        job_key = self._job_key(batch)
        for key, value in missing:
            entity = {**(value.get("i") or {}), **self.snapshot.soft_delete}
            record = BatchRecord(key.decode(), entity, -1, batch.get("chunk_id", "chunk-00000"), None, None, None)
            self._in_flight[key] = None
            await self.sink.add(entity, _Token(tracker, key, None, record, entity, delete=True), job_key)
        log.warning("workflow %s: soft-deleting %d keys on partition %d missing from snapshot %s",
                    self.name, len(missing), partition, uri)
        self.counts["deleted"] = self.counts.get("deleted", 0) + len(missing)
        tracker.sealed = True
        self._maybe_finish(tracker)

    async def aclose(self) -> None:
        """Send what is buffered and wait for outcomes (on worker shutdown)."""
        await self.sink.aclose()
        if self.poller is not None and self._poller_started:
            await self.poller.aclose(drain=True)
        while self._finishers:
            await asyncio.gather(*list(self._finishers), return_exceptions=True)


def register(app: faust.App, name: str, config: WorkflowConfig, topics: WorkflowTopics, partitions: int,
             client: FluentClient, job_store: JobStore, partitioning: Strategy = "crc32") -> RecordsRuntime:
    """Attach the baseline table and the records agent of one workflow."""
    runtime = RecordsRuntime(name, config, topics, app, client, job_store, partitions=partitions,
                             partitioning=partitioning)
    runtime.baseline = app.Table(f"baseline-{name}", key_type=bytes, partitions=partitions)
    topic = app.topic(topics.records, schema=avro_schema("fluentsync.records.RecordBatch"), partitions=partitions)

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
