"""Which wire format this process writes: subject naming strategies and the process-wide codec switch.

Every producer in fluentsync encodes through :func:`~fluentsync.schemas.codec.default_codec` (unless a
test hands it a codec), so switching the wire format is one call at process start,
``configure_codec(pipeline.kafka.schema_registry)``, made by the worker (``build_app``; before it,
``prepare`` calls :func:`prepare_registry`, which also registers the workflows' schemas) and by the CLI
commands that load a pipeline file. It changes the default codec's framing *in place*: agents, Faust
serializers and tails that took the codec earlier follow. ``None`` (no registry configured) puts
single-object encoding back, so in-process tests that never configure a registry keep the old bytes.

Subject naming strategies (Confluent's, for record values; fluentsync's keys are raw bytes):

- ``topic_name``: ``<topic>-value``. One subject per topic, so the compatibility check covers the
  topic's whole history; every fluentsync topic carries a single record type, so this fits them all.
- ``record_name``: the record's full name (``fluentsync.records.RecordBatch``), shared by every topic
  that carries it (all workflows' ``records.*`` topics evolve together).
- ``topic_record_name``: ``<topic>-<record full name>``: several record types per topic, each checked
  on its own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from fluentsync.schemas.codec import (
    AvroCodec,
    ConfluentFraming,
    SingleObjectFraming,
    SubjectNamer,
    default_codec,
    record_name_subject,
)
from fluentsync.schemas.registry import (
    SchemaNotRegisteredError,
    SchemaRegistryClient,
    SchemaRegistryConfig,
    SchemaRegistryError,
    SubjectStrategy,
)
from fluentsync.schemas.repository import SchemaInfo

__all__ = [
    "WORKFLOW_TOPIC_SCHEMAS",
    "SubjectStrategyError",
    "configure_codec",
    "prepare_registry",
    "subject_name",
    "subject_namer",
]

_lock = threading.Lock()


class SubjectStrategyError(SchemaRegistryError):
    """A topic-based subject strategy was asked for a subject without the topic (a programming error)."""


def subject_name(strategy: SubjectStrategy, topic: str | None, record_name: str, *, key: bool = False) -> str:
    """The registry subject for a record of ``record_name`` written to ``topic``."""
    if strategy == "record_name":
        return record_name
    if topic is None:
        raise SubjectStrategyError(
            f"subject strategy {strategy} needs the topic: encode {record_name} with"
            " codec.encode(schema, datum, topic=...)")
    if strategy == "topic_name":
        return f"{topic}-{'key' if key else 'value'}"
    return f"{topic}-{record_name}"


def subject_namer(strategy: SubjectStrategy) -> SubjectNamer:
    """The codec's subject function for a strategy (values)."""
    if strategy == "record_name":
        return record_name_subject

    def name(info: SchemaInfo, topic: str | None) -> str:
        return subject_name(strategy, topic, info.name)

    return name


def configure_codec(config: SchemaRegistryConfig | None, codec: AvroCodec | None = None) -> AvroCodec:
    """Switch ``codec`` (default: the process-wide one) to what the pipeline's ``kafka.schema_registry``
    says: the Confluent wire format over that registry, or single-object encoding when it is None.

    Idempotent: the same configuration keeps the current client and its caches, so calling it from
    every entry point (worker, CLI commands) costs nothing. No request is made here; the registry is
    first asked when the first record is written or a Confluent-framed record is read."""
    codec = codec or default_codec()
    with _lock:
        current = codec.framing
        registry = current.registry if isinstance(current, ConfluentFraming) else None
        if isinstance(registry, SchemaRegistryClient) and registry.config == config:
            return codec
        if config is None:
            if isinstance(current, SingleObjectFraming):
                return codec
            codec.framing = SingleObjectFraming(codec.repository)
        else:
            client = SchemaRegistryClient.from_config(config)
            codec.framing = ConfluentFraming(codec.repository, client, subject_namer(config.subject_strategy))
        if isinstance(registry, SchemaRegistryClient):
            registry.close()
        return codec


#: The record type of each per-workflow topic (attributes of ``fluentsync.streams.kafka.names.WorkflowTopics``).
WORKFLOW_TOPIC_SCHEMAS = {
    "records": "fluentsync.records.RecordBatch", "files": "fluentsync.files.FileEvent",
    "dlq": "fluentsync.dlq.DeadLetter", "ledger": "fluentsync.ledger.BatchOutcome",
    "reports": "fluentsync.reports.RunReport",
}


def prepare_registry(config: SchemaRegistryConfig, workflow_topics: Iterable[object]) -> list[str]:
    """At worker start: configure the process codec, check the registry answers, and get the ids of the
    workflows' record types now (registering them, or only looking them up with ``auto_register: false``).

    Why at start: a wrong URL, wrong credentials, an incompatible schema or a missing registration then
    stop the worker before it takes work, instead of the first dead letter hours later; and no record
    waits for the registry. Missing registrations are reported together. Returns the subjects."""
    codec = configure_codec(config)
    framing = codec.framing
    assert isinstance(framing, ConfluentFraming) and isinstance(framing.registry, SchemaRegistryClient)
    framing.registry.compatibility()  # reachable, credentials accepted (also with no workflow at all)
    subjects, missing = [], []
    for topics in workflow_topics:
        for attribute, schema in WORKFLOW_TOPIC_SCHEMAS.items():
            info, topic = codec.repository.get(schema), getattr(topics, attribute)
            try:
                framing.header(info, topic)
            except SchemaNotRegisteredError as exc:
                missing.append(str(exc))
            subjects.append(framing.subject(info, topic))
    if missing:
        raise SchemaNotRegisteredError(f"{len(missing)} schema(s) not registered: " + " | ".join(missing))
    return subjects
