"""Scrape-time metrics: consumer lag, the webhook receiver's counters, extraction watermark age.

The consumer here is a stand-in with the three things the collector reads from Faust's consumer
(``assignment()``, ``highwater(tp)``, the committed offsets); the real one is scraped in
tests/integration/observability.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from fluentsync.connectors.webhooks.receiver import WebhookReceiver
from fluentsync.streams.observability.metrics import WorkerMetrics
from fluentsync.streams.observability.metrics_collectors import (
    ConsumerLagCollector,
    WatermarkCollector,
    WebhookCollector,
)
from fluentsync.streams.observability.metrics_web import WatermarkRefresher


def value(metrics: WorkerMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


class StandInConsumer:
    def __init__(self, highwaters: dict[TP, int | None], committed: dict[TP, int | None]) -> None:
        self.highwaters = highwaters
        self._committed_offset: defaultdict[TP, int | None] = defaultdict(lambda: None, committed)

    def assignment(self) -> set[TP]:
        return set(self.highwaters)

    def highwater(self, tp: TP) -> int | None:
        return self.highwaters[tp]


def app_with(consumer: Any, topics: list[str]) -> Any:
    agent = SimpleNamespace(channel=SimpleNamespace(topics=tuple(topics)))
    return SimpleNamespace(_consumer=consumer, agents={"records-inv": agent})


def test_consumer_lag_per_owned_partition_of_agent_topics() -> None:
    records0, records1, fresh = TP("records.inv", 0), TP("records.inv", 1), TP("records.inv", 2)
    changelog = TP("app-baseline-inv-changelog", 0)
    consumer = StandInConsumer({records0: 120, records1: 40, fresh: None, changelog: 900},
                               {records0: 100, records1: None})
    metrics = WorkerMetrics(process=False)
    metrics.registry.register(ConsumerLagCollector(app_with(consumer, ["records.inv"]),
                                                   lambda topic: "inv" if topic.endswith(".inv") else ""))
    assert value(metrics, "fluentsync_consumer_lag", workflow="inv", topic="records.inv", partition="0") == 20
    assert value(metrics, "fluentsync_consumer_lag", workflow="inv", topic="records.inv", partition="1") == 40
    assert value(metrics, "fluentsync_consumer_lag", workflow="inv", topic="records.inv", partition="2") is None
    assert value(metrics, "fluentsync_consumer_lag", workflow="",
                 topic="app-baseline-inv-changelog", partition="0") is None  # not an agent's topic
    assert TP("records.inv", 2) not in consumer._committed_offset  # read without inserting


def test_no_lag_before_the_consumer_exists_or_while_it_cannot_answer() -> None:
    class Stopped:
        def assignment(self) -> set[TP]:
            raise RuntimeError("not started")

    for consumer in (None, Stopped()):
        collector = ConsumerLagCollector(app_with(consumer, ["records.inv"]), lambda topic: "inv")
        assert collector.lags() == {}
        assert [family.samples for family in collector.collect()] == [[]]


def test_webhook_counters_are_exposed_not_counted_again() -> None:
    async def publish(topic: str, partition: int, key: bytes, value: bytes) -> None:
        return None

    receiver = WebhookReceiver([], publish)
    for outcome in ("accepted", "accepted", "duplicate", "unauthorized:bad_signature", "too_large"):
        receiver.counters[("hooks", outcome)] += 1
    runtime = SimpleNamespace(counts={"processed": 2, "duplicate": 1})
    metrics = WorkerMetrics(process=False)
    metrics.registry.register(WebhookCollector(receiver, {"hooks": runtime}))
    assert value(metrics, "fluentsync_webhook_requests_total", workflow="hooks", outcome="accepted") == 2
    assert value(metrics, "fluentsync_webhook_rejections_total", workflow="hooks",
                 reason="unauthorized:bad_signature") == 1
    assert value(metrics, "fluentsync_webhook_rejections_total", workflow="hooks", reason="too_large") == 1
    assert value(metrics, "fluentsync_webhook_rejections_total", workflow="hooks", reason="duplicate") is None
    assert value(metrics, "fluentsync_webhook_events_total", workflow="hooks", outcome="processed") == 2
    receiver.counters[("hooks", "too_large")] += 1  # read on every scrape
    assert value(metrics, "fluentsync_webhook_rejections_total", workflow="hooks", reason="too_large") == 2


def test_watermark_age_is_computed_at_scrape_time() -> None:
    metrics = WorkerMetrics(process=False)
    clock = [0.0]
    metrics.registry.register(WatermarkCollector(metrics, now=lambda: clock[0]))
    metrics.note_watermark("orders", "2024-05-01T00:00:00+00:00")
    stamp = metrics.watermarks["orders"]
    clock[0] = stamp + 60
    assert value(metrics, "fluentsync_extraction_watermark_age_seconds", extraction="orders") == 60
    clock[0] = stamp + 3600
    assert value(metrics, "fluentsync_extraction_watermark_age_seconds", extraction="orders") == 3600
    assert value(metrics, "fluentsync_extraction_watermark_timestamp_seconds", extraction="orders") == stamp


async def test_watermarks_are_read_at_most_every_interval_and_failures_keep_the_last_values() -> None:
    metrics = WorkerMetrics(process=False)
    reads: list[str] = []
    stored: dict[bytes, Any] = {b"orders": {"watermark": "2024-05-01T00:00:00Z"},
                                b"products": {"watermark": "2024-05-02T00:00:00Z"}}

    async def read(bootstrap: str, topic: str, *, timeout: float) -> dict[bytes, Any]:
        reads.append(topic)
        if isinstance(stored, Exception):
            raise stored
        return dict(stored)

    refresher = WatermarkRefresher(metrics, "127.0.0.1:9", "extraction.watermarks", every=3600, read=read)
    await asyncio.gather(refresher.refresh(), refresher.refresh())  # concurrent scrapes: one read
    assert reads == ["extraction.watermarks"] and set(metrics.watermarks) == {"orders", "products"}
    await refresher.refresh()
    assert len(reads) == 1  # not due yet

    refresher.every = 0
    del stored[b"products"]  # reset (a tombstone): it disappears
    await refresher.refresh()
    assert set(metrics.watermarks) == {"orders"}
    known = dict(metrics.watermarks)
    stored = TimeoutError()  # type: ignore[assignment]
    await refresher.refresh()
    assert metrics.watermarks == known and len(reads) == 3
