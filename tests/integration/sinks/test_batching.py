"""Batch payload, size bounds, linger and in-flight limit of the Batch API sink (R30-R33)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from fluentsync.connectors.fluent import FluentClient
from fluentsync.streams.sinks import BatchResult, BatchSink, BatchSinkSettings, InMemoryJobStore
from tests.fixtures.sandbox_admin import Admin

from .conftest import inventory

pytestmark = pytest.mark.integration


def test_settings_bounds() -> None:
    assert BatchSinkSettings().max_batch_size == 1000
    assert BatchSinkSettings(max_batch_size=5000).max_batch_size == 5000
    with pytest.raises(ValidationError):
        BatchSinkSettings(max_batch_size=5001)
    with pytest.raises(ValidationError):
        BatchSinkSettings(max_batch_size=0)
    with pytest.raises(ValidationError):
        BatchSinkSettings(max_body_bytes=10 * 1024 * 1024 + 1)
    with pytest.raises(ValidationError):
        BatchSinkSettings(action="CREATE")  # type: ignore[arg-type]


async def test_payload_fields_and_batches_of_100_100_50(fluent: FluentClient, admin: Admin) -> None:
    sink: BatchSink[int] = BatchSink(
        fluent, BatchSinkSettings(max_batch_size=100, job_strategy="per_file"), InMemoryJobStore(), "wf-inv"
    )
    for i in range(250):
        await sink.add(inventory(i), i, job_key="file-a.csv")
    await sink.aclose()

    batches = await admin.batches()
    assert sorted(b["totalEntities"] for b in batches) == [50, 100, 100]
    for b in batches:
        assert b["action"] == "UPSERT"
        assert b["entityType"] == "INVENTORY"
        assert b["source"] == "wf-inv"  # default: the workflow id
        assert b["event"] == "InventoryChanged"
    jobs = await admin.call("GET", "/jobs")
    assert [j["name"] for j in jobs] == ["Inventory - file-a.csv"]
    assert sorted(t for r in sink.results for t in r.tokens) == list(range(250))
    assert {r.job_id for r in sink.results} == {jobs[0]["id"]}
    assert not sink.rejected and not sink.failed


async def test_body_size_limit_splits_and_never_sends_empty(fluent: FluentClient, admin: Admin) -> None:
    settings = BatchSinkSettings(max_batch_size=1000, max_body_bytes=4096, catalogue_ref="DEFAULT:1")
    sink: BatchSink[int] = BatchSink(fluent, settings, InMemoryJobStore(), "wf-bytes")
    big = "x" * 900
    for i in range(12):
        await sink.add({**inventory(i), "attributes": {"note": big}}, i, job_key="f")
    await sink.add({**inventory(99), "attributes": {"note": "y" * 5000}}, 99, job_key="f")  # alone too big
    await sink.aclose()

    requests = await admin.requests("batch_create")
    batches = await admin.batches()
    assert len(requests) == len(batches) >= 3
    assert all(1 <= b["totalEntities"] <= 3 for b in batches)
    assert all(b["catalogueRef"] == "DEFAULT:1" for b in batches)
    assert sorted(t for r in sink.results for t in r.tokens) == list(range(12))
    assert [tokens for tokens, _ in sink.rejected] == [[99]]


async def _wait_for(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_linger_flushes_a_trickle_record(fluent: FluentClient, admin: Admin) -> None:
    sent: list[BatchResult[str]] = []

    async def on_sent(result: BatchResult[str]) -> None:
        sent.append(result)

    loop = asyncio.get_running_loop()
    settings = BatchSinkSettings(max_batch_size=100, linger=0.2, job_strategy="per_run")
    sink: BatchSink[str] = BatchSink(fluent, settings, InMemoryJobStore(), "wf-trickle", on_sent=on_sent)
    started = loop.time()
    await sink.add(inventory(1), "k1", job_key="run-1")
    await asyncio.sleep(0.1)
    assert sent == [] and sink.pending == 1  # still lingering
    await _wait_for(lambda: bool(sent))
    assert 0.2 <= loop.time() - started < 1.5
    assert [r.tokens for r in sent] == [["k1"]]
    assert sent[0].batch_id and sent[0].status == "PENDING"
    # A second trickle record after the first linger period is flushed on its own.
    await sink.add(inventory(2), "k2", job_key="run-1")
    await _wait_for(lambda: len(sent) == 2)
    assert [r.tokens for r in sent] == [["k1"], ["k2"]]
    jobs = await admin.call("GET", "/jobs")
    assert [j["name"] for j in jobs] == ["wf-trickle run run-1"]
    await sink.aclose()


async def test_flush_of_one_file_and_callback_errors_surface(fluent: FluentClient, admin: Admin) -> None:
    async def on_sent(result: BatchResult[int]) -> None:
        if 13 in result.tokens:
            raise RuntimeError("commit failed")

    sink: BatchSink[int] = BatchSink(fluent, BatchSinkSettings(), InMemoryJobStore(), "wf-eof", on_sent=on_sent)
    await sink.add(inventory(1), 1, job_key="a.csv")
    await sink.add(inventory(2), 2, job_key="b.csv")
    await sink.flush("a.csv")  # end of file a.csv: b.csv keeps lingering
    assert sink.pending == 1
    await sink.add(inventory(13), 13, job_key="b.csv")
    with pytest.raises(RuntimeError, match="commit failed"):
        await sink.flush()
    await sink.aclose()
    assert len(await admin.requests("batch_create")) == 2


def _max_overlap(starts: list[float], duration: float) -> int:
    """Most requests whose ``[start, start + duration)`` windows overlap."""
    starts = sorted(starts)
    return max(sum(1 for s in starts if t - duration < s <= t) for t in starts)


async def test_in_flight_limit(fluent: FluentClient, admin: Admin) -> None:
    delay = 0.3
    await admin.fault("batch_create", "latency", delay=delay)
    settings = BatchSinkSettings(max_batch_size=10, max_in_flight=3)
    sink: BatchSink[int] = BatchSink(fluent, settings, InMemoryJobStore(), "wf-inflight")
    for i in range(120):  # 12 batches
        await sink.add(inventory(i), i, job_key="f")
    await sink.aclose()

    log: list[dict[str, Any]] = await admin.requests("batch_create")
    assert len(log) == 12 and all(r["status"] == 200 for r in log)
    assert _max_overlap([r["at"] for r in log], delay) == 3
    assert sink.max_in_flight_seen == 3
    assert sorted(t for r in sink.results for t in r.tokens) == list(range(120))
