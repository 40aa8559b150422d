"""The record hash: typed, order-independent inside records, versioned."""

from __future__ import annotations

import hashlib
import json

import pytest

from fluentsync.streams.dedupe import RecordHasher


@pytest.mark.parametrize("a, b", [(0, ""), (0, None), ("", None), (False, 0), (False, None), ("0", 0), (1, 1.5)])
def test_typed_values_hash_differently(a: object, b: object) -> None:
    hasher = RecordHasher(["qty"])
    assert hasher({"qty": a}) != hasher({"qty": b})


def test_key_order_does_not_matter_field_order_does() -> None:
    whole = RecordHasher()
    assert whole({"a": 1, "b": {"x": 1, "y": 2}}) == whole({"b": {"y": 2, "x": 1}, "a": 1})
    assert RecordHasher(["a", "b"])({"a": 1, "b": 2}) != RecordHasher(["b", "a"])({"a": 1, "b": 2})


def test_only_configured_fields_count() -> None:
    hasher = RecordHasher(["qty", "status"])
    assert hasher({"qty": 1, "status": "ACTIVE", "note": "x"}) == hasher({"qty": 1, "status": "ACTIVE", "note": "y"})
    assert hasher({"qty": 1}) == hasher({"qty": 1, "status": None})  # absent hashes like null


def test_version_and_algorithm_change_every_hash() -> None:
    record = {"qty": 5}
    assert RecordHasher(["qty"], version="1")(record) != RecordHasher(["qty"], version="2")(record)
    assert len(RecordHasher(["qty"], algorithm="md5")(record)) == 32
    assert len(RecordHasher(["qty"])(record)) == 64


def test_bad_configuration() -> None:
    with pytest.raises(ValueError, match="unknown hash algorithm"):
        RecordHasher(["qty"], algorithm="crc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        RecordHasher([])


@pytest.mark.parametrize("algorithm", ["sha256", "sha1", "md5"])
def test_digests_are_the_documented_canonical_form(algorithm: str) -> None:
    """Baselines outlive releases: a digest is the hash of ``[algorithm, version]`` + compact, key-sorted,
    non-ASCII-preserving JSON, whatever the implementation (a change here makes every record "changed")."""
    records = [{"skuRef": "S-1", "qty": 0, "status": None, "ok": False, "name": "Müller \"x\"", "n": 1.5,
                "attributes": {"b": "2", "a": "1"}, "items": [{"z": 1, "y": [None, ""]}]}, {}]
    for record in records:
        for fields in (None, ["qty", "attributes", "missing"]):
            hasher = RecordHasher(fields, algorithm=algorithm, version="7")  # type: ignore[arg-type]
            body = record if fields is None else [record.get(f) for f in fields]
            canonical = json.dumps([algorithm, "7"], separators=(",", ":")) + json.dumps(
                body, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
            assert hasher(record) == hashlib.new(algorithm, canonical.encode()).hexdigest()
    assert RecordHasher()({"qty": 0}) == "9bd9454b0c9296ef3c16590310289e27e2e6f0883f6026241a50c4f442a12f3d"


def test_circular_and_unencodable_records_fail_as_json_does() -> None:
    circular: dict[str, object] = {}
    circular["self"] = circular
    with pytest.raises(ValueError, match="Circular reference"):
        RecordHasher()(circular)
    with pytest.raises(TypeError, match="not JSON serializable"):
        RecordHasher()({"when": object()})
    with pytest.raises(ValueError, match="Out of range float"):
        RecordHasher()({"qty": float("nan")})
