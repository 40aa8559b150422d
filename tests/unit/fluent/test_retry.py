"""Back-off arithmetic and the retry decision table (R41, R42), without sleeping."""

from __future__ import annotations

import email.utils

import pytest

from fluentsync.connectors.fluent import (
    FluentAuthError,
    FluentClientError,
    FluentNetworkError,
    FluentRateLimitError,
    FluentServerError,
    FluentTimeoutError,
    RetryPolicy,
    Timeouts,
)
from fluentsync.connectors.fluent.retry import parse_retry_after


def test_exponential_no_jitter_capped() -> None:
    policy = RetryPolicy(jitter="none", base_delay=1.0, max_delay=10.0)
    assert [policy.backoff(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_full_jitter_spans_zero_to_capped() -> None:
    low = RetryPolicy(jitter="full", random=lambda: 0.0)
    high = RetryPolicy(jitter="full", random=lambda: 0.999999)
    assert low.backoff(3) == 0.0
    assert high.backoff(3) == pytest.approx(4.0, rel=1e-5)
    assert high.backoff(10) == pytest.approx(10.0, rel=1e-5)


def test_proportional_jitter_is_plus_minus_twenty_percent() -> None:
    low = RetryPolicy(jitter="proportional", random=lambda: 0.0)
    mid = RetryPolicy(jitter="proportional", random=lambda: 0.5)
    high = RetryPolicy(jitter="proportional", random=lambda: 1.0)
    assert low.backoff(2) == pytest.approx(1.6)
    assert mid.backoff(2) == pytest.approx(2.0)
    assert high.backoff(2) == pytest.approx(2.4)


def test_default_policy_matches_issue_and_r41() -> None:
    policy = RetryPolicy()
    assert policy.jitter == "full"
    assert (policy.max_retries, policy.base_delay, policy.max_delay) == (3, 1.0, 10.0)
    assert (policy.rate_limit_max_retries, policy.max_auth_retries) == (3, 3)


def test_auth_backoff_is_one_two_four_capped_at_five() -> None:
    policy = RetryPolicy()
    assert [policy.auth_backoff(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]


def test_decision_table() -> None:
    policy = RetryPolicy(jitter="none")
    server = FluentServerError("x", status=503)
    assert [policy.delay_for(server, n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, None]
    assert policy.delay_for(FluentNetworkError("x"), 1) == 1.0
    assert policy.delay_for(FluentTimeoutError("x"), 3) == 4.0
    assert policy.delay_for(FluentClientError("x", status=400), 1) is None
    assert policy.delay_for(FluentAuthError("x", status=401), 1) is None
    limited = FluentRateLimitError("x", status=429, retry_after=2.5)
    assert policy.delay_for(limited, 1) == 2.5
    assert policy.delay_for(limited, 4) is None
    assert policy.delay_for(FluentRateLimitError("x", status=429), 2) == 2.0
    too_long = FluentRateLimitError("x", status=429, retry_after=120)
    assert policy.delay_for(too_long, 1) is None


def test_budgets_are_separate() -> None:
    policy = RetryPolicy(max_retries=1, rate_limit_max_retries=5)
    assert policy.budget_for(FluentServerError("x", status=500)) == 1
    assert policy.budget_for(FluentRateLimitError("x", status=429)) == 5


@pytest.mark.parametrize(
    "kwargs",
    [{"max_retries": 11}, {"base_delay": -1}, {"jitter": "bogus"}, {"base_delay": 5, "max_delay": 1}],
)
def test_policy_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_parse_retry_after() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    date = email.utils.formatdate(1_000_030.0, usegmt=True)
    assert parse_retry_after(date, now=lambda: 1_000_000.0) == pytest.approx(30.0)


def test_timeouts_defaults_and_bounds() -> None:
    t = Timeouts()
    assert (t.event_sync, t.event_async, t.graphql, t.job) == (30.0, 15.0, 60.0, 300.0)
    assert t.total("job") == 300.0
    Timeouts(job=600)
    with pytest.raises(ValueError):
        Timeouts(job=601)
    with pytest.raises(ValueError):
        Timeouts(connect=0)


def test_httpx_timeouts_per_attempt() -> None:
    from fluentsync.connectors.fluent.wire import _httpx_timeout

    t = _httpx_timeout(Timeouts(connect=2.0), 60.0)
    assert (t.connect, t.read, t.write, t.pool) == (2.0, 60.0, 60.0, 10.0)
    t = _httpx_timeout(Timeouts(connect=20.0, read=5.0), 3.0)
    assert (t.connect, t.read) == (3.0, 3.0)
