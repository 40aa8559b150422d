"""Dead letters of a workflow: read and filter them, and redrive them into the pipeline after a fix.

``dlq.<wf>`` is an append-only log of ``fluentsync.dlq.DeadLetter``: one letter per failure, each with
the stage, the reason, the field-level errors and the original record. Reading it needs only the broker.

A **redrive** re-publishes the original records of chosen letters onto ``records.<wf>`` as
``RecordBatch`` messages, so the records agent applies the *current* mapping, rules and dedupe baseline
and sends them to Fluent - "after a mapping or data fix". Per stage:

- ``MAP``, ``VALIDATE``, ``FLUENT`` (and any other letter that carries the record and its key): redriven
  onto the record key's partition of ``records.<wf>`` (same partitioning as the connector, so the key's
  baseline and order hold). A FLUENT letter carries ``{"record": ..., "payload": ...}``; the record is
  re-mapped, not the old payload resent.
- ``PARSE``: not redrivable: the parser never produced a record (only a raw snippet), and a record
  without its key has no partition or baseline. Fix the source file and drop it into the inbox again.

Every redriven batch carries ``redrive`` (the letter each record came from, its attempt and every
failure so far). The records agent therefore (1) dead-letters a record that fails again with
``attempt + 1`` and that history, and (2) publishes no ``BatchOutcome`` for the batch: the record is no
longer part of its file's run, whose ledger and report stay as they were settled.

If several chosen letters are about the same record (a first failure and the failure of an earlier
redrive), only the latest attempt is redriven. Caveat: a redrive sends the record as it was; if a newer
version of the key reached Fluent meanwhile, the redrive overwrites it - redrive recent letters.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fluentsync.schemas.codec import AvroCodec, default_codec
from fluentsync.streams.config import PipelineConfig
from fluentsync.streams.kafka.connection import client_options
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.partitioning import partition_function
from fluentsync.streams.operations.positions import log_bounds
from fluentsync.streams.operations.reading import read_ranges

__all__ = [
    "LetterFilter",
    "RedrivePlan",
    "find_letter",
    "original_record",
    "parse_since",
    "plan_redrive",
    "publish_redrive",
    "read_letters",
]

BATCH_RECORDS = 500  #: records per redriven RecordBatch
_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``--since``: an ISO 8601 time (UTC unless it says otherwise) or an age such as ``30m``, ``2h``, ``7d``."""
    value = text.strip()
    match = _RELATIVE.match(value.lower())
    if match:
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {text!r}; use ISO 8601 (2026-12-01T10:00:00Z) or an age (30m, 2h, 7d)") \
            from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class LetterFilter:
    """Which letters a command is about; every condition that is set must hold."""

    stages: tuple[str, ...] = ()
    reason: str | None = None  #: case-insensitive substring of the reason
    since: datetime | None = None
    ids: tuple[str, ...] = ()  #: dead-letter ids or unique prefixes of them

    def __call__(self, letter: dict[str, Any]) -> bool:
        if self.stages and letter["stage"] not in {s.upper() for s in self.stages}:
            return False
        if self.reason and self.reason.lower() not in letter["reason"].lower():
            return False
        if self.since is not None and letter["occurred_at"] < self.since:
            return False
        return not self.ids or any(letter["dead_letter_id"].startswith(i) for i in self.ids)


async def read_letters(bootstrap: str, config: PipelineConfig, workflow: str,
                       codec: AvroCodec | None = None) -> list[dict[str, Any]]:
    """Every dead letter of ``workflow`` up to now, oldest first (each with ``_partition``/``_offset``)."""
    codec = codec or default_codec()
    topic = WorkflowTopics.of(workflow, config.kafka.topic_prefix).dlq
    bounds = await log_bounds(bootstrap, topic, config.kafka.partitions)
    letters: list[dict[str, Any]] = []
    async for message in read_ranges(bootstrap, topic, bounds):
        letter = codec.decode(message.value or b"")
        letter["_partition"], letter["_offset"] = message.partition, message.offset
        letters.append(letter)
    return sorted(letters, key=lambda letter: letter["occurred_at"])


def find_letter(letters: Sequence[dict[str, Any]], prefix: str) -> dict[str, Any]:
    """The one letter whose id starts with ``prefix``; :class:`LookupError` if none or several."""
    found = [letter for letter in letters if letter["dead_letter_id"].startswith(prefix)]
    ids = {letter["dead_letter_id"] for letter in found}
    if not found:
        raise LookupError(f"no dead letter with id {prefix!r}")
    if len(ids) > 1:
        raise LookupError(f"{len(ids)} dead letters start with {prefix!r}: give more of the id")
    return found[-1]  # a duplicate (same id after a crash) is the same letter


def original_record(letter: dict[str, Any]) -> dict[str, Any] | None:
    """The record as parsed, unwrapped from a FLUENT letter's ``{"record", "payload"}``; None if absent."""
    if letter.get("record") is None:
        return None
    value = json.loads(letter["record"])
    if letter["stage"] == "FLUENT" and isinstance(value, dict) and set(value) == {"record", "payload"}:
        value = value["record"]
    return value if isinstance(value, dict) else None


@dataclass
class RedrivePlan:
    redrive_id: str
    batches: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  #: (partition, RecordBatch)
    redriven: list[dict[str, Any]] = field(default_factory=list)  #: letters whose records are redriven
    refused: list[tuple[dict[str, Any], str]] = field(default_factory=list)  #: (letter, why not)
    superseded: list[dict[str, Any]] = field(default_factory=list)  #: older attempts of a redriven record

    @property
    def records(self) -> int:
        return len(self.redriven)


def _why_not(letter: dict[str, Any]) -> str | None:
    if letter["stage"] == "PARSE":
        return "PARSE: the parser produced no record; fix the source file and drop it into the inbox again"
    if not letter.get("record_key"):
        return "no record key: fix the source file and drop it into the inbox again"
    if original_record(letter) is None or letter.get("provenance") is None:
        return "the letter does not carry the original record"
    return None


def plan_redrive(config: PipelineConfig, workflow: str, letters: Iterable[dict[str, Any]],
                 now: datetime | None = None, redrive_id: str | None = None) -> RedrivePlan:
    """The ``RecordBatch`` messages that redrive ``letters`` (see the module docstring for the rules)."""
    plan = RedrivePlan(redrive_id or uuid.uuid4().hex[:12])
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for letter in letters:
        why = _why_not(letter)
        if why is not None:
            plan.refused.append((letter, why))
            continue
        provenance = letter["provenance"]
        identity = (provenance.get("file_id") or provenance["source_uri"], int(provenance["record_index"]))
        previous = latest.get(identity)
        if previous is None or (letter["attempt"], letter["occurred_at"]) >= (previous["attempt"],
                                                                               previous["occurred_at"]):
            if previous is not None:
                plan.superseded.append(previous)
            latest[identity] = letter
        else:
            plan.superseded.append(letter)
    partition_of = partition_function(config.kafka.partitioning)
    groups: dict[tuple[int, str, str], list[dict[str, Any]]] = {}
    for (file_id, _), letter in latest.items():
        partition = partition_of(letter["record_key"].encode(), config.kafka.partitions)
        groups.setdefault((partition, file_id, letter["provenance"]["chunk_id"]), []).append(letter)
    stamp = now or datetime.now(UTC)
    for (partition, _, _), group in sorted(groups.items()):
        group.sort(key=lambda letter: int(letter["provenance"]["record_index"]))
        for i in range(0, len(group), BATCH_RECORDS):
            chunk = group[i:i + BATCH_RECORDS]
            plan.batches.append((partition, _batch(workflow, plan.redrive_id, chunk, stamp)))
            plan.redriven.extend(chunk)
    return plan


def _column(values: list[int | None]) -> list[int]:
    return [] if all(v is None for v in values) else [-1 if v is None else v for v in values]


def _batch(workflow: str, redrive_id: str, letters: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    first = letters[0]["provenance"]
    file_id = first.get("file_id") or first["source_uri"]
    provenances = [letter["provenance"] for letter in letters]
    return {
        "batch_id": f"redrive:{redrive_id}:{file_id}#{provenances[0]['record_index']}",
        "workflow": workflow, "source_uri": first["source_uri"], "file": first.get("file"),
        "file_id": first.get("file_id"), "etag": first.get("etag"), "version_id": first.get("version_id"),
        "last_modified": first.get("last_modified"), "run_id": f"redrive-{redrive_id}",
        "item_path": first.get("item_path"), "chunk_id": first["chunk_id"],
        "record_keys": [letter["record_key"] for letter in letters],
        "record_indexes": [int(p["record_index"]) for p in provenances],
        "lines": _column([p.get("line") for p in provenances]),
        "byte_offsets": _column([p.get("byte_offset") for p in provenances]),
        "row_numbers": _column([p.get("row_number") for p in provenances]),
        "documents": [json.dumps(original_record(letter), ensure_ascii=False) for letter in letters],
        "redrive": {"redrive_id": redrive_id, "records": [{
            "record_index": int(letter["provenance"]["record_index"]),
            "dead_letter_id": letter["dead_letter_id"], "attempt": int(letter["attempt"]),
            "history": [*letter.get("history", []), {"stage": letter["stage"], "reason": letter["reason"],
                                                     "occurred_at": letter["occurred_at"]}],
        } for letter in letters]},
        "published_at": now,
    }


async def publish_redrive(bootstrap: str, config: PipelineConfig, workflow: str, plan: RedrivePlan,
                          codec: AvroCodec | None = None) -> None:
    """Publish the plan's batches onto ``records.<wf>`` and wait until the broker has them all."""
    import asyncio

    from aiokafka import AIOKafkaProducer

    codec = codec or default_codec()
    topic = WorkflowTopics.of(workflow, config.kafka.topic_prefix).records
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **client_options())
    await producer.start()
    try:
        futures = [await producer.send(topic, codec.encode("fluentsync.records.RecordBatch", batch, topic=topic),
                                       key=batch["record_keys"][0].encode(), partition=partition)
                   for partition, batch in plan.batches]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
