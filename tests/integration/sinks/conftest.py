"""Fixtures for the Batch API sink tests: a reset sandbox, a fast-retrying client, admin helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from fluentsync.connectors.fluent import FluentClient, FluentSettings, RetryPolicy
from tests.fixtures.sandbox_admin import Admin

FAST = RetryPolicy(jitter="none", base_delay=0.01, max_delay=0.05, auth_base_delay=0.01, max_auth_delay=0.05)


@pytest.fixture
async def fluent(sandbox: Any, admin: Admin) -> AsyncIterator[FluentClient]:
    settings = FluentSettings(
        base_url=sandbox.base_url,
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        username=sandbox.username,
        password=sandbox.password,
        retailer_id=sandbox.retailer_id,
    )
    client = FluentClient(settings, retry=FAST)
    yield client
    await client.aclose()


def inventory(i: int, sku: str | None = None) -> dict[str, Any]:
    """A valid INVENTORY entity (fluent-api.md §5.4)."""
    return {
        "skuRef": sku or f"SKU-T{i:05d}",
        "locationRef": "LOC-01",
        "qty": i,
        "type": "LAST_ON_HAND",
        "status": "ACTIVE",
    }
