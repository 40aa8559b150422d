"""The Faust codec writes framed Avro and reads it back as dicts, resolving to the newest schema."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fluentsync.schemas.codec import AvroDecodeError
from fluentsync.schemas.faust_codec import AvroFaustCodec, avro_schema


def test_dumps_and_loads() -> None:
    codec = AvroFaustCodec("fluentsync.ledger.RecordOutcome")
    value = {"workflow": "w", "record_key": '["k"]', "outcome": "UNCHANGED",
             "occurred_at": datetime(2026, 1, 1, tzinfo=UTC)}
    data = codec.dumps(value)
    assert data.startswith(b"\xc3\x01")
    assert codec.loads(data)["outcome"] == "UNCHANGED"


def test_unknown_schema_fails_at_declaration() -> None:
    with pytest.raises(LookupError):
        AvroFaustCodec("fluentsync.nope")


def test_corrupt_message_raises_codec_error() -> None:
    with pytest.raises(AvroDecodeError):
        AvroFaustCodec("fluentsync.ledger.RecordOutcome").loads(b"garbage")


def test_schema_has_raw_keys() -> None:
    schema = avro_schema("fluentsync.files.FileEvent")
    assert schema.key_serializer == "raw"
    assert isinstance(schema.value_serializer, AvroFaustCodec)
