"""Job/Batch and Event API flows against the sandbox (fluent-api.md §5-§6)."""

from __future__ import annotations

import pytest

from fluentsync.connectors.fluent import FluentClient, FluentClientError, FluentJobClosedError
from tests.fixtures.sandbox_admin import Admin

pytestmark = pytest.mark.integration


def entities(n: int, qty: int = 5) -> list[dict[str, object]]:
    return [
        {"locationRef": "LOC-1", "skuRef": f"SKU-{i}", "qty": qty, "type": "LAST_ON_HAND", "status": "ACTIVE"}
        for i in range(n)
    ]


async def test_job_batch_status_to_complete(fluent: FluentClient, admin: Admin) -> None:
    job = await fluent.jobs.create_job("Daily Inventory - test", meta={"source": "tests"})
    assert isinstance(job.id, str) and job.is_open
    batch = await fluent.jobs.send_batch(job.id, entities(3), source="tests")
    assert isinstance(batch.id, str) and batch.job_id == job.id
    done = await fluent.jobs.wait_for_batch(job.id, batch.id, max_wait=20, interval=0.1)
    assert done.kind == "success", done
    assert done.status in ("COMPLETE", "COMPLETED")
    status = await fluent.jobs.get_job(job.id)
    assert status.id == job.id
    results = await fluent.jobs.get_job_results(job.id)
    assert isinstance(results, dict)


async def test_docs_dialect_statuses_are_understood(fluent: FluentClient, admin: Admin) -> None:
    await admin.call("POST", "/settings", json={"status_dialect": "docs", "numeric_ids": True})
    job = await fluent.jobs.create_job("dialect")
    batch = await fluent.jobs.send_batch(job.id, entities(2))
    assert job.id.isdigit() and batch.id.isdigit()
    done = await fluent.jobs.wait_for_batch(job.id, batch.id, max_wait=20, interval=0.1)
    assert done.kind == "success" and done.status == "COMPLETED"


async def test_batch_to_closed_job(fluent: FluentClient, admin: Admin) -> None:
    job = await fluent.jobs.create_job("to-close")
    await admin.call("POST", f"/jobs/{job.id}/close")
    with pytest.raises(FluentJobClosedError) as info:
        await fluent.jobs.send_batch(job.id, entities(1))
    assert info.value.job_id == job.id and info.value.status is not None and 400 <= info.value.status < 500
    assert len(await admin.requests("batch_create")) == 1


async def test_batch_5xx_after_store_is_retried(fluent: FluentClient, admin: Admin) -> None:
    job = await fluent.jobs.create_job("lost-ack")
    await admin.fault("batch_create", "status", status=503, nth=1, after_store=True)
    batch = await fluent.jobs.send_batch(job.id, entities(2))
    assert batch.id
    assert await admin.statuses("batch_create") == [503, 200]


async def test_events_async_sync_search_get(fluent: FluentClient, admin: Admin) -> None:
    data = await fluent.graphql.query("query { orders(first: 1) { edges { node { id ref } } } }")
    order_ref = data["orders"]["edges"][0]["node"]["ref"]

    accepted = await fluent.events.send(
        {
            "name": "UPDATE",
            "entityType": "ORDER",
            "entityRef": order_ref,
            "rootEntityType": "ORDER",
            "rootEntityRef": order_ref,
            "attributes": {"source": "tests"},
        }
    )
    assert accepted.status_code == 200 and accepted.success

    done = await fluent.events.send_sync(
        {
            "name": "UPDATE",
            "entityType": "ORDER",
            "entityRef": order_ref,
            "rootEntityType": "ORDER",
            "rootEntityRef": order_ref,
        }
    )
    assert done.status_code in (200, 201) and done.success and done.id

    page = await fluent.events.search({"context.entityRef": order_ref}, name="UPDATE", count=50)
    assert len(page.results) >= 2
    assert all(isinstance(r["id"], str) for r in page.results)

    one = await fluent.events.get(done.id)
    assert one["id"] == done.id and one["name"] == "UPDATE"

    everything = [e async for e in fluent.events.iter_search(name="UPDATE", page_size=1)]
    assert len(everything) >= 2


async def test_sync_event_without_rule_is_a_404_client_error(fluent: FluentClient, admin: Admin) -> None:
    with pytest.raises(FluentClientError) as info:
        await fluent.events.send_sync({"name": "NoSuchRule", "entityType": "ORDER", "entityRef": "X"})
    assert info.value.status in (404, 422)
    assert len(await admin.requests("event_sync")) == 1
