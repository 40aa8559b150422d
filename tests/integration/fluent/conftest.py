"""Fixtures for the Fluent client's acceptance tests against the sandbox (tests/fixtures/sandbox.py).

Every test starts from a reset sandbox. Retry delays are shortened where spacing is not the point;
tests that check real spacing build their own client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from fluentsync.connectors.fluent import FluentClient, FluentSettings, RetryPolicy, Timeouts

pytestmark = pytest.mark.integration

FAST = RetryPolicy(
    jitter="none",
    base_delay=0.02,
    max_delay=0.1,
    auth_base_delay=0.02,
    max_auth_delay=0.05,
)


class Admin:
    """Direct calls to the sandbox admin API (``/_sandbox/...``, no auth)."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=10)

    async def call(self, method: str, path: str, json: Any = None, params: Any = None) -> Any:
        response = await self.http.request(method, "/_sandbox" + path, json=json, params=params)
        response.raise_for_status()
        return response.json() if response.content else None

    async def fault(self, route: str, kind: str, **kw: Any) -> Any:
        return await self.call("POST", "/faults", json={"route": route, "kind": kind, **kw})

    async def requests(self, route: str) -> list[dict[str, Any]]:
        body = await self.call("GET", "/requests", params={"route": route})
        items = body.get("requests", body) if isinstance(body, dict) else body
        assert isinstance(items, list)
        return items

    async def statuses(self, route: str) -> list[int]:
        return [int(r["status"]) for r in await self.requests(route)]

    async def revoke(self) -> None:
        await self.call("POST", "/tokens/revoke")

    async def expire(self) -> None:
        await self.call("POST", "/tokens/expire")


@pytest.fixture
async def admin(sandbox: Any) -> AsyncIterator[Admin]:
    await sandbox.reset()
    admin = Admin(sandbox.base_url)
    await admin.call("DELETE", "/requests")
    yield admin
    await admin.call("DELETE", "/faults")
    await admin.http.aclose()


ClientFactory = Callable[..., FluentClient]


@pytest.fixture
async def make_fluent(sandbox: Any, admin: Admin) -> AsyncIterator[ClientFactory]:
    """``make_fluent(user=True, retry=FAST, timeouts=None, **client_kwargs)`` → a client on the sandbox."""
    clients: list[FluentClient] = []

    def factory(
        *,
        user: bool = True,
        password: str | None = None,
        secret: str | None = None,
        retry: RetryPolicy | None = FAST,
        timeouts: Timeouts | None = None,
        **kwargs: Any,
    ) -> FluentClient:
        settings = FluentSettings(
            base_url=sandbox.base_url,
            client_id=sandbox.client_id,
            client_secret=secret or sandbox.client_secret,
            username=sandbox.username if user else None,
            password=(password or sandbox.password) if user else None,
            retailer_id=sandbox.retailer_id,
        )
        client = FluentClient(settings, retry=retry, timeouts=timeouts, **kwargs)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.aclose()


@pytest.fixture
async def fluent(make_fluent: ClientFactory) -> FluentClient:
    return make_fluent()
