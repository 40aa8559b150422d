"""A Faust worker's changelog-backed table survives the worker: a new worker recovers it from Kafka."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from fluentsync.schemas.codec import default_codec
from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.topics import TopicSpec, ensure_topics
from tests.fixtures.kafka import consume, wait_committed
from tests.fixtures.processes import background_process

pytestmark = pytest.mark.integration

KEYS = [f"sku-{i}" for i in range(4)]


@contextmanager
def worker(app_id: str, bootstrap: str, data_dir: Path, log: Path, store: str) -> Iterator[None]:
    env = {
        "FLUENTSYNC_TEST_APP_ID": app_id,
        "FLUENTSYNC_TEST_BOOTSTRAP": bootstrap,
        "FLUENTSYNC_TEST_DATADIR": str(data_dir),
        "FLUENTSYNC_TEST_STORE": store,
    }
    command = [sys.executable, "-m", "tests.integration.apps.counter", "worker", "-l", "info", "--without-web"]
    with background_process(command, log, env=env):
        yield


async def send_increments(bootstrap: str, topic: str, keys: list[str], times: int) -> None:
    codec = default_codec()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for _ in range(times):
            for key in keys:
                value = codec.encode(
                    "fluentsync.ledger.RecordOutcome",
                    {"workflow": "t", "record_key": key, "outcome": "ACCEPTED", "occurred_at": datetime.now(UTC)},
                )
                await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


def latest_counts(records: list) -> dict[str, int]:  # type: ignore[type-arg]
    counts: dict[str, int] = {}
    for record in records:
        key, _, value = record.value.decode().partition("=")
        counts[key] = max(counts.get(key, 0), int(value))
    return counts


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
async def test_table_recovers_from_changelog_after_restart(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, store: str
) -> None:
    app_id = unique_name("counter")
    bootstrap = kafka_broker.bootstrap
    await ensure_topics(bootstrap, [TopicSpec(f"{app_id}-increments", 2), TopicSpec(f"{app_id}-observed", 2)])
    log = tmp_path / "worker.log"

    with worker(app_id, bootstrap, tmp_path / "data-1", log, store):
        await send_increments(bootstrap, f"{app_id}-increments", KEYS, times=3)
        first = await consume(bootstrap, f"{app_id}-observed", len(KEYS) * 3, timeout=60)
        # Offsets commit on an interval; stopping before the commit would replay the tail (at least
        # once), which is not what this test is about.
        await wait_committed(bootstrap, app_id, f"{app_id}-increments", 2, len(KEYS) * 3)
    assert latest_counts(first) == dict.fromkeys(KEYS, 3)

    # A second worker with an empty data directory: the table can only come from the changelog.
    with worker(app_id, bootstrap, tmp_path / "data-2", log, store):
        await send_increments(bootstrap, f"{app_id}-increments", KEYS, times=1)
        everything = await consume(bootstrap, f"{app_id}-observed", len(KEYS) * 4, timeout=60)
    assert latest_counts(everything) == dict.fromkeys(KEYS, 4), log.read_text()[-4000:]
    await asyncio.sleep(0)
