"""Any topic (not an extraction's): schema from the first record, files rolled by age, refused records dead-lettered."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from fluentsync.schemas import default_codec
from fluentsync.streams.exports import SinkTopics, build_consumer
from fluentsync.streams.kafka.topics import TopicSpec, describe_topics, ensure_topics
from tests.integration.extraction.conftest import read_all

from .conftest import Env, all_records, eventually

pytestmark = pytest.mark.integration


async def test_refused_records_go_to_the_sinks_dead_letter_topic(env: Env, tmp_path: Path) -> None:
    topic = f"{env.prefix}partner.locations"
    config = env.pipeline({"partner": {
        "topic": topic, "format": {"type": "csv", "columns": ["ref", "name"]}, "path": "{topic}-{part}.{ext}",
        "rolling": {"max_age": 1}, "tick_interval": 0.2, "destination": {"type": "local", "root": str(tmp_path)}}})
    await ensure_topics(env.bootstrap, [TopicSpec(topic, 1)])
    await env.prepare(config)
    codec = default_codec()
    producer = AIOKafkaProducer(bootstrap_servers=env.bootstrap)
    await producer.start()
    try:
        for key, value in [(b"L1", codec.encode("fluentsync.outbound.Location", {"ref": "L1", "name": "One"})),
                           (b"L2", b"not avro at all"),
                           (b"L3", codec.encode("fluentsync.outbound.Location", {"ref": "L3", "type": "STORE"})),
                           (b"L4", codec.encode("fluentsync.outbound.Location", {"ref": "L4", "name": "Four"}))]:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()
    async with env.sink(config, "partner") as consumer:
        await eventually(lambda: len(list(all_records(tmp_path, "csv"))) == 2, 20, "the file")  # max_age, no runs
        # the file is visible before the consumer counts it (it counts after committing the offsets)
        await eventually(lambda: consumer.files_committed >= 1, 20, "the file's commit")
        assert consumer.runs is None and consumer.files_committed == 1
    assert list(all_records(tmp_path, "csv")) == [{"ref": "L1", "name": "One"}, {"ref": "L4", "name": "Four"}]
    letters = {key: value for key, value in await read_all(env.bootstrap, SinkTopics.of("partner", env.prefix).dlq)}
    assert set(letters) == {b"L2", b"L3"}
    assert letters[b"L2"]["stage"] == "SINK" and letters[b"L2"]["raw"] == b"not avro at all"
    assert "not an Avro single-object message" in letters[b"L2"]["reason"]
    assert "columns not in the CSV header: ['type']" in letters[b"L3"]["reason"]
    assert letters[b"L3"]["workflow"] == "partner" and '"ref": "L3"' in (letters[b"L3"]["record"] or "")


async def test_a_sink_never_creates_the_topic_it_reads(env: Env, tmp_path: Path) -> None:
    topic = f"{env.prefix}nobody.writes.here"
    config = env.pipeline({"idle": {"topic": topic, "destination": {"type": "local", "root": str(tmp_path)}}})
    await env.prepare(config)
    consumer = build_consumer(config, "idle", env.bootstrap)
    with pytest.raises(RuntimeError, match="does not exist"):
        await consumer.start()
    await consumer.stop(flush=False)
    assert topic not in await describe_topics(env.bootstrap)  # asking did not auto-create it
