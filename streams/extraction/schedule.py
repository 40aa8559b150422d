"""Cron schedules of extractions: validation and "which slots fell due between two instants".

Why croniter and not a home-made matcher: it is already installed as a dependency of faust-streaming
(Faust's own ``app.crontab`` uses it), it handles the corner cases of the 5-field syntax (``*/15``,
ranges, lists, names, day-of-month *or* day-of-week), and it is what a Faust user expects. Schedules
are evaluated in UTC: a pipeline file must mean the same thing on every worker, whatever its local zone.

The worker does not sleep until the next slot (a sleeping task loses its slot when the leader changes);
a leader-only timer calls :func:`due_slot` every few seconds with the previous check time, and publishes
one trigger per slot that fell due.
"""

from __future__ import annotations

from datetime import UTC, datetime

from croniter import croniter  # type: ignore[import-untyped]

__all__ = ["due_slot", "next_slot", "validate_cron"]


def validate_cron(expression: str) -> str:
    """The expression, stripped, if it is a valid 5-field cron expression; else :class:`ValueError`."""
    text = " ".join(expression.split())
    if len(text.split(" ")) != 5:
        raise ValueError(f"cron schedule {expression!r} must have 5 fields (minute hour day month weekday)")
    if not croniter.is_valid(text):
        raise ValueError(f"invalid cron schedule {expression!r}")
    return text


def next_slot(expression: str, after: datetime) -> datetime:
    """The first slot strictly after ``after`` (UTC)."""
    slot: datetime = croniter(expression, _utc(after)).get_next(datetime)
    return slot.astimezone(UTC)


def due_slot(expression: str, since: datetime, now: datetime) -> datetime | None:
    """The latest slot in ``(since, now]``, or None. Several missed slots collapse into one run."""
    since, now = _utc(since), _utc(now)
    slot = next_slot(expression, since)
    if slot > now:
        return None
    latest = slot
    while True:
        following = next_slot(expression, latest)
        if following > now:
            return latest
        latest = following


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
