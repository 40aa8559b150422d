"""OAuth token endpoint and bearer checks (fluent-api.md §2)."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.sandbox import SandboxHandle

from .helpers import gql

pytestmark = pytest.mark.integration


def _form(sb: SandboxHandle, **extra: str) -> dict[str, str]:
    return {"client_id": sb.client_id, "client_secret": sb.client_secret, **extra}


async def test_password_grant_returns_fluent_token_shape(fresh: SandboxHandle) -> None:
    async with httpx.AsyncClient(base_url=fresh.base_url) as http:
        response = await http.post(
            "/oauth/token",
            data=_form(fresh, grant_type="password", username=fresh.username, password=fresh.password, scope="api"),
        )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == fresh.config.token_ttl
    assert body["scope"] == "api"
    assert body["access_token"] and body["refresh_token"]


async def test_client_credentials_and_query_string_params(fresh: SandboxHandle) -> None:
    async with httpx.AsyncClient(base_url=fresh.base_url) as http:
        form = await http.post("/oauth/token", data=_form(fresh, grant_type="client_credentials", scope="api"))
        query = await http.post("/oauth/token", params=_form(fresh, grant_type="client_credentials"))
    assert form.status_code == 200 and query.status_code == 200
    token = form.json()["access_token"]
    async with httpx.AsyncClient(base_url=fresh.base_url, headers={"Authorization": f"Bearer {token}"}) as c:
        me = await gql(c, "{ me { ref } }")
    assert me["data"]["me"]["ref"] == fresh.client_id


async def test_bad_credentials_are_401_with_oauth_error(fresh: SandboxHandle) -> None:
    async with httpx.AsyncClient(base_url=fresh.base_url) as http:
        bad_user = await http.post(
            "/oauth/token", data=_form(fresh, grant_type="password", username=fresh.username, password="wrong-password")
        )
        bad_client = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": fresh.client_id, "client_secret": "nope-nope-nope"},
        )
        unknown_grant = await http.post("/oauth/token", data=_form(fresh, grant_type="implicit"))
        missing = await http.post("/oauth/token", data={"grant_type": "password"})
    assert (bad_user.status_code, bad_user.json()["error"]) == (401, "invalid_grant")
    assert (bad_client.status_code, bad_client.json()["error"]) == (401, "invalid_client")
    assert (unknown_grant.status_code, unknown_grant.json()["error"]) == (400, "unsupported_grant_type")
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")


async def test_refresh_grant_is_single_use(fresh: SandboxHandle) -> None:
    async with httpx.AsyncClient(base_url=fresh.base_url) as http:
        first = (
            await http.post(
                "/oauth/token",
                data=_form(fresh, grant_type="password", username=fresh.username, password=fresh.password),
            )
        ).json()
        refreshed = await http.post(
            "/oauth/token", data=_form(fresh, grant_type="refresh_token", refresh_token=first["refresh_token"])
        )
        again = await http.post(
            "/oauth/token", data=_form(fresh, grant_type="refresh_token", refresh_token=first["refresh_token"])
        )
    assert refreshed.status_code == 200
    assert refreshed.json()["access_token"] != first["access_token"]
    assert again.status_code == 401


async def test_every_fluent_route_needs_a_valid_bearer(fresh: SandboxHandle) -> None:
    calls = [
        ("POST", "/graphql"),
        ("POST", "/api/v4.1/job"),
        ("GET", "/api/v4.1/job/1"),
        ("POST", "/api/v4.1/job/1/batch"),
        ("GET", "/api/v4.1/job/1/batch/1"),
        ("GET", "/api/v4.1/job/1/results"),
        ("POST", "/api/v4.1/event/async"),
        ("POST", "/api/v4.1/event/sync"),
        ("GET", "/api/v4.1/event"),
        ("GET", "/api/v4.1/event/x"),
    ]
    async with httpx.AsyncClient(base_url=fresh.base_url) as http:
        for method, path in calls:
            missing = await http.request(method, path, json={})
            wrong = await http.request(method, path, json={}, headers={"Authorization": "Bearer nope"})
            assert missing.status_code == 401, path
            assert wrong.status_code == 401, path
            assert wrong.json()["error"] == "invalid_token"


async def test_admin_revoke_and_expire(fresh: SandboxHandle) -> None:
    async with httpx.AsyncClient(base_url=fresh.base_url) as http:
        tokens = (
            await http.post(
                "/oauth/token",
                data=_form(fresh, grant_type="password", username=fresh.username, password=fresh.password),
            )
        ).json()
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert (await http.post("/graphql", json={"query": "{me{ref}}"}, headers=auth)).status_code == 200

        assert (await http.post("/_sandbox/tokens/expire")).json()["expired"] == 1
        assert (await http.post("/graphql", json={"query": "{me{ref}}"}, headers=auth)).status_code == 401
        refreshed = await http.post(
            "/oauth/token", data=_form(fresh, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
        )
        assert refreshed.status_code == 200, "refresh tokens survive an expiry"

        await http.post("/_sandbox/tokens/revoke")
        new_auth = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
        assert (await http.post("/graphql", json={"query": "{me{ref}}"}, headers=new_auth)).status_code == 401
        dead = await http.post(
            "/oauth/token",
            data=_form(fresh, grant_type="refresh_token", refresh_token=refreshed.json()["refresh_token"]),
        )
        assert dead.status_code == 401


async def test_rotate_refresh_forces_full_grant(fresh: SandboxHandle) -> None:
    async with httpx.AsyncClient(base_url=fresh.base_url) as http:
        tokens = (
            await http.post(
                "/oauth/token",
                data=_form(fresh, grant_type="password", username=fresh.username, password=fresh.password),
            )
        ).json()
        assert (await http.post("/_sandbox/tokens/rotate-refresh")).json()["invalidated"] >= 1
        refresh = await http.post(
            "/oauth/token", data=_form(fresh, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
        )
    assert refresh.status_code == 401
