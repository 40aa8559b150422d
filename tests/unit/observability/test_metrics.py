"""The worker's metrics: own registries, outcome accounting, the Fluent client's observer, ``/metrics``.

The end-to-end proof (a real worker, the sandbox, a scrape) is tests/integration/observability.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from fluentsync.connectors.fluent import FluentServerError, FluentTimeoutError, RetryPolicy, Timeouts
from fluentsync.connectors.ingest.publisher import FileCounts
from fluentsync.streams.config import load_pipeline
from fluentsync.streams.observability.metrics import WorkerMetrics, attach, metrics_of
from fluentsync.streams.observability.metrics_web import metrics_handler
from fluentsync.streams.observability.web import OpsWeb
from fluentsync.streams.worker import build_app
from tests.unit.fluent.fakes import FakeFluent, make_client

JOB = "/api/v4.1/job/7"


def value(metrics: WorkerMetrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def test_each_worker_has_its_own_registry() -> None:
    first, second = WorkerMetrics(), WorkerMetrics()  # no "Duplicated timeseries" from a global registry
    first.file_discovered("inv", 2)
    assert value(first, "fluentsync_files_discovered_total", workflow="inv") == 2
    assert value(second, "fluentsync_files_discovered_total", workflow="inv") == 0
    assert value(first, "process_resident_memory_bytes") > 0


def test_one_outcome_per_record_including_parse_rejections() -> None:
    metrics = WorkerMetrics(process=False)
    metrics.file_published("inv", FileCounts(records=10, published=8, dead_lettered=2))
    metrics.records_settled("inv", accepted=5, rejected=2, unchanged=1, rejected_stages=["MAP", "VALIDATE"])
    outcomes = {o: value(metrics, "fluentsync_records_total", workflow="inv", outcome=o)
                for o in ("accepted", "rejected", "unchanged")}
    assert outcomes == {"accepted": 5, "rejected": 4, "unchanged": 1}
    assert sum(outcomes.values()) == value(metrics, "fluentsync_records_parsed_total", workflow="inv") == 10
    assert value(metrics, "fluentsync_records_published_total", workflow="inv") == 8
    stages = {s: value(metrics, "fluentsync_records_rejected_total", workflow="inv", stage=s)
              for s in ("parse", "map", "validate", "fluent")}
    assert stages == {"parse": 2, "map": 1, "validate": 1, "fluent": 0}


def test_declared_series_start_at_zero() -> None:
    metrics = WorkerMetrics(process=False)
    metrics.declare(["inv"], ["orders"])
    sample = metrics.registry.get_sample_value
    assert sample("fluentsync_records_total", {"workflow": "inv", "outcome": "unchanged"}) == 0
    assert sample("fluentsync_files_discovered_total", {"workflow": "inv"}) == 0
    assert sample("fluentsync_extraction_runs_total", {"extraction": "orders", "status": "failed"}) == 0


def test_a_snapshot_sweep_counts_deletes_not_records_in() -> None:
    metrics = WorkerMetrics(process=False)
    metrics.records_settled("inv", accepted=3, rejected=1, unchanged=0, rejected_stages=["FLUENT"], deletes=True)
    assert value(metrics, "fluentsync_records_deleted_total", workflow="inv", outcome="accepted") == 3
    assert value(metrics, "fluentsync_records_deleted_total", workflow="inv", outcome="rejected") == 1
    assert value(metrics, "fluentsync_records_total", workflow="inv", outcome="accepted") == 0


def test_files_batches_retries_and_timeouts() -> None:
    metrics = WorkerMetrics(process=False)
    metrics.file_skipped("inv", "already_processed")
    metrics.file_failed("inv", "parse")
    metrics.file_settled("inv", rejected=0)
    metrics.file_settled("inv", rejected=3)
    metrics.fluent_acknowledged("inv", "batch", 40)
    metrics.fluent_acknowledged("inv", "batch", 7)
    metrics.send_retried("inv", 47)
    metrics.status_timed_out("inv")
    assert value(metrics, "fluentsync_files_skipped_total", workflow="inv", reason="already_processed") == 1
    assert value(metrics, "fluentsync_files_failed_total", workflow="inv", reason="parse") == 1
    assert value(metrics, "fluentsync_files_processed_total", workflow="inv", outcome="clean") == 1
    assert value(metrics, "fluentsync_files_processed_total", workflow="inv", outcome="with_rejections") == 1
    assert value(metrics, "fluentsync_records_sent_total", workflow="inv") == 47
    assert value(metrics, "fluentsync_fluent_batch_size_count", workflow="inv", api="batch") == 2
    assert value(metrics, "fluentsync_fluent_batch_size_bucket", workflow="inv", api="batch", le="10.0") == 1
    assert value(metrics, "fluentsync_batches_retried_total", workflow="inv") == 1
    assert value(metrics, "fluentsync_records_retried_total", workflow="inv") == 47
    assert value(metrics, "fluentsync_batch_status_timeouts_total", workflow="inv") == 1


def test_extraction_runs_and_watermarks_only_move_forward() -> None:
    metrics = WorkerMetrics(process=False)
    metrics.extraction_finished("orders", "COMPLETED", 12, "2024-05-01T10:00:00Z")
    metrics.extraction_finished("orders", "FAILED", 0, "2024-04-01T00:00:00Z")  # an older value: kept out
    metrics.note_watermark("orders", "not a timestamp")
    assert value(metrics, "fluentsync_extraction_runs_total", extraction="orders", status="completed") == 1
    assert value(metrics, "fluentsync_extraction_runs_total", extraction="orders", status="failed") == 1
    assert value(metrics, "fluentsync_extraction_nodes_total", extraction="orders") == 12
    stamp = metrics.watermarks["orders"]
    assert metrics.watermark_ages(now=stamp + 90) == {"orders": 90.0}


class Permissive:
    """Answers every attribute, as test doubles of an app often do."""

    def __getattr__(self, name: str) -> object:
        return object()


def test_agents_find_the_metrics_of_their_app() -> None:
    app = SimpleNamespace()
    detached = metrics_of(app)
    assert metrics_of(Permissive()) is detached  # an invented attribute is not taken for metrics
    metrics = attach(app, WorkerMetrics(process=False))
    assert metrics_of(app) is metrics and metrics is not detached


async def test_the_fluent_client_reports_every_attempt_and_retry() -> None:
    fake = FakeFluent()
    replies = [httpx.Response(429), httpx.Response(503), httpx.Response(200, json={"id": 7, "status": "OPEN"})]
    fake.routes[JOB] = lambda request: replies.pop(0)
    metrics = WorkerMetrics(process=False)
    async with make_client(fake) as client:
        client.core.observer = metrics
        await client.jobs.get_job(7)
    assert value(metrics, "fluentsync_fluent_responses_total", route="job_get", status="429") == 1
    assert value(metrics, "fluentsync_fluent_responses_total", route="job_get", status="503") == 1
    assert value(metrics, "fluentsync_fluent_responses_total", route="job_get", status="200") == 1
    assert value(metrics, "fluentsync_fluent_request_duration_seconds_count", route="job_get") == 3
    assert value(metrics, "fluentsync_fluent_retries_total", route="job_get", reason="rate_limited") == 1
    assert value(metrics, "fluentsync_fluent_retries_total", route="job_get", reason="server_error") == 1


async def test_time_outs_and_unanswered_failures_have_their_own_status() -> None:
    fake = FakeFluent()

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(1.0)
        return httpx.Response(200, json={})

    fake.routes[JOB] = slow
    metrics = WorkerMetrics(process=False)
    async with make_client(fake, timeouts=Timeouts(job=0.05), retry=RetryPolicy(max_retries=1)) as client:
        client.core.observer = metrics
        with pytest.raises(FluentTimeoutError):
            await client.jobs.get_job(7)
        fake.routes[JOB] = lambda request: httpx.Response(500)
        with pytest.raises(FluentServerError):
            await client.jobs.get_job(7)
    assert value(metrics, "fluentsync_fluent_responses_total", route="job_get", status="timeout") == 2
    assert value(metrics, "fluentsync_fluent_retries_total", route="job_get", reason="timeout") == 1
    assert value(metrics, "fluentsync_fluent_responses_total", route="job_get", status="500") == 2


async def test_a_client_without_an_observer_works_as_before() -> None:
    fake = FakeFluent()
    fake.routes[JOB] = lambda request: httpx.Response(200, json={"id": 7, "status": "OPEN"})
    async with make_client(fake) as client:
        assert client.core.observer is None
        assert (await client.jobs.get_job(7)).status == "OPEN"


async def test_metrics_route_serves_prometheus_text_or_openmetrics() -> None:
    metrics = WorkerMetrics()
    metrics.records_settled("inv", accepted=3, rejected=0, unchanged=0)
    refreshed: list[int] = []

    async def refresh() -> None:
        refreshed.append(1)

    ops = OpsWeb("127.0.0.1", 0)
    ops.add_get("/metrics", metrics_handler(metrics, [refresh]))
    port = await ops.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            text = await http.get("/metrics")
            openmetrics = await http.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    finally:
        await ops.stop()
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(text.text)}
    assert families["fluentsync_records"].type == "counter"
    sample = next(s for s in families["fluentsync_records"].samples if s.name == "fluentsync_records_total")
    assert sample.labels == {"workflow": "inv", "outcome": "accepted"} and sample.value == 3
    assert "process_resident_memory_bytes" in families
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")
    assert len(refreshed) == 2  # every scrape asks the refreshers (they rate-limit themselves)


def _pipeline(tmp_path: Path, *, web: bool) -> Any:
    workflows: dict[str, Any] = {
        "inv": {"source": {"type": "local", "root": str(tmp_path / "in")}, "format": {"type": "csv"},
                "key": ["sku"], "target": {"api": "batch"}},
        "hooks": {"source": {"type": "webhook", "auth": {"kind": "hmac", "secret": "a-shared-secret-of-some-length",
                                                        "header": "x-signature"}},
                  "format": {"type": "json"}, "key": ["id"]},
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump({
        "kafka": {"bootstrap": "127.0.0.1:9", "partitions": 1, "app_id": f"metrics-{web}"},
        "fluent": {"base_url": "https://acme.test.fluentretail.com", "client_id": "acme",
                   "client_secret": "not-a-real-secret", "username": "u", "password": "not-a-real-password",
                   "retailer_id": "1"},
        "workflows": workflows,
    }))
    return load_pipeline(path)


@pytest.mark.parametrize("web", [True, False])
async def test_build_app_wires_the_metrics(tmp_path: Path, web: bool) -> None:
    worker = build_app(_pipeline(tmp_path, web=web), "127.0.0.1:9", data_dir=tmp_path / "data", embedded=True,
                       web_port=0 if web else None, webhook_port=0)
    assert worker.metrics is not None and metrics_of(worker.app) is worker.metrics
    assert worker.client is not None and worker.client.core.observer is worker.metrics
    await worker.client.aclose()
    if web:
        assert worker.ops is not None and "/metrics" in worker.ops.paths
    else:
        assert worker.ops is None
    assert worker.receiver is not None
    worker.receiver.counters[("hooks", "unauthorized:bad_signature")] += 1
    assert value(worker.metrics, "fluentsync_webhook_rejections_total", workflow="hooks",
                 reason="unauthorized:bad_signature") == 1
