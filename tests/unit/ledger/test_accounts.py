"""Ledger accounting and snapshot stamps: pure functions, no servers."""

from __future__ import annotations

from datetime import UTC, datetime

from fluentsync.streams.agents.snapshot import digest_of, generation_of, missing_keys, stamped
from fluentsync.streams.ledger import FileLedger
from fluentsync.streams.ledger.accounts import FIRST_ERRORS


def outcome(accepted: int = 0, rejected: int = 0, unchanged: int = 0, **extra: object) -> dict[str, object]:
    return {"accepted": accepted, "rejected": rejected, "unchanged": unchanged, **extra}


def test_a_file_settles_when_outcomes_reach_its_record_count_whatever_the_order() -> None:
    ledger = FileLedger()
    account = ledger.batch("v1", outcome(accepted=400, fluent_batch_ids=["b1"], job_ids=["j1"]))
    assert not account.is_complete  # the total is not known yet
    account = ledger.completed("v1", {"record_count": 1000, "error_count": 2, "first_errors": ["line 3: bad"]})
    assert not account.is_complete and account.outcomes == 402
    account = ledger.batch("v1", outcome(accepted=590, rejected=3, unchanged=5, job_ids=["j1", "j2"]))
    assert account.is_complete and account.outcomes == 1000
    assert account.job_ids == ["j1", "j2"] and account.fluent_batches == 1
    # the table value round-trips
    again = FileLedger(ledger.to_value()).versions["v1"]
    assert (again.accepted, again.rejected, again.unchanged, again.parse_rejected) == (990, 3, 5, 2)


def test_a_second_completed_event_does_not_reset_the_total_and_errors_are_capped() -> None:
    ledger = FileLedger()
    ledger.completed("v1", {"record_count": 10, "error_count": 0})
    ledger.completed("v1", {"record_count": 99, "error_count": 5})
    for _ in range(FIRST_ERRORS + 5):
        ledger.batch("v1", outcome(rejected=1, first_errors=["boom"]))
    account = ledger.versions["v1"]
    assert account.record_count == 10 and account.parse_rejected == 0
    assert len(account.first_errors) == FIRST_ERRORS


def test_versions_are_separate_and_bounded() -> None:
    ledger = FileLedger()
    for i in range(15):
        ledger.completed(f"v{i}", {"record_count": 1})
    assert len(ledger.versions) == 10 and "v14" in ledger.versions


def test_snapshot_stamps_and_missing_keys() -> None:
    assert generation_of({"last_modified": datetime(2026, 1, 1, tzinfo=UTC)}) == 1767225600000
    value = stamped("abc", None, 100, {"skuRef": "S"})
    assert value == {"h": "abc", "g": 100, "i": {"skuRef": "S"}} and digest_of(value) == "abc"
    assert stamped(value, "def", 50, None) == {"h": "def", "g": 100, "i": {"skuRef": "S"}}  # never goes back
    items = [(b"a", {"h": "1", "g": 100}), (b"b", {"h": "2", "g": 200}), (b"c", "plain-digest")]
    everything = missing_keys(items, 0, 1, lambda key, n: 0, 150)
    assert [key for key, _ in everything] == [b"a", b"c"]
    assert missing_keys(items, 1, 2, lambda key, n: 0, 150) == []  # other partitions are not this sweep's
