"""Admin API: reset, seed, clock, inspection, settings, webhooks (docs/sandbox.md)."""

from __future__ import annotations

import base64

import httpx
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from fluentsync.connectors.sandbox.admin import is_loopback
from tests.fixtures.sandbox import SandboxHandle

from .helpers import gql

pytestmark = pytest.mark.integration


async def test_seed_and_reset(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    admin = f"{fresh.base_url}/_sandbox"
    counts = (
        await client.post(
            f"{admin}/seed",
            json={
                "orders": 1000,
                "products": 10,
                "locations": 3,
                "updated_from": "2024-01-01T00:00:00Z",
                "updated_to": "2024-01-11T00:00:00Z",
            },
        )
    ).json()
    assert counts["orders"] == 1000 and counts["products"] == 10 and counts["inventoryPositions"] == 30
    window = await gql(
        client,
        """{ orders(first: 250, updatedOn: {from: "2024-01-02T00:00:00Z",
        to: "2024-01-02T23:59:59Z"}) { edges { node { ref } } } }""",
    )
    assert len(window["data"]["orders"]["edges"]) == 100, "100 orders per day over 10 days"

    reset = (await client.post(f"{admin}/reset", json={"seed": 20})).json()
    assert reset["store"]["orders"] == 20
    inspect = (await client.get(f"{admin}/inspect")).json()
    assert inspect["jobs"] == 0 and inspect["tokens_issued"] == 0 and inspect["store"]["orders"] == 20


async def test_inspection_routes(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    admin = f"{fresh.base_url}/_sandbox"
    job_id = (await client.post("/api/v4.1/job", json={"name": "j", "retailerId": "1"})).json()["id"]
    await client.post(
        f"/api/v4.1/job/{job_id}/batch",
        json={
            "action": "UPSERT",
            "entityType": "INVENTORY",
            "entities": [{"skuRef": "SKU-0001", "locationRef": "LOC-01", "qty": 77}],
        },
    )
    await client.post(
        "/api/v4.1/event/sync", json={"name": "CREATE", "entityType": "LOCATION", "entityRef": "L", "retailerId": "1"}
    )
    await fresh.state.jobs.drain()
    assert len((await client.get(f"{admin}/jobs")).json()) == 1
    [batch] = (await client.get(f"{admin}/batches")).json()
    assert batch["entities"][0]["qty"] == 77
    assert len((await client.get(f"{admin}/events")).json()) == 1
    [row] = (await client.get(f"{admin}/inventory", params={"skuRef": "SKU-0001", "locationRef": "LOC-01"})).json()
    assert row["onHand"] == 77 and row["quantities"]["LAST_ON_HAND"] == 77
    counts = (await client.get(f"{admin}/inspect")).json()
    assert (counts["jobs"], counts["batches"], counts["entities"], counts["events"]) == (1, 1, 1, 1)
    assert (await client.get(f"{admin}/mutations")).json() == []
    assert len((await client.get(f"{admin}/requests", params={"route": "job_create"})).json()) == 1
    await client.delete(f"{admin}/requests")
    assert (await client.get(f"{admin}/requests")).json() == []


async def test_settings_and_clock(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    admin = f"{fresh.base_url}/_sandbox"
    changed = (await client.post(f"{admin}/settings", json={"status_dialect": "docs", "bpp_enabled": False})).json()
    assert changed["status_dialect"] == "docs" and changed["bpp_enabled"] is False
    assert (await client.post(f"{admin}/settings", json={"status_dialect": "klingon"})).status_code == 400
    assert (await client.post(f"{admin}/settings", json={"nope": 1})).status_code == 400
    clock = (await client.post(f"{admin}/clock", json={"set": "2030-05-01T23:59:00Z"})).json()
    assert clock["now"].startswith("2030-05-01T23:59")
    assert (await client.post(f"{admin}/clock", json={"advance": 120})).json()["now"].startswith("2030-05-02T00:01")
    assert (await client.post(f"{admin}/clock", json={})).status_code == 400


def test_loopback_check() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("127.0.0.2")
    assert not is_loopback("10.0.0.1") and not is_loopback(None) and not is_loopback("192.168.1.4")


async def test_signed_webhooks(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    received: list[tuple[bytes, dict[str, str]]] = []

    async def receive(request: web.Request) -> web.Response:
        received.append((await request.read(), dict(request.headers)))
        return web.json_response({"success": True})

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        admin = f"{fresh.base_url}/_sandbox"
        key_b64 = (await client.get(f"{admin}/webhook-key")).json()["public_key"]
        public_key = serialization.load_der_public_key(base64.b64decode(key_b64))
        assert isinstance(public_key, rsa.RSAPublicKey)
        url = f"http://127.0.0.1:{port}/hook"
        delivered = (
            await client.post(
                f"{admin}/webhooks/deliver",
                json={"url": url, "event": {"name": "OrderCreated", "entityRef": "ORD-1"}, "sign": "both"},
            )
        ).json()
        assert delivered["status"] == 200
        body, headers = received[-1]
        public_key.verify(base64.b64decode(headers["fluent-signature"]), body, padding.PKCS1v15(), hashes.SHA512())
        public_key.verify(base64.b64decode(headers["flex.signature"]), body, padding.PKCS1v15(), hashes.MD5())
        assert b'"accountId"' in body and b'"type":"NORMAL"' in body

        await client.post(f"{admin}/webhooks/deliver", json={"url": url, "event": {"name": "X"}, "tamper": True})
        body, headers = received[-1]
        try:
            public_key.verify(base64.b64decode(headers["fluent-signature"]), body, padding.PKCS1v15(), hashes.SHA512())
        except Exception:
            pass
        else:
            raise AssertionError("tampered body must not verify")

        await client.post(f"{admin}/webhooks/subscriptions", json={"url": url, "names": ["OrderCancel"]})
        await client.post(
            "/api/v4.1/event/sync",
            json={"name": "OrderCancel", "entityType": "ORDER", "entityRef": "ORD-000001", "retailerId": "1"},
        )
        assert b'"name":"OrderCancel"' in received[-1][0]
        assert len(received) == 3
    finally:
        await runner.cleanup()
