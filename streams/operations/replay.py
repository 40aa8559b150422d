"""``fluentsync replay``: process a workflow's records again, from a point in its records topic.

What a replay moves. A worker's consumer group (``kafka.app_id``) consumes ``files.<wf>``,
``records.<wf>`` and ``ledger.<wf>``. Only ``records.<wf>`` is worth replaying:

- ``files.<wf>`` replayed would only say SKIPPED: the files agent never publishes a version twice, and
  the file itself has been archived; to process a file again, drop it in the inbox again.
- ``ledger.<wf>`` replayed changes nothing: each record batch is counted once (by batch id).
- ``records.<wf>`` replayed runs map -> validate -> dedupe -> Fluent again with the *current* mapping,
  rules and Fluent state. The dedupe baseline makes it send only records that changed or were rejected
  before; ``--force`` sends every record again (after Fluent lost data). Ledger outcomes of replayed
  batches are not counted again (same batch ids), so no file settles twice.

Two ways to carry it out (:class:`ReplayPlan.mode`):

- ``offsets`` (default): move the group's committed offsets on ``records.<wf>`` back to the start
  position; the workers must be stopped (:mod:`.group` refuses otherwise). Everything from there to the
  end is processed again when the workers start, in order.
- ``republish`` (``--force``, ``--to``, or ``--republish``): copy the batches of ``[from, to)`` to the
  end of their own partition (same key, same batch id; ``force`` set for ``--force``). Works with the
  workers running. Sweep control messages (snapshot delete detection) are not copied: a replay is about
  records. Caveat: a window that stops before the end re-sends older versions of keys updated later.

The ``force`` flag lives in the copied messages, so a later replay over them forces them again (the log
is replayed as it was written). The dry run counts them (:attr:`PartitionPlan.forced`); start a later
replay after them to avoid it.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from fluentsync.schemas.codec import AvroCodec, default_codec
from fluentsync.streams.config import PipelineConfig
from fluentsync.streams.kafka.connection import client_options
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.operations.group import committed_offsets, move_offsets
from fluentsync.streams.operations.positions import Position, PositionError, log_bounds, resolve_position
from fluentsync.streams.operations.reading import read_ranges

__all__ = ["PartitionPlan", "ReplayPlan", "ReplayResult", "execute", "plan_replay"]

Mode = Literal["offsets", "republish"]


@dataclass
class PartitionPlan:
    """One partition of the records topic: what the group has committed and what the replay covers."""

    partition: int
    committed: int | None  #: the group's committed offset now (None: nothing committed)
    start: int  #: first offset processed again
    stop: int  #: first offset not covered (the end offset in ``offsets`` mode)
    end: int  #: the partition's end offset
    messages: int = 0  #: record batches (Kafka messages) in ``[start, stop)``, control messages excluded
    records: int = 0  #: records in those batches
    controls: int = 0  #: control messages (snapshot sweeps) in ``[start, stop)``
    forced: int = 0  #: batches copied by an earlier ``replay --force``: replayed, they are forced again

    @property
    def skipped(self) -> int:
        """Messages a forward move would skip (``start`` beyond the committed offset), else 0."""
        return max(0, self.start - (self.committed or 0)) if self.committed is not None else 0


@dataclass
class ReplayPlan:
    workflow: str
    topic: str
    group: str
    mode: Mode
    force: bool
    start: str
    stop: str | None
    partitions: list[PartitionPlan] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return sum(p.messages for p in self.partitions)

    @property
    def records(self) -> int:
        return sum(p.records for p in self.partitions)

    @property
    def forced(self) -> int:
        return sum(p.forced for p in self.partitions)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "messages": self.messages, "records": self.records, "forced": self.forced}


@dataclass
class ReplayResult:
    plan: ReplayPlan
    moved: dict[int, int] = field(default_factory=dict)  #: offsets mode: partition -> committed offset
    republished: int = 0  #: republish mode: batches copied
    republished_records: int = 0


async def plan_replay(config: PipelineConfig, workflow: str, bootstrap: str, start: Position, stop: Position | None,
                      *, force: bool = False, republish: bool = False, embedded: bool = True,
                      codec: AvroCodec | None = None) -> ReplayPlan:
    """What a replay would do, per partition: the dry run (reads the range once to count its records)."""
    if workflow not in config.workflows:
        raise PositionError(f"unknown workflow {workflow!r} (the pipeline has: {', '.join(config.workflows)})")
    topics = WorkflowTopics.of(workflow, config.kafka.topic_prefix)
    mode: Mode = "republish" if (force or republish or stop is not None) else "offsets"
    partitions = config.kafka.partitions
    bounds = await log_bounds(bootstrap, topics.records, partitions)
    starts = await resolve_position(bootstrap, topics.records, start, bounds, embedded=embedded)
    stops = (await resolve_position(bootstrap, topics.records, stop, bounds, embedded=embedded)
             if stop is not None else {p: end for p, (_, end) in bounds.items()})
    committed = await committed_offsets(bootstrap, config.kafka.app_id, topics.records, partitions)
    plan = ReplayPlan(workflow, topics.records, config.kafka.app_id, mode, force, start.describe(),
                      stop.describe() if stop is not None else None)
    for partition, (_, end) in sorted(bounds.items()):
        if partition not in starts:
            continue  # a per-partition --from that does not name it
        first = starts[partition]
        last = max(first, stops.get(partition, end)) if mode == "republish" else end
        plan.partitions.append(PartitionPlan(partition, committed[partition], first, last, end))
    await _count(bootstrap, plan, codec or default_codec())
    return plan


async def _count(bootstrap: str, plan: ReplayPlan, codec: AvroCodec) -> None:
    by_partition = {p.partition: p for p in plan.partitions}
    ranges = {p.partition: (p.start, p.stop) for p in plan.partitions}
    async for message in read_ranges(bootstrap, plan.topic, ranges):
        entry = by_partition[message.partition]
        batch = codec.decode(message.value or b"")
        if batch.get("control"):
            entry.controls += 1
        else:
            entry.messages += 1
            entry.records += len(batch["record_keys"])
            entry.forced += bool(batch.get("force"))


async def execute(plan: ReplayPlan, bootstrap: str, *, embedded: bool = True,
                  codec: AvroCodec | None = None) -> ReplayResult:
    """Carry the plan out: move the group's offsets, or copy the range with ``force`` as planned."""
    result = ReplayResult(plan)
    if plan.mode == "offsets":
        offsets = {p.partition: p.start for p in plan.partitions}
        await move_offsets(bootstrap, plan.group, plan.topic, offsets, embedded=embedded)
        result.moved = offsets
        return result
    await _republish(plan, bootstrap, codec or default_codec(), result)
    return result


async def _republish(plan: ReplayPlan, bootstrap: str, codec: AvroCodec, result: ReplayResult) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, **client_options())
    await producer.start()
    try:
        futures: list[asyncio.Future[Any]] = []
        ranges = {p.partition: (p.start, p.stop) for p in plan.partitions}
        async for message in read_ranges(bootstrap, plan.topic, ranges):
            batch = codec.decode(message.value or b"")
            if batch.get("control"):
                continue
            batch["force"] = bool(batch.get("force")) or plan.force
            value = codec.encode("fluentsync.records.RecordBatch", batch, topic=plan.topic)
            futures.append(await producer.send(plan.topic, value, key=message.key, partition=message.partition))
            result.republished += 1
            result.republished_records += len(batch["record_keys"])
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
