"""OAuth against the sandbox: grants, refresh, fallback, 401 replay (fluent-api.md §2.3)."""

from __future__ import annotations

import pytest

from fluentsync.connectors.fluent import FluentAuthError
from tests.fixtures.sandbox_admin import Admin

from ...unit.fluent.fakes import FakeClock
from .conftest import ClientFactory

pytestmark = pytest.mark.integration

ME = "query { me { ref } }"


async def test_password_grant(make_fluent: ClientFactory, admin: Admin) -> None:
    client = make_fluent()
    assert await client.check_connection()
    assert client.auth.stats["password"] == 1
    assert await admin.statuses("token") == [200]


async def test_client_credentials_grant(make_fluent: ClientFactory, admin: Admin) -> None:
    client = make_fluent(user=False)
    await client.graphql.query(ME)
    assert client.auth.stats["client_credentials"] == 1 and client.auth.stats["password"] == 0


@pytest.mark.parametrize("wrong", ["password", "secret"])
async def test_wrong_credentials_401_without_secrets(make_fluent: ClientFactory, admin: Admin, wrong: str) -> None:
    bad = "definitely-wrong-Value-1"
    client = make_fluent(password=bad) if wrong == "password" else make_fluent(secret=bad)
    with pytest.raises(FluentAuthError) as info:
        await client.check_connection()
    err = info.value
    assert err.status == 401 and not err.retryable
    for text in (str(err), repr(err), repr(err.body), str(err.__cause__), str(err.__context__)):
        assert bad not in text
        assert "sandbox-secret" not in text and "sandbox-password" not in text
    assert await admin.statuses("token") == [401]  # bad credentials are never retried
    assert await admin.statuses("graphql") == []


async def test_refresh_before_expiry_uses_refresh_grant(make_fluent: ClientFactory, admin: Admin) -> None:
    clock = FakeClock()
    client = make_fluent(clock=clock)
    await client.graphql.query(ME)
    first = await client.auth.get_token()
    clock.now = client.auth.expires_at + 0.001  # 60 s before the server-side expiry
    await client.graphql.query(ME)
    assert await client.auth.get_token() != first
    assert client.auth.stats["refresh_token"] == 1 and client.auth.stats["password"] == 1
    assert await admin.statuses("graphql") == [200, 200]


async def test_revoked_refresh_token_falls_back_to_full_grant(make_fluent: ClientFactory, admin: Admin) -> None:
    clock = FakeClock()
    client = make_fluent(clock=clock)
    await client.graphql.query(ME)
    await admin.revoke()
    clock.now = client.auth.expires_at + 1
    await client.graphql.query(ME)
    stats = client.auth.stats
    assert (stats["password"], stats["refresh_token_failed"], stats["refresh_token"]) == (2, 1, 0)
    assert await admin.statuses("token") == [200, 401, 200]
    assert await admin.statuses("graphql") == [200, 200]


async def test_expired_access_token_401_refresh_and_replay(make_fluent: ClientFactory, admin: Admin) -> None:
    client = make_fluent()
    await client.graphql.query(ME)
    await admin.expire()
    await client.graphql.query(ME)
    assert await admin.statuses("graphql") == [200, 401, 200]
    assert client.auth.stats["refresh_token"] == 1  # the refresh token survived the 401


async def test_revoked_tokens_401_then_full_grant_and_replay(make_fluent: ClientFactory, admin: Admin) -> None:
    client = make_fluent()
    await client.jobs.create_job("auth-test")
    await admin.revoke()
    job = await client.jobs.create_job("auth-test-2")
    assert job.id
    assert await admin.statuses("job_create") == [200, 401, 200]
    assert await admin.statuses("token") == [200, 401, 200]


async def test_401_forever_is_bounded_to_three_replays(make_fluent: ClientFactory, admin: Admin) -> None:
    client = make_fluent()
    await admin.fault("graphql", "status", status=401)
    with pytest.raises(FluentAuthError) as info:
        await client.graphql.query(ME)
    assert info.value.status == 401
    assert await admin.statuses("graphql") == [401, 401, 401, 401]
    assert len(await admin.requests("token")) == 4  # the first grant + one per replay
