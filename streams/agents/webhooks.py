"""The webhooks agent: verified raw webhooks in, records (or outbound Fluent events) out, each once.

The receiver (``connectors/webhooks/receiver.py``) publishes every verified request as a
``WebhookEvent`` on ``webhooks.<wf>``, keyed by event id, before the sender gets its 2xx. This agent
consumes that topic and:

- drops an event id it has already handled within ``dedupe_ttl`` (the ``seen-webhooks-<wf>`` table,
  changelog-backed and co-partitioned with the topic): a sender's retry that reached another receiver
  replica, or arrived after a restart, is applied once;
- ``deliver: records`` - treats the body as a one-request "file" (source ``webhook``, path = event id,
  version = body SHA-256) and publishes it with the same publisher as files: ``RecordBatch`` messages on
  ``records.<wf>``, PARSE dead letters, ``FileEvent COMPLETED`` (no STARTED: nobody watches a webhook
  start). The common case - every record parsed, one partition, one batch - skips even COMPLETED and the
  ledger: the batch is marked ``whole_file`` and the records agent publishes its ``RunReport`` itself
  (measured: about half the Kafka messages and worker CPU per webhook). From there the records agent maps,
  validates, dedupes and sends it, and the ledger settles it and writes a ``RunReport`` - so every
  webhook record ends in exactly one outcome and ``fluentsync reports`` lists webhooks like files;
- ``deliver: fluent_events`` - publishes a ``fluentsync.outbound.FluentEvent`` to the outbound topic,
  keyed by root entity (the public contract other services consume).

The event id is marked seen only after everything it produced is acknowledged by the broker; a crash
in between redelivers the raw event, which republishes identical, deterministic batches (at least once,
made harmless downstream). Expired ids are deleted (tombstones in the changelog) by a sweep that runs
on the partition's own events, because Faust writes a table key's changelog from the current event.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import faust

from fluentsync.connectors.ingest.keys import RecordKeyBuilder
from fluentsync.connectors.ingest.publisher import FilePublisher
from fluentsync.connectors.parsers.records import FileParseError, Record
from fluentsync.connectors.sources.base import FileRef
from fluentsync.connectors.webhooks.bodies import body_records
from fluentsync.connectors.webhooks.settings import WebhookSourceConfig
from fluentsync.schemas.codec import AvroCodec, default_codec
from fluentsync.schemas.faust_codec import avro_schema
from fluentsync.streams.app import table_options
from fluentsync.streams.config import KafkaConfig, WorkflowConfig
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.partitioning import Strategy, partition_function
from fluentsync.streams.observability.logs import correlate
from fluentsync.streams.observability.metrics import metrics_of

__all__ = ["WebhooksRuntime", "fluent_event", "register", "root_key", "webhook_ref"]

log = logging.getLogger(__name__)

_SWEEP_EVERY = 600.0  #: seconds between sweeps of expired ids, per partition
WEBHOOK_ACTORS = 8  #: webhooks processed at once per worker (each mostly waits for the broker)


def webhook_ref(workflow: str, event: dict[str, Any]) -> FileRef:
    """The "file" a webhook is for the ledger: one per event id and body."""
    received = event["received_at"]
    return FileRef(source="webhook", location=workflow, path=event["event_id"], version=event["body_sha256"],
                   size=len(event["body"]), last_modified=received)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def root_key(payload: dict[str, Any], event_id: str) -> bytes:
    """``[rootEntityType, rootEntityRef]`` (else the entity, else the event id) as a JSON array."""
    for kind, ref in (("rootEntityType", "rootEntityRef"), ("entityType", "entityRef")):
        if _text(payload.get(ref)):
            return json.dumps([_text(payload.get(kind)), _text(payload.get(ref))], separators=(",", ":")).encode()
    return json.dumps([None, event_id], separators=(",", ":")).encode()


def fluent_event(workflow: str, event: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """The outbound ``FluentEvent`` (and its key) for a verified raw webhook carrying Fluent's JSON."""
    payload = json.loads(event["body"])
    if not isinstance(payload, dict):
        raise ValueError("a Fluent event body must be a JSON object")
    attributes = payload.get("attributes")
    value = {
        "event_id": event["event_id"], "name": _text(payload.get("name")), "type": _text(payload.get("type")),
        "account_id": _text(payload.get("accountId")), "retailer_id": _text(payload.get("retailerId")),
        "entity_type": _text(payload.get("entityType")), "entity_subtype": _text(payload.get("entitySubtype")),
        "entity_id": _text(payload.get("entityId")), "entity_ref": _text(payload.get("entityRef")),
        "entity_status": _text(payload.get("entityStatus")),
        "root_entity_type": _text(payload.get("rootEntityType")),
        "root_entity_id": _text(payload.get("rootEntityId")), "root_entity_ref": _text(payload.get("rootEntityRef")),
        "attributes": None if attributes is None else json.dumps(attributes, separators=(",", ":")),
        "payload": event["body"].decode("utf-8"), "verified_alg": event.get("verified_alg") or "unknown",
        "source_workflow": workflow, "received_at": event["received_at"],
    }
    return root_key(payload, event["event_id"]), value


async def _one_group(records: list[Record]) -> AsyncIterator[Sequence[Record]]:
    yield records


@dataclass
class WebhooksRuntime:
    """One webhook workflow's agent state inside one worker."""

    name: str
    config: WorkflowConfig
    source: WebhookSourceConfig
    topics: WorkflowTopics
    partitions: int
    app: faust.App
    publisher: FilePublisher
    outbound_topic: str
    seen: Any = None
    codec: AvroCodec = field(default_factory=default_codec)
    clock: Any = time.time
    counts: dict[str, int] = field(default_factory=dict)
    partitioning: Strategy = "crc32"
    _swept: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.keys = RecordKeyBuilder(self.config.key) if self.config.key else None
        self._partition_of = partition_function(self.partitioning)

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    async def on_webhook(self, key: bytes, event: dict[str, Any], partition: int | None = None) -> None:
        ident = event["event_id"].encode()
        now = self.clock()
        seen_at = self.seen.get(ident)
        if seen_at is not None and now - seen_at / 1000.0 < self.source.dedupe_ttl:
            self._count("duplicate")
            log.info("workflow %s: webhook %s delivered before; applied once", self.name, event["event_id"])
        else:
            if self.source.deliver == "fluent_events":
                await self._to_outbound(event)
            else:
                await self._to_records(event)
            self.seen[ident] = int(event["received_at"].timestamp() * 1000)
            self._count("processed")
        if partition is not None:
            self._sweep(partition, now)

    async def _to_records(self, event: dict[str, Any]) -> None:
        assert self.keys is not None  # validated: record workflows name their key fields
        ref = webhook_ref(self.name, event)
        options = self.config.format
        try:
            records = list(body_records(event["body"], options))  # type: ignore[arg-type]
        except FileParseError as exc:  # the receiver parsed it; only a changed format gets here
            records = []
            log.error("workflow %s: webhook %s no longer parses (%s)", self.name, event["event_id"], exc)
        counts = await self.publisher.publish(ref, _one_group(records), self.keys,
                                              run_id=event.get("request_id") or event["event_id"][:64],
                                              item_path=getattr(options, "item_path", None), announce_start=False,
                                              settle_whole=True)
        metrics_of(self.app).file_published(self.name, counts)

    async def _to_outbound(self, event: dict[str, Any]) -> None:
        try:
            key, value = fluent_event(self.name, event)
        except (ValueError, UnicodeDecodeError) as exc:
            log.error("workflow %s: webhook %s is not a Fluent event (%s); not published",
                      self.name, event["event_id"], exc)
            self._count("not_a_fluent_event")
            return
        encoded = self.codec.encode("fluentsync.outbound.FluentEvent", value, topic=self.outbound_topic)
        partition = self._partition_of(key, self.partitions)
        future = await self.app.producer.send(self.outbound_topic, key, encoded, partition, None, None)
        await future

    def _sweep(self, partition: int, now: float) -> None:
        """Delete this partition's ids older than ``dedupe_ttl`` (runs inside one of its events)."""
        if now - self._swept.get(partition, 0.0) < min(_SWEEP_EVERY, self.source.dedupe_ttl):
            return
        self._swept[partition] = now
        cutoff_ms = (now - self.source.dedupe_ttl) * 1000
        expired = [k for k, at in self.seen.items()
                   if at < cutoff_ms and self._partition_of(k, self.partitions) == partition]
        for k in expired:
            del self.seen[k]
        if expired:
            log.info("workflow %s: forgot %d webhook ids older than %ss", self.name, len(expired),
                     self.source.dedupe_ttl)


def register(app: faust.App, name: str, config: WorkflowConfig, kafka: KafkaConfig,
             publisher: FilePublisher) -> WebhooksRuntime:
    """Attach the webhooks agent and its seen-ids table for one webhook workflow."""
    assert isinstance(config.source, WebhookSourceConfig)
    topics = WorkflowTopics.of(name, kafka.topic_prefix)
    runtime = WebhooksRuntime(name, config, config.source, topics, kafka.partitions, app, publisher,
                              outbound_topic=kafka.topic_prefix + config.source.outbound_topic,
                              partitioning=kafka.partitioning)
    runtime.seen = app.Table(f"seen-webhooks-{name}", key_type=bytes, value_type=int, partitions=kafka.partitions,
                             options=table_options())
    topic = app.topic(topics.webhooks, schema=avro_schema("fluentsync.webhooks.WebhookEvent"),
                      partitions=kafka.partitions)

    async def webhooks_agent(stream: Any) -> None:
        async for event in stream.events():
            value = event.value
            with correlate(workflow=name, event_id=value.get("event_id"), run_id=value.get("request_id")):
                await runtime.on_webhook(event.key, value, event.message.partition)

    webhooks_agent.__name__ = webhooks_agent.__qualname__ = f"webhooks_{name.replace('-', '_')}"
    # Each webhook waits for its broker acknowledgements before the next is taken; several actors keep
    # that round trip from capping the rate (measured: one actor queued requests at 200/s). Offsets are
    # still committed only up to the lowest unacknowledged event (at least once).
    app.agent(topic, name=f"webhooks-{name}", concurrency=WEBHOOK_ACTORS)(webhooks_agent)
    return runtime
