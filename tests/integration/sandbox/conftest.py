"""Helpers for the sandbox tests: an authenticated httpx client and a GraphQL shortcut."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from tests.fixtures.sandbox import SandboxHandle


@pytest_asyncio.fixture(loop_scope="session")
async def fresh(sandbox: SandboxHandle) -> SandboxHandle:
    """The session sandbox, reset to its defaults."""
    await sandbox.reset()
    return sandbox


@pytest_asyncio.fixture(loop_scope="session")
async def client(fresh: SandboxHandle) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client with a valid bearer token for the freshly reset sandbox."""
    token = await fresh.token()
    async with httpx.AsyncClient(
        base_url=fresh.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as http:
        yield http
