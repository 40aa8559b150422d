"""Publishing a verified webhook and waiting for the broker: the receiver's only side effect.

:class:`KafkaPublisher` is the standalone receiver's (``fluentsync webhooks``): its own aiokafka
producer with ``acks=all``, started lazily and restarted after a failure, so a receiver started while
the broker is down answers 503 until the broker is back instead of refusing to start. Inside the worker
the Faust app's producer is used instead (see ``streams/agents/webhooks.py``).
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from fluentsync.streams.kafka.connection import client_options

from .receiver import PublishUnavailable

__all__ = ["KafkaPublisher"]

log = logging.getLogger(__name__)


class KafkaPublisher:
    """``await publisher(topic, partition, key, value)``: returns once the broker has the message."""

    def __init__(self, bootstrap: str, *, request_timeout: float = 10.0) -> None:
        self.bootstrap = bootstrap
        self.request_timeout = request_timeout
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _ready(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap, acks="all", linger_ms=0,
                    request_timeout_ms=int(self.request_timeout * 1000), **client_options(),
                )
                try:
                    await producer.start()
                except (KafkaError, OSError) as exc:
                    await producer.stop()
                    raise PublishUnavailable(f"broker unavailable: {type(exc).__name__}") from None
                self._producer = producer
            return self._producer

    async def __call__(self, topic: str, partition: int, key: bytes, value: bytes) -> None:
        producer = await self._ready()
        try:
            await producer.send_and_wait(topic, value, key=key, partition=partition)
        except KafkaError as exc:
            raise PublishUnavailable(f"publish failed: {type(exc).__name__}") from None

    async def close(self) -> None:
        async with self._lock:
            if self._producer is not None:
                await self._producer.stop()
                self._producer = None
