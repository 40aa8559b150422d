"""The request core's loop, observed through a MockTransport and a recording sleep.

The same behaviours are proven against the sandbox in tests/integration/fluent; these pin the exact
counts and delays cheaply.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from fluentsync.connectors.fluent import (
    FluentAuthError,
    FluentClientError,
    FluentRateLimitError,
    FluentServerError,
    FluentTimeoutError,
    RetryPolicy,
    Timeouts,
)

from .fakes import FakeFluent, Sleeps, make_client

JOB = "/api/v4.1/job/7"


def scripted(*responses: httpx.Response) -> object:
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler


async def test_5xx_burst_then_success() -> None:
    fake = FakeFluent()
    fake.routes[JOB] = scripted(  # type: ignore[assignment]
        httpx.Response(503), httpx.Response(502), httpx.Response(200, json={"id": 7, "status": "OPEN"})
    )
    sleeps = Sleeps()
    async with make_client(fake, sleep=sleeps) as client:
        job = await client.jobs.get_job(7)
    assert job.id == "7" and job.status == "OPEN"
    assert len(fake.api_requests(JOB)) == 3
    assert sleeps.calls == [1.0, 2.0]


async def test_5xx_forever_keeps_status_after_bounded_attempts() -> None:
    fake = FakeFluent()
    fake.routes[JOB] = lambda r: httpx.Response(503, json={"code": "DOWN"})
    async with make_client(fake) as client:
        with pytest.raises(FluentServerError) as info:
            await client.jobs.get_job(7)
    assert info.value.status == 503
    assert info.value.attempts == 4
    assert info.value.body == {"code": "DOWN"}
    assert len(fake.api_requests(JOB)) == 4


async def test_4xx_fails_fast() -> None:
    fake = FakeFluent()
    fake.routes[JOB] = lambda r: httpx.Response(400, json={"code": "BAD"})
    async with make_client(fake) as client:
        with pytest.raises(FluentClientError) as info:
            await client.jobs.get_job(7)
    assert info.value.status == 400 and not info.value.retryable
    assert len(fake.api_requests(JOB)) == 1


async def test_429_honours_retry_after_and_has_its_own_budget() -> None:
    fake = FakeFluent()
    fake.routes[JOB] = lambda r: httpx.Response(429, headers={"Retry-After": "2"})
    sleeps = Sleeps()
    async with make_client(fake, sleep=sleeps, retry=RetryPolicy(rate_limit_max_retries=3, max_retries=0)) as c:
        with pytest.raises(FluentRateLimitError) as info:
            await c.jobs.get_job(7)
    assert sleeps.calls == [2.0, 2.0, 2.0]
    assert info.value.status == 429 and info.value.retry_after == 2.0
    assert len(fake.api_requests(JOB)) == 4


async def test_401_refreshes_and_replays_at_most_three_times() -> None:
    fake = FakeFluent()
    fake.routes[JOB] = lambda r: httpx.Response(401)
    sleeps = Sleeps()
    async with make_client(fake, sleep=sleeps) as client:
        with pytest.raises(FluentAuthError) as info:
            await client.jobs.get_job(7)
    assert info.value.status == 401
    assert len(fake.api_requests(JOB)) == 4  # first try + 3 replays, no outer loop
    assert sleeps.calls == [1.0, 2.0, 4.0]
    # first grant, then a refresh for each replay (refresh token kept across 401s)
    assert fake.grants() == ["password", "refresh_token", "refresh_token", "refresh_token"]


async def test_401_once_then_success() -> None:
    fake = FakeFluent()

    def handler(request: httpx.Request) -> httpx.Response:
        token = request.headers["authorization"].split()[1]
        return httpx.Response(200, json={"id": 7}) if token != "access-1" else httpx.Response(401)

    fake.routes[JOB] = handler
    async with make_client(fake) as client:
        assert (await client.jobs.get_job(7)).id == "7"
    assert len(fake.api_requests(JOB)) == 2


async def test_total_deadline_fires_and_is_retried() -> None:
    fake = FakeFluent()
    calls = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(5)
        return httpx.Response(200, json={"id": 7})

    fake.routes[JOB] = slow
    timeouts = Timeouts(job=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with make_client(fake, timeouts=timeouts) as client:
        assert (await client.jobs.get_job(7)).id == "7"
    assert loop.time() - started < 1.5
    assert calls == 2


async def test_timeout_error_after_budget() -> None:
    fake = FakeFluent()

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    fake.routes[JOB] = hang
    async with make_client(fake, timeouts=Timeouts(job=0.05), retry=RetryPolicy(max_retries=1)) as client:
        with pytest.raises(FluentTimeoutError) as info:
            await client.jobs.get_job(7)
    assert info.value.retryable and info.value.status is None and info.value.attempts == 2


async def test_headers_and_body_parsing() -> None:
    fake = FakeFluent()
    fake.routes[JOB] = lambda r: httpx.Response(200, text="")
    fake.routes["/api/v4.1/job/8"] = lambda r: httpx.Response(200, text="not json")
    async with make_client(fake) as client:
        empty = await client.core.request("GET", JOB, operation="job")
        raw = await client.core.request("GET", "/api/v4.1/job/8", operation="job")
    assert empty.body == {} and raw.body == "not json"
    request = fake.api_requests(JOB)[0]
    assert request.headers["accept"] == "application/json"
    assert request.headers["x-request-id"]
    assert "fluentsync" in request.headers["user-agent"]


async def test_max_elapsed_stops_retrying() -> None:
    fake = FakeFluent()
    fake.routes[JOB] = lambda r: httpx.Response(500)
    policy = RetryPolicy(jitter="none", max_elapsed=1.5)
    async with make_client(fake, retry=policy) as client:
        with pytest.raises(FluentServerError):
            await client.jobs.get_job(7)
    assert len(fake.api_requests(JOB)) == 2  # 1 s back-off fits, 2 s more would not


async def test_error_bodies_are_scrubbed_of_tokens() -> None:
    fake = FakeFluent()
    fake.routes[JOB] = lambda r: httpx.Response(
        500, json={"echo": r.headers["authorization"], "access_token": "leak", "detail": "access-1 rejected"}
    )
    async with make_client(fake, retry=RetryPolicy(max_retries=0)) as client:
        with pytest.raises(FluentServerError) as info:
            await client.jobs.get_job(7)
    err = info.value
    for text in (str(err), repr(err), repr(err.body)):
        assert "access-1" not in text and "leak" not in text
    assert err.body == {"echo": "Bearer ***", "access_token": "***", "detail": "*** rejected"}
