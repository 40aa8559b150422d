"""Helpers for extraction tests: a Fluent client on the session sandbox, services on unique topics."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest_asyncio
from aiokafka import AIOKafkaConsumer, TopicPartition

from fluentsync.connectors.fluent import FluentClient, FluentSettings
from fluentsync.schemas import default_codec
from fluentsync.streams.extraction import ExtractionConfig, ExtractionService
from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.offsets import exact_end_offsets
from tests.fixtures.sandbox import SandboxHandle


@dataclass
class Env:
    bootstrap: str
    prefix: str
    client: FluentClient
    sandbox: SandboxHandle

    def service(self, **extractions: ExtractionConfig) -> ExtractionService:
        return ExtractionService(extractions, bootstrap=self.bootstrap, client=self.client, prefix=self.prefix,
                                 partitions=3)

    def topic(self, name: str) -> str:
        return f"{self.prefix}outbound.{name}"

    async def events(self, name: str) -> list[tuple[bytes, dict[str, Any]]]:
        return await read_all(self.bootstrap, self.topic(name))


async def read_all(bootstrap: str, topic: str, timeout: float = 20.0) -> list[tuple[bytes, dict[str, Any]]]:
    """Every (key, decoded value) on ``topic`` now, read to the exact end of each partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        await consumer.topics()
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return []
        ends = await exact_end_offsets(bootstrap, tps)
        pending = [tp for tp in tps if ends[tp] > 0]
        found: list[tuple[bytes, dict[str, Any]]] = []
        if not pending:
            return found
        consumer.assign(pending)
        await consumer.seek_to_beginning(*pending)
        deadline = time.monotonic() + timeout
        while pending:
            for messages in (await consumer.getmany(*pending, timeout_ms=200)).values():
                found.extend((m.key or b"", default_codec().decode(m.value or b"")) for m in messages)
            pending = [tp for tp in pending if await consumer.position(tp) < ends[tp]]
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
        return found
    finally:
        await consumer.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def env(kafka_broker: EmbeddedBroker, sandbox: SandboxHandle,
              unique_name: Callable[[str], str]) -> AsyncIterator[Env]:
    await sandbox.reset()
    settings = FluentSettings(**sandbox.fluent_config(), base_retry_delay=0.1)
    async with FluentClient(settings) as client:
        yield Env(kafka_broker.bootstrap, unique_name("ext") + ".", client, sandbox)
