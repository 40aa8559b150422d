"""Cluster-wide status read from Kafka: consumer lag, dead letters, recent run reports, extractions.

Why from Kafka rather than from the workers: several workers share a workflow's partitions and none of
them knows how far the others are, but the broker does. Everything here needs only the broker address,
so ``fluentsync status`` works with every worker down (that is when an operator needs it most).

- **Lag** per workflow topic that the app's consumer group reads (``files``, ``records``, ``ledger``,
  ``webhooks``): exact end offset minus the group's committed offset, per partition. Committed offsets
  are fetched by a consumer that never subscribes, so nothing joins the group (a join would rebalance
  the workers, and aiokafka's admin ``list_consumer_group_offsets`` breaks on the embedded broker); end
  offsets come from :func:`~fluentsync.streams.kafka.offsets.exact_end_offsets` (the embedded broker
  under-reports them). Faust commits every few seconds, so a settled pipeline shows lag 0 shortly after.
- **Dead letters** per workflow and stage: ``dlq.<wf>`` read with the replay tools' exact-range reader.
  :class:`DeadLetterTally` remembers where it stopped, so ``status --watch`` reads only new letters.
- **Run reports**: the newest few ``RunReport`` of ``reports.<wf>`` (only the tail of each partition).
- **Extractions**: the compacted watermark and run topics, as ``fluentsync runs`` reads them.

Each part fails on its own: a part that raises is reported under ``errors`` and the others still show.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from fluentsync.connectors.webhooks.settings import WebhookSourceConfig
from fluentsync.schemas.codec import AvroCodec, default_codec
from fluentsync.streams.config import PipelineConfig
from fluentsync.streams.kafka.connection import client_options
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.offsets import exact_end_offsets
from fluentsync.streams.operations.positions import log_bounds
from fluentsync.streams.operations.reading import read_ranges

__all__ = [
    "DeadLetterTally",
    "KafkaStatus",
    "consumed_topics",
    "consumer_lag",
    "extraction_status",
    "iso",
    "recent_reports",
    "topic_partitions",
]

LATEST_LETTERS = 10  #: newest dead letters kept per workflow (time, stage, reason, where)


def iso(value: Any) -> str | None:
    """A datetime (or epoch milliseconds) as ISO 8601 UTC; None stays None."""
    if value is None:
        return None
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        text: str = value.astimezone(UTC).isoformat()
        return text.replace("+00:00", "Z")
    return str(value)


def consumed_topics(config: PipelineConfig, workflow: str) -> list[str]:
    """The topics of ``workflow`` that the app's consumer group reads (its agents' inputs)."""
    topics = WorkflowTopics.of(workflow, config.kafka.topic_prefix)
    settings = config.workflows[workflow]
    names = [topics.files]
    if settings.target is not None:
        names += [topics.records, topics.ledger]
    if isinstance(settings.source, WebhookSourceConfig):
        names.append(topics.webhooks)
    return names


async def topic_partitions(bootstrap: str) -> dict[str, int]:
    """Every topic of the cluster and its partition count (metadata only: never auto-creates a topic)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **client_options())
    await consumer.start()
    try:
        names = await consumer.topics()
        return {name: len(consumer.partitions_for_topic(name) or ()) for name in names}
    finally:
        await asyncio.shield(consumer.stop())


async def consumer_lag(bootstrap: str, group: str, partitions: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    """Per topic (``partitions``: topic -> partition count): the group's committed offset, the exact end
    and the lag of each partition, and their sums. A partition the group never committed lags by all it
    holds (end - log start)."""
    tps = [TopicPartition(topic, p) for topic, count in partitions.items() for p in range(count)]
    if not tps:
        return {}
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                             **client_options())
    await probe.start()
    try:
        committed = {tp: await probe.committed(tp) for tp in tps}
        starts = await probe.beginning_offsets(tps)
    finally:
        await asyncio.shield(probe.stop())
    ends = await exact_end_offsets(bootstrap, tps)
    result: dict[str, dict[str, Any]] = {}
    for tp in tps:
        offset = committed[tp]
        offset = offset if offset is not None and offset >= 0 else None
        end = ends[tp]
        lag = max(0, end - (offset if offset is not None else starts[tp]))
        entry = result.setdefault(tp.topic, {"lag": 0, "end": 0, "partitions": []})
        entry["lag"] += lag
        entry["end"] += end
        entry["partitions"].append({"partition": tp.partition, "committed": offset, "end": end, "lag": lag})
    return result


class DeadLetterTally:
    """The dead letters of one topic by stage, plus the newest few; :meth:`refresh` reads only what
    arrived since the previous call. Letters removed by retention before the first read are not counted."""

    def __init__(self, topic: str, keep: int = LATEST_LETTERS) -> None:
        self.topic = topic
        self.positions: dict[int, int] = {}
        self.by_stage: collections.Counter[str] = collections.Counter()
        self.latest: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep)

    @property
    def total(self) -> int:
        return sum(self.by_stage.values())

    async def refresh(self, bootstrap: str, partitions: int, codec: AvroCodec | None = None) -> None:
        codec = codec or default_codec()
        bounds = await log_bounds(bootstrap, self.topic, partitions)
        ranges = {p: (max(self.positions.get(p, start), start), end) for p, (start, end) in bounds.items()}
        newest: list[dict[str, Any]] = []
        async for message in read_ranges(bootstrap, self.topic, ranges):
            letter = codec.decode(message.value or b"")
            self.by_stage[str(letter["stage"])] += 1
            newest.append(_letter_summary(letter))
        self.positions = {p: end for p, (_, end) in ranges.items()}
        for summary in sorted(newest, key=lambda s: s["time"] or ""):
            self.latest.append(summary)

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "by_stage": dict(sorted(self.by_stage.items())),
                "latest": sorted(self.latest, key=lambda s: s["time"] or "", reverse=True)}


def _letter_summary(letter: dict[str, Any]) -> dict[str, Any]:
    provenance = letter.get("provenance") or {}
    file = provenance.get("file") or {}
    where = file.get("path") or provenance.get("source_uri") or None
    if where is not None and provenance.get("line") is not None:
        where = f"{where}:{provenance['line']}"
    return {"time": iso(letter.get("occurred_at")), "id": letter["dead_letter_id"], "stage": str(letter["stage"]),
            "reason": str(letter["reason"])[:300], "record_key": letter.get("record_key"), "where": where,
            "attempt": letter.get("attempt", 1)}


async def recent_reports(bootstrap: str, topic: str, partitions: int, last: int,
                         codec: AvroCodec | None = None) -> list[dict[str, Any]]:
    """The newest ``last`` run reports of ``topic`` (oldest first), reading only each partition's tail."""
    if last <= 0:
        return []
    codec = codec or default_codec()
    bounds = await log_bounds(bootstrap, topic, partitions)
    ranges = {p: (max(start, end - last), end) for p, (start, end) in bounds.items()}
    found = [codec.decode(m.value or b"") async for m in read_ranges(bootstrap, topic, ranges)]
    found.sort(key=lambda r: r["settled_at"])
    return [_report_summary(r) for r in found[-last:]]


def _report_summary(report: dict[str, Any]) -> dict[str, Any]:
    file = report.get("file") or {}
    return {
        "settled_at": iso(report["settled_at"]), "run_id": report.get("run_id"),
        "path": file.get("path") or report.get("source_uri"), "source_uri": report.get("source_uri"),
        "records": report["record_count"], "accepted": report["accepted"], "rejected": report["rejected"],
        "unchanged": report["unchanged"], "fluent_batches": report["fluent_batches"],
        "job_ids": list(report.get("job_ids") or []), "processing_ms": report.get("processing_ms"),
        "records_per_second": report.get("records_per_second"),
        "first_errors": list(report.get("first_errors") or [])[:5],
    }


def _run_summary(run: Any) -> dict[str, Any]:
    return {"run_id": run.run_id, "status": run.status, "stage": run.stage, "triggered_by": run.triggered_by,
            "created_at": iso(run.created_at), "started_at": iso(run.started_at),
            "ended_at": iso(run.completed_at or run.failed_at), "nodes": run.nodes, "pages": run.pages,
            "duration_ms": run.duration_ms, "error": run.error}


async def extraction_status(bootstrap: str, config: PipelineConfig, now: datetime | None = None) -> dict[str, Any]:
    """Per configured extraction: state, last run, watermark and its age (now - watermark), schedule."""
    if not config.extractions:
        return {}
    from fluentsync.streams.extraction.state import ExtractionState, StateTopics, parse_timestamp

    now = now or datetime.now(UTC)
    state = ExtractionState(bootstrap, StateTopics.of(config.kafka.topic_prefix))
    watermarks = await state.watermarks()
    runs = await state.runs(config.extractions)
    result: dict[str, Any] = {}
    for name, settings in config.extractions.items():
        mine = [run for run in runs if run.extraction == name]  # oldest first
        active = [run for run in mine if run.status in ("QUEUED", "RUNNING")]
        if any(run.status == "RUNNING" for run in active):
            current = "RUNNING"
        elif active:
            current = "QUEUED"
        else:
            current = mine[-1].status if mine else "NEVER_RUN"
        finished = [run for run in mine if run.status in ("COMPLETED", "FAILED")]
        mark = watermarks.get(name)
        watermark = None
        if mark is not None:
            try:
                age: float | None = round((now - parse_timestamp(mark.watermark)).total_seconds(), 1)
            except ValueError:
                age = None
            watermark = {"value": mark.watermark, "field": mark.field, "run_id": mark.run_id,
                         "updated_at": iso(mark.updated_at), "age_s": age}
        result[name] = {
            "state": current, "schedule": settings.schedule, "entity": settings.entity,
            "topic": settings.topic_name(name, config.kafka.topic_prefix),
            "last_run": _run_summary(mine[-1]) if mine else None,
            "last_finished": _run_summary(finished[-1]) if finished else None,
            "watermark": watermark,
        }
    return result


class KafkaStatus:
    """Collects the Kafka-derived view of a pipeline; keep one instance across refreshes (``--watch``)
    so dead letters are read incrementally."""

    def __init__(self, bootstrap: str, config: PipelineConfig, *, workflows: Iterable[str] | None = None,
                 reports: int = 5, codec: AvroCodec | None = None) -> None:
        self.bootstrap = bootstrap
        self.config = config
        self.workflows = list(workflows) if workflows is not None else list(config.workflows)
        self.reports = reports
        self.codec = codec or default_codec()
        self.tallies = {wf: DeadLetterTally(WorkflowTopics.of(wf, config.kafka.topic_prefix).dlq)
                        for wf in self.workflows}

    async def collect(self) -> dict[str, Any]:
        """``{"kind": "kafka", "workflows": {wf: {"lag", "dlq", "reports"}}, "extractions", "errors"}``."""
        started = time.monotonic()
        errors: list[dict[str, Any]] = []
        workflows: dict[str, dict[str, Any]] = {wf: {"lag": None, "dlq": None, "reports": None}
                                                for wf in self.workflows}
        result: dict[str, Any] = {"kind": "kafka", "generated_at": iso(datetime.now(UTC)),
                                  "bootstrap": self.bootstrap, "app_id": self.config.kafka.app_id,
                                  "workflows": workflows, "extractions": {}, "errors": errors}
        try:
            existing = await topic_partitions(self.bootstrap)
        except Exception as exc:
            errors.append(_error("kafka", f"cannot read the cluster's topics from {self.bootstrap}", exc))
            return result
        await self._lag(existing, workflows, errors)
        prefix = self.config.kafka.topic_prefix
        for wf in self.workflows:
            topics = WorkflowTopics.of(wf, prefix)
            if topics.dlq in existing:
                try:
                    await self.tallies[wf].refresh(self.bootstrap, existing[topics.dlq], self.codec)
                    workflows[wf]["dlq"] = self.tallies[wf].to_json()
                except Exception as exc:
                    errors.append(_error(wf, f"cannot read {topics.dlq}", exc))
            if topics.reports in existing:
                try:
                    workflows[wf]["reports"] = await recent_reports(self.bootstrap, topics.reports,
                                                                    existing[topics.reports], self.reports, self.codec)
                except Exception as exc:
                    errors.append(_error(wf, f"cannot read {topics.reports}", exc))
        try:
            result["extractions"] = await extraction_status(self.bootstrap, self.config)
        except Exception as exc:
            errors.append(_error("extractions", "cannot read the extraction state topics", exc))
        result["collect_ms"] = int((time.monotonic() - started) * 1000)
        return result

    async def _lag(self, existing: Mapping[str, int], workflows: dict[str, dict[str, Any]],
                   errors: list[dict[str, Any]]) -> None:
        wanted = {wf: [t for t in consumed_topics(self.config, wf) if existing.get(t)] for wf in self.workflows}
        try:
            lag = await consumer_lag(self.bootstrap, self.config.kafka.app_id,
                                     {t: existing[t] for topics in wanted.values() for t in topics})
        except Exception as exc:
            errors.append(_error("kafka", f"cannot read the offsets of consumer group {self.config.kafka.app_id}",
                                 exc))
            return
        for wf, topics in wanted.items():
            per_topic = {t: lag[t] for t in topics if t in lag}
            workflows[wf]["lag"] = {"total": sum(e["lag"] for e in per_topic.values()), "topics": per_topic}


def _error(scope: str, message: str, exc: BaseException) -> dict[str, Any]:
    detail = str(exc) or type(exc).__name__
    return {"time": iso(datetime.now(UTC)), "scope": scope, "level": "ERROR",
            "message": f"{message}: {type(exc).__name__}: {detail}"[:500]}
