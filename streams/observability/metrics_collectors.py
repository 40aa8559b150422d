"""Metrics computed when Prometheus scrapes: consumer lag, webhook counters, watermark age.

Why custom collectors rather than gauges set by timers: these values already live somewhere (the
Faust consumer's high watermarks and committed offsets, the webhook receiver's counters, the stored
extraction watermarks); reading them on scrape is always current, costs nothing between scrapes and
never counts anything twice. The webhook receiver in particular keeps its own ``counters`` (its
``/health`` reports them); they are exposed as they are, not counted a second time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .metrics import WorkerMetrics

__all__ = ["ConsumerLagCollector", "WatermarkCollector", "WebhookCollector", "agent_topics"]

log = logging.getLogger(__name__)

#: Receiver outcomes that are not refusals (a duplicate is answered 200 and applied once).
WEBHOOK_NOT_REJECTED = frozenset({"accepted", "duplicate"})


def agent_topics(app: Any) -> set[str]:
    """The topics the app's agents consume (not changelogs, not Faust's leader topic)."""
    names: set[str] = set()
    for agent in app.agents.values():
        names.update(getattr(agent.channel, "topics", ()) or ())
    return names


class ConsumerLagCollector(Collector):
    """``fluentsync_consumer_lag``: per topic partition assigned to this worker, the high watermark (the
    broker's end of the partition, as seen by the last fetch) minus the committed offset.

    Only topics an agent consumes are reported; a partition whose high watermark is not known yet (no
    fetch since the assignment) is left out rather than reported as 0.
    """

    def __init__(self, app: Any, workflow_of: Callable[[str], str]) -> None:
        self.app = app
        self.workflow_of = workflow_of

    def describe(self) -> Iterator[Metric]:
        yield self._family()

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily("fluentsync_consumer_lag", "Messages not yet committed, per topic partition "
                                 "owned by this worker (high watermark - committed offset).",
                                 labels=["workflow", "topic", "partition"])

    def lags(self) -> dict[tuple[str, int], int]:
        """``{(topic, partition): lag}`` for the partitions this worker owns now."""
        consumer = getattr(self.app, "_consumer", None)  # the property would create one: not from a scrape
        if consumer is None:
            return {}
        try:
            assignment = consumer.assignment()
        except Exception:  # not started yet, or stopping
            return {}
        topics = agent_topics(self.app)
        committed: Mapping[Any, int | None] = getattr(consumer, "_committed_offset", {}) or {}
        found: dict[tuple[str, int], int] = {}
        for tp in assignment:
            if tp.topic not in topics:
                continue
            try:
                highwater = consumer.highwater(tp)
            except Exception:
                continue
            if highwater is None:
                continue
            found[(tp.topic, tp.partition)] = max(0, int(highwater) - int(committed.get(tp) or 0))
        return found

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for (topic, partition), lag in sorted(self.lags().items()):
            family.add_metric([self.workflow_of(topic), topic, str(partition)], lag)
        yield family


class WebhookCollector(Collector):
    """The in-worker receiver's counters and the webhooks agents' counts, read on scrape.

    - ``fluentsync_webhook_requests_total{workflow,outcome}``: every request the receiver answered;
    - ``fluentsync_webhook_rejections_total{workflow,reason}``: the refused ones (not accepted, not a
      duplicate), e.g. ``unauthorized:bad_signature``, ``too_large``, ``malformed_body``;
    - ``fluentsync_webhook_events_total{workflow,outcome}``: what the webhooks agent did with published
      events (``processed``, ``duplicate``, ``not_a_fluent_event``).
    """

    def __init__(self, receiver: Any, runtimes: Mapping[str, Any]) -> None:
        self.receiver = receiver
        self.runtimes = runtimes

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def _families(self) -> tuple[CounterMetricFamily, CounterMetricFamily, CounterMetricFamily]:
        return (
            CounterMetricFamily("fluentsync_webhook_requests", "Webhook requests answered by the receiver, "
                                "by outcome.", labels=["workflow", "outcome"]),
            CounterMetricFamily("fluentsync_webhook_rejections", "Webhook requests refused, by reason.",
                                labels=["workflow", "reason"]),
            CounterMetricFamily("fluentsync_webhook_events", "Published webhook events handled by the webhooks "
                                "agent, by outcome.", labels=["workflow", "outcome"]),
        )

    def collect(self) -> Iterator[Metric]:
        requests, rejections, events = self._families()
        counters = dict(getattr(self.receiver, "counters", None) or {})
        for (workflow, outcome), n in sorted(counters.items()):
            requests.add_metric([workflow, outcome], n)
            if outcome not in WEBHOOK_NOT_REJECTED:
                rejections.add_metric([workflow, outcome], n)
        for workflow, runtime in sorted(self.runtimes.items()):
            for outcome, n in sorted(dict(runtime.counts).items()):
                events.add_metric([workflow, outcome], n)
        yield requests
        yield rejections
        yield events


class WatermarkCollector(Collector):
    """``fluentsync_extraction_watermark_age_seconds`` (now - watermark) and
    ``fluentsync_extraction_watermark_timestamp_seconds`` per extraction whose watermark is known."""

    def __init__(self, metrics: WorkerMetrics, now: Callable[[], float] | None = None) -> None:
        self.metrics = metrics
        self.now = now

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily("fluentsync_extraction_watermark_age_seconds",
                              "Seconds between now and the extraction's stored watermark.", labels=["extraction"]),
            GaugeMetricFamily("fluentsync_extraction_watermark_timestamp_seconds",
                              "The extraction's stored watermark (Unix time).", labels=["extraction"]),
        )

    def collect(self) -> Iterator[Metric]:
        age, stamp = self._families()
        ages = self.metrics.watermark_ages(self.now() if self.now is not None else None)
        for name, seconds in sorted(ages.items()):
            age.add_metric([name], seconds)
            stamp.add_metric([name], self.metrics.watermarks[name])
        yield age
        yield stamp
