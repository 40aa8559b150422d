"""Faust transports: aiokafka's, with exact changelog end offsets and no lost records after recovery.

Faust's table recovery reads each changelog up to the end offset the broker reports. The embedded
broker reports too low an end offset when the last write was a multi-record batch (see
:mod:`fluentsync.streams.kafka.offsets`), so without this transport a restarted worker recovers its
tables *minus the last batch of updates* - wrong state, no error. :class:`Transport` probes the true
high watermark instead. It is selected by the broker URL scheme ``fluentsync-embedded://``, which
:func:`fluentsync.streams.app.create_app` uses for the embedded broker.

Both transports (``fluentsync-embedded://`` and ``fluentsync-kafka://``, the latter for real Kafka)
also close a race between Faust and aiokafka that silently drops the first records of stream partitions
after a rebalance (see :class:`_SafeFetchThread`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from fluentsync.streams.kafka.offsets import probe_high_watermarks

__all__ = ["KAFKA_SCHEME", "SCHEME", "KafkaTransport", "Transport", "register"]

#: Faust asks for 1500 ms. Measured with webhooks on the embedded broker: each agent hop added 200-700
#: ms with 1500 ms and a few ms with 100 ms (a plain aiokafka consumer sees no such delay, so the likely
#: cause is a partition Faust resumed while a fetch request without it was pending). The cost is one
#: fetch every 100 ms per broker connection when idle.
FETCH_MAX_WAIT_MS = 100

SCHEME = "fluentsync-embedded"
KAFKA_SCHEME = "fluentsync-kafka"


class _SafeFetchThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Never hand out records of partitions Faust does not consume, and really seek to offset 0.

    Faust's fetcher passes its *live* set of active partitions to this thread. When recovery pauses the
    changelog partitions between the fetcher's request and its execution here, the set is empty by then,
    and aiokafka's ``fetched_records`` treats an empty set as "every partition": it returns (and moves
    its position past) the records buffered for the still-paused stream partitions, which Faust then
    discards because they are not active. Recovery's following seek to the committed offsets repairs
    that - except for a committed offset of 0, which aiokafka's ``seek_to_committed`` does not seek to
    (``if offset and offset > 0``). Observed: a worker restarted on a records topic rewound to 0 lost the
    first record batch of each partition until its next restart.
    """

    async def _fetch_records(
        self,
        consumer: AIOKafkaConsumer,
        active_partitions: Any,
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Any:
        if active_partitions is not None:
            # a snapshot: the set is Faust's and may shrink while aiokafka waits for records
            active_partitions = set(active_partitions)
            if not active_partitions:
                return {}
        return await super()._fetch_records(consumer, active_partitions, timeout=timeout,
                                            max_records=max_records)

    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        """Faust's consumer, with a short fetch wait (see :data:`FETCH_MAX_WAIT_MS`)."""
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer

    async def seek_to_committed(self) -> Mapping[TP, int]:
        return cast(Mapping[TP, int], await self.call_thread(self._seek_to_committed))

    async def _seek_to_committed(self) -> Mapping[TP, int]:
        consumer = self._ensure_consumer()
        committed = cast(Mapping[TP, int], await consumer.seek_to_committed())
        for tp, offset in committed.items():
            if offset == 0 and tp in consumer.assignment():  # aiokafka skips it: seek to 0 ourselves
                consumer.seek(tp, 0)
        return committed


class _ConsumerThread(_SafeFetchThread):
    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        reported = await super()._highwaters(partitions)
        if self.consumer.in_transaction:
            return reported
        transport = cast(faust_aiokafka.Transport, self.transport)
        bootstrap = ",".join(faust_aiokafka.server_list(transport.url, transport.default_port))
        fixed = await probe_high_watermarks(
            bootstrap, {TopicPartition(tp.topic, tp.partition): end for tp, end in reported.items()}
        )
        return {TP(tp.topic, tp.partition): end for tp, end in fixed.items()}


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _KafkaConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _SafeFetchThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    """aiokafka transport for the embedded broker: exact end offsets, no records lost after recovery."""

    Consumer = _Consumer


class KafkaTransport(faust_aiokafka.Transport):
    """aiokafka transport for real Kafka: Faust's own, except that no records are lost after recovery."""

    Consumer = _KafkaConsumer


def register() -> None:
    """Make ``fluentsync-embedded://`` and ``fluentsync-kafka://`` Faust broker URL schemes (idempotent)."""
    TRANSPORTS.aliases[SCHEME] = f"{__name__}:Transport"
    TRANSPORTS.aliases[KAFKA_SCHEME] = f"{__name__}:KafkaTransport"


register()
