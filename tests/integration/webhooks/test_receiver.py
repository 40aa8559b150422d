"""The webhook receiver against the embedded broker: what is answered, what is published, what is counted.

Every refused request (bad/missing/garbled signature, wrong or rotated key, stale HMAC, oversize body,
malformed JSON/XML, XML with entities, wrong content type, unknown route, wrong method) gets its status
and a counter and leaves nothing on the topic; a 2xx is given only after the broker has the event; a
retried or concurrent duplicate is published once; an unreachable broker gives 503.
Topics have one partition here, so "nothing was published before the sentinel" is a total order.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import httpx
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fluentsync.connectors.parsers.options import JsonOptions, XmlOptions
from fluentsync.connectors.sandbox.webhooks import WebhookService
from fluentsync.connectors.webhooks import generate_api_key, hash_api_key
from fluentsync.connectors.webhooks.publishers import KafkaPublisher
from fluentsync.connectors.webhooks.receiver import WebhookReceiver, WebhookRoute
from fluentsync.connectors.webhooks.settings import WebhookServerConfig, WebhookSourceConfig
from fluentsync.schemas.codec import default_codec
from fluentsync.streams.kafka.broker import EmbeddedBroker, free_port
from fluentsync.streams.kafka.topics import TopicSpec, ensure_topics
from tests.fixtures.kafka import consume

pytestmark = pytest.mark.integration

API_KEY = generate_api_key("shop")
HMAC_SECRET = "s3cret-for-tests"


def signer() -> WebhookService:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return WebhookService(state=cast(Any, None), private_key_pem=pem)


FLUENT = signer()
OTHER = signer()  # a key the receiver does not trust (e.g. the old key after a rotation)


class Harness:
    def __init__(self, receiver: WebhookReceiver, topics: dict[str, str], client: httpx.AsyncClient,
                 bootstrap: str) -> None:
        self.receiver, self.topics, self.client, self.bootstrap = receiver, topics, client, bootstrap

    async def post(self, route: str, body: bytes, headers: dict[str, str] | None = None,
                   content_type: str = "application/json") -> httpx.Response:
        return await self.client.post(route, content=body, headers={"content-type": content_type, **(headers or {})})

    async def signed(self, body: bytes, key: WebhookService = FLUENT, **headers: str) -> httpx.Response:
        return await self.post("/webhooks/orders", body, {"fluent-signature": key.sign(body, "sha512"), **headers})

    async def published(self, workflow: str, count: int) -> list[dict[str, Any]]:
        codec = default_codec()
        records = await consume(self.bootstrap, self.topics[workflow], count, timeout=20)
        return [codec.decode(r.value) for r in records]

    def counter(self, workflow: str, outcome: str) -> int:
        return self.receiver.counters[(workflow, outcome)]


def event(ref: str, **extra: Any) -> bytes:
    return json.dumps({"id": f"evt-{ref}", "name": "OrderCreated", "entityRef": ref, **extra}).encode()


@pytest_asyncio.fixture
async def harness(kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str]) -> AsyncIterator[Harness]:
    names = ["orders", "xml", "keyed", "unkeyed", "small"]
    topics = {name: unique_name(f"webhooks.{name}") for name in names}
    await ensure_topics(kafka_broker.bootstrap, [TopicSpec(t, 1) for t in topics.values()])
    sources = {
        "orders": WebhookSourceConfig(auth={"kind": "fluent", "public_key": FLUENT.public_key_pem}),
        "xml": WebhookSourceConfig(auth={"kind": "hmac", "secret": HMAC_SECRET, "timestamp_header": "x-timestamp",
                                         "tolerance_seconds": 60}),
        "keyed": WebhookSourceConfig(auth={"kind": "api_key", "keys": [{"name": "shop",
                                                                        "sha256": hash_api_key(API_KEY)}]}),
        "unkeyed": WebhookSourceConfig(auth={"kind": "fluent"}),  # no public key configured: fail closed
        "small": WebhookSourceConfig(auth={"kind": "api_key", "keys": [{"name": "shop",
                                                                       "sha256": hash_api_key(API_KEY)}]},
                                     max_body_bytes=1024),
    }
    formats: dict[str, Any] = {name: JsonOptions() for name in names}
    formats["xml"] = XmlOptions(item_path="Order")
    routes = [WebhookRoute(name, sources[name], formats[name], topics[name], 1) for name in names]
    publisher = KafkaPublisher(kafka_broker.bootstrap)
    receiver = WebhookReceiver(routes, publisher, WebhookServerConfig(publish_timeout=5))
    port = await receiver.start("127.0.0.1", 0)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        yield Harness(receiver, topics, client, kafka_broker.bootstrap)
    await receiver.stop()
    await publisher.close()


async def test_signed_webhook_is_published_byte_for_byte_before_the_2xx(harness: Harness) -> None:
    body = b'{"id": "evt-1",  "name":"OrderCreated", "entityRef":"HD-1"}'  # odd spacing: bytes, not meaning
    response = await harness.signed(body, **{"x-request-id": "req-1", "user-agent": "Fluent"})
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "id": "evt-1"}
    [published] = await harness.published("orders", 1)
    assert published["body"] == body
    assert published["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert (published["event_id"], published["event_id_source"]) == ("evt-1", "field")
    assert (published["verified_method"], published["verified_alg"]) == ("fluent", "rsa-sha512")
    assert published["headers"] == {"content-type": "application/json", "user-agent": "Fluent",
                                    "x-request-id": "req-1"}  # never the signature
    assert published["request_id"] == "req-1"
    assert harness.counter("orders", "accepted") == 1


async def test_reserialised_json_with_the_same_meaning_fails(harness: Harness) -> None:
    original = b'{"id": "evt-2", "name": "OrderCreated"}'
    signature = FLUENT.sign(original, "sha512")
    same_meaning = json.dumps(json.loads(original), separators=(",", ":")).encode()
    response = await harness.post("/webhooks/orders", same_meaning, {"fluent-signature": signature})
    assert response.status_code == 401
    assert response.json()["reason"] == "bad_signature"


async def test_refused_requests_get_their_status_a_counter_and_publish_nothing(harness: Harness) -> None:
    body = event("HD-9")
    good = FLUENT.sign(body, "sha512")
    tampered = body.replace(b"HD-9", b"HD-8")
    cases: list[tuple[str, bytes, dict[str, str], str, int, str]] = [
        ("/webhooks/orders", body, {}, "application/json", 401, "unauthorized:missing_signature"),
        ("/webhooks/orders", tampered, {"fluent-signature": good}, "application/json", 401,
         "unauthorized:bad_signature"),
        ("/webhooks/orders", body, {"fluent-signature": "%%%not-base64%%%"}, "application/json", 401,
         "unauthorized:malformed_signature"),
        ("/webhooks/orders", body, {"fluent-signature": FLUENT.sign(body, "sha512", wrong_key=True)},
         "application/json", 401, "unauthorized:bad_signature"),
        ("/webhooks/orders", body, {"fluent-signature": OTHER.sign(body, "sha512")}, "application/json", 401,
         "unauthorized:bad_signature"),
        ("/webhooks/unkeyed", body, {"fluent-signature": good}, "application/json", 401,
         "unauthorized:no_key_configured"),
        ("/webhooks/keyed", body, {"x-api-key": generate_api_key("shop")}, "application/json", 401,
         "unauthorized:unknown_api_key"),
        ("/webhooks/orders", body, {"fluent-signature": good}, "text/plain", 415, "unsupported_media_type"),
        ("/webhooks/nowhere", body, {"fluent-signature": good}, "application/json", 404, "unknown_route"),
    ]
    for route, payload, headers, content_type, status, outcome in cases:
        response = await harness.post(route, payload, headers, content_type)
        assert response.status_code == status, (outcome, response.text)
        workflow = route.rsplit("/", 1)[1] if status != 404 else "-"
        assert harness.counter(workflow, outcome) >= 1, outcome
    malformed = b'{"id": "evt-bad", "name": '
    response = await harness.post("/webhooks/orders", malformed, {"fluent-signature": FLUENT.sign(malformed, "sha512")})
    assert response.status_code == 400 and response.json()["error"] == "malformed_body"
    response = await harness.client.get("/webhooks/orders")
    assert response.status_code == 405
    # Nothing reached the topic: the first message on it is the sentinel.
    assert (await harness.signed(event("sentinel"))).status_code == 200
    [first] = await harness.published("orders", 1)
    assert first["event_id"] == "evt-sentinel"
    assert harness.counter("orders", "malformed_body") == 1
    assert harness.counter("orders", "method_not_allowed") == 1


def _hmac(timestamp: str, body: bytes) -> str:
    return hmac.new(HMAC_SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


async def test_hmac_xml_webhooks_and_safe_xml(harness: Harness) -> None:
    now = str(int(time.time()))
    body = b"<Order><ref>CC-1</ref><status>CANCELLED</status></Order>"
    ok = await harness.post("/webhooks/xml", body, {"x-webhook-signature": _hmac(now, body), "x-timestamp": now,
                                                   "x-request-id": "cancel-1"}, "application/xml")
    assert ok.status_code == 200, ok.text
    assert ok.json()["id"] == "cancel-1"  # no id field in XML: the request id header
    stale = str(int(time.time()) - 3600)
    replay = await harness.post("/webhooks/xml", body, {"x-webhook-signature": _hmac(stale, body),
                                                       "x-timestamp": stale}, "application/xml")
    assert replay.status_code == 401 and replay.json()["reason"] == "stale_timestamp"
    bombs = [
        b'<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
        b"<Order><ref>&lol2;</ref></Order>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><Order><ref>&xxe;</ref></Order>',
        b"<Order><ref>unclosed</Order>",
    ]
    for bomb in bombs:
        refused = await harness.post("/webhooks/xml", bomb, {"x-webhook-signature": _hmac(now, bomb),
                                                            "x-timestamp": now}, "application/xml")
        assert refused.status_code == 400, bomb
    [only] = await harness.published("xml", 1)
    assert only["body"] == body and only["verified_alg"] == "hmac-sha256"
    assert harness.counter("xml", "malformed_body") == 3


async def test_oversize_bodies_get_413_whether_announced_or_streamed(harness: Harness) -> None:
    big = b'{"id": "big", "pad": "' + b"x" * 4096 + b'"}'
    announced = await harness.post("/webhooks/small", big, {"x-api-key": API_KEY})
    assert announced.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked transfer encoding
        for i in range(0, len(big), 512):
            yield big[i:i + 512]

    streamed = await harness.client.post("/webhooks/small", content=chunks(),
                                         headers={"content-type": "application/json", "x-api-key": API_KEY})
    assert streamed.status_code == 413
    assert harness.counter("small", "too_large") == 2
    fits = await harness.post("/webhooks/small", b'{"id": "fits"}', {"x-api-key": API_KEY})
    assert fits.status_code == 200
    [first] = await harness.published("small", 1)
    assert first["event_id"] == "fits"


async def test_retried_and_concurrent_deliveries_are_published_once(harness: Harness) -> None:
    body = event("DUP-1")
    first = await harness.signed(body)
    retry = await harness.signed(body)
    assert first.status_code == retry.status_code == 200
    assert retry.json() == {"success": True, "id": "evt-DUP-1", "duplicate": True}
    together = await asyncio.gather(*(harness.signed(event("DUP-2")) for _ in range(5)))
    assert [r.status_code for r in together] == [200] * 5
    assert sum(1 for r in together if r.json().get("duplicate")) == 4
    assert (await harness.signed(event("sentinel"))).status_code == 200
    published = await harness.published("orders", 3)
    assert [p["event_id"] for p in published] == ["evt-DUP-1", "evt-DUP-2", "evt-sentinel"]
    assert harness.counter("orders", "duplicate") == 5


async def test_health_and_metrics_report_the_counters(harness: Harness) -> None:
    await harness.post("/webhooks/orders", event("x"), {})
    health = (await harness.client.get("/health")).json()
    assert health["status"] == "ok" and "/webhooks/orders" in health["routes"]
    assert health["counters"]["orders"]["unauthorized:missing_signature"] == 1
    metrics = (await harness.client.get("/metrics")).text
    assert 'fluentsync_webhook_requests_total{workflow="orders",outcome="unauthorized:missing_signature"} 1' in metrics


async def test_unreachable_broker_gives_503_and_no_ack() -> None:
    route = WebhookRoute("orders", WebhookSourceConfig(auth={"kind": "fluent", "public_key": FLUENT.public_key_pem}),
                         JsonOptions(), "webhooks.orders", 1)
    publisher = KafkaPublisher(f"127.0.0.1:{free_port()}", request_timeout=1)
    receiver = WebhookReceiver([route], publisher, WebhookServerConfig(publish_timeout=2))
    port = await receiver.start("127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            body = event("DOWN-1")
            response = await client.post("/webhooks/orders", content=body, headers={
                "content-type": "application/json", "fluent-signature": FLUENT.sign(body, "sha512")})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert receiver.counters[("orders", "broker_unavailable")] == 1
        assert receiver.counters[("orders", "accepted")] == 0
    finally:
        await receiver.stop()
        await publisher.close()
