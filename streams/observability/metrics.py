"""Prometheus metrics of one worker: what files, records, Fluent calls and extractions did.

Why one :class:`WorkerMetrics` object per worker, on its own ``CollectorRegistry`` and never the global
one: tests build several Faust apps in one process, and the global registry refuses a second metric of
the same name. The object is attached to the Faust app (:func:`attach`) and the agents find it with
:func:`metrics_of`, so no module global spreads through the code and a runtime built without a worker
(unit tests, tools) still counts, into a detached instance nobody serves.

Counting follows the outcome accounting, not the code paths: a record's outcome is counted once, where
the records agent settles its ``RecordBatch`` (the same point that publishes the ``BatchOutcome`` to the
ledger), and the parser's rejections where the file was published. So at the end of a file
``accepted + rejected + unchanged`` equals the records parsed, as in its ``RunReport``. Counters are per
process: a batch redelivered after a crash is counted again by the worker that processes it.

Values computed at scrape time (consumer lag, webhook receiver counters, watermark age) are custom
collectors in :mod:`.metrics_collectors`; the ``/metrics`` route and the wiring into a worker are in
:mod:`.metrics_web`. Every metric, its labels and its meaning are listed in the README (Metrics).
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector

__all__ = [
    "BATCH_SIZE_BUCKETS",
    "LATENCY_BUCKETS",
    "WorkerMetrics",
    "attach",
    "metrics_of",
]

#: Seconds: Fluent answers in tens of milliseconds to tens of seconds (a large batch, a slow GraphQL page).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: Entities per acknowledged request: 1 (an event per record) up to the Batch API cap of 5,000.
BATCH_SIZE_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000)

_ATTRIBUTE = "fluentsync_metrics"


class WorkerMetrics:
    """The metrics of one worker and the methods the agents call at their accounting points.

    ``process=False`` leaves out the process collector (RSS, CPU, open files), e.g. for a second
    registry in the same process that should not repeat them.
    """

    def __init__(self, registry: CollectorRegistry | None = None, *, process: bool = True) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        if process:
            ProcessCollector(registry=r)  # process_resident_memory_bytes, process_cpu_seconds_total, ...
        # -- files ------------------------------------------------------------------------------------
        self.files_discovered = Counter(
            "fluentsync_files_discovered", "File versions announced by discovery (on the group leader).",
            ["workflow"], registry=r)
        self.files_skipped = Counter(
            "fluentsync_files_skipped", "Announced file versions not processed, by reason "
            "(already_processed, changed_content, not_found).", ["workflow", "reason"], registry=r)
        self.files_processed = Counter(
            "fluentsync_files_processed", "Files settled (every record has an outcome), by outcome "
            "(clean, with_rejections).", ["workflow", "outcome"], registry=r)
        self.files_failed = Counter(
            "fluentsync_files_failed", "Files that failed as a whole, by reason (parse, source, changed_content).",
            ["workflow", "reason"], registry=r)
        # -- records ----------------------------------------------------------------------------------
        self.records_parsed = Counter(
            "fluentsync_records_parsed", "Records read from files and webhooks, good or bad (the records in).",
            ["workflow"], registry=r)
        self.records_published = Counter(
            "fluentsync_records_published", "Parsed records published to the records topic.", ["workflow"],
            registry=r)
        self.records = Counter(
            "fluentsync_records", "Record outcomes, exactly one per record: accepted, rejected, unchanged.",
            ["workflow", "outcome"], registry=r)
        self.records_rejected = Counter(
            "fluentsync_records_rejected", "Rejected records (dead letters) by stage: parse, map, validate, fluent.",
            ["workflow", "stage"], registry=r)
        self.records_sent = Counter(
            "fluentsync_records_sent", "Records in requests Fluent acknowledged (batches, events, mutations).",
            ["workflow"], registry=r)
        self.records_deleted = Counter(
            "fluentsync_records_deleted", "Snapshot soft deletes by outcome (accepted, rejected).",
            ["workflow", "outcome"], registry=r)
        # -- Fluent -----------------------------------------------------------------------------------
        self.fluent_batch_size = Histogram(
            "fluentsync_fluent_batch_size", "Records per request Fluent acknowledged, by API (batch, event, graphql).",
            ["workflow", "api"], buckets=BATCH_SIZE_BUCKETS, registry=r)
        self.fluent_request_seconds = Histogram(
            "fluentsync_fluent_request_duration_seconds", "Duration of each HTTP attempt to Fluent, by route "
            "(the client operation: batch_create, graphql, event_async, ...).", ["route"],
            buckets=LATENCY_BUCKETS, registry=r)
        self.fluent_responses = Counter(
            "fluentsync_fluent_responses", "HTTP attempts to Fluent by route and status (the HTTP code, or "
            "timeout / network_error when no response arrived).", ["route", "status"], registry=r)
        self.fluent_retries = Counter(
            "fluentsync_fluent_retries", "Attempts the Fluent client repeated, by route and reason "
            "(rate_limited, server_error, timeout, network_error, unauthorized).", ["route", "reason"], registry=r)
        self.batches_retried = Counter(
            "fluentsync_batches_retried", "Requests Fluent did not take even after the client's retries, "
            "queued for another send round.", ["workflow"], registry=r)
        self.records_retried = Counter(
            "fluentsync_records_retried", "Records queued for another send round.", ["workflow"], registry=r)
        self.status_timeouts = Counter(
            "fluentsync_batch_status_timeouts", "Fluent batches whose status polling ran out of time "
            "(their records are dead-lettered).", ["workflow"], registry=r)
        # -- extraction -------------------------------------------------------------------------------
        self.extraction_runs = Counter(
            "fluentsync_extraction_runs", "Extraction runs finished on this worker, by status.",
            ["extraction", "status"], registry=r)
        self.extraction_nodes = Counter(
            "fluentsync_extraction_nodes", "Nodes extracted and published.", ["extraction"], registry=r)
        #: extraction -> stored watermark as epoch seconds (gauges computed at scrape time)
        self.watermarks: dict[str, float] = {}

    def declare(self, workflows: Iterable[str] = (), extractions: Iterable[str] = ()) -> None:
        """Start the main series at 0, so rates and alerts work before the first event (Prometheus
        cannot tell "nothing happened yet" from "not exported")."""
        for workflow in workflows:
            for outcome in ("accepted", "rejected", "unchanged"):
                self.records.labels(workflow, outcome)
            for counter in (self.records_parsed, self.records_sent, self.files_discovered):
                counter.labels(workflow)
            for outcome in ("clean", "with_rejections"):
                self.files_processed.labels(workflow, outcome)
        for extraction in extractions:
            for status in ("completed", "failed"):
                self.extraction_runs.labels(extraction, status)

    # -- files -------------------------------------------------------------------------------------------
    def file_discovered(self, workflow: str, count: int = 1) -> None:
        if count:
            self.files_discovered.labels(workflow).inc(count)

    def file_skipped(self, workflow: str, reason: str) -> None:
        self.files_skipped.labels(workflow, reason).inc()

    def file_failed(self, workflow: str, reason: str) -> None:
        self.files_failed.labels(workflow, reason).inc()

    def file_settled(self, workflow: str, rejected: int) -> None:
        self.files_processed.labels(workflow, "with_rejections" if rejected else "clean").inc()

    def file_published(self, workflow: str, counts: Any) -> None:
        """A file (or webhook body) was published: its records are in, the parser's rejections settled.

        ``counts`` is the publisher's ``FileCounts`` (``records``, ``published``, ``dead_lettered``)."""
        self.records_parsed.labels(workflow).inc(counts.records)
        self.records_published.labels(workflow).inc(counts.published)
        if counts.dead_lettered:
            self.records.labels(workflow, "rejected").inc(counts.dead_lettered)
            self.records_rejected.labels(workflow, "parse").inc(counts.dead_lettered)

    # -- records -----------------------------------------------------------------------------------------
    def records_settled(self, workflow: str, *, accepted: int, rejected: int, unchanged: int,
                        rejected_stages: Iterable[str] = (), deletes: bool = False) -> None:
        """One ``RecordBatch`` settled (durably: dead letters and ledger entry acknowledged).

        ``rejected_stages`` has one stage per rejected record (the dead letters' ``stage``). ``deletes``:
        a snapshot sweep, whose accepted records are soft deletes, not records in."""
        if deletes:
            if accepted:
                self.records_deleted.labels(workflow, "accepted").inc(accepted)
            if rejected:
                self.records_deleted.labels(workflow, "rejected").inc(rejected)
            return
        for outcome, n in (("accepted", accepted), ("rejected", rejected), ("unchanged", unchanged)):
            if n:
                self.records.labels(workflow, outcome).inc(n)
        for stage, n in Tally(s.lower() for s in rejected_stages).items():
            self.records_rejected.labels(workflow, stage).inc(n)

    def fluent_acknowledged(self, workflow: str, api: str, records: int) -> None:
        """Fluent acknowledged one request (a batch, an event, a mutation group) carrying ``records``."""
        self.records_sent.labels(workflow).inc(records)
        self.fluent_batch_size.labels(workflow, api).observe(records)

    def send_retried(self, workflow: str, records: int) -> None:
        self.batches_retried.labels(workflow).inc()
        self.records_retried.labels(workflow).inc(records)

    def status_timed_out(self, workflow: str) -> None:
        self.status_timeouts.labels(workflow).inc()

    # -- the Fluent client (connectors.fluent RequestObserver) --------------------------------------------
    def on_attempt(self, route: str, status: int | str, seconds: float) -> None:
        self.fluent_request_seconds.labels(route).observe(seconds)
        self.fluent_responses.labels(route, str(status)).inc()

    def on_retry(self, route: str, reason: str) -> None:
        self.fluent_retries.labels(route, reason).inc()

    # -- extraction --------------------------------------------------------------------------------------
    def extraction_finished(self, extraction: str, status: str, nodes: int, watermark: str | None) -> None:
        self.extraction_runs.labels(extraction, status.lower()).inc()
        if nodes:
            self.extraction_nodes.labels(extraction).inc(nodes)
        if watermark:
            self.note_watermark(extraction, watermark)

    def note_watermark(self, extraction: str, watermark: str) -> None:
        """Remember a stored watermark (ISO-8601); only ever moves forward, as the stored one does."""
        try:
            parsed = datetime.fromisoformat(watermark.strip())
        except ValueError:
            return
        value = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()  # naive means UTC
        self.watermarks[extraction] = max(value, self.watermarks.get(extraction, value))

    def watermark_ages(self, now: float | None = None) -> dict[str, float]:
        """Seconds between now and each known watermark."""
        now = time.time() if now is None else now
        return {name: max(0.0, now - value) for name, value in self.watermarks.items()}


_DETACHED: WorkerMetrics | None = None


def attach(app: Any, metrics: WorkerMetrics) -> WorkerMetrics:
    """Make ``metrics`` the one the agents of ``app`` count into."""
    setattr(app, _ATTRIBUTE, metrics)
    return metrics


def metrics_of(app: Any) -> WorkerMetrics:
    """The metrics attached to ``app``; else one detached instance (counted, never served)."""
    found = getattr(app, _ATTRIBUTE, None)
    if isinstance(found, WorkerMetrics):
        return found
    global _DETACHED
    if _DETACHED is None:
        _DETACHED = WorkerMetrics(process=False)
    return _DETACHED
