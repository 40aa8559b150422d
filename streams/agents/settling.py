"""Settling record batches: the sink's callbacks, status verdicts, hand-over and ``BatchOutcome``.

The half of the records agent (:mod:`.records`) that runs after a record was handed to a sink: what
Fluent said about it (accepted on the 2xx, refused, unreachable, or - with batch statuses awaited - the
verdict of its batch, :mod:`.verifier`), and how a ``RecordBatch`` is *handed over* and settled durably.
The order of the writes and why is in the :mod:`.records` module docstring; the table layout in
:mod:`.pending`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import faust

from fluentsync.connectors.fluent import FluentError
from fluentsync.schemas.records import BatchRecord
from fluentsync.streams.agents import baselines
from fluentsync.streams.agents.outcomes import FIRST_ERRORS, Outcomes, first_error, reason_of
from fluentsync.streams.agents.pending import RECORD_COLUMNS, KeyGate, PendingRows, batch_header, key_hash
from fluentsync.streams.agents.snapshot import generation_of
from fluentsync.streams.agents.verifier import Verdict, Verifier
from fluentsync.streams.config import BatchTargetConfig, EventTargetConfig, GraphQLTargetConfig, SnapshotConfig
from fluentsync.streams.dedupe import RecordHasher
from fluentsync.streams.kafka.context import in_event
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.observability.logs import batch_ids, task_context
from fluentsync.streams.observability.metrics import metrics_of
from fluentsync.streams.problems import FieldProblem
from fluentsync.streams.sinks import BatchCompletion, BatchResult

__all__ = ["Settlement", "Token", "Tracker"]

log = logging.getLogger("fluentsync.streams.agents.records")  # one logger for the agent's two halves


@dataclass(slots=True)
class Token:
    """What the sink hands back for one entity: enough to settle the record and, if needed, resend it."""

    tracker: Tracker
    key: bytes
    digest: str | None
    record: BatchRecord
    payload: dict[str, Any]
    rounds: int = 1
    delete: bool = False  #: a soft delete from a snapshot sweep: accepted means the key is gone


@dataclass
class Tracker:
    """The outcomes of one ``RecordBatch`` message until it is handed over (see :mod:`.records`)."""

    event: Any
    batch: dict[str, Any]
    total: int
    started: datetime
    accepted: list[Token] = field(default_factory=list)  #: on the 2xx (no verdict awaited): baselines at hand-over
    verified: int = 0  #: accepted by a batch status before hand-over (their baselines moved then)
    rejected: int = 0
    unchanged: int = 0
    awaiting: dict[str, int] = field(default_factory=dict)  #: Fluent batch ("job/batch") -> records awaiting it
    letters: list[tuple[bytes, bytes]] = field(default_factory=list)  #: encoded dead letters
    stages: list[str] = field(default_factory=list)  #: the stage of each dead letter (metrics)
    first_errors: list[str] = field(default_factory=list)
    job_ids: list[str] = field(default_factory=list)
    fluent_batches: list[str] = field(default_factory=list)
    stamps: list[tuple[bytes, dict[str, Any] | None]] = field(default_factory=list)  #: snapshot: keys seen
    control: bool = False  #: a sweep, not records: no ledger entry
    sealed: bool = False  #: every record was handed to a stage
    finishing: bool = False

    def seal(self) -> None:
        """Every record was handed to a stage: drop the batch's per-record arrays, keep its header.

        Why: a sealed tracker waits for Fluent's 2xx, the verdicts and the broker's acks of its hand-over,
        and while Faust's producer is backed up (table changelogs) up to ``max_pending_records`` records can
        sit in sealed trackers. Each record the tracker still needs is held by its token; the decoded arrays
        (``event.value`` is this dict) would hold every record a second time, about 1 KB each. Everything
        read after sealing (dead letters, the table entry, job keys, generations, log ids) is in the header.
        """
        self.sealed = True
        for column in RECORD_COLUMNS:
            self.batch.pop(column, None)

    @property
    def place(self) -> tuple[int, int]:
        """``(partition, offset)`` of its message: its identity in the ``submitted-batches`` table."""
        return self.event.message.partition, self.event.message.offset

    @property
    def ready(self) -> bool:
        """Every record has its outcome or awaits the verdict of an acknowledged Fluent batch."""
        done = len(self.accepted) + self.verified + self.rejected + self.unchanged + sum(self.awaiting.values())
        return self.sealed and done >= self.total


class Settlement:
    """Outcomes of the records handed to the sink; :class:`~.records.RecordsRuntime` sets the state."""

    name: str
    app: faust.App
    topics: WorkflowTopics
    target: BatchTargetConfig | EventTargetConfig | GraphQLTargetConfig
    outcomes: Outcomes
    hasher: RecordHasher | None
    snapshot: SnapshotConfig | None
    baseline: Any
    sink: Any
    verifier: Verifier | None
    gate: KeyGate
    counts: dict[str, int]
    batches: dict[str, int]
    _live: dict[tuple[int, int], Tracker]
    _finishers: set[asyncio.Task[None]]
    _pending_records: int
    _room: asyncio.Event

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
    def _release(self, token: Token) -> None:
        self.gate.release(key_hash(token.key))

    async def _on_sent(self, result: BatchResult[Token]) -> None:
        metrics_of(self.app).fluent_acknowledged(self.name, self.target.api, len(result.tokens))
        self.batches["sent"] += 1
        if result.tokens and result.batch_id:  # counted once: by the record batch of its first entity
            result.tokens[0].tracker.fluent_batches.append(result.batch_id)
        for token in result.tokens:
            if result.job_id and result.job_id not in token.tracker.job_ids:
                token.tracker.job_ids.append(result.job_id)
        if self.verifier is None:
            self.batches["complete"] += 1
            for token in result.tokens:
                token.tracker.accepted.append(token)
                self._release(token)  # Fluent has it: the key's next version may follow
                self._maybe_finish(token.tracker)
            return
        # Accepted only once the batch status says so (R38, R48): the records go to the table, the key
        # stays in the gate until the verdict, the tokens (and their payloads) leave memory.
        name = f"{result.job_id}/{result.batch_id}"
        rows: dict[int, tuple[Any, PendingRows]] = {}
        trackers: dict[int, Tracker] = {}
        for position, token in enumerate(result.tokens):
            tracker = token.tracker
            partition, offset = tracker.place
            part = rows.get(partition)
            if part is None:
                part = rows[partition] = (tracker.event, PendingRows())
            generation = generation_of(tracker.batch) if self.snapshot else None
            part[1].add(position, offset, token.key, token.digest, token.delete, generation, token.record,
                        token.payload)
            tracker.awaiting[name] = tracker.awaiting.get(name, 0) + 1
            trackers[id(tracker)] = tracker
        await self.verifier.submit(result.job_id, result.batch_id, result.job_key, len(result.tokens), rows)
        for tracker in trackers.values():
            self._maybe_finish(tracker)

    def _on_completion(self, done: BatchCompletion[int]) -> None:
        self.batches["complete" if done.kind in ("success", "success_with_errors") else "failed"] += 1
        if done.timed_out:
            metrics_of(self.app).status_timed_out(self.name)

    async def _apply_verdict(self, verdict: Verdict) -> None:
        """A polled batch reached a terminal status, for its records of one partition: accepted keys get
        their baseline; per-entity errors are dead letters (stage FLUENT) and keep the old baseline; a
        batch that never got a terminal status (TIMED_OUT) is not success: its records are dead-lettered
        too, so a redrive can send them again. Each record batch of the rows is either still in hand (its
        tracker takes the outcomes) or handed over (its table entry does, and settles when complete);
        rows of a record batch that is neither are from before a restart that redelivered it: they only
        move baselines (the redelivered batch gives those records their outcome)."""
        verifier = self.verifier
        assert verifier is not None
        partition = verdict.partition
        if self.hasher is not None:
            with verifier.partition(partition):
                self._write_verified(verdict)
            await self.baseline.flush()  # the changelog is in the producer before the entry is dropped
        groups: dict[int, list[tuple[Any, FieldProblem | None]]] = {}
        for row, problem in verdict.rows:
            groups.setdefault(row.offset, []).append((row, problem))
        letters: list[tuple[bytes, bytes]] = []
        entries: list[tuple[int, dict[str, Any], int, int]] = []
        for offset, items in groups.items():
            tracker = self._live.get((partition, offset))
            if tracker is not None and verdict.name in tracker.awaiting:
                del tracker.awaiting[verdict.name]
                for row, problem in items:
                    if problem is None:
                        tracker.verified += 1
                    else:
                        self._reject(tracker, row.record, "FLUENT", [problem], row.payload)
                self._maybe_finish(tracker)
                continue
            entry = verifier.handed(partition, offset)
            if entry is None or verdict.name not in entry["awaiting"]:
                log.debug("workflow %s: verdict of %s for record batch at %d:%d, which was redelivered",
                          self.name, verdict.name, partition, offset)
                continue
            found, rejected = self.outcomes.resolve(entry, verdict.name, items)
            letters.extend(found)
            entries.append((offset, entry, len(items) - rejected, rejected))
        producer = self.app.producer
        futures = [await producer.send(self.topics.dlq, key, value, None, None, None) for key, value in letters]
        for _, entry, _, _ in entries:
            message = self.outcomes.settlement(entry) if not entry["awaiting"] else None
            if message is not None:
                futures.append(await producer.send(*message, None, None, None))
        for future in futures:
            await future
        for offset, entry, accepted, rejected in entries:
            if entry["awaiting"]:
                verifier.put_handed(partition, offset, entry)
            else:
                verifier.drop_handed(partition, offset)
            self._count(accepted, rejected, 0, ["FLUENT"] * rejected, bool(entry.get("control")))

    def _write_verified(self, verdict: Verdict) -> None:
        """Baselines of the records a verdict accepted (inside the partition's context)."""
        fields = self.snapshot.identity_fields if self.snapshot else []
        for row, problem in verdict.rows:
            if problem is None:
                if self.snapshot:
                    baselines.accept(self.baseline, row.key, row.digest, delete=row.delete,
                                     generation=row.generation, payload=row.payload, fields=fields)
                else:  # the payload (decoded only when read) is for snapshot identities
                    baselines.accept(self.baseline, row.key, row.digest, delete=row.delete)

    async def _on_unmappable(self, token: Token, problems: list[FieldProblem]) -> None:
        """A GraphQL target maps in its sink: a record its mutation mapping cannot map is a MAP failure."""
        self._reject(token.tracker, token.record, "MAP", problems, None)
        self._release(token)
        self._maybe_finish(token.tracker)

    async def _on_rejected(self, tokens: list[Token], reason: str) -> None:
        for token in tokens:
            self._reject(token.tracker, token.record, "FLUENT", [FieldProblem("FLUENT", None, reason)], token.payload)
            self._release(token)
            self._maybe_finish(token.tracker)

    async def _on_failed(self, tokens: list[Token], error: FluentError) -> None:
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

    async def _resend(self, tokens: list[Token], delay: float) -> None:
        await asyncio.sleep(delay)
        for token in tokens:
            token.rounds += 1
            await self.sink.add(token.payload, token, self._job_key(token.tracker.batch))

    def _reject(self, tracker: Tracker, record: BatchRecord, stage: str, problems: list[FieldProblem],
                payload: dict[str, Any] | None = None) -> None:
        tracker.rejected += 1
        reason = reason_of(problems)
        if len(tracker.first_errors) < FIRST_ERRORS:
            tracker.first_errors.append(first_error(record, stage, reason))
        tracker.letters.append(self.outcomes.letter(tracker.batch, record, stage, reason, problems, payload))
        tracker.stages.append(stage)

    def _maybe_finish(self, tracker: Tracker) -> None:
        if tracker.ready and not tracker.finishing:
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

    async def _finish(self, tracker: Tracker) -> None:
        """Hand over: baselines, dead letters - durable - then the table entry of what is awaited (or, if
        nothing is, the ledger entry), then ack (see the module docstring for why)."""
        partition, offset = tracker.place
        with in_event(tracker.event):
            if self.hasher is not None:
                self._write_baselines(tracker)
        if self.hasher is not None:
            await self.baseline.flush()  # the changelog is in the producer before the ack (and the commit)
        producer = self.app.producer
        while tracker.letters:  # a verdict may add letters while these are sent: the tracker is still in hand
            letters, tracker.letters = tracker.letters, []
            futures = [await producer.send(self.topics.dlq, key, value, None, None, None) for key, value in letters]
            for future in futures:
                await future
        entry = self._entry(tracker)
        if tracker.awaiting:
            # no await between the entry and leaving ``_live``: a verdict finds exactly one of them
            assert self.verifier is not None
            self.verifier.put_handed(partition, offset, entry)
        else:  # nothing awaited: no verdict can touch the tracker any more
            message = self.outcomes.settlement(entry)
            if message is not None:
                await (await producer.send(*message, None, None, None))
        self._live.pop((partition, offset), None)
        self._count(len(tracker.accepted) + tracker.verified, tracker.rejected, tracker.unchanged, tracker.stages,
                    tracker.control)
        tracker.event.ack()
        self._pending_records -= tracker.total
        self._room.set()

    def _entry(self, tracker: Tracker) -> dict[str, Any]:
        """The record batch as a table entry (:mod:`.pending`): header, counts so far, what is awaited;
        also what :meth:`Outcomes.settlement` settles it from."""
        return {
            "batch": batch_header(tracker.batch), "total": tracker.total,
            "accepted": len(tracker.accepted) + tracker.verified, "rejected": tracker.rejected,
            "unchanged": tracker.unchanged, "first_errors": list(tracker.first_errors),
            "job_ids": list(tracker.job_ids), "fluent": list(tracker.fluent_batches),
            "started": int(tracker.started.timestamp() * 1000), "control": tracker.control,
            "awaiting": dict(tracker.awaiting),
        }

    def _count(self, accepted: int, rejected: int, unchanged: int, stages: list[str], control: bool) -> None:
        """Outcomes made durable (at hand-over, or by a verdict later): ``GET /status`` and metrics."""
        self.counts["accepted"] += accepted
        self.counts["rejected"] += rejected
        self.counts["unchanged"] += unchanged
        metrics_of(self.app).records_settled(self.name, accepted=accepted, rejected=rejected, unchanged=unchanged,
                                             rejected_stages=stages, deletes=control)

    def _write_baselines(self, tracker: Tracker) -> None:
        """Accepted keys get their new digest (rejected ones keep the old one, R23); in snapshot workflows
        every key the file contained is stamped with its generation, and soft-deleted keys are removed."""
        generation = generation_of(tracker.batch) if self.snapshot else None
        fields = self.snapshot.identity_fields if self.snapshot else []
        for token in tracker.accepted:
            baselines.accept(self.baseline, token.key, token.digest, delete=token.delete, generation=generation,
                             payload=token.payload, fields=fields)
        if generation is not None:
            for key, payload in tracker.stamps:
                baselines.stamp_seen(self.baseline, key, payload, generation, fields)

