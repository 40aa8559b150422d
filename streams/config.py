"""The pipeline file: one YAML document that declares Kafka, and every workflow's source, format and key.

Secrets never live in the file: write ``${VAR}`` (or ``${VAR:-default}``) and the value comes from the
environment when the file is loaded; secret fields are :class:`~pydantic.SecretStr`, so they never show
in logs, reprs or validation errors. Unknown keys are errors (``extra="forbid"``): a typo never silently
falls back to a default. Later capabilities (mapping, Fluent targets, extractions) add their own
sections here.

Example::

    kafka: {bootstrap: embedded, partitions: 3}
    workflows:
      inventory:
        source: {type: s3, bucket: wms, prefix: inventory/incoming/, patterns: ["*.csv", "*.csv.gz"]}
        format: {type: csv}
        key: [skuRef, locationRef]
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from fluentsync.connectors.parsers.options import JsonOptions, ParserOptions, XmlOptions
from fluentsync.connectors.remote.settings import S3Connection, SftpConnection
from fluentsync.connectors.webhooks.settings import WebhookServerConfig, WebhookSourceConfig
from fluentsync.schemas.registry import SchemaRegistryConfig
from fluentsync.streams.exports.config import Sinks
from fluentsync.streams.extraction.config import Extractions, resolve_query_paths
from fluentsync.streams.kafka.connection import KafkaSecurity, check_cluster, resolve_security_paths
from fluentsync.streams.kafka.names import validate_workflow_id
from fluentsync.streams.observability.web import OpsConfig
from fluentsync.streams.sinks.events import EventSinkSettings
from fluentsync.streams.sinks.mutations import MutationSinkSettings
from fluentsync.streams.sinks.status import StatusPollSettings
from fluentsync.streams.validation.rules import RuleSet

__all__ = [
    "BatchTargetConfig",
    "ConfigError",
    "DedupeConfig",
    "EventTargetConfig",
    "FileSourceConfig",
    "FilesConfig",
    "FluentConfig",
    "GraphQLTargetConfig",
    "KafkaConfig",
    "LocalSourceConfig",
    "PipelineConfig",
    "PublishConfig",
    "S3NotificationsConfig",
    "S3SourceConfig",
    "SftpSourceConfig",
    "SnapshotConfig",
    "SourceConfig",
    "TargetConfig",
    "WorkflowConfig",
    "load_pipeline",
    "parse_pipeline",
]


class ConfigError(ValueError):
    """The pipeline file is invalid; the message names the file, the field path and the problem."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaConfig(_Model):
    bootstrap: str = "embedded"  #: ``embedded`` starts the embedded broker; else ``host:port[,host:port]``
    app_id: str = "fluentsync"  #: Faust app id: consumer group and table changelog prefix
    partitions: int = Field(default=3, ge=1, le=1000)  #: partitions of every workflow topic
    topic_prefix: str = ""
    partitioning: Literal["crc32", "murmur2"] = "crc32"
    #: ``auto``: work around the embedded broker's gaps when the broker is one (told by its cluster id)
    compat: Literal["auto", "kafka", "embedded"] = "auto"
    fetch_max_wait_ms: int = Field(default=20, ge=1, le=1500)
    """How long a worker's fetch may wait for data at the broker: the delay each agent hop can add when
    traffic is light (webhooks: 20 ms gives p50 ~20 ms end to end); higher saves idle fetches."""
    schema_registry: SchemaRegistryConfig | None = None
    """Write the Confluent wire format with ids from this registry (see fluentsync.schemas.registry);
    None: Avro single-object encoding, no registry. With it, readers decode both framings."""
    replication_factor: int = Field(default=1, ge=1, le=10)
    """Replicas of every topic fluentsync creates (its own and Faust's changelogs): 1 for the embedded or a
    single broker, 3 on a production cluster. Topics that already exist are not changed."""
    min_insync_replicas: int | None = Field(default=None, ge=1)
    """``min.insync.replicas`` of the topics fluentsync creates (writes use acks=all), typically 2 with 3
    replicas; None: the broker's default."""
    security: KafkaSecurity = KafkaSecurity()  #: TLS and SASL: see fluentsync.streams.kafka.connection

    @model_validator(mode="after")
    def _cluster(self) -> KafkaConfig:
        check_cluster(self.bootstrap, self.replication_factor, self.min_insync_replicas, self.security)
        return self


class _Discovery(_Model):
    prefix: str = ""  #: folder (S3 key prefix) of the inbox; one level is listed
    patterns: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    ignore: list[str] = Field(default_factory=list)
    case_sensitive: bool = False
    poll_interval: float = Field(default=10.0, gt=0)
    min_age: float = Field(default=0.0, ge=0)
    stable_listings: int | None = Field(default=None, ge=1)  #: None: 2 for SFTP/local (files grow in place), 1 for S3
    order: Literal["oldest", "newest", "name"] = "oldest"
    max_files_per_poll: int | None = Field(default=None, ge=1)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip()
        return value if not value or value.endswith("/") else value + "/"

    @model_validator(mode="before")
    @classmethod
    def _notifications(cls, data: Any) -> Any:
        # clearer than "extra inputs are not permitted" for a block only S3 sources understand
        if isinstance(data, dict) and "notifications" in data and "notifications" not in cls.model_fields:
            raise ValueError("`notifications` (S3 event notifications through SQS) needs an S3 source (type: s3)")
        return data


class LocalSourceConfig(_Discovery):
    type: Literal["local"] = "local"
    root: Path


class S3NotificationsConfig(_Model):
    """The bucket's S3 event notifications, delivered to an SQS queue (directly or through SNS): the
    discovery owner long-polls the queue and lists the inbox as soon as a matching file arrives (see
    :mod:`fluentsync.connectors.sources.notifications`). Polling goes on as the safety net: raise
    ``poll_interval`` (e.g. to 300) rather than turning it off. Credentials are the source's."""

    queue_url: str = Field(min_length=1)
    wait_seconds: int = Field(default=20, ge=1, le=20)  #: SQS long poll: how long one receive waits
    max_messages: int = Field(default=10, ge=1, le=10)  #: per receive (SQS allows 10)
    endpoint_url: str | None = None  #: SQS endpoint; default: the source's ``endpoint_url`` (moto, LocalStack)
    region: str | None = None  #: default: the region in an AWS queue URL, else the source's ``region``


class S3SourceConfig(S3Connection, _Discovery):
    """An inbox in a bucket; the connection fields are :class:`~fluentsync.connectors.remote.S3Connection`'s."""

    type: Literal["s3"] = "s3"
    use_version_id: bool = False
    notifications: S3NotificationsConfig | None = None  #: event notifications as a discovery trigger


class SftpSourceConfig(SftpConnection, _Discovery):
    """An inbox folder on an SFTP server; the connection fields are
    :class:`~fluentsync.connectors.remote.SftpConnection`'s."""

    type: Literal["sftp"] = "sftp"
    max_connections: int = Field(default=5, ge=1, le=50)


SourceConfig = Annotated[
    LocalSourceConfig | S3SourceConfig | SftpSourceConfig | WebhookSourceConfig, Field(discriminator="type")
]
FileSourceConfig = LocalSourceConfig | S3SourceConfig | SftpSourceConfig


class FilesConfig(_Model):
    """What happens to a file once every record has an outcome, and to new versions of a done file."""

    processed: str | None = None  #: archive prefix; default: ``processed/`` beside the inbox
    errors: str | None = None  #: error prefix; default: ``errors/`` beside the inbox
    date_folders: bool = False  #: archive under ``<prefix>/YYYY-MM-DD/``
    on_success: Literal["move", "delete", "leave"] = "move"
    on_failure: Literal["move", "leave"] = "move"
    on_changed_content: Literal["reprocess", "skip", "alert"] = "reprocess"


class PublishConfig(_Model):
    batch_records: int = Field(default=2000, ge=1, le=10_000)
    batch_bytes: int = Field(default=512 * 1024, ge=1024, le=8 * 1024 * 1024)
    max_in_flight: int = Field(default=32, ge=1, le=1024)
    chunk_size: int = Field(default=100_000, ge=1)


class FluentConfig(_Model):
    """The Fluent account (fluent-api.md §1). Unset fields come from ``FLUENT_*`` variables or a profile."""

    base_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    retailer_id: str | None = None
    profile: str | None = None
    max_retries: int | None = Field(default=None, ge=0, le=10)
    base_retry_delay: float | None = Field(default=None, ge=0.1, le=60)

    def settings_kwargs(self) -> dict[str, Any]:
        """The fields that were set, for :class:`~fluentsync.connectors.fluent.FluentSettings`."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class DedupeConfig(_Model):
    """Delta sync: a record whose mapped payload hashes like the baseline of its key is skipped (R21-R23)."""

    enabled: bool = True
    fields: list[str] | None = None  #: payload fields that count; None: the whole payload
    algorithm: Literal["sha256", "sha1", "md5"] = "sha256"
    version: str = "1"  #: bump after changing ``fields``: every record counts as changed once


class SnapshotConfig(_Model):
    """Each file is a full snapshot: keys it does not contain were deleted at the source.

    After a snapshot file settled, keys whose last snapshot is older than it get the ``delete_policy``:
    ``ignore``, ``alert`` (logged and counted), or ``soft_delete`` (an UPSERT of the key's identity fields
    with ``soft_delete`` values, e.g. status INACTIVE). A file with unparseable rows deletes nothing: a
    key may hide in the row that could not be read.
    """

    delete_policy: Literal["ignore", "soft_delete", "alert"] = "ignore"
    identity_fields: list[str] = Field(default_factory=lambda: ["skuRef", "locationRef"], min_length=1)
    soft_delete: dict[str, Any] = Field(default_factory=lambda: {"status": "INACTIVE", "qty": 0})


class _TargetBase(_Model):
    max_pending_records: int = Field(default=200_000, ge=1)
    """Records taken from Kafka and not yet handed over (acknowledged by Fluent, or settled); the agent
    waits above it (bounded memory). Records awaiting their batch status are in a table, not counted here."""
    max_send_rounds: int = Field(default=5, ge=1, le=100)
    """Records Fluent could not take (network, 5xx, 429 after the client's own retries) are resent this
    many rounds, with growing pauses, before they are dead-lettered (stage FLUENT) for a redrive."""


class BatchTargetConfig(_TargetBase):
    """The Batch API (inventory UPSERTs) through Fluent jobs (R30-R38, R48)."""

    api: Literal["batch"] = "batch"
    entity_type: str = "INVENTORY"
    job_strategy: Literal["daily", "per_file", "per_run", "long_running"] = "per_file"
    max_batch_size: int = Field(default=1000, ge=1, le=5000)
    linger: float = Field(default=2.0, gt=0)
    max_in_flight: int = Field(default=5, ge=1, le=100)
    job_meta: dict[str, str] = Field(default_factory=dict)
    await_status: bool = True
    """Wait for each batch's status (polled by a separate task, R38) before records count as accepted,
    so per-entity errors Fluent reports later become dead letters (R48). False: accepted on the 2xx."""
    status: StatusPollSettings = StatusPollSettings()


class EventTargetConfig(_TargetBase):
    """The Event API: one event per record, or many records in one event (``event.batch_field``)."""

    api: Literal["event"] = "event"
    event: EventSinkSettings


class GraphQLTargetConfig(_TargetBase):
    """GraphQL mutations with alias batching; ``mutation`` is a mutation-mapping config (JSON), relative to
    the pipeline file. It maps the parsed record itself, so the workflow's ``mapping`` must be unset."""

    api: Literal["graphql"] = "graphql"
    mutation: Path
    requests: MutationSinkSettings = MutationSinkSettings()


TargetConfig = Annotated[BatchTargetConfig | EventTargetConfig | GraphQLTargetConfig, Field(discriminator="api")]


class WorkflowConfig(_Model):
    source: SourceConfig
    format: ParserOptions
    key: list[str] = Field(default_factory=list, validate_default=True)
    """Record key fields; required except for ``deliver: fluent_events`` webhook workflows."""
    files: FilesConfig = FilesConfig()
    publish: PublishConfig = PublishConfig()
    mapping: Path | None = None  #: UniversalMapper JSON (relative to the pipeline file); None: records as-is
    rules: RuleSet = RuleSet()
    dedupe: DedupeConfig = DedupeConfig()
    snapshot: SnapshotConfig | None = None  #: files are full snapshots (delete detection); None: deltas
    target: TargetConfig | None = None
    """None: connector only - records are published to ``records.<wf>`` for other consumers, nothing is
    sent to Fluent, and files are archived only when something else announces SETTLED."""

    @field_validator("key")
    @classmethod
    def _key(cls, value: list[str], info: ValidationInfo) -> list[str]:
        source = info.data.get("source")
        if not value and not (isinstance(source, WebhookSourceConfig) and source.deliver == "fluent_events"):
            raise ValueError("name the record key fields (at least one)")
        return value

    @model_validator(mode="after")
    def _mapping_or_mutation(self) -> WorkflowConfig:
        if isinstance(self.target, GraphQLTargetConfig) and self.mapping is not None:
            raise ValueError("a graphql target maps records with its mutation config; remove `mapping`")
        if self.snapshot is not None and self.snapshot.delete_policy != "ignore" and not self.dedupe.enabled:
            raise ValueError("snapshot delete detection needs the dedupe baseline (dedupe.enabled: true)")
        if isinstance(self.source, WebhookSourceConfig):
            self._check_webhook(self.source)
        return self

    def _check_webhook(self, source: WebhookSourceConfig) -> None:
        if not isinstance(self.format, JsonOptions | XmlOptions):
            raise ValueError("a webhook workflow reads JSON or XML bodies: format.type must be json or xml")
        if self.snapshot is not None:
            raise ValueError("a webhook is not a snapshot of anything: remove `snapshot`")
        if source.deliver == "fluent_events":
            if not isinstance(self.format, JsonOptions) or self.format.item_path is not None:
                raise ValueError("deliver: fluent_events takes Fluent's JSON events: format {type: json}")
            if self.target is not None or self.mapping is not None:
                raise ValueError("deliver: fluent_events publishes to the outbound topic: remove `target`/`mapping`")

    @property
    def is_webhook(self) -> bool:
        return isinstance(self.source, WebhookSourceConfig)

    def archive_prefix(self, outcome: Literal["processed", "errors"]) -> str:
        configured = self.files.processed if outcome == "processed" else self.files.errors
        if configured is not None:
            return configured if configured.endswith("/") else configured + "/"
        prefix = "" if isinstance(self.source, WebhookSourceConfig) else self.source.prefix
        parent = posixpath.dirname(prefix.rstrip("/"))
        return f"{parent}/{outcome}/" if parent else f"{outcome}/"

    def stable_listings(self) -> int:
        if isinstance(self.source, WebhookSourceConfig):
            return 1
        if self.source.stable_listings is not None:
            return self.source.stable_listings
        return 1 if self.source.type == "s3" else 2


class PipelineConfig(_Model):
    kafka: KafkaConfig = KafkaConfig()
    fluent: FluentConfig = FluentConfig()
    workflows: dict[str, WorkflowConfig] = Field(default_factory=dict)
    extractions: Extractions = Field(default_factory=dict)  #: see fluentsync.streams.extraction.config
    sinks: Sinks = Field(default_factory=dict)  #: outbound topics into files; see fluentsync.streams.exports.config
    webhooks: WebhookServerConfig = WebhookServerConfig()  #: where the webhook receiver listens
    ops: OpsConfig = OpsConfig()  #: the worker's health, metrics and status endpoints

    @field_validator("workflows")
    @classmethod
    def _names(cls, value: dict[str, WorkflowConfig]) -> dict[str, WorkflowConfig]:
        for name in value:
            validate_workflow_id(name)
        return value


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(value: Any, where: str, missing: list[str]) -> Any:
    if isinstance(value, str):
        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            missing.append(f"{where}: ${{{name}}}")
            return ""

        return _VAR.sub(replace, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, f"{where}.{k}" if where else str(k), missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{where}[{i}]", missing) for i, v in enumerate(value)]
    return value


def parse_pipeline(document: Any, origin: str = "<pipeline>", base_dir: Path | None = None) -> PipelineConfig:
    """Validate an already-loaded YAML document (after ``${VAR}`` interpolation).

    Relative mapping paths are resolved against ``base_dir`` (the pipeline file's folder)."""
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(f"{origin}: the pipeline file must be a mapping, got {type(document).__name__}")
    missing: list[str] = []
    document = _interpolate(document, "", missing)
    if missing:
        raise ConfigError(f"{origin}: environment variables not set: " + "; ".join(missing))
    if base_dir is not None:
        for workflow in (document.get("workflows") or {}).values():
            if isinstance(workflow, dict) and isinstance(workflow.get("mapping"), str):
                workflow["mapping"] = str(base_dir / workflow["mapping"])
            target = workflow.get("target") if isinstance(workflow, dict) else None
            if isinstance(target, dict) and isinstance(target.get("mutation"), str):
                target["mutation"] = str(base_dir / target["mutation"])
        resolve_query_paths(document, base_dir)
        resolve_security_paths(document, base_dir)
    try:
        return PipelineConfig.model_validate(document)
    except ValidationError as exc:
        lines = [f"{origin}: {exc.error_count()} problem(s) in the pipeline file:"]
        for error in exc.errors(include_url=False, include_input=False):
            path = ".".join(str(part) for part in error["loc"])
            lines.append(f"  - {path}: {error['msg']}")
        raise ConfigError("\n".join(lines)) from None


def load_pipeline(path: str | Path) -> PipelineConfig:
    """Read, interpolate and validate a pipeline YAML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read pipeline file {path}: {exc.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_pipeline(document, str(path), path.parent)
