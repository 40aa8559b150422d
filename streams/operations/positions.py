"""Where a replay starts or stops on each partition: ``earliest``, ``latest``, offsets or a point in time.

An operator names a position once for the whole topic; this module turns it into one offset per
partition. Three facts shape it:

- **Timestamps without ListOffsets-by-time.** The embedded broker answers ``offsets_for_times`` with
  offset 0 (measured, design.md §4), so on it the offset of a time is found by binary search over the
  messages' own timestamps (CreateTime): about log2(n) one-message fetches per partition. Real Kafka
  answers ``offsets_for_times`` itself. Both give the first message whose timestamp is at or after the
  time, assuming timestamps grow with offsets (true for fluentsync's producers; with several producers
  and clock skew the answer is approximate, as it is for Kafka's own time index).
- **End offsets are probed** (:func:`~fluentsync.streams.kafka.offsets.exact_end_offsets`): the
  embedded broker under-reports them after a multi-record batch.
- **Offsets are clamped** to what the partition still holds: a position before the log start reads
  from the log start, one after the end means "nothing".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from aiokafka import AIOKafkaConsumer, TopicPartition

from fluentsync.streams.kafka.connection import client_options
from fluentsync.streams.kafka.offsets import exact_end_offsets

__all__ = ["Position", "PositionError", "log_bounds", "parse_position", "resolve_position"]

_PER_PARTITION = re.compile(r"^\d+:\d+(,\d+:\d+)*$")


class PositionError(ValueError):
    """A position that cannot be parsed or does not fit the topic."""


@dataclass(frozen=True)
class Position:
    """A parsed ``--from``/``--to``: ``earliest``, ``latest``, one offset, offsets per partition, or a time."""

    kind: Literal["earliest", "latest", "offset", "offsets", "time"]
    offset: int | None = None
    offsets: Mapping[int, int] = field(default_factory=dict)
    time_ms: int | None = None

    def describe(self) -> str:
        if self.kind in ("earliest", "latest"):
            return self.kind
        if self.kind == "offset":
            return f"offset {self.offset}"
        if self.kind == "offsets":
            return "offsets " + ",".join(f"{p}:{o}" for p, o in sorted(self.offsets.items()))
        assert self.time_ms is not None
        return datetime.fromtimestamp(self.time_ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def parse_position(text: str) -> Position:
    """``earliest``, ``latest``, ``1200`` (every partition), ``0:120,2:98`` (those partitions only), or an
    ISO 8601 time (``2026-12-01T10:00:00Z``; without a zone it is UTC; a bare date is its midnight)."""
    value = text.strip()
    lowered = value.lower()
    if lowered in ("earliest", "beginning"):
        return Position("earliest")
    if lowered in ("latest", "end"):
        return Position("latest")
    if value.isdigit():
        return Position("offset", offset=int(value))
    if _PER_PARTITION.match(value):
        offsets: dict[int, int] = {}
        for part in value.split(","):
            partition, offset = part.split(":")
            if int(partition) in offsets:
                raise PositionError(f"partition {partition} named twice in {text!r}")
            offsets[int(partition)] = int(offset)
        return Position("offsets", offsets=offsets)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise PositionError(
            f"not a position: {text!r}; use earliest, latest, an offset (1200), offsets per partition "
            "(0:120,1:98) or an ISO 8601 time (2026-12-01T10:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return Position("time", time_ms=int(moment.timestamp() * 1000))


async def log_bounds(bootstrap: str, topic: str, partitions: int) -> dict[int, tuple[int, int]]:
    """``(log start, exact end)`` of every partition of ``topic``."""
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **client_options())
    await consumer.start()
    try:
        starts = await consumer.beginning_offsets(tps)
    finally:
        await consumer.stop()
    ends = await exact_end_offsets(bootstrap, tps)
    return {tp.partition: (starts[tp], max(ends[tp], starts[tp])) for tp in tps}


async def resolve_position(bootstrap: str, topic: str, position: Position, bounds: Mapping[int, tuple[int, int]],
                           *, embedded: bool) -> dict[int, int]:
    """One offset per partition for ``position``; partitions a per-partition position omits are absent."""
    unknown = sorted(set(position.offsets) - set(bounds))
    if unknown:
        raise PositionError(f"{topic} has no partition {', '.join(map(str, unknown))} (it has {len(bounds)})")
    result: dict[int, int] = {}
    for partition, (start, end) in bounds.items():
        if position.kind == "earliest":
            result[partition] = start
        elif position.kind == "latest":
            result[partition] = end
        elif position.kind == "offset":
            assert position.offset is not None
            result[partition] = min(max(position.offset, start), end)
        elif position.kind == "offsets" and partition in position.offsets:
            result[partition] = min(max(position.offsets[partition], start), end)
    if position.kind == "time":
        assert position.time_ms is not None
        result = await _offsets_for_time(bootstrap, topic, position.time_ms, bounds, embedded=embedded)
    return result


async def _offsets_for_time(bootstrap: str, topic: str, time_ms: int, bounds: Mapping[int, tuple[int, int]],
                            *, embedded: bool) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50,
                                max_partition_fetch_bytes=64 * 1024, **client_options())
    await consumer.start()
    try:
        if not embedded:
            found = await consumer.offsets_for_times({TopicPartition(topic, p): time_ms for p in bounds})
            return {tp.partition: (hit.offset if hit is not None else bounds[tp.partition][1])
                    for tp, hit in found.items()}
        return {p: await _search(consumer, TopicPartition(topic, p), time_ms, start, end)
                for p, (start, end) in bounds.items()}
    finally:
        await consumer.stop()


async def _search(consumer: AIOKafkaConsumer, tp: TopicPartition, time_ms: int, start: int, end: int) -> int:
    """Smallest offset in ``[start, end)`` whose message has a timestamp >= ``time_ms`` (else ``end``).

    Invariant: the answer is in ``[lo, hi)`` or is ``found``. A fetch at ``mid`` returns the first message
    at or after it (offsets may have gaps), so a hit at ``offset`` also rules out ``[mid, offset)``.
    """
    consumer.assign([tp])
    lo, hi, found = start, end, end
    while lo < hi:
        mid = (lo + hi) // 2
        message = await _first_at(consumer, tp, mid)
        if message is None or message[0] >= hi:  # nothing in [mid, hi)
            hi = mid
        elif message[1] >= time_ms:
            found, hi = message[0], mid
        else:
            lo = message[0] + 1
    return found


async def _first_at(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> tuple[int, int] | None:
    consumer.seek(tp, offset)
    for _ in range(20):  # a fetch may come back empty while the broker looks; 20 x 250 ms at most
        batch = await consumer.getmany(tp, timeout_ms=250, max_records=1)
        for messages in batch.values():
            for message in messages:
                return message.offset, message.timestamp
    return None
