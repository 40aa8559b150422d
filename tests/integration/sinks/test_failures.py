"""Partial failure: bisection of rejected batches, give-up after retries, and what Fluent stored (R41-R43)."""

from __future__ import annotations

import pytest

from fluentsync.connectors.fluent import FluentClient, FluentError
from fluentsync.streams.sinks import BatchSink, BatchSinkSettings, InMemoryJobStore
from tests.fixtures.sandbox_admin import Admin

from .conftest import inventory

pytestmark = pytest.mark.integration

# The sandbox reports bad entities asynchronously in the batch status (never as a failed POST), so a
# whole-batch 400 is simulated with a `status` fault on batch_create that fires when the body mentions a ref.
_INVALID = {"code": "C0140E", "message": "entity failed validation"}


async def test_whole_batch_400_is_bisected_to_the_bad_entities(fluent: FluentClient, admin: Admin) -> None:
    await admin.fault("batch_create", "status", status=400, body=_INVALID, ref="SKU-BAD-A")
    await admin.fault("batch_create", "status", status=422, body=_INVALID, ref="SKU-BAD-B")
    rejected: list[tuple[list[int], str]] = []

    async def on_rejected(tokens: list[int], reason: str) -> None:
        rejected.append((tokens, reason))

    settings = BatchSinkSettings(max_batch_size=16)
    sink: BatchSink[int] = BatchSink(fluent, settings, InMemoryJobStore(), "wf-bisect", on_rejected=on_rejected)
    for i in range(16):
        sku = {5: "SKU-BAD-A", 12: "SKU-BAD-B"}.get(i)
        await sink.add(inventory(i, sku), i, job_key="f")
    await sink.aclose()

    assert sorted(t for tokens, _ in rejected for t in tokens) == [5, 12]
    assert all("C0140E" in reason for _, reason in rejected)
    accepted = sorted(t for r in sink.results for t in r.tokens)
    assert accepted == [i for i in range(16) if i not in (5, 12)]
    assert not sink.failed
    stored = {e["skuRef"] for b in await admin.batches() for e in b["entities"]}
    assert "SKU-BAD-A" not in stored and "SKU-BAD-B" not in stored and len(stored) == 14
    assert len(await admin.requests("job_create")) == 1


async def test_retryable_give_up_reports_failed_not_accepted(fluent: FluentClient, admin: Admin) -> None:
    await admin.fault("batch_create", "status", status=503, times=4)  # first attempt + 3 retries
    failed: list[tuple[list[str], FluentError]] = []

    async def on_failed(tokens: list[str], error: FluentError) -> None:
        failed.append((tokens, error))

    sink: BatchSink[str] = BatchSink(
        fluent, BatchSinkSettings(max_batch_size=3, max_in_flight=1), InMemoryJobStore(), "wf-503", on_failed=on_failed
    )
    for key in ("a", "b", "c", "d"):
        await sink.add(inventory(ord(key)), key, job_key="f")
    await sink.aclose()

    assert [(tokens, err.status, err.retryable) for tokens, err in failed] == [(["a", "b", "c"], 503, True)]
    assert [r.tokens for r in sink.results] == [["d"]]  # the fault budget was spent on the first batch
    assert len(await admin.requests("batch_create")) == 5


async def test_accepted_inventory_reaches_fluent(fluent: FluentClient, admin: Admin) -> None:
    sink: BatchSink[int] = BatchSink(fluent, BatchSinkSettings(max_batch_size=4), InMemoryJobStore(), "wf-store")
    for i in range(1, 11):
        await sink.add(inventory(i), i, job_key="stock.csv")
    await sink.aclose()
    assert len(sink.results) == 3
    for result in sink.results:
        status = await fluent.jobs.wait_for_batch(result.job_id, result.batch_id, max_wait=5, interval=0.05)
        assert status.kind == "success" and not status.errors
    for i in (1, 7, 10):
        rows = await admin.call("GET", "/inventory", params={"skuRef": f"SKU-T{i:05d}"})
        assert [(r["locationRef"], r["quantities"].get("LAST_ON_HAND")) for r in rows] == [("LOC-01", i)]
