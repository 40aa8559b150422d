"""Run boundaries: where each completed extraction run ends on each partition of a sink's topic.

An extraction run's record on the compacted ``extraction.runs`` topic turns COMPLETED only after every
event of the run was acknowledged, and then lists ``end_offsets`` (per partition of the outbound topic,
the offset after the run's last event; docs/outbound-schemas.md). A sink that has consumed a partition
up to that offset holds the run's last records there and can close its file at once instead of waiting
for ``rolling.max_age`` (R60).

Why a plain consumer without a group, tailing the topic from the beginning: every sink instance needs
every run (the runs topic has one partition but the sink's partitions are spread over instances), and
the topic is small (compacted; finished runs expire after 7 days). Read from the beginning, runs that
completed while the sink was down are known too, so a restarted sink closes a run's last file at the
same place.

:class:`RunEnds` only collects; the sink consumer asks it, between fetches, for the new end offsets of
its partitions (:meth:`RunEnds.take`), so nothing here touches the file sink or its locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from fluentsync.schemas.codec import AvroCodec, AvroCodecError, default_codec
from fluentsync.streams.kafka.connection import client_options

__all__ = ["RunEnds"]

log = logging.getLogger(__name__)


class RunEnds:
    """Tails ``runs_topic``; keeps ``(partition, end offset, run id)`` of COMPLETED runs on ``topic``."""

    def __init__(self, bootstrap: str, runs_topic: str, topic: str, *, codec: AvroCodec | None = None) -> None:
        self.bootstrap, self.runs_topic, self.topic = bootstrap, runs_topic, topic
        self.codec = codec or default_codec()
        self._seen: set[str] = set()  # run ids whose end offsets were taken in
        self._new: list[tuple[int, int, str]] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest", fetch_max_wait_ms=200, **client_options())
        await consumer.start()
        if self.runs_topic not in await consumer.topics():  # never auto-create it by asking for it
            log.info("no %s topic: files roll on their limits only", self.runs_topic)
            await consumer.stop()
            return
        tp = TopicPartition(self.runs_topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        self._consumer = consumer
        self._task = asyncio.create_task(self._tail(), name=f"run-ends-{self.topic}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None
        if self._consumer is not None:
            await asyncio.shield(self._consumer.stop())
            self._consumer = None

    def take(self) -> list[tuple[int, int, str]]:
        """The ``(partition, end offset, run id)`` learnt since the last call."""
        found, self._new = self._new, []
        return found

    def observe(self, run: dict[str, Any]) -> None:
        """Take in one decoded ``ExtractionRun`` (also for tests)."""
        if run.get("status") != "COMPLETED" or run.get("topic") != self.topic or run["run_id"] in self._seen:
            return
        self._seen.add(run["run_id"])
        for end in run.get("end_offsets") or ():
            self._new.append((int(end["partition"]), int(end["offset"]), run["run_id"]))

    async def _tail(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=500)
            except Exception:  # the broker went away for a moment: keep tailing
                log.exception("reading %s failed; retrying", self.runs_topic)
                await asyncio.sleep(1.0)
                continue
            for messages in batch.values():
                for message in messages:
                    if message.value is None:
                        continue  # a tombstone: an expired run
                    try:
                        self.observe(self.codec.decode(message.value))
                    except (AvroCodecError, KeyError, TypeError, ValueError):
                        log.warning("unreadable run record at %s offset %d", self.runs_topic, message.offset)
