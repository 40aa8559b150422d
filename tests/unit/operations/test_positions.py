"""Parsing replay positions: every form an operator may type, and clear refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fluentsync.streams.operations.positions import Position, PositionError, parse_position


@pytest.mark.parametrize(("text", "expected"), [
    ("earliest", Position("earliest")),
    ("BEGINNING", Position("earliest")),
    ("latest", Position("latest")),
    ("1200", Position("offset", offset=1200)),
    ("0:120,2:98", Position("offsets", offsets={0: 120, 2: 98})),
])
def test_offsets_and_names(text: str, expected: Position) -> None:
    assert parse_position(text) == expected


@pytest.mark.parametrize("text", ["2026-12-01T10:00:00Z", "2026-12-01T10:00:00+00:00", "2026-12-01T11:00:00+01:00",
                                  "2026-12-01T10:00:00", "2026-12-01 10:00"])
def test_times_are_utc_unless_they_say_otherwise(text: str) -> None:
    position = parse_position(text)
    assert position.kind == "time"
    assert position.time_ms == int(datetime(2026, 12, 1, 10, tzinfo=UTC).timestamp() * 1000)
    assert position.describe() == "2026-12-01T10:00:00Z"


def test_a_bare_date_is_its_midnight() -> None:
    assert parse_position("2026-12-01").time_ms == int(datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize("text", ["yesterday", "-5", "0:1,0:2", "12:"])
def test_nonsense_is_refused_with_the_forms_that_work(text: str) -> None:
    with pytest.raises(PositionError, match=r"earliest|named twice"):
        parse_position(text)
