"""The RecordBatch fields added for replay and redrive keep old batches readable (defaults)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from fluentsync.schemas.codec import AvroCodec
from fluentsync.schemas.repository import SchemaRepository


def test_batches_written_before_force_and_redrive_existed_decode_with_defaults() -> None:
    repository = SchemaRepository()
    current = repository.get("fluentsync.records.RecordBatch").schema
    old = copy.deepcopy(current)
    old["fields"] = [f for f in old["fields"] if f["name"] not in ("force", "redrive")]
    writer = AvroCodec(SchemaRepository())
    writer.repository.register(old, latest=True)
    data = writer.encode("fluentsync.records.RecordBatch", {
        "batch_id": "b", "workflow": "w", "source_uri": "file:///a", "record_keys": ['["k"]'],
        "record_indexes": [0], "documents": ['{"k": 1}'], "published_at": datetime(2026, 12, 1, tzinfo=UTC)})
    assert data[2:10] != repository.get("fluentsync.records.RecordBatch").fingerprint  # really the old schema
    reader = AvroCodec(repository)
    reader.repository.register(old)
    batch = reader.decode(data, "fluentsync.records.RecordBatch")
    assert batch["force"] is False and batch["redrive"] is None and batch["record_keys"] == ['["k"]']
