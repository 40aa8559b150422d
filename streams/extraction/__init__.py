"""Extraction: Fluent GraphQL connections paged into Avro events on outbound Kafka topics.

Each extraction of the pipeline file (``extractions:``, :class:`ExtractionConfig`) runs on a cron
schedule inside the worker, on demand from ``fluentsync extract`` (in-process or through the trigger
topic), incrementally on ``updatedOn`` with an overlap window. Events are keyed by ``ref``, typed for
the standard entities (``fluentsync.outbound.Order`` ...) or generic (``fluentsync.outbound.Node``);
docs/outbound-schemas.md is the consumers' contract. The watermark and the run records live in
compacted topics (:mod:`.state`); the watermark moves only after every event of the run is
acknowledged (:mod:`.runner`).
"""

from .config import (
    GENERIC_SCHEMA,
    ExtractionConfig,
    Extractions,
    IncrementalConfig,
    outbound_topic,
    resolve_query_paths,
)
from .queries import ENTITIES, Entity
from .runner import ExtractionError, ExtractionRunner, RunRequest
from .schedule import due_slot, next_slot, validate_cron
from .service import ExtractionService, extraction_topic_specs
from .state import ExtractionState, RunRecord, StateTopics, Watermark, new_run_id, read_compacted

__all__ = [
    "ENTITIES",
    "GENERIC_SCHEMA",
    "Entity",
    "ExtractionConfig",
    "ExtractionError",
    "ExtractionRunner",
    "ExtractionService",
    "ExtractionState",
    "Extractions",
    "IncrementalConfig",
    "RunRecord",
    "RunRequest",
    "StateTopics",
    "Watermark",
    "due_slot",
    "extraction_topic_specs",
    "new_run_id",
    "next_slot",
    "outbound_topic",
    "read_compacted",
    "resolve_query_paths",
    "validate_cron",
]
