"""What a sink reports on Kafka: a ``SinkFile`` event per committed file, a dead letter per refused record.

Both go out (and are acknowledged, ``acks=all``) *before* the sink commits the records' offsets, so a
crash never loses one: after a restart the file is rewritten under the same name and reported again
(at-least-once; readers dedupe file events on ``uri``), and a refused record is refused and
dead-lettered again.

- ``<prefix>sinks.<name>``: ``fluentsync.sinks.SinkFile``, keyed by run id (the sink name when the
  records carry no run), one partition: the sink's file history in commit order. Summing a run's events
  gives R60's completion details (records, file names, sizes).
- ``<prefix>sinks.<name>.dlq``: ``fluentsync.dlq.DeadLetter`` (stage ``SINK``, ``workflow`` = the sink
  name): records the format cannot encode (e.g. a CSV column the header lacks) and values that are not
  Avro the codec can read. The record is skipped, never silently.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from fluentsync.connectors.filesinks import CommittedFile
from fluentsync.schemas.codec import AvroCodec

__all__ = ["DEAD_LETTER_SCHEMA", "SINK_FILE_SCHEMA", "Reporter"]

SINK_FILE_SCHEMA = "fluentsync.sinks.SinkFile"
DEAD_LETTER_SCHEMA = "fluentsync.dlq.DeadLetter"
_RAW_LIMIT = 64 * 1024


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


class Reporter:
    """Publishes file events and dead letters of one sink with a shared producer."""

    def __init__(self, producer: AIOKafkaProducer, codec: AvroCodec, *, sink: str, topic: str, fmt: str,
                 files_topic: str | None, dlq_topic: str) -> None:
        self.producer, self.codec = producer, codec
        self.sink, self.topic, self.format = sink, topic, fmt
        self.files_topic, self.dlq_topic = files_topic, dlq_topic

    async def files(self, files: list[tuple[CommittedFile, str | None, str | None]]) -> None:
        """One event per ``(file, extraction, run id)``, all acknowledged before returning."""
        if self.files_topic is None or not files:
            return
        now = datetime.now(UTC)
        futures = []
        for file, extraction, run_id in files:
            value = self.codec.encode(SINK_FILE_SCHEMA, topic=self.files_topic, datum={
                "sink": self.sink, "topic": self.topic, "extraction": extraction, "run_id": run_id,
                "name": file.name, "uri": file.uri, "format": self.format, "partition": file.partition,
                "first_offset": file.first_offset, "last_offset": file.last_offset, "records": file.records,
                "size": file.size, "committed_at": now})
            futures.append(await self.producer.send(self.files_topic, value, key=(run_id or self.sink).encode()))
        for future in futures:
            await future

    async def dead_letter(self, reason: str, *, partition: int, offset: int, key: bytes | None,
                          record: Any = None, raw: bytes | None = None) -> None:
        """A refused record (decoded as ``record`` when it could be, else ``raw`` bytes, truncated)."""
        value = self.codec.encode(DEAD_LETTER_SCHEMA, topic=self.dlq_topic, datum={
            "dead_letter_id": str(uuid.uuid4()), "workflow": self.sink, "stage": "SINK",
            "reason": f"{self.topic}[{partition}]@{offset}: {reason}"[:2000],
            "errors": [{"stage": "SINK", "field": None, "message": reason[:2000], "value": None,
                        "severity": "ERROR", "code": None}],
            "record_key": None if key is None else json.dumps([key.decode("utf-8", "replace")]),
            "record": None if record is None else json.dumps(record, default=_json_default),
            "raw": None if raw is None else raw[:_RAW_LIMIT],
            "provenance": None, "attempt": 1, "history": [], "occurred_at": datetime.now(UTC)})
        await (await self.producer.send(self.dlq_topic, value, key=key))
