"""``fluentsync webhooks``: the receiver as its own process publishes verified webhooks for the workers."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

from fluentsync.connectors.webhooks import generate_api_key, hash_api_key
from fluentsync.schemas.codec import default_codec
from fluentsync.streams.kafka.broker import EmbeddedBroker, free_port
from tests.fixtures.kafka import consume
from tests.fixtures.processes import background_process

pytestmark = pytest.mark.integration


async def test_standalone_receiver_publishes_and_refuses(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    workflow = unique_name("hooks").replace("-", "_")
    key = generate_api_key("shop")
    port = free_port()
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({
        "kafka": {"bootstrap": kafka_broker.bootstrap, "partitions": 2},
        "webhooks": {"port": port, "in_worker": False},
        "workflows": {workflow: {
            "source": {"type": "webhook", "auth": {"kind": "api_key", "keys": [{"name": "shop",
                                                                               "sha256": hash_api_key(key)}]}},
            "format": {"type": "json"}, "key": ["ref"],
        }},
    }))
    command = [sys.executable, "-m", "fluentsync", "webhooks", "-c", str(config)]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        with background_process(command, tmp_path / "receiver.log"):
            deadline = time.monotonic() + 30
            while True:  # the receiver creates webhooks.<wf> (2 partitions) before it listens
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                await asyncio.sleep(0.2)
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
