"""Replay mechanics on the embedded broker, without a worker: positions, dry runs, moving a group's
offsets (refused under a live member), and re-publishing a window with ``force``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from fluentsync.schemas.codec import default_codec
from fluentsync.streams.config import PipelineConfig, parse_pipeline
from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.topics import TopicSpec, ensure_topics
from fluentsync.streams.operations.group import GroupActiveError, committed_offsets, move_offsets
from fluentsync.streams.operations.positions import Position, parse_position
from fluentsync.streams.operations.reading import read_ranges
from fluentsync.streams.operations.replay import execute, plan_replay
from tests.integration.pipeline.test_recovery import _AsFaust

pytestmark = pytest.mark.integration

T0 = 1_780_000_000_000  #: message timestamps: T0 + 1 s per message of a partition


def batch(workflow: str, n: int, records: int, *, control: str | None = None) -> dict[str, Any]:
    keys = [] if control else [f'["S-{n}-{i}"]' for i in range(records)]
    return {"batch_id": f"f#{n}", "workflow": workflow, "source_uri": "file:///a.csv", "record_keys": keys,
            "record_indexes": list(range(len(keys))), "documents": ['{"qty": 1}'] * len(keys),
            "control": control, "published_at": datetime.now(UTC)}


async def setup(bootstrap: str, unique_name: Callable[[str], str]) -> tuple[PipelineConfig, WorkflowTopics]:
    workflow = unique_name("rp").replace("-", "_")
    config = parse_pipeline({"kafka": {"bootstrap": bootstrap, "partitions": 3, "app_id": unique_name("app")},
                             "workflows": {workflow: {"source": {"type": "local", "root": "/in"},
                                                      "format": {"type": "csv"}, "key": ["sku"]}}})
    topics = WorkflowTopics.of(workflow)
    await ensure_topics(bootstrap, [TopicSpec(name, 3) for name in topics.all()])
    codec = default_codec()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=50)
    await producer.start()
    try:  # partition p gets 4 + p batches of 3 records, then one sweep; sent together: multi-record batches
        futures = []
        for p in range(3):
            for n in range(4 + p):
                futures.append(await producer.send(topics.records, codec.encode(
                    "fluentsync.records.RecordBatch", batch(workflow, n, 3)), partition=p, timestamp_ms=T0 + n * 1000))
            futures.append(await producer.send(topics.records, codec.encode(
                "fluentsync.records.RecordBatch", batch(workflow, 99, 0, control="sweep")), partition=p,
                timestamp_ms=T0 + 100_000))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return config, topics


async def test_dry_run_counts_and_moving_the_group_back(kafka_broker: EmbeddedBroker,
                                                        unique_name: Callable[[str], str]) -> None:
    bootstrap = kafka_broker.bootstrap
    config, topics = await setup(bootstrap, unique_name)
    group = config.kafka.app_id
    ends = {0: 5, 1: 6, 2: 7}
    await move_offsets(bootstrap, group, topics.records, ends, embedded=True)  # a group that never had members
    assert await committed_offsets(bootstrap, group, topics.records, 3) == ends

    plan = await plan_replay(config, topics.workflow, bootstrap, Position("earliest"), None)
    assert plan.mode == "offsets"
    assert [(p.start, p.stop, p.end, p.messages, p.records, p.controls) for p in plan.partitions] == [
        (0, 5, 5, 4, 12, 1), (0, 6, 6, 5, 15, 1), (0, 7, 7, 6, 18, 1)]  # exact ends despite multi-record batches
    assert (plan.messages, plan.records) == (15, 45)
    assert await committed_offsets(bootstrap, group, topics.records, 3) == ends  # a plan changes nothing

    # From a time: binary search over message timestamps (the embedded broker has no offsets_for_times).
    at = await plan_replay(config, topics.workflow, bootstrap, Position("time", time_ms=T0 + 2500), None)
    assert [p.start for p in at.partitions] == [3, 3, 3]
    late = await plan_replay(config, topics.workflow, bootstrap, Position("time", time_ms=T0 + 5000), None)
    assert [p.start for p in late.partitions] == [4, 5, 5]  # partition 0 has no batch at 5 s: its sweep
    per = await plan_replay(config, topics.workflow, bootstrap, parse_position("1:2"), None)
    assert [(p.partition, p.start, p.records) for p in per.partitions] == [(1, 2, 9)]

    result = await execute(at, bootstrap)
    assert result.moved == {0: 3, 1: 3, 2: 3}
    assert await committed_offsets(bootstrap, group, topics.records, 3) == {0: 3, 1: 3, 2: 3}


async def test_moving_offsets_is_refused_while_a_member_is_live(kafka_broker: EmbeddedBroker,
                                                                unique_name: Callable[[str], str]) -> None:
    bootstrap = kafka_broker.bootstrap
    config, topics = await setup(bootstrap, unique_name)
    group = config.kafka.app_id
    member = AIOKafkaConsumer(topics.records, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                              session_timeout_ms=6000, heartbeat_interval_ms=1000, rebalance_timeout_ms=6000,
                              partition_assignment_strategy=(_AsFaust,))
    await member.start()
    polling = asyncio.create_task(_poll(member))
    try:
        for _ in range(100):
            if member.assignment():
                break
            await asyncio.sleep(0.1)
        await member.commit({TopicPartition(topics.records, p): 1 for p in range(3)})
        with pytest.raises(GroupActiveError, match="live member"):
            await move_offsets(bootstrap, group, topics.records, {0: 0, 1: 0, 2: 0}, embedded=True)
        assert await committed_offsets(bootstrap, group, topics.records, 3) == {0: 1, 1: 1, 2: 1}
        with pytest.raises(GroupActiveError, match="live member"):  # real Kafka: describe groups is the truth
            await move_offsets(bootstrap, group, topics.records, {0: 0}, embedded=False)
    finally:
        polling.cancel()
        await member.stop()
    # The member stopped (the embedded broker still lists it): now the move goes through.
    await move_offsets(bootstrap, group, topics.records, {0: 0, 1: 0, 2: 0}, embedded=True)
    assert await committed_offsets(bootstrap, group, topics.records, 3) == {0: 0, 1: 0, 2: 0}


async def _poll(consumer: AIOKafkaConsumer) -> None:
    while True:
        await consumer.getmany(timeout_ms=200)


async def test_force_republishes_the_window_without_sweeps(kafka_broker: EmbeddedBroker,
                                                           unique_name: Callable[[str], str]) -> None:
    bootstrap = kafka_broker.bootstrap
    config, topics = await setup(bootstrap, unique_name)
    plan = await plan_replay(config, topics.workflow, bootstrap, parse_position("1"), parse_position("3"), force=True)
    assert plan.mode == "republish" and [(p.start, p.stop, p.messages) for p in plan.partitions] == [(1, 3, 2)] * 3
    result = await execute(plan, bootstrap)
    assert (result.republished, result.republished_records) == (6, 18)
    codec = default_codec()
    copies = [(m.partition, codec.decode(m.value or b"")) async for m in
              read_ranges(bootstrap, topics.records, {0: (5, 7), 1: (6, 8), 2: (7, 9)}, idle_timeout=5)]
    assert sorted((p, b["batch_id"], b["force"]) for p, b in copies) == [
        (p, f"f#{n}", True) for p in range(3) for n in (1, 2)]
