"""Run records (R63): ids, and transition timestamps set exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fluentsync.streams.extraction import RunRecord, new_run_id
from fluentsync.streams.extraction.state import format_timestamp, parse_timestamp, validate_run_id

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_run_ids_are_valid_sortable_and_unique() -> None:
    first, second = new_run_id("orders", T0), new_run_id("orders", T0)
    assert first.startswith("orders-20260101T000000Z-") and first != second
    with pytest.raises(ValueError):
        validate_run_id("orders/../x")


def test_transition_timestamps_are_set_once() -> None:
    run = RunRecord("r-1", "orders", "QUEUED", T0, T0)
    run.transition("RUNNING", "extracting", T0 + timedelta(seconds=1))
    run.transition("RUNNING", "extracting", T0 + timedelta(seconds=2))
    run.transition("FAILED", "error", T0 + timedelta(seconds=3))
    run.transition("FAILED", "error", T0 + timedelta(seconds=4))
    assert run.started_at == T0 + timedelta(seconds=1)
    assert run.failed_at == T0 + timedelta(seconds=3) and run.updated_at == T0 + timedelta(seconds=4)
    assert run.completed_at is None


def test_timestamps_round_trip_in_fluent_format() -> None:
    assert format_timestamp(parse_timestamp("2025-01-31T12:00:00.123456+02:00")) == "2025-01-31T10:00:00.123Z"
    assert parse_timestamp("2025-01-31T12:00:00Z") == datetime(2025, 1, 31, 12, tzinfo=UTC)
    assert parse_timestamp("2025-01-31T12:00:00") == datetime(2025, 1, 31, 12, tzinfo=UTC)
