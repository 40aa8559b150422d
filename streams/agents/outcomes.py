"""The messages that make a record batch's outcomes durable: dead letters, ``BatchOutcome``, whole-file report.

Built in one place for the two places that settle record batches: the records agent, when every record
of a batch has its outcome before the agent hands it over, and the verdict of its last awaited Fluent
batch (:mod:`.verifier`), which may come after a restart. Both work from the same *entry*, the value of
an ``R|`` row of the ``submitted-batches`` table (:mod:`.pending`): the batch header and its counts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from fluentsync.connectors.ingest.publisher import file_event_key
from fluentsync.connectors.sources.base import FileRef
from fluentsync.schemas.codec import AvroCodec
from fluentsync.schemas.records import BatchRecord
from fluentsync.streams.agents.pending import PendingRow
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.ledger import RunCounts, run_report
from fluentsync.streams.operations.lineage import letter_id, letter_lineage
from fluentsync.streams.problems import FieldProblem

__all__ = ["FIRST_ERRORS", "Outcomes", "reason_of"]

FIRST_ERRORS = 5  #: rejection reasons carried per BatchOutcome


def reason_of(problems: Sequence[FieldProblem]) -> str:
    return "; ".join(f"{p.field}: {p.message}" if p.field else p.message
                     for p in problems if p.severity == "ERROR") or "rejected"


def first_error(record: BatchRecord, stage: str, reason: str) -> str:
    where = f"line {record.line}" if record.line is not None else f"record {record.record_index}"
    return f"{where}: {stage}: {reason}"


def _millis(value: Any) -> int:
    return int(value.timestamp() * 1000) if isinstance(value, datetime) else int(value)


class Outcomes:
    """Dead letters and settlement messages of one workflow (``(topic, key, value)`` to produce)."""

    def __init__(self, name: str, topics: WorkflowTopics, codec: AvroCodec, now: Callable[[], datetime]) -> None:
        self.name = name
        self.topics = topics
        self.codec = codec
        self.now = now

    def letter(self, batch: Mapping[str, Any], record: BatchRecord, stage: str, reason: str,
               problems: Sequence[FieldProblem], payload: Mapping[str, Any] | None) -> tuple[bytes, bytes]:
        """The encoded ``DeadLetter`` of one record of ``batch`` (a ``RecordBatch`` or its header)."""
        file_id = batch.get("file_id") or batch.get("source_uri") or ""
        # Deterministic id: a batch redelivered after a crash produces the same dead letters (dedupable).
        # A redriven record (dlq redrive) fails again with attempt + 1 and its earlier failures as history.
        lineage = letter_lineage(batch, record.record_index)
        original: Any = dict(record.record)
        if payload is not None:
            original = {"record": original, "payload": dict(payload)}
        letter = {
            "dead_letter_id": letter_id(self.name, file_id, record.record_index, stage, lineage),
            "workflow": self.name, "stage": stage, "reason": reason[:2000],
            "errors": [p.to_avro() for p in problems], "record_key": record.record_key,
            "record": json.dumps(original, ensure_ascii=False, default=str), "raw": None,
            "provenance": {
                "source_uri": batch["source_uri"], "file": batch.get("file"), "file_id": batch.get("file_id"),
                "etag": batch.get("etag"), "version_id": batch.get("version_id"),
                "last_modified": batch.get("last_modified"), "record_index": record.record_index,
                "chunk_id": record.chunk_id, "line": record.line, "byte_offset": record.byte_offset,
                "row_number": record.row_number, "item_path": batch.get("item_path"),
            },
            "attempt": lineage.attempt, "history": lineage.history, "occurred_at": self.now(),
        }
        value = self.codec.encode("fluentsync.dlq.DeadLetter", letter, topic=self.topics.dlq)
        return f"{file_id}#{record.record_index}".encode(), value

    def resolve(self, entry: dict[str, Any], name: str,
                items: Sequence[tuple[PendingRow, FieldProblem | None]]) -> tuple[list[tuple[bytes, bytes]], int]:
        """Count the verdict of Fluent batch ``name`` into a handed-over record batch's ``entry`` (in place):
        ``(dead letters of its rejected records, how many were rejected)``. The caller checked that the
        entry awaits ``name``; it no longer does."""
        del entry["awaiting"][name]
        letters: list[tuple[bytes, bytes]] = []
        for row, problem in items:
            if problem is None:
                entry["accepted"] += 1
                continue
            entry["rejected"] += 1
            reason = reason_of([problem])
            if len(entry["first_errors"]) < FIRST_ERRORS:
                entry["first_errors"].append(first_error(row.record, "FLUENT", reason))
            letters.append(self.letter(entry["batch"], row.record, "FLUENT", reason, [problem], row.payload))
        return letters, len(letters)

    def settlement(self, entry: Mapping[str, Any]) -> tuple[str, bytes, bytes] | None:
        """The message that settles a record batch: its ``BatchOutcome`` on ``ledger.<wf>``, or the
        ``RunReport`` of a ``whole_file`` batch; None for a batch no file run waits for (a sweep, a
        redrive, records without a file)."""
        batch = entry["batch"]
        # a redriven batch (dlq redrive) is not part of a file run: the file's ledger is left alone
        if batch.get("file") is None or entry.get("control") or batch.get("redrive") is not None:
            return None
        file = batch["file"]
        ref = FileRef(source=file["source"], location=file["location"], path=file["path"],
                      version=file["version"], size=0, last_modified=self.now())
        key = file_event_key(self.name, ref)
        if batch.get("whole_file"):
            return self.topics.reports, key, self._whole_file_report(entry)
        outcome = {
            "workflow": self.name, "batch_id": batch["batch_id"], "file": file,
            "file_id": batch.get("file_id"), "run_id": batch.get("run_id"), "record_count": entry["total"],
            "accepted": entry["accepted"], "rejected": entry["rejected"], "unchanged": entry["unchanged"],
            "first_errors": entry["first_errors"], "job_ids": entry["job_ids"],
            "fluent_batch_ids": entry["fluent"], "started_at": entry["started"], "occurred_at": self.now(),
        }
        value = self.codec.encode("fluentsync.ledger.BatchOutcome", outcome, topic=self.topics.ledger)
        return self.topics.ledger, key, value

    def _whole_file_report(self, entry: Mapping[str, Any]) -> bytes:
        """The RunReport of a batch that is its whole file (``whole_file``): settled here, no ledger.

        Its id derives from the batch id, so a report published twice (crash before the ack) is one
        report to a consumer that dedupes by ``report_id``."""
        batch = entry["batch"]
        now = self.now()
        counts = RunCounts(
            record_count=entry["total"], accepted=entry["accepted"], rejected=entry["rejected"],
            unchanged=entry["unchanged"], fluent_batches=len(set(entry["fluent"])), job_ids=list(entry["job_ids"]),
            first_errors=list(entry["first_errors"]),
            processing_ms=max(0, int(now.timestamp() * 1000) - _millis(entry["started"])),
        )
        report_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{self.name}|report|{batch['batch_id']}").hex
        report = run_report(self.name, dict(batch), counts, dead_letter_topic=self.topics.dlq, settled_at=now,
                            report_id=report_id)
        return self.codec.encode("fluentsync.reports.RunReport", report, topic=self.topics.reports)
