"""``fluentsync demo`` runs end to end, on its own embedded broker and on a given one, and reruns cleanly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fluentsync.streams.demo import run_demo
from fluentsync.streams.kafka.broker import EmbeddedBroker

pytestmark = pytest.mark.integration


async def test_demo_on_an_existing_broker_twice(kafka_broker: EmbeddedBroker) -> None:
    lines: list[str] = []
    for _ in range(2):
        result = await run_demo(kafka_broker.bootstrap, say=lines.append)
        assert result.published == result.consumed == 6
        assert sum(result.per_partition.values()) == 6
    assert any(line.startswith("[stream] consumed and decoded 6 records") for line in lines)


def test_demo_cli_on_embedded_defaults() -> None:
    done = subprocess.run([sys.executable, "-m", "fluentsync", "demo"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "[broker] embedded Kafka-compatible broker" in done.stdout
    assert "6/6 records arrived" in done.stdout
