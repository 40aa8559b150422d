"""Cron slots: which one fell due between two checks (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from fluentsync.streams.extraction import due_slot, next_slot, validate_cron

T0 = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)


def test_a_slot_falls_due_once() -> None:
    cron = "*/15 * * * *"
    assert due_slot(cron, T0 + timedelta(minutes=14, seconds=50), T0 + timedelta(minutes=15)) == T0 + timedelta(
        minutes=15)
    assert due_slot(cron, T0 + timedelta(minutes=15), T0 + timedelta(minutes=15, seconds=10)) is None


def test_missed_slots_collapse_into_the_latest() -> None:
    assert due_slot("*/15 * * * *", T0, T0 + timedelta(hours=1, minutes=1)) == T0 + timedelta(hours=1)


def test_schedules_are_utc() -> None:
    local = datetime(2026, 1, 1, 10, 59, tzinfo=timezone(timedelta(hours=10)))  # 00:59 UTC
    assert next_slot("0 1 * * *", local) == datetime(2026, 1, 1, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "x * * * *"])
def test_invalid_expressions(bad: str) -> None:
    with pytest.raises(ValueError):
        validate_cron(bad)
