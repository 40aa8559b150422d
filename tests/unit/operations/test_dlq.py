"""Choosing and building redrives from dead letters (no broker): what is refused, what is sent where."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fluentsync.schemas.codec import default_codec
from fluentsync.schemas.records import batch_records
from fluentsync.streams.config import parse_pipeline
from fluentsync.streams.kafka.partitioning import crc32_partition
from fluentsync.streams.operations.dlq import (
    LetterFilter,
    find_letter,
    original_record,
    parse_since,
    plan_redrive,
)

AT = datetime(2026, 12, 1, 10, tzinfo=UTC)
FILE = {"source": "local", "location": "/in", "path": "incoming/a.csv", "version": "size=1;mtime=2"}
FILE_ID = json.dumps(list(FILE.values()))
CONFIG = parse_pipeline({"kafka": {"partitions": 3}, "workflows": {"inv": {
    "source": {"type": "local", "root": "/in"}, "format": {"type": "csv"}, "key": ["sku"]}}})


def letter(index: int, stage: str = "MAP", *, attempt: int = 1, at: datetime = AT, record: Any = None,
           key: str | None = None, reason: str = "qty: not an integer") -> dict[str, Any]:
    record = {"sku": f"S-{index}", "qty": "12.5"} if record is None else record
    return {
        "dead_letter_id": f"{index:02d}{stage}{attempt}", "workflow": "inv", "stage": stage, "reason": reason,
        "errors": [], "record_key": key if key is not None else json.dumps([f"S-{index}"]),
        "record": json.dumps(record), "raw": None,
        "provenance": {"source_uri": "file:///in/incoming/a.csv", "file": FILE, "file_id": FILE_ID,
                       "etag": None, "version_id": None, "last_modified": AT, "record_index": index,
                       "chunk_id": "chunk-00000", "line": index + 2, "byte_offset": None, "row_number": index + 1,
                       "item_path": None},
        "attempt": attempt, "history": [], "occurred_at": at,
    }


def test_fluent_letters_give_back_the_record_not_the_old_payload() -> None:
    fluent = letter(1, "FLUENT", record={"record": {"sku": "S-1", "qty": "1"}, "payload": {"skuRef": "S-1"}})
    assert original_record(fluent) == {"sku": "S-1", "qty": "1"}
    assert original_record(letter(1)) == {"sku": "S-1", "qty": "12.5"}


def test_filters() -> None:
    letters = [letter(1), letter(2, "VALIDATE", at=AT + timedelta(hours=2), reason="qty below 0"),
               letter(3, "PARSE")]
    assert [x["stage"] for x in letters if LetterFilter(stages=("map", "parse"))(x)] == ["MAP", "PARSE"]
    assert [x["stage"] for x in letters if LetterFilter(reason="BELOW")(x)] == ["VALIDATE"]
    assert [x["stage"] for x in letters if LetterFilter(since=AT + timedelta(hours=1))(x)] == ["VALIDATE"]
    assert find_letter(letters, "02")["stage"] == "VALIDATE"
    with pytest.raises(LookupError, match="3 dead letters"):
        find_letter(letters, "0")


def test_since_takes_times_and_ages() -> None:
    assert parse_since("2h", now=AT) == AT - timedelta(hours=2)
    assert parse_since("2026-12-01T10:00:00") == AT
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_since("last tuesday")


def test_a_redrive_batch_lands_on_the_key_partition_with_history_and_decodes() -> None:
    second = letter(7, attempt=2, at=AT + timedelta(minutes=5))
    second["history"] = [{"stage": "MAP", "reason": "first", "occurred_at": AT}]
    letters = [letter(7), second, letter(4, "FLUENT", record={"record": {"sku": "S-4", "qty": "4"}, "payload": {}}),
               letter(5, "PARSE"), letter(6, key="")]
    plan = plan_redrive(CONFIG, "inv", letters, now=AT, redrive_id="r1")
    assert sorted(x["dead_letter_id"] for x in plan.redriven) == ["04FLUENT1", "07MAP2"]
    assert [x["dead_letter_id"] for x in plan.superseded] == ["07MAP1"]  # only the latest attempt goes again
    assert sorted(why.split(":")[0] for _, why in plan.refused) == ["PARSE", "no record key"]
    codec = default_codec()
    for partition, batch in plan.batches:
        batch = codec.decode(codec.encode("fluentsync.records.RecordBatch", batch))
        assert batch["batch_id"].startswith("redrive:r1:") and batch["run_id"] == "redrive-r1"
        assert batch["file"] == FILE and batch["force"] is False
        for record, redriven in zip(batch_records(batch), batch["redrive"]["records"], strict=True):
            assert crc32_partition(record.record_key.encode(), 3) == partition
            assert redriven["record_index"] == record.record_index
            if record.record_index == 7:
                assert record.record == {"sku": "S-7", "qty": "12.5"} and record.line == 9
                assert redriven["attempt"] == 2
                assert [h["reason"] for h in redriven["history"]] == ["first", "qty: not an integer"]
            else:
                assert record.record == {"sku": "S-4", "qty": "4"}
