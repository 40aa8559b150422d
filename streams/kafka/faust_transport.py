"""A Faust transport for the embedded broker: aiokafka's, with exact changelog end offsets.

Faust's table recovery reads each changelog up to the end offset the broker reports. The embedded
broker reports too low an end offset when the last write was a multi-record batch (see
:mod:`fluentsync.streams.kafka.offsets`), so without this transport a restarted worker recovers its
tables *minus the last batch of updates* - wrong state, no error. This transport probes the true high
watermark instead. It is selected by the broker URL scheme ``fluentsync-embedded://``, which
:func:`fluentsync.streams.app.create_app` uses for the embedded broker only; real Kafka uses Faust's own
``kafka://`` transport untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from aiokafka import TopicPartition
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from fluentsync.streams.kafka.offsets import probe_high_watermarks

__all__ = ["SCHEME", "Transport", "register"]

SCHEME = "fluentsync-embedded"


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
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


class Transport(faust_aiokafka.Transport):
    """aiokafka transport whose consumer reports exact end offsets."""

    Consumer = _Consumer


def register() -> None:
    """Make ``fluentsync-embedded://`` a Faust broker URL scheme (idempotent)."""
    TRANSPORTS.aliases[SCHEME] = f"{__name__}:Transport"


register()
