"""The record hash: typed, order-independent inside records, versioned."""

from __future__ import annotations

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
