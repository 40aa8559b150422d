"""A Faust worker's changelog-backed table survives the worker: a new worker recovers it from Kafka."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition

from fluentsync.schemas.codec import default_codec
from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.offsets import exact_end_offsets
from fluentsync.streams.kafka.topics import TopicSpec, ensure_topics
from fluentsync.streams.operations.reading import read_ranges
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


async def read_all(bootstrap: str, topic: str, partitions: int) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` now (exact end offsets: the embedded broker under-reports them)."""
    ends = await exact_end_offsets(bootstrap, [TopicPartition(topic, p) for p in range(partitions)])
    return [r async for r in read_ranges(bootstrap, topic, {tp.partition: (0, end) for tp, end in ends.items()})]


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
    # What the first worker left, read to the end: delivery is at least once, so a worker may process an
    # increment twice around a start-up (it then counts 4); the table must carry on from whatever it had.
    stopped = await read_all(bootstrap, f"{app_id}-observed", 2)
    before = latest_counts(stopped)
    assert all(count >= 3 for count in before.values()) and set(before) == set(KEYS)

    # A second worker with an empty data directory: the table can only come from the changelog.
    with worker(app_id, bootstrap, tmp_path / "data-2", log, store):
        await send_increments(bootstrap, f"{app_id}-increments", KEYS, times=1)
        seen = {(m.partition, m.offset) for m in stopped}
        first_after: dict[str, int] = {}
        deadline = time.monotonic() + 120  # recovery after a restart on the embedded broker can be slow
        while set(first_after) != set(KEYS) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            first_after = {}
            for record in sorted(await read_all(bootstrap, f"{app_id}-observed", 2), key=lambda r: r.offset):
                if (record.partition, record.offset) not in seen:
                    key, _, value = record.value.decode().partition("=")
                    first_after.setdefault(key, int(value))
    # Recovered, not restarted: each key's first count after the restart continues the stopped worker's.
    assert first_after == {key: count + 1 for key, count in before.items()}, log.read_text()[-4000:]
    await asyncio.sleep(0)
