"""Exact end offsets, even on the embedded broker.

The embedded broker (Tansu 0.6) answers ListOffsets(latest) with *the base offset of the last record
batch + 1* instead of the offset after the last record. A batch of 9 records at offsets 0..8 reports an
end offset of 1. Fetch responses carry the right high watermark. Anything that trusts ListOffsets
under-counts: consumer lag, replay dry runs, and - worst - Faust's table recovery, which stops reading
a changelog at the reported end and silently loses the last batch's updates (found by
``tests/integration/test_faust_table_recovery.py``).

:func:`exact_end_offsets` corrects the reported value by fetching from ``reported - 1`` (the start of
the last batch) and reading the high watermark of the fetch response. On real Kafka the two agree
and the probe is skipped unless asked for.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition

from fluentsync.streams.kafka.connection import client_options

__all__ = ["exact_end_offsets", "probe_high_watermarks"]


async def probe_high_watermarks(
    bootstrap: str, reported: Mapping[TopicPartition, int], *, timeout: float = 10.0
) -> dict[TopicPartition, int]:
    """The true high watermark of each partition, starting from its (possibly low) reported end."""
    result = {tp: end for tp, end in reported.items() if end <= 0}
    pending = {tp: end for tp, end in reported.items() if end > 0}
    if not pending:
        return result
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50, max_partition_fetch_bytes=1024,
        **client_options(),
    )
    await consumer.start()
    try:
        consumer.assign(list(pending))
        for tp, end in pending.items():
            consumer.seek(tp, end - 1)
        deadline = time.monotonic() + timeout
        while pending:
            await consumer.getmany(*pending, timeout_ms=100, max_records=1)
            for tp in list(pending):
                watermark = consumer.highwater(tp)
                if watermark is not None:
                    result[tp] = max(watermark, pending.pop(tp))
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"no fetch response for {sorted(map(str, pending))} in {timeout}s")
    finally:
        await consumer.stop()
    return result


async def exact_end_offsets(
    bootstrap: str, partitions: Iterable[TopicPartition], *, probe: bool = True
) -> dict[TopicPartition, int]:
    """End offset (offset after the last record) of each partition; ``probe`` corrects the broker's."""
    tps = list(partitions)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **client_options())
    await consumer.start()
    try:
        reported = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return await probe_high_watermarks(bootstrap, reported) if probe else dict(reported)
