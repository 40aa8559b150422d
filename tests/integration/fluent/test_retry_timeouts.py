"""Retries and time-outs against the sandbox with injected faults (R40-R42, fluent-api.md §3.4)."""

from __future__ import annotations

import time

import pytest

from fluentsync.connectors.fluent import (
    FluentClientError,
    FluentNetworkError,
    FluentRateLimitError,
    FluentServerError,
    FluentTimeoutError,
    RetryPolicy,
    Timeouts,
)
from tests.fixtures.sandbox_admin import Admin

from .conftest import ClientFactory

pytestmark = pytest.mark.integration

ME = "query { me { ref } }"


async def test_5xx_burst_then_success(make_fluent: ClientFactory, admin: Admin) -> None:
    client = make_fluent()
    await admin.fault("graphql", "status", status=503, times=2)
    assert await client.check_connection()
    assert await admin.statuses("graphql") == [503, 503, 200]


async def test_5xx_forever_keeps_status_after_bounded_attempts(make_fluent: ClientFactory, admin: Admin) -> None:
    client = make_fluent()
    await admin.fault("job_create", "status", status=502)
    with pytest.raises(FluentServerError) as info:
        await client.jobs.create_job("never")
    assert info.value.status == 502 and info.value.retryable and info.value.attempts == 4
    assert await admin.statuses("job_create") == [502] * 4


async def test_429_retry_after_is_honoured_with_real_spacing(make_fluent: ClientFactory, admin: Admin) -> None:
    # Default policy (full jitter, 1 s base): the wait must come from Retry-After, not the back-off.
    client = make_fluent(retry=RetryPolicy())
    await client.check_connection()
    await admin.call("DELETE", "/requests")
    await admin.fault("graphql", "status", status=429, retry_after=1, times=1)
    started = time.monotonic()
    await client.graphql.query(ME)
    elapsed = time.monotonic() - started
    assert elapsed >= 0.95
    log = await admin.requests("graphql")
    assert [r["status"] for r in log] == [429, 200]
    if isinstance(log[0].get("at"), int | float):
        assert log[1]["at"] - log[0]["at"] >= 0.95


async def test_429_gives_up_after_rate_limit_budget(make_fluent: ClientFactory, admin: Admin) -> None:
    client = make_fluent()
    await admin.fault("event_async", "status", status=429, retry_after=0)
    with pytest.raises(FluentRateLimitError) as info:
        await client.events.send({"name": "OrderCancel", "entityType": "ORDER", "entityRef": "O-1"})
    assert info.value.status == 429 and info.value.retry_after == 0
    assert len(await admin.requests("event_async")) == 4


async def test_400_is_sent_exactly_once(make_fluent: ClientFactory, admin: Admin) -> None:
    client = make_fluent()
    await admin.fault("job_create", "status", status=400, body={"code": "BAD", "message": "no"})
    with pytest.raises(FluentClientError) as info:
        await client.jobs.create_job("bad")
    assert info.value.status == 400 and info.value.body == {"code": "BAD", "message": "no"}
    assert await admin.statuses("job_create") == [400]


async def test_slow_response_hits_total_deadline_then_retry_succeeds(make_fluent: ClientFactory, admin: Admin) -> None:
    client = make_fluent(timeouts=Timeouts(job=0.3))
    await client.check_connection()
    await admin.fault("job_create", "latency", delay=2.0, times=1)
    started = time.monotonic()
    job = await client.jobs.create_job("slow")
    assert job.id
    assert time.monotonic() - started < 1.5  # 0.3 s deadline + fast back-off + second attempt


async def test_read_timeout(make_fluent: ClientFactory, admin: Admin) -> None:
    client = make_fluent(timeouts=Timeouts(read=0.2), retry=RetryPolicy(max_retries=0))
    await client.check_connection()
    await admin.fault("job_get", "latency", delay=2.0)
    started = time.monotonic()
    with pytest.raises(FluentTimeoutError, match="ReadTimeout") as info:
        await client.jobs.get_job("1")
    assert time.monotonic() - started < 1.0
    assert info.value.retryable and info.value.status is None


@pytest.mark.parametrize(
    ("route", "call"),
    [
        ("graphql", lambda c: c.graphql.query(ME)),
        ("job_create", lambda c: c.jobs.create_job("hang")),
        ("event_async", lambda c: c.events.send({"name": "CREATE", "entityType": "ORDER", "entityRef": "x"})),
        (
            "event_sync",
            lambda c: c.events.send_sync({"name": "CREATE", "entityType": "ORDER", "entityRef": "x"}),
        ),
        ("event_search", lambda c: c.events.search(name="x")),
    ],
)
async def test_hanging_route_times_out_within_limit_and_is_retried(
    make_fluent: ClientFactory, admin: Admin, route: str, call: object
) -> None:
    limit = 0.3
    client = make_fluent(
        timeouts=Timeouts().with_all(limit),
        retry=RetryPolicy(max_retries=1, jitter="none", base_delay=0.05, max_delay=1),
    )
    await client.check_connection()
    await admin.call("DELETE", "/requests")
    await admin.fault(route, "hang")
    started = time.monotonic()
    with pytest.raises(FluentTimeoutError) as info:
        await call(client)  # type: ignore[operator]
    elapsed = time.monotonic() - started
    assert info.value.attempts == 2
    assert elapsed < 2 * limit + 0.05 + 1.0  # R40: each attempt within the configured time + 1 s
    assert elapsed >= 2 * limit


async def test_connection_reset_is_retried(make_fluent: ClientFactory, admin: Admin) -> None:
    client = make_fluent()
    await client.check_connection()
    await admin.fault("job_create", "reset", times=1)
    job = await client.jobs.create_job("after-reset")
    assert job.id
    assert len(await admin.requests("job_create")) == 2


async def test_connection_reset_forever_is_a_network_error(make_fluent: ClientFactory, admin: Admin) -> None:
    client = make_fluent()
    await admin.fault("graphql", "reset")
    with pytest.raises(FluentNetworkError) as info:
        await client.graphql.query(ME)
    assert info.value.retryable and info.value.attempts == 4


async def test_token_endpoint_5xx_burst_is_retried(make_fluent: ClientFactory, admin: Admin) -> None:
    client = make_fluent()
    await admin.fault("token", "status", status=503, times=2)
    assert await client.check_connection()
    assert await admin.statuses("token") == [503, 503, 200]


async def test_hanging_token_endpoint_times_out_and_is_retried(make_fluent: ClientFactory, admin: Admin) -> None:
    client = make_fluent(timeouts=Timeouts(token=0.3))
    await admin.fault("token", "hang", times=1)
    started = time.monotonic()
    assert await client.check_connection()
    assert 0.3 <= time.monotonic() - started < 1.5
    assert len(await admin.requests("token")) == 2
