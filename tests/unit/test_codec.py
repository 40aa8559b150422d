"""Avro codec: round trips, schema evolution in both directions, framings, and clear errors."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from fluentsync.schemas.codec import (
    AvroCodec,
    AvroDecodeError,
    AvroEncodeError,
    InMemorySchemaRegistry,
)
from fluentsync.schemas.repository import SchemaRepository, crc64_avro

NOW = datetime(2026, 11, 22, 12, 30, 15, 123000, tzinfo=UTC)
FILE = {"source": "s3", "location": "wms", "path": "inventory/in/a.csv", "version": "etag-1"}
PROVENANCE = {"source_uri": "s3://wms/inventory/in/a.csv", "file": FILE, "file_id": json.dumps(list(FILE.values())),
              "record_index": 41, "chunk_id": "chunk-00000", "line": 43, "row_number": 42}

EXAMPLES: dict[str, dict[str, Any]] = {
    "fluentsync.records.SourceRecord": {
        "workflow": "inventory", "record_key": '["SKU-1","LOC-9"]', "record": '{"qty":"0"}',
        "provenance": PROVENANCE, "run_id": "r1", "published_at": NOW,
    },
    "fluentsync.files.FileEvent": {
        "event_id": "e1", "workflow": "inventory", "kind": "COMPLETED", "file": FILE, "size": 1234,
        "record_count": 1000, "error_count": 3, "occurred_at": NOW,
    },
    "fluentsync.dlq.DeadLetter": {
        "dead_letter_id": "d1", "workflow": "inventory", "stage": "VALIDATE", "reason": "qty is not an integer",
        "errors": [{"stage": "VALIDATE", "field": "qty", "message": "not an integer", "value": "12.5",
                    "severity": "ERROR", "code": None}],
        "record_key": '["SKU-1","LOC-9"]', "record": '{"qty":"12.5"}', "raw": b"SKU-1,LOC-9,12.5",
        "provenance": PROVENANCE, "attempt": 2,
        "history": [{"stage": "MAP", "reason": "missing skuRef", "occurred_at": NOW}], "occurred_at": NOW,
    },
    "fluentsync.ledger.RecordOutcome": {
        "workflow": "inventory", "record_key": '["SKU-1","LOC-9"]', "outcome": "ACCEPTED",
        "file_id": PROVENANCE["file_id"], "record_index": 41, "job_id": "7", "batch_id": "12", "occurred_at": NOW,
    },
}


@pytest.fixture(scope="module")
def codec() -> AvroCodec:
    return AvroCodec()


def test_crc64_avro_matches_the_specification_vector() -> None:
    # Avro specification test vector: the fingerprint of the schema "null".
    assert crc64_avro(b'"null"') == 0x63DD24E7CC258F8A


def test_every_shipped_schema_loads_and_is_documented() -> None:
    repository = SchemaRepository()
    assert set(EXAMPLES) <= set(repository.names())
    for name in EXAMPLES:
        schema = repository.get(name).schema
        assert schema.get("doc"), name
        assert all(field.get("doc") for field in schema["fields"]), name


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_round_trip(codec: AvroCodec, name: str) -> None:
    data = codec.encode(name, EXAMPLES[name])
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == codec.repository.get(name).fingerprint
    assert _contains(codec.decode(data), EXAMPLES[name])


def _contains(decoded: Any, expected: Any) -> bool:
    """``decoded`` equals ``expected`` except for optional fields the example left out."""
    if isinstance(expected, dict):
        return all(_contains(decoded[key], value) for key, value in expected.items())
    if isinstance(expected, list):
        return len(decoded) == len(expected) and all(map(_contains, decoded, expected))
    return bool(decoded == expected)


def test_defaults_fill_optional_fields(codec: AvroCodec) -> None:
    minimal = {"workflow": "w", "record_key": '["a"]', "record": "{}",
               "provenance": {"source_uri": "file:///in/a.csv", "record_index": 0}, "published_at": NOW}
    decoded = codec.decode(codec.encode("fluentsync.records.SourceRecord", minimal))
    assert decoded["provenance"]["file"] is None
    assert decoded["provenance"]["chunk_id"] == "chunk-00000"
    assert decoded["run_id"] is None


def _evolve(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(v1, v2) of a schema: v2 adds a field with a default and an enum symbol."""
    v1 = copy.deepcopy(SchemaRepository().get(name).schema)
    v2 = copy.deepcopy(v1)
    v2["fields"].append({"name": "tenant", "type": "string", "default": "acme", "doc": "added in v2"})
    for field in v2["fields"]:
        if field["name"] == "outcome":
            field["type"]["symbols"].append("DEFERRED")
    return v1, v2


def test_new_reader_reads_old_writer() -> None:
    name = "fluentsync.ledger.RecordOutcome"
    v1, v2 = _evolve(name)
    old = SchemaRepository(directories=())
    old.register(v1, latest=True)
    new = SchemaRepository(directories=())
    new.register(v2, latest=True)
    new.register(v1)  # the reader knows the old writer's schema by fingerprint
    data = AvroCodec(old).encode(name, EXAMPLES[name])
    decoded = AvroCodec(new).decode(data)
    assert decoded["tenant"] == "acme"  # the default fills the field the old writer did not have
    assert decoded["outcome"] == "ACCEPTED"


def test_old_reader_reads_new_writer() -> None:
    name = "fluentsync.ledger.RecordOutcome"
    v1, v2 = _evolve(name)
    new = SchemaRepository(directories=())
    new.register(v2, latest=True)
    old = SchemaRepository(directories=())
    old.register(v1, latest=True)
    old.register(v2)
    datum = {**EXAMPLES[name], "tenant": "globex", "outcome": "DEFERRED"}
    decoded = AvroCodec(old).decode(AvroCodec(new).encode(name, datum))
    assert "tenant" not in decoded  # the old reader ignores the field it does not know
    assert decoded["outcome"] == "UNKNOWN"  # and reads a symbol it does not know as the enum default
    assert decoded["record_key"] == datum["record_key"]


def test_unknown_writer_schema_is_a_clear_error(codec: AvroCodec) -> None:
    _, v2 = _evolve("fluentsync.ledger.RecordOutcome")
    writer = SchemaRepository(directories=())
    writer.register(v2, latest=True)
    data = AvroCodec(writer).encode("fluentsync.ledger.RecordOutcome", EXAMPLES["fluentsync.ledger.RecordOutcome"])
    with pytest.raises(AvroDecodeError, match="no Avro schema with fingerprint"):
        codec.decode(data)


def test_confluent_framing_round_trip() -> None:
    registry = InMemorySchemaRegistry()
    codec = AvroCodec(framing="confluent", registry=registry)
    name = "fluentsync.files.FileEvent"
    data = codec.encode(name, EXAMPLES[name])
    schema_id = int.from_bytes(data[1:5], "big")
    assert data[0] == 0 and schema_id >= 1
    assert registry.subjects[name] == [schema_id]
    # A second process with its own codec and the same registry reads it.
    other = AvroCodec(SchemaRepository(directories=()), framing="confluent", registry=registry)
    assert other.decode(data)["record_count"] == 1000


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty input"),
        (b"{\"json\": true}", "not an Avro single-object message"),
        (b"\xc3\x01\x00\x01\x02\x03\x04\x05\x06\x07abc", "no Avro schema with fingerprint"),
    ],
)
def test_bad_framing_is_a_clear_error(codec: AvroCodec, data: bytes, message: str) -> None:
    with pytest.raises(AvroDecodeError, match=message):
        codec.decode(data)


def test_truncated_and_padded_bodies_are_clear_errors(codec: AvroCodec) -> None:
    name = "fluentsync.records.SourceRecord"
    data = codec.encode(name, EXAMPLES[name])
    with pytest.raises(AvroDecodeError, match="corrupt or truncated"):
        codec.decode(data[:-5])
    with pytest.raises(AvroDecodeError, match="trailing bytes"):
        codec.decode(data + b"\x00\x01")


def test_confluent_bytes_given_to_single_object_codec(codec: AvroCodec) -> None:
    confluent = AvroCodec(framing="confluent", registry=InMemorySchemaRegistry())
    data = confluent.encode("fluentsync.files.FileEvent", EXAMPLES["fluentsync.files.FileEvent"])
    with pytest.raises(AvroDecodeError, match="expected header c301"):
        codec.decode(data)


def test_encode_error_names_the_field(codec: AvroCodec) -> None:
    bad = {**EXAMPLES["fluentsync.ledger.RecordOutcome"], "record_index": "forty-one"}
    with pytest.raises(AvroEncodeError, match="record_index"):
        codec.encode("fluentsync.ledger.RecordOutcome", bad)


def test_unknown_schema_name(codec: AvroCodec) -> None:
    with pytest.raises(LookupError, match="no Avro schema named 'nope'"):
        codec.encode("nope", {})


def test_confluent_framing_needs_a_registry() -> None:
    with pytest.raises(ValueError, match="registry"):
        AvroCodec(framing="confluent")
