"""Job strategies, persistence, single-flight creation and closed-job replacement (R34-R36)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from fluentsync.connectors.fluent import FluentClient
from fluentsync.streams.sinks import BatchResult, BatchSink, BatchSinkSettings, InMemoryJobStore
from tests.fixtures.sandbox_admin import Admin

from .conftest import inventory

pytestmark = pytest.mark.integration


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_daily_concurrent_adds_create_one_job_reused_across_sinks(fluent: FluentClient, admin: Admin) -> None:
    clock = FakeClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    store = InMemoryJobStore()
    settings = BatchSinkSettings(job_strategy="daily", max_batch_size=1, max_in_flight=10)
    sink: BatchSink[int] = BatchSink(fluent, settings, store, "wf-daily", clock=clock)
    await asyncio.gather(*(sink.add(inventory(i), i) for i in range(10)))
    await sink.flush()

    assert len(await admin.requests("job_create")) == 1
    assert len(await admin.requests("batch_create")) == 10
    jobs = await admin.call("GET", "/jobs")
    assert [j["name"] for j in jobs] == ["Daily Inventory - 2026-03-01"]
    record = store.records[("wf-daily", "daily:2026-03-01")]
    assert record.job_id == jobs[0]["id"]
    assert record.batch_count == 10
    assert record.expires_at == record.created_at + timedelta(hours=24)
    await sink.aclose()

    # A restarted worker (new sink, same store) reuses the job later the same day ...
    clock.now = datetime(2026, 3, 1, 23, 59, tzinfo=UTC)
    again: BatchSink[int] = BatchSink(fluent, settings, store, "wf-daily", clock=clock)
    await again.add(inventory(10), 10)
    await again.flush()
    assert len(await admin.requests("job_create")) == 1
    assert again.results[0].job_id == record.job_id

    # ... and a new UTC date opens a new daily job.
    clock.now = datetime(2026, 3, 2, 0, 0, 1, tzinfo=UTC)
    await again.add(inventory(11), 11)
    await again.aclose()
    jobs = await admin.call("GET", "/jobs")
    assert [j["name"] for j in jobs] == ["Daily Inventory - 2026-03-01", "Daily Inventory - 2026-03-02"]
    assert again.results[1].job_id == jobs[1]["id"]


async def test_per_file_job_expires_after_max_age(fluent: FluentClient, admin: Admin) -> None:
    clock = FakeClock(datetime(2026, 3, 1, 1, 0, tzinfo=UTC))
    store = InMemoryJobStore()
    settings = BatchSinkSettings(job_strategy="per_file", job_max_age=timedelta(hours=1))
    sink: BatchSink[int] = BatchSink(fluent, settings, store, "wf-file", clock=clock)
    await sink.add(inventory(1), 1, job_key="a.csv")
    await sink.add(inventory(2), 2, job_key="b.csv")
    await sink.flush()
    assert len(await admin.requests("job_create")) == 2  # one job per file
    clock.now += timedelta(minutes=59)
    await sink.add(inventory(3), 3, job_key="a.csv")
    await sink.flush()
    assert len(await admin.requests("job_create")) == 2
    clock.now += timedelta(minutes=2)
    await sink.add(inventory(4), 4, job_key="a.csv")
    await sink.aclose()
    assert len(await admin.requests("job_create")) == 3
    names = [j["name"] for j in await admin.call("GET", "/jobs")]
    assert names == ["Inventory - a.csv", "Inventory - b.csv", "Inventory - a.csv"]


async def test_job_is_stored_before_the_first_batch(fluent: FluentClient, admin: Admin) -> None:
    await admin.fault("batch_create", "status", status=503)
    store = InMemoryJobStore()
    sink: BatchSink[int] = BatchSink(fluent, BatchSinkSettings(job_strategy="per_run"), store, "wf-run")
    await sink.add(inventory(1), 1, job_key="run-7")
    await sink.aclose()
    assert sink.results == []
    assert [(tokens, err.status, err.retryable) for tokens, err in sink.failed] == [([1], 503, True)]
    record = store.records[("wf-run", "run:run-7")]
    assert record.batch_count == 0
    assert [j["id"] for j in await admin.call("GET", "/jobs")] == [record.job_id]


async def test_closed_job_mid_stream_opens_new_job_and_resends_once(fluent: FluentClient, admin: Admin) -> None:
    store = InMemoryJobStore()
    sent: list[BatchResult[int]] = []

    async def on_sent(result: BatchResult[int]) -> None:
        if not sent:  # Fluent closes the job right after the first batch (e.g. UTC midnight)
            await admin.call("POST", f"/jobs/{result.job_id}/close")
        sent.append(result)

    settings = BatchSinkSettings(job_strategy="daily", max_batch_size=10, max_in_flight=1)
    sink: BatchSink[int] = BatchSink(fluent, settings, store, "wf-close", on_sent=on_sent)
    for i in range(40):
        await sink.add(inventory(i), i)
    await sink.aclose()

    assert len(await admin.requests("job_create")) == 2
    assert [r["status"] for r in await admin.requests("batch_create")] == [200, 400, 200, 200, 200]
    assert sorted(t for r in sent for t in r.tokens) == list(range(40))  # nothing lost, nothing twice
    first, second = sent[0].job_id, sent[1].job_id
    assert first != second and {r.job_id for r in sent[1:]} == {second}
    (record,) = store.records.values()
    assert record.job_id == second and record.batch_count == 3
    assert not sink.failed and not sink.rejected
