"""Read a topic from the beginning and wait until what arrived satisfies a condition.

Used by the demo and by operators' scripts (and tests) to follow what a worker publishes without
joining its consumer group: no group, no commits, Avro values decoded with the shared codec.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaConsumer

from fluentsync.schemas.codec import AvroCodec, default_codec
from fluentsync.streams.kafka.connection import client_options

__all__ = ["TopicTail"]


class TopicTail:
    """Everything published to ``topic`` so far, decoded, in :attr:`items` (refreshed by :meth:`until`)."""

    def __init__(self, bootstrap: str, topic: str, codec: AvroCodec | None = None) -> None:
        self.topic = topic
        self.codec = codec or default_codec()
        self.consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                         enable_auto_commit=False, **client_options())
        self.items: list[dict[str, Any]] = []

    async def __aenter__(self) -> Self:
        await self.consumer.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.consumer.stop()

    async def poll(self, timeout: float = 0.3) -> int:
        """Fetch what is there now; returns how many new items arrived."""
        before = len(self.items)
        for messages in (await self.consumer.getmany(timeout_ms=int(timeout * 1000))).values():
            self.items.extend(self.codec.decode(m.value or b"") for m in messages)
        return len(self.items) - before

    async def until(self, check: Callable[[list[dict[str, Any]]], bool], timeout: float = 60.0) -> list[dict[str, Any]]:
        """Poll until ``check(items)`` holds; :class:`TimeoutError` names the topic and what arrived."""
        deadline = time.monotonic() + timeout
        while not check(self.items):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.topic}: condition not met in {timeout:.0f}s ({len(self.items)} items)")
            await self.poll()
        return self.items
