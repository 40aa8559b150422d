"""The ``sinks:`` section of the pipeline file: one :class:`ExportConfig` per file export.

Example::

    sinks:
      orders-csv:
        extraction: orders            # or topic: <any outbound topic>, e.g. outbound.fluent-events
        path: "orders/{yyyy}/{mm}/{dd}/orders-{run}-{part}.{ext}"
        format: {type: csv, arrays: explode, explode: items}
        rolling: {max_records: 100000, max_age: 60}
        destination: {type: s3, bucket: exports, prefix: fluent/}
        roll_on_run_end: true         # default

Choices written down here:

- :class:`ExportConfig` *is* a :class:`~fluentsync.connectors.filesinks.FileSinkConfig` (a subclass) plus
  where the records come from, so the YAML stays flat (``path``, ``format``, ``rolling``,
  ``destination`` beside ``extraction``) and every file-sink option and validation is the library's, not
  a copy that could drift.
- ``extraction`` names an extraction of the same pipeline: its topic is the extraction's own topic
  resolution (``<kafka.topic_prefix>outbound.<name>`` or its explicit ``topic``), and its typed schema
  gives the CSV/Parquet columns. ``topic`` is any topic, verbatim (no prefix added), read with
  ``avro_schema`` when given, else with the writer schema of the first record consumed.
- A sink name becomes a consumer group (``<kafka.app_id>-sink-<name>``) and topic names
  (``sinks.<name>``), so it is checked like a workflow id; an unknown ``extraction`` fails the pipeline
  file at load time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, Field, ValidationInfo, model_validator

from fluentsync.connectors.filesinks.settings import FileSinkConfig
from fluentsync.streams.kafka.names import validate_workflow_id

if TYPE_CHECKING:
    from fluentsync.streams.config import PipelineConfig

__all__ = ["ExportConfig", "SinkSource", "SinkTopics", "Sinks", "resolve_source"]


class ExportConfig(FileSinkConfig):
    """One outbound topic into files: the file sink's options plus the source and run handling."""

    extraction: str | None = None  #: an extraction of this pipeline: its topic and its typed schema
    topic: str | None = None  #: or any topic, verbatim
    #: full name of the values' Avro schema (CSV columns, Parquet schema); default: the extraction's,
    #: else the writer schema of the first record
    avro_schema: str | None = None
    #: flush a partition's file when the sink has consumed an extraction run's end offset there, so the
    #: run's last file appears without waiting for ``rolling.max_age``
    roll_on_run_end: bool = True
    #: publish a ``fluentsync.sinks.SinkFile`` event per committed file on ``<prefix>sinks.<name>``
    file_events: bool = True
    tick_interval: float = Field(default=2.0, gt=0, le=60)  #: seconds between age checks (``max_age``)
    max_poll_records: int = Field(default=2000, ge=1, le=100_000)  #: records per fetch

    @model_validator(mode="after")
    def _one_source(self) -> ExportConfig:
        if (self.extraction is None) == (self.topic is None):
            raise ValueError("set exactly one of `extraction` (an extraction's name) or `topic`")
        return self


@dataclass(frozen=True)
class SinkTopics:
    """The topics a sink writes: file events and dead letters (records that could not be written)."""

    files: str
    dlq: str

    @classmethod
    def of(cls, name: str, prefix: str = "") -> SinkTopics:
        return cls(f"{prefix}sinks.{name}", f"{prefix}sinks.{name}.dlq")


@dataclass(frozen=True)
class SinkSource:
    """Where a sink reads: the topic, the schema name of its values (None: the first record's writer
    schema) and the extraction whose runs delimit it (None: a topic without runs)."""

    topic: str
    schema: str | None
    extraction: str | None


def resolve_source(name: str, config: ExportConfig, pipeline: PipelineConfig) -> SinkSource:
    """The topic and schema of sink ``name`` within ``pipeline``."""
    prefix = pipeline.kafka.topic_prefix
    if config.extraction is not None:
        extraction = pipeline.extractions.get(config.extraction)
        if extraction is None:
            raise ValueError(f"sink {name!r}: unknown extraction {config.extraction!r}")
        return SinkSource(extraction.topic_name(config.extraction, prefix),
                          config.avro_schema or extraction.schema_name, config.extraction)
    assert config.topic is not None
    # an explicit topic that is an extraction's topic still gets that extraction's schema and runs
    for other, extraction in pipeline.extractions.items():
        if extraction.topic_name(other, prefix) == config.topic:
            return SinkSource(config.topic, config.avro_schema or extraction.schema_name, other)
    return SinkSource(config.topic, config.avro_schema, None)


def _check(value: dict[str, ExportConfig], info: ValidationInfo) -> dict[str, ExportConfig]:
    extractions: Mapping[str, Any] | None = info.data.get("extractions")
    for name, sink in value.items():
        validate_workflow_id(name)
        if sink.extraction is not None and extractions is not None and sink.extraction not in extractions:
            known = ", ".join(sorted(extractions)) or "none"
            raise ValueError(f"sink {name!r}: unknown extraction {sink.extraction!r} (configured: {known})")
        if sink.avro_schema is not None:
            from fluentsync.schemas.codec import default_codec

            try:
                default_codec().repository.get(sink.avro_schema)
            except LookupError as exc:
                raise ValueError(f"sink {name!r}: {exc}") from None
    return value


#: The type of ``PipelineConfig.sinks``: sink name -> config; names and extraction references checked.
Sinks = Annotated[dict[str, ExportConfig], AfterValidator(_check)]
