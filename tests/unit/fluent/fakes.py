"""A tiny scripted Fluent for unit tests, served through ``httpx.MockTransport``.

Only for narrow tests (single-flight, back-off arithmetic, cursor handling): the behaviour tests run
against the real sandbox in tests/integration/fluent.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import httpx

from fluentsync.connectors.fluent import FluentClient, FluentSettings, RetryPolicy, Timeouts

Handler = Callable[[httpx.Request], Awaitable[httpx.Response] | httpx.Response]

SECRET = "super-secret-value"
PASSWORD = "hunter2-password"


class FakeFluent:
    """Token endpoint + per-path scripted handlers; records every request."""

    def __init__(self, *, expires_in: int = 3600, token_delay: float = 0.0) -> None:
        self.expires_in = expires_in
        self.token_delay = token_delay
        self.requests: list[httpx.Request] = []
        self.token_forms: list[dict[str, str]] = []
        self.routes: dict[str, Handler] = {}
        self.token_script: list[httpx.Response] = []
        self._ids = itertools.count(1)
        self.valid_tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/oauth/token":
            return await self._token(request)
        handler = self.routes.get(request.url.path)
        if handler is None:
            return httpx.Response(404, json={"code": "NOT_FOUND"})
        result = handler(request)
        if isinstance(result, httpx.Response):
            return result
        return await result

    async def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.token_forms.append(form)
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        if self.token_script:
            return self.token_script.pop(0)
        if form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                return httpx.Response(401, json={"error": "invalid_grant"})
            self.refresh_tokens.discard(form["refresh_token"])
        n = next(self._ids)
        access, refresh = f"access-{n}", f"refresh-{n}"
        self.valid_tokens.add(access)
        self.refresh_tokens.add(refresh)
        return httpx.Response(
            200,
            json={
                "access_token": access,
                "token_type": "bearer",
                "expires_in": self.expires_in,
                "refresh_token": refresh,
            },
        )

    def api_requests(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]

    def grants(self) -> list[str]:
        return [f.get("grant_type", "") for f in self.token_forms]


class Sleeps:
    """An injectable ``sleep`` that records delays and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.calls.append(delay)
        await asyncio.sleep(0)


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def make_client(
    fake: FakeFluent,
    *,
    sleep: Sleeps | None = None,
    clock: FakeClock | None = None,
    retry: RetryPolicy | None = None,
    timeouts: Timeouts | None = None,
    username: str | None = "user",
    retailer_id: str | None = "1",
) -> FluentClient:
    settings = FluentSettings(
        base_url="https://acme.test.fluentretail.com",
        client_id="acme",
        client_secret=SECRET,
        username=username,
        password=PASSWORD if username else None,
        retailer_id=retailer_id,
        _env_file=None,  # type: ignore[call-arg]
    )
    kwargs: dict[str, Any] = {}
    if clock is not None:
        kwargs["clock"] = clock
    return FluentClient(
        settings,
        transport=fake.transport(),
        retry=retry or RetryPolicy(jitter="none"),
        timeouts=timeouts,
        sleep=sleep or Sleeps(),
        **kwargs,
    )


def gql(data: Any = None, errors: list[dict[str, Any]] | None = None) -> httpx.Response:
    body: dict[str, Any] = {"data": data}
    if errors is not None:
        body["errors"] = errors
    return httpx.Response(200, json=body)


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None
