"""Fixtures for the Fluent client's acceptance tests against the sandbox (tests/fixtures/sandbox.py).

Every test starts from a reset sandbox. Retry delays are shortened where spacing is not the point;
tests that check real spacing build their own client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from fluentsync.connectors.fluent import FluentClient, FluentSettings, RetryPolicy, Timeouts
from tests.fixtures.sandbox_admin import Admin

pytestmark = pytest.mark.integration

FAST = RetryPolicy(
    jitter="none",
    base_delay=0.02,
    max_delay=0.1,
    auth_base_delay=0.02,
    max_auth_delay=0.05,
)


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
