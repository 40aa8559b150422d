"""The ledger agent: counts record outcomes per file and announces ``SETTLED`` when a file is whole.

Inputs, both keyed by workflow + file path and therefore co-partitioned:

- ``BatchOutcome`` on ``ledger.<wf>`` - the records agent publishes one per record batch once every
  record of it has its outcome (accepted, rejected, unchanged);
- ``FileEvent COMPLETED`` on ``files.<wf>`` - the files agent hands it over (:meth:`on_completed`); it
  carries the file's record count and the parser's rejections.

State (changelog-backed, so a restarted or rebalanced worker resumes the count): ``ledger-<wf>`` holds
a :class:`~fluentsync.streams.ledger.FileLedger` per path; ``ledger-batches-<wf>`` remembers the batch
ids already counted, so a batch replayed after a crash is not counted twice. When a version's outcomes
reach its record count, a ``RunReport`` goes to ``reports.<wf>`` and ``FileEvent SETTLED`` (with the
counts, job ids and first errors) to ``files.<wf>``, where the files agent archives the file. That event
is the interface between the two components: a completion event on a topic, not a function call.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust

from fluentsync.schemas.codec import AvroCodec, default_codec
from fluentsync.schemas.faust_codec import avro_schema
from fluentsync.streams.app import table_options
from fluentsync.streams.config import SnapshotConfig
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.ledger import FileAccount, FileLedger, RunCounts, run_report
from fluentsync.streams.observability.logs import batch_ids, correlate

__all__ = ["LedgerRuntime", "register"]

log = logging.getLogger(__name__)


def _jsonable(value: Any) -> Any:
    """Table values are JSON: datetimes become epoch milliseconds (Avro timestamp-millis accepts them)."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


@dataclass
class LedgerRuntime:
    name: str
    topics: WorkflowTopics
    app: faust.App
    table: Any = None
    counted: Any = None
    codec: AvroCodec | None = None
    partitions: int = 1
    snapshot: SnapshotConfig | None = None  #: set: settled files trigger a delete sweep on every partition

    def _codec(self) -> AvroCodec:
        if self.codec is None:
            self.codec = default_codec()
        return self.codec

    async def on_completed(self, key: bytes, event: dict[str, Any]) -> None:
        """A file's COMPLETED event (called by the files agent, on the file's partition)."""
        version = event["file"]["version"]
        ledger = FileLedger(self.table.get(key))
        account = ledger.completed(version, _jsonable(event))
        await self._save(key, ledger, version, account)

    async def on_outcome(self, key: bytes, outcome: dict[str, Any]) -> None:
        """One record batch's outcomes."""
        file = outcome.get("file")
        if file is None:  # records that did not come from a file have no file to settle
            return
        batch_key = f"{outcome['workflow']}|{outcome['batch_id']}".encode()
        if self.counted.get(batch_key) is not None:
            log.debug("workflow %s: batch %s counted before (replay)", self.name, outcome["batch_id"])
            return
        self.counted[batch_key] = 1
        version = file["version"]
        ledger = FileLedger(self.table.get(key))
        account = ledger.batch(version, outcome)
        await self._save(key, ledger, version, account)

    async def _save(self, key: bytes, ledger: FileLedger, version: str, account: FileAccount) -> None:
        announce = account.is_complete and not account.settled and account.completed is not None
        if announce:
            account.settled = True
        self.table[key] = ledger.to_value()
        if announce:
            await self._settled(key, account)

    async def _settled(self, key: bytes, account: FileAccount) -> None:
        completed = account.completed or {}
        processing_ms = None
        if account.first_seen_ms is not None and account.last_seen_ms is not None:
            processing_ms = max(0, account.last_seen_ms - account.first_seen_ms)
        event = {
            **completed,
            "event_id": uuid.uuid4().hex, "kind": "SETTLED", "reason": None,
            "accepted_count": account.accepted, "rejected_count": account.rejected + account.parse_rejected,
            "unchanged_count": account.unchanged, "first_errors": account.first_errors,
            "job_ids": account.job_ids, "batch_count": account.fluent_batches, "processing_ms": processing_ms,
            "occurred_at": datetime.now(UTC),
        }
        counts = RunCounts(
            record_count=account.record_count or 0, accepted=account.accepted,
            rejected=account.rejected + account.parse_rejected, unchanged=account.unchanged,
            fluent_batches=account.fluent_batches, job_ids=account.job_ids, first_errors=account.first_errors,
            processing_ms=processing_ms,
        )
        report = run_report(self.name, completed, counts, dead_letter_topic=self.topics.dlq,
                            settled_at=event["occurred_at"])
        codec = self._codec()
        futures = [
            await self.app.producer.send(self.topics.reports, key,
                                         codec.encode("fluentsync.reports.RunReport", report,
                                                      topic=self.topics.reports), None, None, None),
            await self.app.producer.send(self.topics.files, key,
                                         codec.encode("fluentsync.files.FileEvent", event, topic=self.topics.files),
                                         None, None, None),
        ]
        futures.extend(await self._sweep(completed, account))
        for future in futures:
            await future
        log.info("workflow %s: %s settled: %d accepted, %d rejected, %d unchanged", self.name,
                 completed.get("source_uri"), account.accepted, account.rejected + account.parse_rejected,
                 account.unchanged)


    async def _sweep(self, completed: dict[str, Any], account: FileAccount) -> list[Any]:
        """Snapshot workflows: ask every records partition to apply the delete policy (see
        :mod:`fluentsync.streams.agents.snapshot`). Not after a file with unparseable rows."""
        if self.snapshot is None or self.snapshot.delete_policy == "ignore" or completed.get("file") is None:
            return []
        if account.parse_rejected:
            log.warning("workflow %s: %s had %d unparseable rows: no delete detection for this snapshot",
                        self.name, completed.get("source_uri"), account.parse_rejected)
            return []
        file = completed["file"]
        control = {
            "batch_id": "sweep:" + json.dumps([file["source"], file["location"], file["path"], file["version"]],
                                               separators=(",", ":")),
            "workflow": self.name, "source_uri": completed.get("source_uri") or "", "file": file,
            "file_id": json.dumps([file["source"], file["location"], file["path"], file["version"]],
                                  separators=(",", ":")),
            "last_modified": completed.get("last_modified"), "run_id": completed.get("run_id"),
            "record_keys": [], "record_indexes": [], "control": "sweep", "published_at": datetime.now(UTC),
        }
        value = self._codec().encode("fluentsync.records.RecordBatch", control, topic=self.topics.records)
        return [await self.app.producer.send(self.topics.records, None, value, partition, None, None)
                for partition in range(self.partitions)]


def register(app: faust.App, name: str, topics: WorkflowTopics, partitions: int,
             snapshot: SnapshotConfig | None = None) -> LedgerRuntime:
    """Attach the ledger tables and the ledger agent of one workflow."""
    runtime = LedgerRuntime(name, topics, app, partitions=partitions, snapshot=snapshot)
    runtime.table = app.Table(f"ledger-{name}", key_type=bytes, partitions=partitions, options=table_options())
    runtime.counted = app.Table(f"ledger-batches-{name}", key_type=bytes, partitions=partitions,
                                options=table_options())
    topic = app.topic(topics.ledger, schema=avro_schema("fluentsync.ledger.BatchOutcome"), partitions=partitions)

    async def ledger_agent(stream: Any) -> None:
        async for key, outcome in stream.items():
            with correlate(**batch_ids(name, outcome)):
                await runtime.on_outcome(key, outcome)

    ledger_agent.__name__ = ledger_agent.__qualname__ = f"ledger_{name.replace('-', '_')}"
    app.agent(topic, name=f"ledger-{name}")(ledger_agent)
    return runtime
