"""Extractions inside the worker: a leader-only scheduler and an agent on the trigger topic.

Why a trigger topic rather than running the cron job where it fires: the schedule fires on one worker
(the group leader, ``on_leader=True``), but the run should happen once, on a worker that owns the
extraction, and survive that worker's crash. So the scheduler only *publishes* a trigger (a QUEUED
run record, then ``fluentsync.outbound.ExtractionTrigger`` keyed by extraction name on
``extraction.triggers``); the agent of the partition that key hashes to runs it. Consequences:

- runs of one extraction never overlap (one partition, one agent, one message at a time);
- the trigger's offset is committed only when the run has ended, so a worker that dies mid-run has its
  trigger redelivered to the partition's next owner, which runs again from the last stored watermark
  (no gap; the events already sent are sent again - at-least-once);
- ``fluentsync extract NAME --trigger`` uses the same path, so on-demand runs queue behind scheduled ones.

Finished run records older than :data:`RUN_RETENTION` (7 days, R64) are tombstoned by a leader-only
timer every hour, so the compacted ``extraction.runs`` topic does not grow for ever.

The scheduler checks every :data:`CHECK_INTERVAL` seconds which cron slots fell due since its previous
check (several missed slots collapse into one run). A new leader starts checking from its own start:
a slot that falls due during a leader change may be skipped; the next slot catches up, because every
run starts from the watermark.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mode import Service

from fluentsync.connectors.fluent import FluentClient
from fluentsync.schemas.faust_codec import avro_schema
from fluentsync.streams.observability.logs import correlate
from fluentsync.streams.observability.metrics import metrics_of

from .runner import RunRequest
from .schedule import due_slot
from .service import ExtractionService
from .state import TRIGGER_SCHEMA, RunRecord, StateTopics, parse_timestamp

if TYPE_CHECKING:
    import faust

    from fluentsync.streams.config import PipelineConfig

__all__ = ["CHECK_INTERVAL", "RUN_RETENTION", "ExtractionsRuntime", "register"]

log = logging.getLogger(__name__)

CHECK_INTERVAL = 10.0  #: seconds between schedule checks on the leader
RUN_RETENTION = timedelta(days=7)  #: finished run records older than this are tombstoned (R64)
PRUNE_INTERVAL = 3600.0  #: seconds between prunes of the run records, on the leader


class ExtractionsRuntime:
    """What the worker's extraction timer and agent share: the service (started on first use)."""

    def __init__(self, config: PipelineConfig, bootstrap: str, client: FluentClient) -> None:
        kafka = config.kafka
        self.config = config
        self.service = ExtractionService(config.extractions, bootstrap=bootstrap, client=client,
                                         prefix=kafka.topic_prefix, partitions=kafka.partitions,
                                         partitioning=kafka.partitioning, create_topics=False)
        self._started = False
        self._last_check: datetime | None = None
        self.completed: list[RunRecord] = []  #: runs finished by this worker (newest last, bounded)

    async def _ensure_started(self) -> ExtractionService:
        if not self._started:
            await self.service.start()
            self._started = True
        return self.service

    async def stop(self) -> None:
        if self._started:
            await self.service.stop()
            self._started = False

    async def check_schedules(self, now: datetime | None = None) -> list[str]:
        """Publish a trigger for every extraction whose cron slot fell due; returns their names."""
        now = now or datetime.now(UTC)
        since, self._last_check = self._last_check, now
        if since is None:
            return []
        due = [name for name, cfg in self.config.extractions.items()
               if cfg.schedule is not None and due_slot(cfg.schedule, since, now) is not None]
        if due:
            service = await self._ensure_started()
            prefix = self.config.kafka.topic_prefix
            for name in due:
                cfg = self.config.extractions[name]
                run = await service.state.trigger(name, triggered_by="schedule", topic=cfg.topic_name(name, prefix),
                                                  schema=cfg.schema_name)
                log.info("extraction %s: scheduled run %s queued", name, run.run_id,
                         extra={"extraction": name, "run_id": run.run_id})
        return due

    async def prune_runs(self, now: datetime | None = None) -> list[str]:
        """Tombstone finished run records older than :data:`RUN_RETENTION` (R64)."""
        service = await self._ensure_started()
        try:
            return await service.state.prune_runs(RUN_RETENTION, now)
        except Exception:
            log.exception("extraction run records could not be pruned")
            return []

    async def on_trigger(self, trigger: dict[str, Any]) -> RunRecord | None:
        """Run the extraction a trigger asks for; never raises (a failed run is recorded as FAILED)."""
        name = trigger.get("extraction")
        if name not in self.config.extractions:
            log.error("trigger for unknown extraction %r ignored", name)
            return None
        service = await self._ensure_started()
        request = RunRequest(
            run_id=trigger.get("run_id"), triggered_by=trigger.get("triggered_by") or "trigger",
            window_from=parse_timestamp(trigger["window_from"]) if trigger.get("window_from") else None,
            window_to=parse_timestamp(trigger["window_to"]) if trigger.get("window_to") else None,
            full=bool(trigger.get("full")), created_at=trigger.get("requested_at"))
        try:
            run = await service.runner(name).run(request)
        except Exception:  # Kafka unavailable for the run record itself: log, keep the agent alive
            log.exception("extraction %s: run %s could not be recorded", name, request.run_id)
            return None
        log.info("extraction %s run %s: %s, %d nodes, %d pages", name, run.run_id, run.status, run.nodes, run.pages)
        self.completed = [*self.completed[-99:], run]
        return run


def register(app: faust.App, config: PipelineConfig, bootstrap: str, client: FluentClient) -> ExtractionsRuntime:
    """Attach the trigger agent and the leader-only schedule timer of every extraction of ``config``."""
    runtime = ExtractionsRuntime(config, bootstrap, client)
    topics = StateTopics.of(config.kafka.topic_prefix)
    triggers = app.topic(topics.triggers, schema=avro_schema(TRIGGER_SCHEMA), partitions=config.kafka.partitions)

    async def extraction_triggers(stream: Any) -> None:
        async for trigger in stream:
            with correlate(extraction=trigger.get("extraction"), run_id=trigger.get("run_id")):
                run = await runtime.on_trigger(trigger)
            if run is not None:
                metrics_of(app).extraction_finished(run.extraction, run.status, run.nodes,
                                                    run.watermark_after or run.watermark_before)

    app.agent(triggers, name="extraction-triggers")(extraction_triggers)

    async def extraction_schedule() -> None:
        await runtime.check_schedules()

    if any(cfg.schedule for cfg in config.extractions.values()):
        app.timer(CHECK_INTERVAL, on_leader=True)(extraction_schedule)

    async def extraction_runs_cleanup() -> None:
        await runtime.prune_runs()

    app.timer(PRUNE_INTERVAL, on_leader=True)(extraction_runs_cleanup)

    class ExtractionsService(Service):
        """Closes the extraction producer when the worker stops (it is started on first use)."""

        async def on_stop(self) -> None:
            await runtime.stop()

    app.service(ExtractionsService)
    return runtime
