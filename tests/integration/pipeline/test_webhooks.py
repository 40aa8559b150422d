"""Webhooks through a real worker (receiver inside it), the embedded broker and the sandbox.

- A storefront's HMAC-signed cancellation becomes an ``OrderCancel`` event in Fluent; a retried delivery
  is applied once; an unsigned one leaves no trace but a counter; a payload without its key field ends as
  a dead letter - and each webhook gets a run report with exactly one outcome per record.
- Fluent's own webhooks, delivered and signed by the sandbox (duplicates and a tampered copy included),
  appear once each on the outbound Fluent events topic, keyed by root entity.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from fluentsync.streams.config import load_pipeline
from fluentsync.streams.kafka.broker import EmbeddedBroker, free_port
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.tail import TopicTail
from fluentsync.streams.kafka.topics import ensure_topics
from fluentsync.streams.worker import workflow_topic_specs
from tests.fixtures.processes import background_process
from tests.fixtures.sandbox_admin import Admin
from tests.fixtures.webhooks import SHOP_HMAC, shop_signed, wait_ready

pytestmark = pytest.mark.integration

async def cancel_events(admin: Admin, ref: str) -> list[dict[str, Any]]:
    events = await admin.call("GET", "/events", params={"name": "OrderCancel"})
    return [e for e in events if e["context"]["entityRef"] == ref]


async def test_webhooks_end_to_end(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, sandbox: Any, admin: Admin
) -> None:
    cancel, fluent = unique_name("cancel").replace("-", "_"), unique_name("fluentev").replace("-", "_")
    outbound = unique_name("outbound.fluent-events")
    key = await admin.call("GET", "/webhook-key")
    port = free_port()
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({
        "kafka": {"bootstrap": kafka_broker.bootstrap, "partitions": 2, "app_id": unique_name("app")},
        "fluent": sandbox.fluent_config(),
        "webhooks": {"port": port},
        "workflows": {
            cancel: {
                "source": {"type": "webhook", "route": "/shop/cancellations",
                           "auth": SHOP_HMAC,
                           "event_id": {"field": "cancellationId"}},
                "format": {"type": "json"}, "key": ["orderRef"],
                "target": {"api": "event", "event": {
                    "name": "OrderCancel", "entity_type": "ORDER", "entity_ref": "{orderRef}",
                    "root_entity_type": "ORDER", "root_entity_ref": "{orderRef}"}},
            },
            fluent: {
                "source": {"type": "webhook", "auth": {"kind": "fluent", "public_key": key["public_key"]},
                           "deliver": "fluent_events", "outbound_topic": outbound},
                "format": {"type": "json"},
            },
        },
    }))
    topics = WorkflowTopics.of(cancel)
    await ensure_topics(kafka_broker.bootstrap, workflow_topic_specs(load_pipeline(config)))
    async with TopicTail(kafka_broker.bootstrap, topics.reports) as reports, \
            TopicTail(kafka_broker.bootstrap, topics.dlq) as dlq, \
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        with background_process([sys.executable, "-m", "fluentsync", "worker", "--config", str(config),
                                 "--data-dir", str(tmp_path / "data"), "-l", "info",
                                 "--web-port", "0"], tmp_path / "worker.log"):
            await wait_ready(client)
            body, headers = shop_signed({"cancellationId": "c-1", "orderRef": "HD-WEB-1", "reason": "customer"})
            first = await client.post("/shop/cancellations", content=body, headers=headers)
            assert first.status_code == 200, first.text
            retry = await client.post("/shop/cancellations", content=body, headers=headers)
            assert retry.json().get("duplicate") is True
            plain = json.dumps({"cancellationId": "c-2", "orderRef": "HD-WEB-2"}).encode()
            unsigned = await client.post("/shop/cancellations", content=plain,
                                         headers={"content-type": "application/json"})
            assert unsigned.status_code == 401
            body, headers = shop_signed({"cancellationId": "c-3", "reason": "no order ref"})
            assert (await client.post("/shop/cancellations", content=body, headers=headers)).status_code == 200

            done = await reports.until(lambda items: len(items) >= 2, timeout=60)
            by_path = {r["file"]["path"]: r for r in done}
            assert (by_path["c-1"]["accepted"], by_path["c-1"]["rejected"]) == (1, 0)
            assert (by_path["c-3"]["accepted"], by_path["c-3"]["rejected"]) == (0, 1)
            letters = await dlq.until(lambda items: len(items) >= 1, timeout=30)
            assert letters[0]["stage"] == "PARSE" and "orderRef" in letters[0]["reason"]
            assert len(await cancel_events(admin, "HD-WEB-1")) == 1
            assert await cancel_events(admin, "HD-WEB-2") == []

            # Fluent's own webhooks: delivered twice each, plus a tampered copy.
            url = f"http://127.0.0.1:{port}/webhooks/{fluent}"
            async with TopicTail(kafka_broker.bootstrap, outbound) as out:
                for ref in ("HD-F-1", "HD-F-2"):
                    delivered = await admin.call("POST", "/webhooks/deliver", json={
                        "url": url, "repeat": 2, "event": {
                            "id": f"evt-{ref}", "name": "OrderCreated", "entityType": "ORDER", "entityRef": ref,
                            "rootEntityType": "ORDER", "rootEntityRef": ref, "attributes": {"total": 10}}})
                    assert [a["status"] for a in delivered["attempts"]] == [200, 200]
                tampered = await admin.call("POST", "/webhooks/deliver", json={
                    "url": url, "tamper": True, "event": {"id": "evt-T", "name": "OrderCreated", "entityRef": "T"}})
                assert tampered["status"] == 401
                events = await out.until(lambda items: len(items) >= 2, timeout=30)
                await out.poll(1.0)
                assert sorted(e["event_id"] for e in out.items) == ["evt-HD-F-1", "evt-HD-F-2"]
                first_event = next(e for e in events if e["event_id"] == "evt-HD-F-1")
                assert (first_event["root_entity_type"], first_event["root_entity_ref"]) == ("ORDER", "HD-F-1")
                assert json.loads(first_event["attributes"]) == {"total": 10}
                assert first_event["verified_alg"] == "rsa-sha512"
            health = (await client.get("/health")).json()["counters"]
            assert health[cancel]["accepted"] == 2 and health[cancel]["duplicate"] == 1
            assert health[cancel]["unauthorized:missing_signature"] == 1
            assert health[fluent]["unauthorized:bad_signature"] == 1
