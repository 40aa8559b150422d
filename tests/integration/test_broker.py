"""The embedded broker: Kafka clients can create topics, produce, consume and join groups on it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from fluentsync.streams.kafka.broker import BrokerError, EmbeddedBroker, free_port
from fluentsync.streams.kafka.offsets import exact_end_offsets
from fluentsync.streams.kafka.topics import TopicError, TopicSpec, describe_topics, ensure_topics
from tests.fixtures.kafka import consume

pytestmark = pytest.mark.integration


async def test_produce_consume_round_trip(kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str]) -> None:
    topic = unique_name("roundtrip")
    assert await ensure_topics(kafka_broker.bootstrap, [TopicSpec(topic, 3)]) == {topic: "created"}
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(30):
            await producer.send(topic, f"value-{i}".encode(), key=f"key-{i % 5}".encode())
        await producer.flush()
    finally:
        await producer.stop()
    records = await consume(kafka_broker.bootstrap, topic, 30)
    assert sorted(r.value for r in records) == sorted(f"value-{i}".encode() for i in range(30))
    # Same key, same partition, in order.
    by_key: dict[bytes, set[int]] = {}
    for record in records:
        by_key.setdefault(record.key, set()).add(record.partition)
    assert all(len(partitions) == 1 for partitions in by_key.values())


async def test_consumer_group_join_is_fast_with_short_timeouts(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str]
) -> None:
    topic, group = unique_name("group"), unique_name("g")
    await ensure_topics(kafka_broker.bootstrap, [TopicSpec(topic, 2)])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
    await producer.start()
    await producer.send_and_wait(topic, b"hello", key=b"k")
    await producer.stop()
    started = time.monotonic()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_broker.bootstrap, group_id=group, auto_offset_reset="earliest",
        session_timeout_ms=6000, heartbeat_interval_ms=500, rebalance_timeout_ms=3000, enable_auto_commit=False,
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=15)
        joined_after = time.monotonic() - started
        await consumer.commit()
        committed = await consumer.committed(TopicPartition(topic, record.partition))
    finally:
        await consumer.stop()
    assert record.value == b"hello"
    assert joined_after < 10, f"group join took {joined_after:.1f}s"
    assert committed == record.offset + 1


async def test_topic_helper_refuses_a_partition_mismatch(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("shape")
    await ensure_topics(kafka_broker.bootstrap, [TopicSpec.compacted(topic, 2)])
    assert await ensure_topics(kafka_broker.bootstrap, [TopicSpec.compacted(topic, 2)]) == {topic: "exists"}
    with pytest.raises(TopicError, match="exists with 2 partitions but 4 are required"):
        await ensure_topics(kafka_broker.bootstrap, [TopicSpec(topic, 4)])
    # Describing never auto-creates a topic.
    missing = unique_name("missing")
    assert missing not in await describe_topics(kafka_broker.bootstrap, [missing])
    assert missing not in await describe_topics(kafka_broker.bootstrap)


async def test_exact_end_offsets_after_a_batched_produce(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str]
) -> None:
    """The embedded broker under-reports ListOffsets after multi-record batches; the probe corrects it."""
    topic = unique_name("ends")
    await ensure_topics(kafka_broker.bootstrap, [TopicSpec(topic, 1)])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap, linger_ms=50)
    await producer.start()
    for i in range(9):
        await producer.send(topic, b"v%d" % i)
    await producer.flush()
    await producer.stop()
    tp = TopicPartition(topic, 0)
    reported = await exact_end_offsets(kafka_broker.bootstrap, [tp], probe=False)
    exact = await exact_end_offsets(kafka_broker.bootstrap, [tp])
    assert exact[tp] == 9
    assert reported[tp] <= 9  # 1 on the embedded broker (base offset of the last batch + 1); 9 on Kafka


async def test_start_fails_clearly_when_the_port_is_taken(kafka_broker: EmbeddedBroker) -> None:
    with pytest.raises(BrokerError, match="cannot listen on"):
        async with EmbeddedBroker(port=kafka_broker.port, startup_timeout=5):
            pass


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
async def test_cli_broker_serves_an_outside_client_and_stops_cleanly(
    unique_name: Callable[[str], str], stop_signal: signal.Signals
) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fluentsync", "broker", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), timeout=30)
        bootstrap = f"127.0.0.1:{port}"
        assert line.decode().strip() == f"bootstrap: {bootstrap}"
        topic, group = unique_name("cli"), unique_name("cli-group")
        await ensure_topics(bootstrap, [TopicSpec(topic, 2)])
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        await producer.send_and_wait(topic, b"from outside", key=b"k")
        await producer.stop()
        records = await consume(bootstrap, topic, 1, group_id=group)
        assert records[0].value == b"from outside"
    finally:
        proc.send_signal(stop_signal)
        code = await asyncio.to_thread(proc.wait, 20)
    assert code == 0
    assert b"stopped" in (proc.stderr.read() if proc.stderr else b"")
    # The broker child process is gone with it: the port is free again.
    with EmbeddedBroker(port=port):
        pass
