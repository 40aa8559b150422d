"""Fault injection and the request log (fluent-api.md §3.4)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.integration

BATCH = {
    "action": "UPSERT",
    "entityType": "INVENTORY",
    "entities": [{"skuRef": "SKU-0001", "locationRef": "LOC-01", "qty": 1}],
}


async def test_status_fault_with_retry_after_and_times(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    fault = (
        await client.post(
            f"{fresh.base_url}/_sandbox/faults",
            json={"route": "graphql", "kind": "status", "status": 429, "retry_after": 2, "times": 2},
        )
    ).json()["id"]
    statuses = []
    for _ in range(3):
        response = await client.post("/graphql", json={"query": "{ me { ref } }"})
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.headers["Retry-After"] == "2"
    assert statuses == [429, 429, 200]
    log = await fresh.requests("graphql")
    assert [e["status"] for e in log] == [429, 429, 200]
    assert [e.get("fault_id") for e in log] == [fault, fault, None]
    listed = (await client.get(f"{fresh.base_url}/_sandbox/faults")).json()
    assert listed[0]["fired"] == 2 and listed[0]["matched"] == 3


async def test_nth_fault_and_custom_body(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    await fresh.add_fault("job_create", "status", status=503, nth=2, body={"oops": True})
    codes = [(await client.post("/api/v4.1/job", json={"name": "j", "retailerId": "1"})).status_code for _ in range(3)]
    assert codes == [200, 503, 200]


async def test_after_store_batch_is_stored_but_answer_fails(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    job_id = (await client.post("/api/v4.1/job", json={"name": "j", "retailerId": "1"})).json()["id"]
    await fresh.add_fault("batch_create", "status", status=502, after_store=True, times=1)
    response = await client.post(f"/api/v4.1/job/{job_id}/batch", json=BATCH)
    assert response.status_code == 502
    assert len(fresh.state.jobs.batches) == 1, "the batch was stored before the failure"


async def test_ref_targeting(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    job_id = (await client.post("/api/v4.1/job", json={"name": "j", "retailerId": "1"})).json()["id"]
    await fresh.add_fault("batch_create", "status", status=500, ref="SKU-0042")
    ok = await client.post(f"/api/v4.1/job/{job_id}/batch", json=BATCH)
    hit = await client.post(
        f"/api/v4.1/job/{job_id}/batch",
        json={**BATCH, "entities": [{"skuRef": "SKU-0042", "locationRef": "LOC-01", "qty": 1}]},
    )
    assert (ok.status_code, hit.status_code) == (200, 500)


async def test_latency_reset_and_hang(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    await fresh.add_fault("event_search", "latency", delay=0.3, times=1)
    started = time.monotonic()
    assert (await client.get("/api/v4.1/event")).status_code == 200
    assert time.monotonic() - started >= 0.3

    await fresh.add_fault("job_get", "reset", times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        await client.get("/api/v4.1/job/1")

    await fresh.add_fault("job_results", "hang", times=1)
    with pytest.raises(httpx.ReadTimeout):
        await client.get("/api/v4.1/job/1/results", timeout=0.3)
    log = await fresh.requests()
    assert [(e["route"], e["status"]) for e in log[-2:]] == [("job_get", None), ("job_results", None)]


async def test_token_route_faults(fresh: SandboxHandle) -> None:
    await fresh.add_fault("token", "status", status=503, times=1)
    async with httpx.AsyncClient(base_url=fresh.base_url) as http:
        data = {"grant_type": "client_credentials", "client_id": fresh.client_id, "client_secret": fresh.client_secret}
        assert (await http.post("/oauth/token", data=data)).status_code == 503
        assert (await http.post("/oauth/token", data=data)).status_code == 200


async def test_flag_faults_error_rate_latency_and_429(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    await fresh.settings(error_rate=1.0)
    assert (await client.get("/api/v4.1/event")).status_code == 503
    await fresh.settings(error_rate=0.5)
    codes = [(await client.get("/api/v4.1/event")).status_code for _ in range(40)]
    assert 5 < codes.count(503) < 35
    await fresh.settings(error_rate=0, rate_limit=2, rate_limit_burst=1)
    first = await client.get("/api/v4.1/event")
    second = await client.get("/api/v4.1/event")
    assert (first.status_code, second.status_code) == (200, 429)
    assert second.headers["Retry-After"] == "1"
    await asyncio.sleep(0.55)
    assert (await client.get("/api/v4.1/event")).status_code == 200


async def test_fault_validation_and_clearing(fresh: SandboxHandle) -> None:
    async with httpx.AsyncClient(base_url=fresh.base_url) as http:
        assert (
            await http.post("/_sandbox/faults", json={"route": "nope", "kind": "status", "status": 500})
        ).status_code == 400
        assert (await http.post("/_sandbox/faults", json={"route": "graphql", "kind": "status"})).status_code == 400
        assert (
            await http.post("/_sandbox/faults", json={"route": "*", "kind": "latency", "delay": 0})
        ).status_code == 200
        assert len((await http.get("/_sandbox/faults")).json()) == 1
        await http.delete("/_sandbox/faults")
        assert (await http.get("/_sandbox/faults")).json() == []
