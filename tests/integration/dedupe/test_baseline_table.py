"""The bulk-written baseline table keeps Faust's table contract: what it writes is a changelog Faust
recovers from (a second worker with an empty data directory reads the same baselines), one record per
write with the JSON value Faust would write, tombstones for removed keys, and later writes win."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.topics import TopicSpec, ensure_topics
from tests.fixtures.kafka import consume, wait_committed
from tests.fixtures.processes import background_process

pytestmark = pytest.mark.integration

MANY = 5000  #: ~400 KB of changelog records: more than one 256 KiB record batch in one write burst


def digest(i: int, version: int = 1) -> str:
    return f"{version:02d}{i:062x}"


@contextmanager
def worker(app_id: str, bootstrap: str, data_dir: Path, log: Path, store: str) -> Iterator[None]:
    env = {"FLUENTSYNC_TEST_APP_ID": app_id, "FLUENTSYNC_TEST_BOOTSTRAP": bootstrap,
           "FLUENTSYNC_TEST_DATADIR": str(data_dir), "FLUENTSYNC_TEST_STORE": store}
    command = [sys.executable, "-m", "tests.integration.apps.baselines", "worker", "-l", "info", "--without-web"]
    with background_process(command, log, env=env):
        yield


async def send(bootstrap: str, topic: str, commands: list[tuple[bytes, dict[str, Any]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        for key, command in commands:
            await producer.send_and_wait(topic, json.dumps(command).encode(), key=key)
    finally:
        await producer.stop()


def tail(log: Path) -> str:
    return log.read_text()[-3000:]


async def probes(bootstrap: str, topic: str, ids: set[str], log: Path) -> dict[str, dict[str, Any]]:
    def wanted(record: Any) -> bool:
        return json.loads(record.value)["id"] in ids

    try:
        records = await consume(bootstrap, topic, len(ids), timeout=60, predicate=wanted)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; worker log tail:\n{tail(log)}") from None
    return {(found := json.loads(r.value))["id"]: found for r in records}


@pytest.mark.parametrize("store", ["rocksdb://", "memory://"])
async def test_bulk_writes_recover_from_changelog(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, store: str
) -> None:
    app_id = unique_name("baselines")
    bootstrap = kafka_broker.bootstrap
    commands, observed = f"{app_id}-commands", f"{app_id}-observed"
    await ensure_topics(bootstrap, [TopicSpec(commands, 2), TopicSpec(observed, 2)])
    log = tmp_path / "worker.log"
    many = {f"a-{i:05d}": digest(i) for i in range(MANY)}
    stamped = {"h": digest(7), "g": 1700000000000, "i": {"skuRef": "Ü-1", "locationRef": "L\"1"}}
    expected_b = {f"b-{i}": digest(i, 2) if i < 5 else digest(i) for i in range(10)}
    for gone in ("b-5", "b-6"):
        expected_b[gone] = None
    probe_a = [*list(many)[:3], *list(many)[-3:], "a-stamped", "a-never"]
    probe_b = list(expected_b)

    with worker(app_id, bootstrap, tmp_path / "data-1", log, store):
        await send(bootstrap, commands, [
            (b"a", {"id": "set-a", "set": {**many, "a-stamped": stamped}}),
            (b"b", {"id": "set-b1", "set": {f"b-{i}": digest(i) for i in range(10)}}),
            (b"b", {"id": "set-b2", "set": {f"b-{i}": digest(i, 2) for i in range(5)}, "pop": ["b-5", "b-6"]}),
            (b"a", {"id": "probe-a1", "probe": probe_a}),
            (b"b", {"id": "probe-b1", "probe": probe_b}),
        ])
        first = await probes(bootstrap, observed, {"probe-a1", "probe-b1"}, log)
        await wait_committed(bootstrap, app_id, commands, 2, 5, timeout=60)

    expected_a = {name: many.get(name) for name in probe_a} | {"a-stamped": stamped}
    assert first["probe-a1"]["values"] == expected_a
    assert first["probe-a1"]["digests"]["a-stamped"] == stamped["h"]
    assert first["probe-a1"]["digests"]["a-never"] is None
    assert first["probe-b1"]["values"] == expected_b
    assert first["probe-b1"]["bulk"] is (store == "rocksdb://")

    # The changelog itself: one record per write, JSON values, tombstones; the last record of a key wins.
    changelog = await consume(bootstrap, f"{app_id}-baseline-changelog", MANY + 1 + 10 + 5 + 2, timeout=60)
    latest: dict[str, Any] = {}
    for record in changelog:
        latest[record.key.decode()] = None if record.value is None else json.loads(record.value)
    assert {name: latest.get(name) for name in many} == many
    assert latest["a-stamped"] == stamped
    assert {name: latest[name] for name in expected_b} == expected_b

    # A second worker with an empty data directory: the baselines can only come from the changelog.
    with worker(app_id, bootstrap, tmp_path / "data-2", log, store):
        await send(bootstrap, commands, [(b"a", {"id": "probe-a2", "probe": probe_a}),
                                         (b"b", {"id": "probe-b2", "probe": probe_b})])
        second = await probes(bootstrap, observed, {"probe-a2", "probe-b2"}, log)
    assert second["probe-a2"]["values"] == expected_a
    assert second["probe-b2"]["values"] == expected_b
