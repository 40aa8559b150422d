"""Retry policy: which failures are retried, how often, and how long to wait in between.

Why a config object rather than constants: the sink, the extractor and tests need different budgets
(R41: 3 retries, 5 when resuming a checkpoint; tests want milliseconds), and back-off arithmetic must be
testable without sleeping, so the random source is injected.

Back-off for the *n*-th retry (n = 1, 2, …) is ``min(max_delay, base_delay · 2^(n-1))`` and then
jittered:

* ``jitter="full"`` (**default**, per the issue): uniform in ``[0, capped]`` — the AWS "full jitter"
  scheme. Concurrent workers that failed together spread out instead of retrying in lock-step, which is
  what matters when a whole consumer group hits the same 5xx burst.
* ``jitter="proportional"``: ``capped · (1 ± jitter_ratio)``, ±20 % by default — requirements.md R41's
  literal wording. Choose it when predictable spacing matters more than de-synchronisation.
* ``jitter="none"``: exactly ``capped``.

The cap applies before jitter. ``Retry-After`` (seconds or an HTTP date) replaces the computed delay for
429 and 5xx; a Retry-After above ``max_retry_after`` is not waited out inside the client: the error is
raised with ``retry_after`` set so the caller can apply back-pressure.

Budgets are separate (R42): network errors and 5xx share ``max_retries``; 429 has
``rate_limit_max_retries``; 401 replays have ``max_auth_retries`` with their own delay
``min(auth_base_delay · 2^n, max_auth_delay)`` (fluent-api.md §2.3 rule 6: 1 s, 2 s, 4 s, capped at 5 s).
4xx other than 401/429 are never retried.
"""

from __future__ import annotations

import email.utils
import random as _random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from .errors import (
    FluentError,
    FluentRateLimitError,
    FluentServerError,
    FluentTransportError,
)

__all__ = ["JitterMode", "RetryPolicy", "parse_retry_after"]

JitterMode = Literal["full", "proportional", "none"]


@dataclass(frozen=True)
class RetryPolicy:
    """How the request core retries. Times are in seconds."""

    max_retries: int = 3
    """Retries (after the first attempt) for network errors, time-outs and 5xx."""
    rate_limit_max_retries: int = 3
    """Retries for 429 responses."""
    base_delay: float = 1.0
    max_delay: float = 10.0
    jitter: JitterMode = "full"
    jitter_ratio: float = 0.2
    """Half-width of the proportional jitter band (0.2 → ±20 %)."""
    max_retry_after: float = 60.0
    """Longest Retry-After the client waits out by itself."""
    max_auth_retries: int = 3
    """401 replays per call (each after a fresh token)."""
    auth_base_delay: float = 1.0
    max_auth_delay: float = 5.0
    token_max_retries: int = 3
    """Retries of the token endpoint on network errors and 5xx (never on 4xx)."""
    max_elapsed: float | None = None
    """Optional budget for one call across all its attempts; no further retry starts past it."""
    random: Callable[[], float] = field(default=_random.random, compare=False, repr=False)
    """Source of uniform [0, 1) numbers; inject a fixed one in tests."""

    def __post_init__(self) -> None:
        for name in ("max_retries", "rate_limit_max_retries", "max_auth_retries", "token_max_retries"):
            value = getattr(self, name)
            if not 0 <= value <= 10:
                raise ValueError(f"RetryPolicy.{name} must be within 0..10, got {value}")
        for name in ("base_delay", "max_delay", "auth_base_delay", "max_auth_delay", "max_retry_after"):
            value = getattr(self, name)
            if not 0 <= value <= 600:
                raise ValueError(f"RetryPolicy.{name} must be within 0..600 s, got {value}")
        if self.max_delay < self.base_delay:
            raise ValueError("RetryPolicy.max_delay must be >= base_delay")
        if self.jitter not in ("full", "proportional", "none"):
            raise ValueError(f"RetryPolicy.jitter must be full, proportional or none, got {self.jitter!r}")
        if not 0 <= self.jitter_ratio < 1:
            raise ValueError("RetryPolicy.jitter_ratio must be within [0, 1)")

    def backoff(self, retry: int) -> float:
        """Delay before the ``retry``-th retry (1-based), jittered per :attr:`jitter`."""
        capped = min(self.max_delay, self.base_delay * 2.0 ** max(retry - 1, 0))
        if self.jitter == "full":
            return capped * self.random()
        if self.jitter == "proportional":
            return capped * (1 + self.jitter_ratio * (2 * self.random() - 1))
        return capped

    def auth_backoff(self, replay: int) -> float:
        """Delay before the ``replay``-th 401 replay (1-based): ``min(base · 2^(n-1), max)``."""
        return min(self.max_auth_delay, self.auth_base_delay * 2.0 ** max(replay - 1, 0))

    def budget_for(self, error: FluentError) -> int:
        """How many retries this kind of error gets (0 = fail fast)."""
        if isinstance(error, FluentRateLimitError):
            return self.rate_limit_max_retries
        if isinstance(error, FluentServerError | FluentTransportError):
            return self.max_retries
        return 0

    def delay_for(self, error: FluentError, retry: int) -> float | None:
        """Seconds to wait before retry number ``retry`` of ``error``, or None to give up now.

        Honours ``error.retry_after`` (from Retry-After) for 429 and 5xx; gives up when it exceeds
        :attr:`max_retry_after`.
        """
        if not error.retryable or retry > self.budget_for(error):
            return None
        if error.retry_after is not None:
            if error.retry_after > self.max_retry_after:
                return None
            return max(error.retry_after, 0.0)
        return self.backoff(retry)


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date; None if absent/invalid."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(when.timestamp() - now(), 0.0)
