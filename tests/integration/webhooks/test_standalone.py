"""``fluentsync webhooks``: the receiver as its own process publishes verified webhooks for the workers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fluentsync.connectors.webhooks import generate_api_key
from fluentsync.schemas.codec import default_codec
from fluentsync.streams.kafka.broker import EmbeddedBroker
from tests.fixtures.kafka import consume
from tests.fixtures.webhooks import standalone_receiver

pytestmark = pytest.mark.integration


async def test_standalone_receiver_publishes_and_refuses(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    workflow = unique_name("hooks").replace("-", "_")
    key = generate_api_key("shop")
    # the receiver creates webhooks.<wf> (2 partitions) before it listens
    kafka = {"bootstrap": kafka_broker.bootstrap, "partitions": 2}
    async with standalone_receiver(tmp_path, kafka, workflow, key) as client:
        body = json.dumps({"id": "evt-1", "ref": "A-1"}).encode()
        headers = {"content-type": "application/json"}
        assert (await client.post(f"/webhooks/{workflow}", content=body, headers=headers)).status_code == 401
        ok = await client.post(f"/webhooks/{workflow}", content=body, headers={**headers, "x-api-key": key})
        assert ok.status_code == 200 and ok.json() == {"success": True, "id": "evt-1"}
        [record] = await consume(kafka_broker.bootstrap, f"webhooks.{workflow}", 1, timeout=20)
        event = default_codec().decode(record.value)
        assert (event["body"], event["verified_method"], record.key) == (body, "api_key", b"evt-1")
        counters = (await client.get("/health")).json()["counters"][workflow]
        assert counters == {"accepted": 1, "unauthorized:missing_api_key": 1}
