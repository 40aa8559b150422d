"""Event API: async, sync, rule registry, event log search and get-by-id (fluent-api.md §6)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.integration

CANCEL = {
    "name": "OrderCancel",
    "entityType": "ORDER",
    "entityRef": "ORD-000002",
    "rootEntityType": "ORDER",
    "rootEntityRef": "ORD-000002",
    "retailerId": "1",
    "attributes": {"reason": "test"},
}


async def test_async_event_lands_in_log_and_completes(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v4.1/event/async", json=CANCEL)
    assert response.status_code == 200
    event_id = response.json()["id"]
    first = (await client.get(f"/api/v4.1/event/{event_id}")).json()
    assert first["eventStatus"] == "PENDING"
    await asyncio.sleep(0.1)
    final = (await client.get(f"/api/v4.1/event/{event_id}")).json()
    assert final["eventStatus"] == "COMPLETE"
    assert final["context"]["entityRef"] == "ORD-000002" and final["attributes"] == {"reason": "test"}
    order = fresh.state.store.orders.first_by_ref("ORD-000002")
    assert order is not None and order["status"] == "CANCELLED"


async def test_sync_event_outcomes(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    ok = await client.post("/api/v4.1/event/sync", json=CANCEL)
    assert ok.status_code == 201 and ok.json()["status"] == "COMPLETED"
    no_rule = await client.post("/api/v4.1/event/sync", json={**CANCEL, "name": "NoSuchRule"})
    assert no_rule.status_code == 404
    unknown_entity = await client.post("/api/v4.1/event/sync", json={**CANCEL, "entityRef": "ORD-404"})
    assert unknown_entity.status_code == 422
    await client.post(f"{fresh.base_url}/_sandbox/event-rules", json={"name": "Explode", "outcome": "failure"})
    failing = await client.post("/api/v4.1/event/sync", json={**CANCEL, "name": "Explode"})
    assert failing.status_code == 422


async def test_async_validation(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    async def status(payload: dict[str, object]) -> int:
        return (await client.post("/api/v4.1/event/async", json=payload)).status_code

    assert await status({**CANCEL, "name": "NoSuchRule"}) == 400
    assert await status({k: v for k, v in CANCEL.items() if k != "retailerId"}) == 400
    assert await status({k: v for k, v in CANCEL.items() if k != "entityType"}) == 400
    assert await status({**CANCEL, "data": {}}) == 400, "strict: unknown top-level key"
    assert await status({**CANCEL, "attributes": [{"name": "a", "value": 1}]}) == 400
    await fresh.settings(strict=False, accept_unknown_events=True)
    assert await status({**CANCEL, "name": "Anything", "data": {}}) == 200


async def test_event_search(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    for ref in ("ORD-000003", "ORD-000004", "ORD-000005"):
        await client.post("/api/v4.1/event/sync", json={**CANCEL, "entityRef": ref})
    await client.post("/api/v4.1/event/sync", json={**CANCEL, "name": "PaymentCaptured"})
    everything = (await client.get("/api/v4.1/event")).json()
    assert everything["count"] == 4 and everything["hasMore"] is False and everything["start"] == 0
    assert everything["results"][0]["name"] == "PaymentCaptured", "newest first"
    by_name = (await client.get("/api/v4.1/event", params={"name": "OrderCancel", "count": 2})).json()
    assert by_name["count"] == 2 and by_name["hasMore"] is True
    by_ref = (await client.get("/api/v4.1/event", params={"context.entityRef": "ORD-000004"})).json()
    assert [r["context"]["entityRef"] for r in by_ref["results"]] == ["ORD-000004"]
    assert (await client.get("/api/v4.1/event", params={"count": 5001})).status_code == 400
    assert (await client.get("/api/v4.1/event/nope")).status_code == 404
    later = (await client.get("/api/v4.1/event", params={"from": "2999-01-01T00:00:00Z"})).json()
    assert later["results"] == []


async def test_product_upsert_event_changes_products(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    event = {
        "name": "UPSERT_PRODUCTS",
        "entityType": "PRODUCT_CATALOGUE",
        "entityRef": "PC:MASTER:1",
        "entitySubtype": "MASTER",
        "rootEntityType": "PRODUCT_CATALOGUE",
        "rootEntityRef": "PC:MASTER:1",
        "retailerId": "1",
        "attributes": {
            "products": [
                {
                    "ref": "SKU-EVT",
                    "type": "STANDARD",
                    "status": "ACTIVE",
                    "gtin": "1",
                    "name": "From event",
                    "prices": [{"type": "DEFAULT", "currency": "AUD", "value": 3.5}],
                }
            ]
        },
    }
    assert (await client.post("/api/v4.1/event/sync", json=event)).status_code == 201
    product = fresh.state.store.products.first_by_ref("SKU-EVT")
    assert product is not None and product["price"] == 3.5
