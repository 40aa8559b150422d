"""``GET /metrics`` on the worker's ops port, and the wiring of :class:`WorkerMetrics` into a worker.

:func:`install_metrics` is called once by ``build_app`` after every agent is registered: it attaches
the metrics to the Faust app (the agents count into them through ``metrics_of(app)``), makes the Fluent
client report each HTTP attempt and retry, registers the scrape-time collectors and mounts the route.

Why the watermark refresh runs in the scrape handler: a worker only sees the watermarks of the runs it
executes itself, but the age of every extraction's watermark is what an alert needs. Reading the
compacted ``extraction.watermarks`` topic costs a short-lived consumer, so it happens at most every
:data:`WATERMARK_REFRESH` seconds and only when somebody scrapes; a broker that does not answer within
:data:`WATERMARK_TIMEOUT` seconds leaves the last known values and never fails the scrape.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from fluentsync.streams.extraction.state import StateTopics, read_compacted
from fluentsync.streams.kafka.names import WorkflowTopics

from .metrics import WorkerMetrics, attach
from .metrics_collectors import ConsumerLagCollector, WatermarkCollector, WebhookCollector
from .web import Handler

if TYPE_CHECKING:
    from fluentsync.streams.worker import Worker

__all__ = ["WATERMARK_REFRESH", "WATERMARK_TIMEOUT", "WatermarkRefresher", "install_metrics", "metrics_handler"]

log = logging.getLogger(__name__)

WATERMARK_REFRESH = 30.0  #: seconds between reads of the stored watermarks (on scrape)
WATERMARK_TIMEOUT = 5.0  #: seconds a scrape may wait for them

Refresh = Callable[[], Awaitable[None]]
ReadCompacted = Callable[..., Awaitable[dict[bytes, Any]]]


class WatermarkRefresher:
    """Reads every stored extraction watermark into ``metrics.watermarks``, at most every ``every`` s."""

    def __init__(self, metrics: WorkerMetrics, bootstrap: str, topic: str, *, every: float = WATERMARK_REFRESH,
                 timeout: float = WATERMARK_TIMEOUT, read: ReadCompacted = read_compacted) -> None:
        self.metrics = metrics
        self.bootstrap = bootstrap
        self.topic = topic
        self.every = every
        self.timeout = timeout
        self._read = read
        self._last: float | None = None
        self._lock = asyncio.Lock()

    def _due(self) -> bool:
        return self._last is None or time.monotonic() - self._last >= self.every

    async def refresh(self) -> None:
        if not self._due():
            return
        async with self._lock:  # concurrent scrapes share one read
            if not self._due():
                return
            self._last = time.monotonic()
            try:
                found = await asyncio.wait_for(self._read(self.bootstrap, self.topic, timeout=self.timeout),
                                               self.timeout + 1.0)
            except Exception as exc:  # the scrape still answers with what is known
                log.warning("metrics: extraction watermarks not read from %s (%s)", self.topic, type(exc).__name__)
                return
            known = dict(self.metrics.watermarks)
            self.metrics.watermarks.clear()  # a reset watermark (tombstone) disappears
            for key, value in found.items():
                name = key.decode(errors="replace")
                if isinstance(value, dict) and value.get("watermark"):
                    if name in known:
                        self.metrics.watermarks[name] = known[name]
                    self.metrics.note_watermark(name, str(value["watermark"]))


def metrics_handler(metrics: WorkerMetrics, refreshers: Sequence[Refresh] = ()) -> Handler:
    """The aiohttp handler: Prometheus text (or OpenMetrics, if the scraper asks for it)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        for refresh in refreshers:
            await refresh()
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encoder(metrics.registry), headers={"Content-Type": content_type})

    return handle


def _topic_workflows(worker: Worker) -> Callable[[str], str]:
    prefix = worker.config.kafka.topic_prefix
    owners: dict[str, str] = {}
    for name in worker.config.workflows:
        topics = WorkflowTopics.of(name, prefix)
        for topic in [*topics.all(), topics.webhooks]:
            owners[topic] = name
    return lambda topic: owners.get(topic, "")


def install_metrics(worker: Worker, bootstrap: str) -> WorkerMetrics:
    """Create the worker's metrics, attach them to its app and client, and serve ``/metrics`` on its ops
    port when it has one (call after every agent is registered, before the ops server starts)."""
    metrics = attach(worker.app, WorkerMetrics())
    metrics.declare(worker.config.workflows, worker.config.extractions)
    if worker.client is not None:
        worker.client.core.observer = metrics
    registry = metrics.registry
    registry.register(ConsumerLagCollector(worker.app, _topic_workflows(worker)))
    if worker.receiver is not None or worker.webhooks:
        registry.register(WebhookCollector(worker.receiver, worker.webhooks))
    refreshers: list[Refresh] = []
    if worker.config.extractions:
        registry.register(WatermarkCollector(metrics))
        topics = StateTopics.of(worker.config.kafka.topic_prefix)
        refreshers.append(WatermarkRefresher(metrics, bootstrap, topics.watermarks).refresh)
    if worker.ops is not None:
        worker.ops.add_get("/metrics", metrics_handler(metrics, refreshers))
    return metrics
