"""An injectable clock.

Jobs close at UTC midnight, seeded data has fixed dates and tests must not wait for a real day to pass,
so everything in the sandbox that reads "business time" asks this clock. It runs with real time plus
an offset, so ``set`` and ``advance`` move time without freezing it. Token expiry deliberately uses
real time (``time.time``) so that the admin clock cannot make a client's token look expired.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["Clock", "format_datetime", "parse_datetime"]


class Clock:
    """Real UTC time plus an adjustable offset."""

    def __init__(self) -> None:
        self._offset = timedelta(0)

    def now(self) -> datetime:
        """The current sandbox time (timezone-aware, UTC)."""
        return datetime.now(UTC) + self._offset

    def set(self, when: datetime) -> None:
        """Make :meth:`now` return ``when`` at this instant (time keeps running afterwards)."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        self._offset = when - datetime.now(UTC)

    def advance(self, seconds: float) -> None:
        """Move the clock forward (or back, if negative) by ``seconds``."""
        self._offset += timedelta(seconds=seconds)

    def reset(self) -> None:
        """Back to real time."""
        self._offset = timedelta(0)

    @property
    def offset_seconds(self) -> float:
        return self._offset.total_seconds()


def format_datetime(value: datetime) -> str:
    """Fluent's wire format: ISO-8601 UTC with milliseconds and a ``Z``."""
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def parse_datetime(text: str) -> datetime:
    """Parse an ISO-8601 date-time (``Z`` or offset; a bare date means midnight UTC).

    Raises :class:`ValueError` on anything else.
    """
    if not isinstance(text, str) or not text:
        raise ValueError(f"invalid date-time: {text!r}")
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
