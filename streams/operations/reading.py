"""Read exact offset ranges of a topic, without joining any consumer group.

Replays and dead-letter tools must see *exactly* the messages between two offsets (a dry run's count
must match what is then replayed), not "whatever arrived before the topic went quiet for a while", so
they read each partition from a start offset to a stop offset fixed up front (stop offsets from
:func:`~fluentsync.streams.kafka.offsets.exact_end_offsets`, since the embedded broker under-reports).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from fluentsync.streams.kafka.connection import client_options

__all__ = ["read_ranges"]


async def read_ranges(bootstrap: str, topic: str, ranges: Mapping[int, tuple[int, int]], *,
                      idle_timeout: float = 10.0) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every message of ``topic`` with ``start <= offset < stop`` per partition (``ranges``), in offset order
    per partition. :class:`TimeoutError` if a partition yields nothing for ``idle_timeout`` seconds."""
    pending = {TopicPartition(topic, p): (start, stop) for p, (start, stop) in ranges.items() if stop > start}
    if not pending:
        return
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100,
                                **client_options())
    await consumer.start()
    try:
        consumer.assign(list(pending))
        for tp, (start, _) in pending.items():
            consumer.seek(tp, start)
        last = time.monotonic()
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=200)
            for tp, messages in batch.items():
                stop = pending[tp][1]
                for message in messages:
                    if message.offset >= stop:
                        break
                    yield message
                last = time.monotonic()
            for tp in list(pending):
                if await consumer.position(tp) >= pending[tp][1]:
                    del pending[tp]
            if pending and time.monotonic() - last > idle_timeout:
                raise TimeoutError(f"{topic}: no messages for {idle_timeout:.0f}s while reading "
                                   + ", ".join(f"[{tp.partition}] up to {pending[tp][1]}" for tp in pending))
    finally:
        await asyncio.shield(consumer.stop())
