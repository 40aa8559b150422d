"""Explicit topic creation: every topic fluentsync uses is created with a known partition count.

Never rely on auto-creation. A topic auto-created by a first produce gets the broker's default
partition count, and Faust then refuses to start with ``PartitionsMismatch`` against its changelog
(measured on the embedded broker, design.md §4). Co-partitioned tables need the source topic and the
changelog to agree, so an existing topic with a different partition count is an error here, never
silently accepted.

Replication: a spec without a replication factor gets the process's ``kafka.replication_factor`` and
every created topic the configured ``min.insync.replicas`` (:mod:`fluentsync.streams.kafka.connection`);
topics that already exist keep theirs (changing replication is a partition reassignment, an operator's
decision).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, UnknownTopicOrPartitionError

from fluentsync.streams.kafka.connection import client_options, cluster_settings

__all__ = ["TopicError", "TopicSpec", "describe_topics", "ensure_topics"]

_TOPIC_EXISTS = TopicAlreadyExistsError.errno
_UNKNOWN_TOPIC = UnknownTopicOrPartitionError.errno


class TopicError(RuntimeError):
    """A topic could not be created, or exists with a shape that does not match its spec."""


@dataclass(frozen=True)
class TopicSpec:
    """What a topic must look like: name, partition count, replication and topic configs.

    ``replication_factor`` None: the process's ``kafka.replication_factor`` (see :func:`ensure_topics`)."""

    name: str
    partitions: int = 1
    replication_factor: int | None = None
    config: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def compacted(cls, name: str, partitions: int = 1, replication_factor: int | None = None) -> TopicSpec:
        """A compacted topic: tables' changelogs and latest-value-per-key state."""
        return cls(name, partitions, replication_factor, {"cleanup.policy": "compact"})

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 249:
            raise ValueError(f"invalid topic name {self.name!r}")
        if self.partitions < 1:
            raise ValueError(f"topic {self.name!r}: partitions must be >= 1, got {self.partitions}")
        if self.replication_factor is not None and self.replication_factor < 1:
            raise ValueError(f"topic {self.name!r}: replication factor must be >= 1")


async def describe_topics(bootstrap: str, names: Iterable[str] | None = None) -> dict[str, int]:
    """Partition count of each existing topic (all topics when ``names`` is None)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    await admin.start()
    try:
        return await _partition_counts(admin, None if names is None else list(names))
    finally:
        await admin.close()


async def ensure_topics(
    bootstrap: str, specs: Iterable[TopicSpec], *, timeout_ms: int = 30_000
) -> dict[str, Literal["created", "exists"]]:
    """Create the topics that are missing; check the partition count of those that exist.

    Created topics get the process's replication factor (unless their spec names one) and its topic
    configs (``min.insync.replicas``); a spec's own configs win.
    Returns, for each spec, whether it was created now or already existed.
    Raises :class:`TopicError` when a topic exists with another partition count or cannot be created.
    """
    wanted = {spec.name: spec for spec in specs}
    if not wanted:
        return {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms, **client_options())
    await admin.start()
    try:
        existing = await _partition_counts(admin, list(wanted))
        missing = [spec for name, spec in wanted.items() if name not in existing]
        outcome: dict[str, Literal["created", "exists"]] = {name: "exists" for name in existing}
        if missing:
            cluster = cluster_settings()
            response = await admin.create_topics(
                [
                    NewTopic(
                        spec.name,
                        spec.partitions,
                        spec.replication_factor or cluster.replication_factor,
                        topic_configs={**cluster.topic_config(), **spec.config},
                    )
                    for spec in missing
                ],
                timeout_ms=timeout_ms,
            )
            for name, code, message in _topic_errors(response):
                if code == _TOPIC_EXISTS:  # created concurrently by another worker: check its shape below
                    existing.update(await _partition_counts(admin, [name]))
                    outcome[name] = "exists"
                elif code:
                    raise TopicError(f"could not create topic {name!r}: error {code} {message or ''}".strip())
                else:
                    outcome[name] = "created"
        for name, count in existing.items():
            spec = wanted[name]
            if count != spec.partitions:
                raise TopicError(
                    f"topic {name!r} exists with {count} partitions but {spec.partitions} are required;"
                    " co-partitioned tables would break. Recreate the topic or change the config."
                )
        return outcome
    except KafkaError as exc:
        raise TopicError(f"topic administration on {bootstrap} failed: {exc}") from exc
    finally:
        await admin.close()


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str] | None) -> dict[str, int]:
    # Describe only topics that are listed as existing: a Metadata request naming an unknown topic
    # may auto-create it with the broker's default partition count (the embedded broker does).
    listed = set(await admin.list_topics())
    names = sorted(listed) if names is None else [name for name in names if name in listed]
    if not names:
        return {}
    counts: dict[str, int] = {}
    for topic in await admin.describe_topics(names):
        if topic["error_code"] == _UNKNOWN_TOPIC:
            continue
        if topic["error_code"]:
            raise TopicError(f"could not describe topic {topic['topic']!r}: error {topic['error_code']}")
        counts[topic["topic"]] = len(topic["partitions"])
    return counts


def _topic_errors(response: object) -> list[tuple[str, int, str | None]]:
    """(topic, error code, message) from any CreateTopics response version."""
    errors = getattr(response, "topic_errors", [])
    result: list[tuple[str, int, str | None]] = []
    for entry in errors:
        name, code = entry[0], entry[1]
        message = entry[2] if len(entry) > 2 else None
        result.append((name, code, message))
    return result
