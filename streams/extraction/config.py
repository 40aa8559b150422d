"""The ``extractions:`` section of the pipeline file: one :class:`ExtractionConfig` per extraction.

Example (every field but one of ``entity``/``query`` is optional)::

    extractions:
      orders:
        entity: orders                  # a standard entity: built-in query and typed Avro schema
        schedule: "*/15 * * * *"        # 5-field cron, UTC; absent: on demand only
        incremental: {field: updatedOn, overlap: 60s}
        page_size: 200                  # 1..250
      late-orders:                      # a custom query: generic events (fluentsync.outbound.Node)
        query: queries/late-orders.graphql
        variables: {status: ["BOOKED"]}
        result_path: orders
        incremental: null               # every run extracts everything

Choices written down here:

- ``entity`` picks a built-in query and a typed schema (:mod:`.queries`); ``query`` overrides the query
  (the schema stays typed). Without ``entity`` the events are generic ``fluentsync.outbound.Node``.
- ``query`` is a file path. The pipeline loader resolves it against the pipeline file's folder when it
  calls :func:`resolve_query_paths`; an absolute path is used as is.
- The incremental window goes into the ``DateRange`` variable named ``incremental.variable`` (default
  ``updatedOn``) as ``{from, to}``; the query must declare it. ``overlap`` (seconds, or ``"60s"``,
  ``"2m"``, ``"1h"``) is subtracted from the watermark: Fluent's indexes are eventually consistent and a
  node may appear late with an older ``updatedOn``. ``ordered: true`` declares that the connection
  returns nodes in ascending ``field`` order (the sandbox does; verify on a tenant) so a run stopped by
  ``max_records``/``max_pages`` may still advance the watermark.
- ``topic`` defaults to ``<kafka.topic_prefix>outbound.<name>``; an explicit ``topic`` is used verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from .queries import ENTITIES
from .schedule import validate_cron

__all__ = [
    "GENERIC_SCHEMA",
    "EntityName",
    "ExtractionConfig",
    "Extractions",
    "IncrementalConfig",
    "outbound_topic",
    "resolve_query_paths",
]

GENERIC_SCHEMA = "fluentsync.outbound.Node"

EntityName = Literal[
    "orders", "fulfilments", "inventory_positions", "inventory_quantities", "virtual_positions", "products",
    "locations",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_seconds(value: Any) -> float:
    """``60``, ``60.5``, ``"60s"``, ``"2m"``, ``"1h"``, ``"500ms"`` -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2)]
    raise ValueError(f"invalid duration {value!r}: use seconds or a number with ms, s, m or h")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IncrementalConfig(_Model):
    field: str = "updatedOn"  #: the node field whose highest delivered value is the watermark
    variable: str = "updatedOn"  #: the query's ``DateRange`` variable that receives ``{from, to}``
    overlap: float = Field(default=60.0, ge=0, le=7 * 86_400)  #: seconds subtracted from the watermark
    ordered: bool = False  #: the connection returns ascending ``field`` (truncated runs may advance)
    start: datetime | None = None  #: ``from`` of the first run (no watermark yet); None: everything
    max_overlap_keys: int = Field(default=10_000, ge=0, le=1_000_000)
    """Nodes of the overlap window remembered with the watermark so the next run skips them."""

    @field_validator("overlap", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_seconds(value)


class ExtractionConfig(_Model):
    entity: EntityName | None = None
    query: Path | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    result_path: str | None = None  #: dotted path of the connection in ``data``; default: the entity's
    schedule: str | None = None
    incremental: IncrementalConfig | None = IncrementalConfig()
    page_size: int = Field(default=200, ge=1, le=250)
    max_records: int | None = Field(default=None, ge=1)
    max_pages: int | None = Field(default=None, ge=1)
    request_timeout: float = Field(default=60.0, gt=0, le=3600)  #: per GraphQL page request, seconds
    run_timeout: float | None = Field(default=None, gt=0)  #: wall clock; the run stops as truncated
    retries: int = Field(default=3, ge=0, le=20)  #: retryable GraphQL errors (S0002, C0011...) per page
    max_retry_delay: float = Field(default=60.0, ge=0, le=600)
    topic: str | None = None
    key_field: str = "ref"  #: node field whose value is the Kafka key (falls back to ``id``)
    max_in_flight: int = Field(default=5_000, ge=1, le=100_000)  #: events sent but not yet acknowledged

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else validate_cron(value)

    @model_validator(mode="after")
    def _query_or_entity(self) -> ExtractionConfig:
        if self.entity is None and self.query is None:
            raise ValueError("set `entity` (orders, fulfilments, inventory_positions, ...) or `query`")
        if self.incremental is not None and self.incremental.variable in self.variables:
            raise ValueError(f"variables.{self.incremental.variable} is set by the incremental window; remove it")
        return self

    @property
    def schema_name(self) -> str:
        """Avro schema of the events: the entity's typed schema, else the generic node."""
        return ENTITIES[self.entity].schema if self.entity is not None else GENERIC_SCHEMA

    @property
    def connection_path(self) -> str | None:
        if self.result_path is not None:
            return self.result_path
        return ENTITIES[self.entity].result_path if self.entity is not None else None

    def query_text(self) -> str:
        """The GraphQL document: the ``query`` file, else the entity's built-in query."""
        if self.query is not None:
            return self.query.read_text(encoding="utf-8")
        assert self.entity is not None
        return ENTITIES[self.entity].query

    def topic_name(self, name: str, prefix: str = "") -> str:
        return self.topic or outbound_topic(name, prefix)


def outbound_topic(name: str, prefix: str = "") -> str:
    return f"{prefix}outbound.{name}"


def resolve_query_paths(document: Mapping[str, Any], base_dir: Path) -> None:
    """Make relative ``extractions.*.query`` paths relative to ``base_dir`` (the pipeline file's folder).

    Called by the pipeline loader on the raw document, like it does for mapping files.
    """
    extractions = document.get("extractions")
    if not isinstance(extractions, dict):
        return
    for extraction in extractions.values():
        if isinstance(extraction, dict) and isinstance(extraction.get("query"), str):
            path = Path(extraction["query"])
            if not path.is_absolute():
                extraction["query"] = str(base_dir / path)


def _check_names(value: dict[str, ExtractionConfig]) -> dict[str, ExtractionConfig]:
    from fluentsync.streams.kafka.names import validate_workflow_id

    for name in value:
        validate_workflow_id(name)  # names become topic names, keys and run-id prefixes
    return value


#: The type of ``PipelineConfig.extractions``: extraction name -> config, names checked like workflow ids.
Extractions = Annotated[dict[str, ExtractionConfig], AfterValidator(_check_names)]
