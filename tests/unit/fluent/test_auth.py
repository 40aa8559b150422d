"""Token manager rules (fluent-api.md §2.3) that need precise control: concurrency, clock, scripts."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from fluentsync.connectors.fluent import (
    FluentAuthError,
    FluentClient,
    FluentConfigError,
    FluentNetworkError,
    FluentSettings,
    RetryPolicy,
)

from .fakes import PASSWORD, SECRET, FakeClock, FakeFluent, Sleeps, make_client


def _me() -> httpx.Response:
    return httpx.Response(200, json={"data": {"me": {"ref": "user"}}})


async def test_password_grant_form_body() -> None:
    fake = FakeFluent()
    fake.routes["/graphql"] = lambda r: _me()
    async with make_client(fake) as client:
        assert await client.check_connection() == "user"
    form = fake.token_forms[0]
    assert form == {
        "grant_type": "password",
        "client_id": "acme",
        "client_secret": SECRET,
        "username": "user",
        "password": PASSWORD,
        "scope": "api",
    }
    token_request = fake.api_requests("/oauth/token")[0]
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert not token_request.url.query
    assert fake.api_requests("/graphql")[0].headers["authorization"] == "Bearer access-1"


async def test_client_credentials_when_no_user() -> None:
    fake = FakeFluent()
    fake.routes["/graphql"] = lambda r: _me()
    async with make_client(fake, username=None) as client:
        await client.check_connection()
    assert fake.token_forms[0] == {
        "grant_type": "client_credentials",
        "client_id": "acme",
        "client_secret": SECRET,
        "scope": "api",
    }


async def test_single_flight_under_concurrency() -> None:
    fake = FakeFluent(token_delay=0.05)
    fake.routes["/graphql"] = lambda r: _me()
    async with make_client(fake) as client:
        await asyncio.gather(*(client.check_connection() for _ in range(25)))
    assert fake.grants() == ["password"]
    assert len(fake.api_requests("/graphql")) == 25


async def test_single_flight_failure_reaches_every_waiter_once() -> None:
    fake = FakeFluent(token_delay=0.05)
    fake.token_script = [httpx.Response(401, json={"error": "invalid_client"})]
    async with make_client(fake) as client:
        results = await asyncio.gather(*(client.check_connection() for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, FluentAuthError) and r.status == 401 for r in results)
    assert len(fake.token_forms) == 1


async def test_cancelled_waiter_does_not_cancel_the_shared_request() -> None:
    fake = FakeFluent(token_delay=0.1)
    fake.routes["/graphql"] = lambda r: _me()
    async with make_client(fake) as client:
        first = asyncio.create_task(client.auth.get_token())
        second = asyncio.create_task(client.auth.get_token())
        await asyncio.sleep(0.02)
        first.cancel()
        assert await second == "access-1"
    assert len(fake.token_forms) == 1


async def test_refresh_before_expiry_uses_refresh_grant() -> None:
    clock = FakeClock()
    fake = FakeFluent(expires_in=3600)
    async with make_client(fake, clock=clock) as client:
        assert await client.auth.get_token() == "access-1"
        clock.now += 3600 - 61  # still valid: 60 s buffer not reached
        assert await client.auth.get_token() == "access-1"
        clock.now += 2  # inside the 60 s buffer
        assert await client.auth.get_token() == "access-2"
    assert fake.grants() == ["password", "refresh_token"]
    assert fake.token_forms[1]["refresh_token"] == "refresh-1"
    assert "scope" not in fake.token_forms[1]


async def test_refresh_failure_falls_back_to_full_grant_and_drops_refresh_token() -> None:
    clock = FakeClock()
    fake = FakeFluent()
    async with make_client(fake, clock=clock) as client:
        await client.auth.get_token()
        fake.refresh_tokens.clear()  # revoked server-side
        clock.now += 4000
        assert await client.auth.get_token() == "access-2"
        assert client.auth.stats["refresh_token_failed"] == 1
    assert fake.grants() == ["password", "refresh_token", "password"]


async def test_short_lived_tokens_are_not_treated_as_expired_on_arrival() -> None:
    clock = FakeClock()
    fake = FakeFluent(expires_in=5)
    async with make_client(fake, clock=clock) as client:
        await client.auth.get_token()
        clock.now += 2
        await client.auth.get_token()
    assert fake.grants() == ["password"]


async def test_missing_expires_in_means_one_hour() -> None:
    clock = FakeClock()
    fake = FakeFluent()
    fake.token_script = [httpx.Response(200, json={"access_token": "a"})]
    async with make_client(fake, clock=clock) as client:
        await client.auth.get_token()
        assert client.auth.expires_at == pytest.approx(clock.now + 3600 - 60)


async def test_2xx_without_access_token_is_an_auth_error() -> None:
    fake = FakeFluent()
    fake.token_script = [httpx.Response(200, json={"token_type": "bearer"})]
    async with make_client(fake) as client:
        with pytest.raises(FluentAuthError) as info:
            await client.auth.get_token()
    assert info.value.status == 200
    assert len(fake.token_forms) == 1


async def test_bad_credentials_fail_fast_without_secrets() -> None:
    fake = FakeFluent()
    fake.token_script = [
        httpx.Response(401, json={"error": "invalid_grant", "error_description": f"bad password {PASSWORD}"})
    ]
    async with make_client(fake) as client:
        with pytest.raises(FluentAuthError) as info:
            await client.check_connection()
    err = info.value
    assert err.status == 401 and not err.retryable
    for text in (str(err), repr(err), repr(err.body), repr(client), repr(client.auth)):
        assert PASSWORD not in text and SECRET not in text
    assert len(fake.token_forms) == 1


async def test_token_endpoint_5xx_is_retried_then_keeps_status() -> None:
    fake = FakeFluent()
    fake.token_script = [httpx.Response(503, json={"error": "unavailable"}) for _ in range(4)]
    sleeps = Sleeps()
    async with make_client(fake, sleep=sleeps) as client:
        with pytest.raises(FluentAuthError) as info:
            await client.auth.get_token()
    assert info.value.status == 503 and info.value.retryable
    assert len(fake.token_forms) == 4
    assert sleeps.calls == [1.0, 2.0, 4.0]


async def test_token_endpoint_network_error_is_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})

    settings = FluentSettings(base_url="https://x.test", client_id="acme", client_secret=SECRET)
    client = FluentClient(settings, transport=httpx.MockTransport(handler), sleep=Sleeps())
    async with client:
        assert await client.auth.get_token() == "tok"
    assert calls == 3


async def test_token_network_error_message_has_no_password() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"boom {request.content.decode()}", request=request)

    settings = FluentSettings(
        base_url="https://x.test", client_id="acme", client_secret=SECRET, username="u", password=PASSWORD
    )
    policy = RetryPolicy(token_max_retries=0)
    async with FluentClient(settings, transport=httpx.MockTransport(handler), retry=policy) as client:
        with pytest.raises(FluentNetworkError) as info:
            await client.auth.get_token()
    assert PASSWORD not in str(info.value) and SECRET not in str(info.value)
    assert info.value.__cause__ is None


async def test_no_credentials_is_a_clear_config_error_on_first_use() -> None:
    async with FluentClient(FluentSettings(base_url="https://x.test"), transport=FakeFluent().transport()) as c:
        with pytest.raises(FluentConfigError, match="FLUENT_CLIENT_ID"):
            await c.check_connection()
