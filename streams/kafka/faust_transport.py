"""Faust transports: aiokafka's, with exact changelog end offsets and no lost records after recovery.

Faust's table recovery reads each changelog up to the end offset the broker reports. The embedded
broker reports too low an end offset when the last write was a multi-record batch (see
:mod:`fluentsync.streams.kafka.offsets`), so without this transport a restarted worker recovers its
tables *minus the last batch of updates* - wrong state, no error. :class:`Transport` probes the true
high watermark instead. It is selected by the broker URL scheme ``fluentsync-embedded://``, which
:func:`fluentsync.streams.app.create_app` uses for the embedded broker.

Both transports (``fluentsync-embedded://`` and ``fluentsync-kafka://``, the latter for real Kafka)
also close two races between Faust and aiokafka after a rebalance: one silently dropped the first
records of stream partitions, the other processed records twice when a fetch was answered while
recovery sought to the committed offsets (see :class:`_SafeFetchThread`); and they shorten Faust's
fetch wait (:data:`FETCH_MAX_WAIT_MS`). Topics Faust creates (changelogs, its leader topic) get the
process's ``min.insync.replicas`` (:mod:`fluentsync.streams.kafka.connection`); credentials and the
replication factor reach Faust through the app's settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IllegalStateError
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from fluentsync.streams.kafka.connection import cluster_settings
from fluentsync.streams.kafka.offsets import probe_high_watermarks

__all__ = ["KAFKA_SCHEME", "SCHEME", "KafkaTransport", "Transport", "register"]

#: Faust asks for 1500 ms. Measured with webhooks on the embedded broker: each agent hop added 200-700
#: ms with 1500 ms, ~50 ms with 100 ms and a few ms with 20 ms (a plain aiokafka consumer sees no such
#: delay, so the likely cause is a partition Faust resumed while a fetch request without it was
#: pending). The cost is idle fetches: about 5 % of a core per worker at 20 ms. The pipeline file's
#: ``kafka.fetch_max_wait_ms`` overrides it (through ``FaustOptions``).
FETCH_MAX_WAIT_MS = 20

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

    _seeks = 0  #: seeks to committed offsets started or finished (fetch and seek share the thread's loop)
    _seeking = False
    _short_wait_ms = FETCH_MAX_WAIT_MS

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
        seeks = self._seeks
        records = await super()._fetch_records(consumer, active_partitions, timeout=timeout,
                                               max_records=max_records)
        if records and (self._seeking or self._seeks != seeks):
            await self._rewind(consumer, records)
            return {}
        return records

    async def _rewind(self, consumer: AIOKafkaConsumer, records: Mapping[Any, Any]) -> None:
        """Records fetched while a seek ran are not handed out: they may come from before the seek.

        Faust resumes stream partitions and seeks them to the committed offsets at the end of recovery;
        a fetch answered in between (likely with a short fetch wait) handed the agents records that the
        seek then rewound past, so they were processed twice (seen: a table counted a restart's new
        events twice). Each such partition is positioned at the earlier of its current position (the
        seek's target) and its first undelivered record, so nothing is skipped either.
        """
        for tp, messages in records.items():
            if not messages:
                continue
            try:
                position = await consumer.position(tp)
            except IllegalStateError:  # no longer assigned: its new owner starts from the commit
                continue
            first = messages[0].offset
            if first < position:
                consumer.seek(tp, first)

    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        """Faust's consumer; its fetch wait becomes short once recovery is over (see :meth:`_fetch_wait`)."""
        consumer = super()._create_worker_consumer(transport)
        app = self.consumer.app  # Faust hard-codes 1500 ms; the app carries the configured value
        self._short_wait_ms = int(getattr(app, "fluentsync_fetch_max_wait_ms", FETCH_MAX_WAIT_MS))
        return consumer

    def _fetch_wait(self, consumer: AIOKafkaConsumer, ms: int) -> None:
        """Set the fetch wait of the running consumer (its fetcher reads it for every request).

        Short waits are for steady state only. During recovery (from an assignment until the seek to
        the committed offsets) Faust's own 1500 ms is kept: with short waits, stream records fetched
        during recovery reached the agents and were processed again after the seek (a restarted worker
        counted its first events twice about half the time; never with 1500 ms).
        """
        fetcher = getattr(consumer, "_fetcher", None)
        if fetcher is not None:
            fetcher._fetch_max_wait_ms = ms

    async def on_partitions_assigned(self, assigned: Any, generation_id: int = 0) -> None:
        self._fetch_wait(self._ensure_consumer(), 1500)
        await super().on_partitions_assigned(assigned, generation_id)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        return cast(Mapping[TP, int], await self.call_thread(self._seek_to_committed))

    async def _seek_to_committed(self) -> Mapping[TP, int]:
        consumer = self._ensure_consumer()
        self._seeks += 1  # a fetch in flight now must not deliver (see _rewind)
        self._seeking = True
        try:
            committed = cast(Mapping[TP, int], await consumer.seek_to_committed())
            for tp, offset in committed.items():
                if offset == 0 and tp in consumer.assignment():  # aiokafka skips it: seek to 0 ourselves
                    consumer.seek(tp, 0)
        finally:
            self._seeking = False
            self._seeks += 1
        self._fetch_wait(consumer, self._short_wait_ms)  # recovery is over: steady state
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


class _Transport(faust_aiokafka.Transport):
    async def _create_topic(self, owner: Any, client: Any, topic: str, partitions: int, replication: int,
                            **kwargs: Any) -> None:
        """Faust's topic creation, with the configured topic configs (a topic's own settings win)."""
        extra = cluster_settings().topic_config()
        if extra:
            kwargs["config"] = {**extra, **(kwargs.get("config") or {})}
        await super()._create_topic(owner, client, topic, partitions, replication, **kwargs)


class Transport(_Transport):
    """aiokafka transport for the embedded broker: exact end offsets, no records lost after recovery."""

    Consumer = _Consumer


class KafkaTransport(_Transport):
    """aiokafka transport for real Kafka: Faust's own, except that no records are lost after recovery."""

    Consumer = _KafkaConsumer


def register() -> None:
    """Make ``fluentsync-embedded://`` and ``fluentsync-kafka://`` Faust broker URL schemes (idempotent)."""
    TRANSPORTS.aliases[SCHEME] = f"{__name__}:Transport"
    TRANSPORTS.aliases[KAFKA_SCHEME] = f"{__name__}:KafkaTransport"


register()
