"""Job/Batch REST API: lifecycle, entity errors, inventory loop, closing and caps (fluent-api.md §5)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.fixtures.sandbox import SandboxHandle

from .helpers import gql

pytestmark = pytest.mark.integration


def _entity(sku: str = "SKU-0001", loc: str = "LOC-01", qty: int = 5, **extra: Any) -> dict[str, Any]:
    return {
        "skuRef": sku,
        "locationRef": loc,
        "qty": qty,
        "type": "LAST_ON_HAND",
        "status": "ACTIVE",
        "retailerId": 1,
        **extra,
    }


def _batch(*entities: dict[str, Any]) -> dict[str, Any]:
    return {
        "action": "UPSERT",
        "entityType": "INVENTORY",
        "source": "tests",
        "event": "InventoryChanged",
        "entities": list(entities),
    }


async def _job(client: httpx.AsyncClient, **meta: Any) -> str:
    response = await client.post("/api/v4.1/job", json={"name": "Daily Inventory", "retailerId": "1", "meta": meta})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "OPEN" and isinstance(body["id"], str)
    job_id: str = body["id"]
    return job_id


async def _poll(client: httpx.AsyncClient, job_id: str, batch_id: str) -> list[dict[str, Any]]:
    seen = []
    for _ in range(200):
        body = (await client.get(f"/api/v4.1/job/{job_id}/batch/{batch_id}")).json()
        if not seen or seen[-1]["status"] != body["status"]:
            seen.append(body)
        if body["status"] in ("COMPLETE", "COMPLETED", "FAILED"):
            return seen
        await asyncio.sleep(0.005)
    raise AssertionError(f"batch never finished: {seen}")


async def test_batch_lifecycle_and_inventory_loop(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    job_id = await _job(client)
    response = await client.post(
        f"/api/v4.1/job/{job_id}/batch",
        json=_batch(
            _entity(qty=1234),
            _entity(sku="SKU-NEW", loc="LOC-02", qty=7, ref="LOC-02:SKU-NEW"),
            {"skuRef": "SKU-0002", "qty": 3},
            _entity(qty=-1),
            _entity(sku="SKU-0003", retailerId=2),
            _entity(sku="SKU-0004", qty="7"),
        ),
    )
    assert response.status_code == 200
    accepted = response.json()
    assert accepted["status"] == "PENDING" and accepted["jobId"] == job_id
    statuses = [s["status"] for s in await _poll(client, job_id, accepted["id"])]
    assert statuses[-1] == "COMPLETE" and set(statuses) <= {"PENDING", "RUNNING", "COMPLETE"}
    final = (await client.get(f"/api/v4.1/job/{job_id}/batch/{accepted['id']}")).json()
    assert final["totalEntities"] == 6 and final["processedEntities"] == 6 and final["failedEntities"] == 4
    assert [(e["entityIndex"], e["code"]) for e in final["errors"]] == [
        (2, "C0140E"),
        (3, "C0122E"),
        (4, "C0126E"),
        (5, "C0125E"),
    ]

    body = await gql(
        client,
        """{ inventoryPositions(productRef: ["SKU-0001", "SKU-NEW"]
        locationRef: ["LOC-01", "LOC-02"]) { edges { node { ref productRef locationRef onHand } } }
        inventoryQuantities(productRef: ["SKU-NEW"]) { edges { node { qty type } } } }""",
    )
    on_hand = {
        (e["node"]["productRef"], e["node"]["locationRef"]): e["node"]["onHand"]
        for e in body["data"]["inventoryPositions"]["edges"]
    }
    assert on_hand[("SKU-0001", "LOC-01")] == 1234
    assert on_hand[("SKU-NEW", "LOC-02")] == 7
    assert body["data"]["inventoryQuantities"]["edges"][0]["node"] == {"qty": 7, "type": "LAST_ON_HAND"}

    job = (await client.get(f"/api/v4.1/job/{job_id}")).json()
    assert job["status"] == "OPEN" and job["totalBatches"] == 1 and job["batches"][0]["status"] == "COMPLETE"
    results = (await client.get(f"/api/v4.1/job/{job_id}/results")).json()
    assert results["totalBatches"] == 1 and results["successfulBatches"] == 1
    assert fresh.state.inspect()["entity_errors"] == 4


async def test_bpp_counts_unchanged_and_skip_turns_it_off(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    current = fresh.state.store.position_for("DEFAULT:1", "LOC-01", "SKU-0001")
    assert current is not None
    same = _entity(qty=current["onHand"])
    for meta, unchanged in (({}, 1), ({"preprocessing": "skip"}, 0)):
        job_id = await _job(client, **meta)
        batch = (await client.post(f"/api/v4.1/job/{job_id}/batch", json=_batch(same))).json()
        final = (await _poll(client, job_id, batch["id"]))[-1]
        assert final["unchangedEntities"] == unchanged, meta


async def test_payload_level_rejections(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    job_id = await _job(client)
    url = f"/api/v4.1/job/{job_id}/batch"
    assert (await client.post(url, json={**_batch(_entity()), "action": "CREATE"})).status_code == 400
    assert (await client.post(url, json={**_batch(_entity()), "entityType": "INVENTORY_POSITION"})).status_code == 400
    assert (await client.post(url, json=_batch())).status_code == 400
    await fresh.settings(max_batch_entities=3, max_batch_bytes=2000)
    assert (await client.post(url, json=_batch(*[_entity()] * 4))).status_code == 400
    big = (await client.post(url, json=_batch(_entity(note="x" * 3000)))).json()
    assert big["code"] == "PAYLOAD_TOO_LARGE"
    assert (await client.post(url, content=b"{not json")).status_code == 400
    assert (await client.post("/api/v4.1/job/999/batch", json=_batch(_entity()))).status_code == 404
    assert (await client.get("/api/v4.1/job/999")).status_code == 404
    assert (await client.get(f"/api/v4.1/job/{job_id}/batch/999")).status_code == 404
    assert (await client.post("/api/v4.1/job", json={"retailerId": "1"})).status_code == 400
    assert (await client.post("/api/v4.1/job", json={"name": "x"})).status_code == 400
    assert (await client.post("/api/v4.1/job", json={"name": "x", "retailerId": "2"})).status_code == 403


async def test_closed_jobs_reject_batches(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    early = await _job(client)
    closed = await client.post(f"{fresh.base_url}/_sandbox/jobs/{early}/close")
    assert closed.json()["status"] == "CLOSED"
    response = await client.post(f"/api/v4.1/job/{early}/batch", json=_batch(_entity()))
    assert response.status_code == 400
    assert response.json() == {"code": "JOB_EXPIRED", "message": f"Job {early} is closed"}

    midnight = await _job(client)
    await client.post(f"{fresh.base_url}/_sandbox/clock", json={"advance": 86400})
    assert (await client.get(f"/api/v4.1/job/{midnight}")).json()["status"] == "CLOSED"
    assert (await client.post(f"/api/v4.1/job/{midnight}/batch", json=_batch(_entity()))).status_code == 400

    await fresh.settings(job_lifetime=60, closed_job_status=404)
    aged = await _job(client)
    assert (await client.get(f"/api/v4.1/job/{aged}")).json()["status"] == "OPEN"
    fresh.state.clock.advance(61)
    assert (await client.post(f"/api/v4.1/job/{aged}/batch", json=_batch(_entity()))).status_code == 404


async def test_docs_dialect_and_numeric_ids(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    await fresh.settings(status_dialect="docs", numeric_ids=True)
    job = (await client.post("/api/v4.1/job", json={"name": "j", "retailerId": "1"})).json()
    assert isinstance(job["id"], int) and job["status"] == "PENDING"
    batch = (await client.post(f"/api/v4.1/job/{job['id']}/batch", json=_batch(_entity(qty=-5)))).json()
    statuses = [s["status"] for s in await _poll(client, str(job["id"]), str(batch["id"]))]
    assert statuses[-1] == "FAILED", "every entity failed"
    assert set(statuses) <= {"PENDING", "PROCESSING", "FAILED"}
    assert (await client.get(f"/api/v4.1/job/{job['id']}")).json()["status"] == "PROCESSING"


async def test_stuck_batches_and_injected_entity_errors(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    await fresh.add_fault("batch_create", "entity_error", ref="SKU-0009", code="C0160E", message="rule says no")
    await fresh.settings(batch_stuck=True)
    job_id = await _job(client)
    batch = (
        await client.post(
            f"/api/v4.1/job/{job_id}/batch", json=_batch(_entity(sku="SKU-0009"), _entity(sku="SKU-0010"))
        )
    ).json()
    await asyncio.sleep(0.2)
    assert (await client.get(f"/api/v4.1/job/{job_id}/batch/{batch['id']}")).json()["status"] == "RUNNING"
    await fresh.settings(batch_stuck=False)
    final = (await _poll(client, job_id, batch["id"]))[-1]
    assert final["errors"] == [{"code": "C0160E", "message": "rule says no", "entityIndex": 0}]
