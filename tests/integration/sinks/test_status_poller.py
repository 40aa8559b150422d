"""The batch status poller against the sandbox: per-entity errors come back by token (R38, R39, R48).

The sandbox accepts every well-formed batch POST and reports bad entities only later, in the batch
status (``errors[{code, message, entityIndex, ref}]``), exactly the split the poller exists for.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fluentsync.connectors.fluent import FluentClient
from fluentsync.streams.sinks import (
    BatchCompletion,
    BatchResult,
    BatchSink,
    BatchSinkSettings,
    BatchStatusPoller,
    InMemoryJobStore,
    StatusPollSettings,
)
from tests.fixtures.sandbox_admin import Admin

from .conftest import inventory

pytestmark = pytest.mark.integration

FAST = StatusPollSettings(intervals=(0.05, 0.05, 0.05), min_interval=0.01, poll_timeout=10)


async def _send(fluent: FluentClient, entities: list[dict[str, Any]], workflow: str) -> list[BatchResult[int]]:
    """Send ``entities`` as one batch through the sink; tokens are the entity positions."""
    sink: BatchSink[int] = BatchSink(
        fluent, BatchSinkSettings(max_batch_size=len(entities)), InMemoryJobStore(), workflow
    )
    for i, entity in enumerate(entities):
        await sink.add(entity, i, job_key="file.csv")
    await sink.aclose()
    assert not sink.failed and not sink.rejected
    return sink.results


async def _poll(
    fluent: FluentClient, results: list[BatchResult[int]], settings: StatusPollSettings = FAST
) -> list[BatchCompletion[int]]:
    done, _ = await _poll_with(fluent, results, settings)
    return done


async def _poll_with(
    fluent: FluentClient, results: list[BatchResult[int]], settings: StatusPollSettings = FAST
) -> tuple[list[BatchCompletion[int]], BatchStatusPoller[int]]:
    done: list[BatchCompletion[int]] = []

    async def on_done(completion: BatchCompletion[int]) -> None:
        done.append(completion)

    poller: BatchStatusPoller[int] = BatchStatusPoller(fluent.jobs, settings, on_done=on_done)
    await poller.start()
    for result in results:
        poller.submit(result)
    await asyncio.wait_for(poller.aclose(drain=True), 15)
    return done, poller


async def test_bad_entity_at_index_7_is_reported_by_its_token(fluent: FluentClient, admin: Admin) -> None:
    entities = [inventory(i) for i in range(12)]
    entities[7]["qty"] = -5  # LAST_ON_HAND below zero: an entity error, not a rejected POST
    results = await _send(fluent, entities, "wf-status")
    assert [r.tokens for r in results] == [list(range(12))]

    [done] = await _poll(fluent, results)

    assert done.status == "COMPLETE" and done.kind == "success"
    assert [t for t, _ in done.errors] == [7]
    error = done.errors[0][1]
    assert (error.code, error.entity_index) == ("C0122E", 7)
    assert "negative" in error.message
    assert done.accepted == [i for i in range(12) if i != 7]
    assert not done.timed_out and not done.batch_errors and not done.succeeded
    assert (done.job_id, done.batch_id) == (results[0].job_id, results[0].batch_id)
    stored = {e["skuRef"] for b in await admin.batches() for e in b["entities"]}
    assert "SKU-T00007" in stored  # sent, but reported failed by Fluent


async def test_wrong_retailer_and_injected_errors_in_docs_dialect(
    fluent: FluentClient, admin: Admin, sandbox: Any
) -> None:
    await sandbox.settings(status_dialect="docs")
    await admin.fault("batch_create", "entity_error", ref="SKU-T00002", code="C0160E", message="poisoned")
    entities = [inventory(i) for i in range(6)]
    entities[4]["retailerId"] = 999999  # differs from the job's retailer
    results = await _send(fluent, entities, "wf-status-docs")

    [done] = await _poll(fluent, results)

    assert done.status == "COMPLETED"  # docs dialect; same outcome as COMPLETE
    assert [(t, e.code) for t, e in done.errors] == [(2, "C0160E"), (4, "C0126E")]
    assert done.accepted == [0, 1, 3, 5]


async def test_all_entities_failing_is_a_failed_batch_in_docs_dialect(
    fluent: FluentClient, admin: Admin, sandbox: Any
) -> None:
    await sandbox.settings(status_dialect="docs")
    entities = [{**inventory(i), "qty": -1} for i in range(3)]
    results = await _send(fluent, entities, "wf-status-failed")

    [done] = await _poll(fluent, results)

    assert done.status == "FAILED" and done.kind == "failure"
    assert [(t, e.code, e.entity_index) for t, e in done.errors] == [
        (0, "C0122E", 0),
        (1, "C0122E", 1),
        (2, "C0122E", 2),
    ]
    assert done.accepted == []


async def test_many_batches_concurrently_and_status_5xx_is_not_fatal(fluent: FluentClient, admin: Admin) -> None:
    sink: BatchSink[int] = BatchSink(fluent, BatchSinkSettings(max_batch_size=5), InMemoryJobStore(), "wf-status-many")
    for i in range(40):
        entity = inventory(i)
        if i % 10 == 3:
            entity["qty"] = -1
        await sink.add(entity, i, job_key="f")
    await sink.aclose()
    assert len(sink.results) == 8
    await admin.fault("batch_get", "status", status=503, times=16)  # 4 concurrent GETs x (1 + 3 retries)

    done, poller = await _poll_with(fluent, sink.results)

    assert len(done) == 8 and {c.status for c in done} == {"COMPLETE"}
    assert sorted(t for c in done for t, _ in c.errors) == [3, 13, 23, 33]
    assert sorted(t for c in done for t in c.accepted) == [i for i in range(40) if i % 10 != 3]
    assert 503 in await admin.statuses("batch_get")
    assert poller.status_call_errors >= 1  # logged and polled again, not fatal


async def test_stuck_batch_ends_timed_out_after_max_poll_attempts(
    fluent: FluentClient, admin: Admin, sandbox: Any
) -> None:
    await sandbox.settings(batch_stuck=True)
    try:
        results = await _send(fluent, [inventory(i) for i in range(3)], "wf-status-stuck")
        settings = StatusPollSettings(intervals=(0.02, 0.02, 0.02), min_interval=0.01, max_poll_attempts=5)
        [done] = await _poll(fluent, results, settings)
    finally:
        await sandbox.settings(batch_stuck=False)

    assert done.status == "TIMED_OUT" and done.timed_out == [0, 1, 2]
    assert done.accepted == [] and done.errors == [] and done.polls == 5
    assert len(await admin.requests("batch_get")) == 5
