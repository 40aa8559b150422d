"""The attempt and history of a redriven record's new dead letter, and its id."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fluentsync.streams.operations.lineage import Lineage, letter_id, letter_lineage

AT = datetime(2026, 12, 1, 10, tzinfo=UTC)


def test_an_ordinary_batch_gives_a_first_failure_with_the_id_the_agent_always_used() -> None:
    lineage = letter_lineage({"batch_id": "b"}, 7)
    assert lineage == Lineage(1, [], None)
    # unchanged for ordinary letters: consumers that deduplicate by id keep working across the upgrade
    assert letter_id("inv", "F", 7, "MAP", lineage) == uuid.uuid5(uuid.NAMESPACE_URL, "inv|F|7|MAP").hex


def test_a_redriven_record_fails_again_with_attempt_plus_one_and_its_history() -> None:
    history = [{"stage": "MAP", "reason": "qty: not an integer", "occurred_at": AT}]
    batch = {"redrive": {"redrive_id": "r1", "records": [
        {"record_index": 3, "dead_letter_id": "d3", "attempt": 1, "history": history},
        {"record_index": 9, "dead_letter_id": "d9", "attempt": 2, "history": history * 2},
    ]}}
    assert letter_lineage(batch, 3) == Lineage(2, history, "r1")
    assert letter_lineage(batch, 9).attempt == 3
    first, again = letter_id("inv", "F", 3, "MAP", Lineage()), letter_id("inv", "F", 3, "MAP", letter_lineage(batch, 3))
    assert first != again  # a new letter, not a duplicate of the redriven one
    assert again == letter_id("inv", "F", 3, "MAP", letter_lineage(batch, 3))  # deterministic (crash redelivery)
    other = {"redrive": {**batch["redrive"], "redrive_id": "r2"}}
    assert letter_id("inv", "F", 3, "MAP", letter_lineage(other, 3)) != again  # another redrive, another letter
