"""Time-outs per operation (requirements.md R40), as one immutable config object.

Why per operation: a synchronous event waits for a workflow (30 s), an asynchronous one should be
accepted at once (15 s), a GraphQL page may be heavy (60 s) and Job/Batch REST calls carry megabytes
(300 s). The reference SDK accepted time-outs but never passed them to the HTTP layer; here every
attempt runs under two clocks:

* httpx's own ``connect`` / ``read`` / ``write`` / ``pool`` time-outs (a stalled socket), and
* a **total** deadline per attempt (``asyncio.timeout``) equal to the operation's value, because httpx's
  read time-out restarts on every chunk, so a slowly trickling response would otherwise never end.

Both raise :class:`~fluentsync.connectors.fluent.errors.FluentTimeoutError`, which is retried per the
:class:`~fluentsync.connectors.fluent.retry.RetryPolicy` like a network error.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

__all__ = ["MAX_TIMEOUT", "Operation", "Timeouts"]

MAX_TIMEOUT = 600.0

Operation = Literal["token", "graphql", "event_sync", "event_async", "event_read", "job"]


@dataclass(frozen=True)
class Timeouts:
    """Seconds. Every operation value is the total deadline of one attempt (≤ 600 s)."""

    connect: float = 10.0
    read: float | None = None
    """Per-socket-read limit; None means "the operation's total"."""
    pool: float = 10.0
    token: float = 30.0
    graphql: float = 60.0
    event_sync: float = 30.0
    event_async: float = 15.0
    event_read: float = 30.0
    """Event search and get-by-id."""
    job: float = 300.0
    """Job/Batch REST (create job, send batch, job/batch status, results)."""

    def __post_init__(self) -> None:
        for name in ("connect", "pool", "token", "graphql", "event_sync", "event_async", "event_read", "job"):
            value = getattr(self, name)
            if not 0 < value <= MAX_TIMEOUT:
                raise ValueError(f"Timeouts.{name} must be within (0, {MAX_TIMEOUT:g}] s, got {value}")
        if self.read is not None and not 0 < self.read <= MAX_TIMEOUT:
            raise ValueError(f"Timeouts.read must be within (0, {MAX_TIMEOUT:g}] s, got {self.read}")

    def total(self, operation: Operation) -> float:
        """The total per-attempt deadline for ``operation``."""
        return float(getattr(self, operation))

    def with_all(self, seconds: float) -> Timeouts:
        """A copy with every operation deadline set to ``seconds`` (connect/pool kept, capped)."""
        return replace(
            self,
            token=seconds,
            graphql=seconds,
            event_sync=seconds,
            event_async=seconds,
            event_read=seconds,
            job=seconds,
            connect=min(self.connect, seconds),
        )
