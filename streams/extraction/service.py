"""The extraction side of one process: a shared producer, the state store and one runner per extraction.

Both the worker and the standalone CLI (``fluentsync extract``) build an :class:`ExtractionService`, so a
run behaves the same wherever it runs. The producer uses ``acks=all`` (a send counts only once the
broker has it durably), the pipeline's key partitioner (so events of one ref always land on the same
partition, whoever produced them) and a short linger to batch small events. It is not idempotent: the
embedded broker refuses InitProducerId, and at-least-once is the contract anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Self

from aiokafka import AIOKafkaProducer

from fluentsync.connectors.fluent import FluentClient
from fluentsync.streams.kafka.connection import client_options
from fluentsync.streams.kafka.partitioning import KeyPartitioner, Strategy
from fluentsync.streams.kafka.topics import TopicSpec, ensure_topics

from .config import ExtractionConfig
from .runner import ExtractionRunner
from .state import ExtractionState, StateTopics

__all__ = ["ExtractionService", "extraction_topic_specs"]


def extraction_topic_specs(
    extractions: Mapping[str, ExtractionConfig], prefix: str, partitions: int
) -> list[TopicSpec]:
    """Every topic the extractions need: the outbound topics and the three state topics."""
    if not extractions:
        return []
    specs = [TopicSpec(cfg.topic_name(name, prefix), partitions) for name, cfg in extractions.items()]
    return specs + StateTopics.of(prefix).specs(partitions)


class ExtractionService:
    """Owns the producer and the state; hands out runners. Use as an async context manager."""

    def __init__(self, extractions: Mapping[str, ExtractionConfig], *, bootstrap: str, client: FluentClient,
                 prefix: str = "", partitions: int = 3, partitioning: Strategy = "crc32",
                 create_topics: bool = True) -> None:
        self.extractions = dict(extractions)
        self.bootstrap, self.client, self.prefix, self.partitions = bootstrap, client, prefix, partitions
        self.partitioning = partitioning
        self.create_topics = create_topics
        self.topics = StateTopics.of(prefix)
        self._producer: AIOKafkaProducer | None = None
        self._state: ExtractionState | None = None
        self._runners: dict[str, ExtractionRunner] = {}

    async def start(self) -> None:
        if self.create_topics:
            await ensure_topics(self.bootstrap, extraction_topic_specs(self.extractions, self.prefix, self.partitions))
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", linger_ms=5, max_batch_size=256 * 1024,
            partitioner=KeyPartitioner(self.partitioning), **client_options())
        await self._producer.start()
        self._state = ExtractionState(self.bootstrap, self.topics, producer=self._producer)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    @property
    def state(self) -> ExtractionState:
        if self._state is None:
            raise RuntimeError("ExtractionService is not started")
        return self._state

    def runner(self, name: str) -> ExtractionRunner:
        """The runner of extraction ``name`` (one per name, so runs of one extraction never overlap here)."""
        if name not in self.extractions:
            known = ", ".join(sorted(self.extractions)) or "none"
            raise KeyError(f"unknown extraction {name!r} (configured: {known})")
        runner = self._runners.get(name)
        if runner is None:
            assert self._producer is not None, "ExtractionService is not started"
            config = self.extractions[name]
            runner = self._runners[name] = ExtractionRunner(
                name, config, client=self.client, producer=self._producer, state=self.state,
                topic=config.topic_name(name, self.prefix), partitioning=self.partitioning)
        return runner
