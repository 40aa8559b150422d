"""A consumer group's committed offsets: read them, and move them only while no worker runs.

Reading goes through a consumer that never subscribes (it fetches the group's offsets without joining
it): the embedded broker breaks the connection on aiokafka's admin ``list_consumer_group_offsets``.

Moving offsets under a running worker would be overwritten by its next commit (or worse, half of
them), so :func:`move_offsets` refuses while the group has live members. How it knows differs:

- **Real Kafka** removes a member when it leaves or its session expires, so ``DescribeGroups`` is the
  truth: members listed means workers run. The commit is made outside the group (generation -1),
  which Kafka itself rejects if a member joined in between.
- **The embedded broker** keeps the last members listed (state ``Stable``) after they left, for
  ever, and rejects an outside commit for them (``UNKNOWN_MEMBER_ID``, measured). There the tool joins
  the group itself, as a member speaking Faust's protocol name (the broker refuses any other while the
  old members are listed) with metadata Faust's assignor can read. Alone, it is given every partition
  and commits with its own generation; if it is not alone after the rebalance, live workers exist: it
  leaves without committing and refuses. That check costs a running worker one rebalance, never data,
  and the refusal waits until the workers have re-formed the group without the tool (:func:`_gone`).
  A group that never had members is ``Empty`` and takes the outside commit, as on Kafka.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata
from aiokafka.errors import CommitFailedError, InconsistentGroupProtocolError, KafkaError

from fluentsync.streams.kafka.connection import client_options

__all__ = ["GroupActiveError", "GroupState", "committed_offsets", "describe_group", "move_offsets"]

_IDLE_STATES = {"Empty", "Dead", ""}


class GroupActiveError(RuntimeError):
    """The group has live members: offsets cannot be moved under them."""


@dataclass(frozen=True)
class GroupState:
    group: str
    state: str
    members: list[dict[str, str]] = field(default_factory=list)

    @property
    def idle(self) -> bool:
        return self.state in _IDLE_STATES or not self.members

    def describe_members(self) -> str:
        return ", ".join(f"{m['member_id']}@{m['client_host'] or '?'}" for m in self.members) or "none"


async def describe_group(bootstrap: str, group: str) -> GroupState:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    await admin.start()
    try:
        response = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    entry = response[0].groups[0]
    _, name, state, _, _, members = entry[:6]
    return GroupState(name, state, [{"member_id": m[0], "client_id": m[1], "client_host": m[2]} for m in members])


async def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int | None]:
    """The group's committed offset of each partition (None: nothing committed)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                **client_options())
    await consumer.start()
    try:
        result: dict[int, int | None] = {}
        for partition in range(partitions):
            offset = await consumer.committed(TopicPartition(topic, partition))
            result[partition] = offset if offset is not None and offset >= 0 else None
        return result
    finally:
        await asyncio.shield(consumer.stop())


async def move_offsets(bootstrap: str, group: str, topic: str, offsets: Mapping[int, int], *, embedded: bool,
                       join_timeout: float = 30.0) -> None:
    """Commit ``offsets`` (partition -> offset) for ``group`` on ``topic``; :class:`GroupActiveError` if
    workers of the group are running (see the module docstring for how that is told)."""
    tps = {TopicPartition(topic, p): o for p, o in offsets.items()}
    if not tps:
        return
    state = await describe_group(bootstrap, group)
    if state.idle:
        await _commit_outside(bootstrap, group, tps)
    elif not embedded:
        raise GroupActiveError(f"consumer group {group!r} has {len(state.members)} live member(s) "
                               f"({state.describe_members()}): stop every worker first")
    else:
        await _commit_as_member(bootstrap, group, topic, tps, join_timeout)
    await _verify(bootstrap, group, tps)


async def _commit_outside(bootstrap: str, group: str, tps: Mapping[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                **client_options())
    await consumer.start()
    try:
        consumer.assign(list(tps))
        await consumer.commit(dict(tps))
    except CommitFailedError as exc:
        raise GroupActiveError(f"consumer group {group!r} got members while offsets were moved: "
                               "stop every worker first") from exc
    finally:
        await asyncio.shield(consumer.stop())


class _ReplayAssignor(RoundRobinPartitionAssignor):  # type: ignore[misc]  # aiokafka ships no types here
    """Round robin under Faust's protocol name, announcing metadata that Faust's assignor can parse, so a
    live Faust leader treats this member as a client with nothing assigned instead of failing. As the
    leader (alone in the group) it hands out only the partitions of :attr:`only`."""

    name = "faust"
    only = ""

    @classmethod
    def metadata(cls, topics: Any) -> ConsumerProtocolMemberMetadata:
        from faust.assignor.client_assignment import ClientAssignment, ClientMetadata

        meta = ClientMetadata(assignment=ClientAssignment(actives={}, standbys={}),
                              url="fluentsync-replay://localhost", changelog_distribution={}, topic_groups={})
        return ConsumerProtocolMemberMetadata(cls.version, list(topics), meta.dumps())

    @classmethod
    def assign(cls, cluster: Any, member_metadata: Any) -> Any:
        narrowed = {member: ConsumerProtocolMemberMetadata(meta.version, [cls.only] if cls.only in meta.subscription
                                                           else [], meta.user_data)
                    for member, meta in member_metadata.items()}
        return super().assign(cluster, narrowed)


async def _commit_as_member(bootstrap: str, group: str, topic: str, tps: Mapping[TopicPartition, int],
                            timeout: float) -> None:
    def refused(detail: str) -> GroupActiveError:
        return GroupActiveError(f"consumer group {group!r} has live member(s) ({detail}): stop every worker first")

    assignor = type("_ReplayAssignorFor", (_ReplayAssignor,), {"only": topic})
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                auto_offset_reset="earliest", session_timeout_ms=6000, heartbeat_interval_ms=1000,
                                rebalance_timeout_ms=6000, partition_assignment_strategy=(assignor,),
                                **client_options())
    try:
        await consumer.start()
        # Every topic: a live Faust leader may hand this member partitions of any topic the app consumes,
        # and aiokafka fails on partitions of topics it did not subscribe to - it must leave cleanly instead
        # (the embedded broker mishandles a group whose members vanish without leaving).
        consumer.subscribe(pattern=".*")
        deadline = time.monotonic() + timeout
        while not consumer.assignment():
            if time.monotonic() > deadline:
                raise refused(f"no partition of {topic} was given to this tool in {timeout:.0f}s")
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # a member re-joining after us would start another rebalance now
        state = await describe_group(bootstrap, group)
        if len(state.members) > 1 or not set(tps) <= set(consumer.assignment()):
            raise refused(f"{len(state.members) - 1} besides this tool")
        await consumer.commit(dict(tps))
    except InconsistentGroupProtocolError as exc:
        raise refused("they do not speak Faust's protocol") from exc
    except (CommitFailedError, KafkaError) as exc:
        raise refused(f"the group rebalanced under this tool: {exc}") from exc
    except GroupActiveError:
        member = getattr(consumer._coordinator, "member_id", None)  # aiokafka has no public accessor
        await asyncio.shield(consumer.stop())
        await _gone(bootstrap, group, member)
        raise
    finally:
        await asyncio.shield(consumer.stop())


async def _gone(bootstrap: str, group: str, member: str | None, timeout: float = 15.0) -> None:
    """Wait until the live members have re-formed the group without this tool (a few seconds).

    The embedded broker leaves a group unusable when all of its members vanish at once (measured: a new
    member then waits for a sync that never comes). After a refusal the workers must have rebalanced
    without this tool before an operator stops them, so the refusal returns only then."""
    deadline = time.monotonic() + timeout
    while member and time.monotonic() < deadline:
        state = await describe_group(bootstrap, group)
        if state.state == "Stable" and member not in {m["member_id"] for m in state.members}:
            return
        await asyncio.sleep(0.25)


async def _verify(bootstrap: str, group: str, tps: Mapping[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                **client_options())
    await consumer.start()
    try:
        for tp, offset in tps.items():
            got = await consumer.committed(tp)
            if got != offset:
                raise GroupActiveError(f"{tp.topic}[{tp.partition}]: committed {got}, expected {offset}; "
                                       "did a worker commit in between?")
    finally:
        await asyncio.shield(consumer.stop())
