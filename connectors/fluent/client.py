"""``FluentClient``: the façade that owns one ``httpx.AsyncClient`` and wires the parts together.

Why one shared ``httpx.AsyncClient``: connection pooling and keep-alive across every GraphQL page, batch
POST and event, and one place to close. The client is an async context manager; use it as::

    async with FluentClient(FluentSettings()) as fluent:
        data = await fluent.graphql.query("query { me { ref } }")
        async for page in fluent.paginate(ORDERS_QUERY, {"from": since}):
            ...
        job = await fluent.jobs.create_job("Daily Inventory - 2024-05-01")
        await fluent.events.send({"name": "OrderCancel", "entityType": "ORDER", "entityRef": "O-1"})

Collaborators are public attributes (``graphql``, ``jobs``, ``events``, ``auth``, ``core``) rather than
one big class, in the aiokafka/httpx spirit: one role per object. Tests pass ``transport=`` (an
``httpx.AsyncBaseTransport``, e.g. ``httpx.MockTransport``) and ``sleep=``/``clock=`` instead of
monkeypatching.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from .auth import Credentials, TokenManager
from .config import FluentSettings, normalise_base_url
from .cursors import Direction
from .events import EventMode, EventResponse, EventsAPI
from .graphql import GraphQLAPI
from .jobs import JobsAPI, normalise_id
from .pagination import DEFAULT_PAGE_SIZE, Paginator
from .retry import RetryPolicy
from .timeouts import Timeouts
from .transport import RequestCore

__all__ = ["FluentClient"]

_DEFAULT_LIMITS = httpx.Limits(max_connections=50, max_keepalive_connections=20, keepalive_expiry=30)


class FluentClient:
    """Async Fluent Commerce client. See the module docstring."""

    def __init__(
        self,
        settings: FluentSettings | None = None,
        *,
        base_url: str | None = None,
        credentials: Credentials | None = None,
        retailer_id: str | int | None = None,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        limits: httpx.Limits | None = None,
        expiry_buffer: float | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Build a client from ``settings`` (default: ``FluentSettings()`` from the environment).

        Keyword arguments override the settings. ``http_client`` shares an existing httpx client (not
        closed by :meth:`aclose`); otherwise one is created with ``transport`` and ``limits``.
        """
        if settings is None:
            settings = FluentSettings() if base_url is None else FluentSettings(base_url=base_url)
        self.settings = settings
        self.base_url = normalise_base_url(base_url) if base_url is not None else settings.require_base_url()
        self.timeouts = timeouts or settings.timeouts()
        self.retry = retry or settings.retry_policy()
        self._retailer_id = normalise_id(retailer_id) if retailer_id is not None else settings.retailer_id
        if credentials is None:
            credentials = Credentials(
                client_id=settings.client_id,
                client_secret=settings.client_secret,
                username=settings.username,
                password=settings.password,
            )
        self._owns_http = http_client is None
        self.http = http_client or httpx.AsyncClient(
            transport=transport,
            limits=limits or _DEFAULT_LIMITS,
            follow_redirects=False,
            timeout=httpx.Timeout(self.timeouts.graphql, connect=self.timeouts.connect),
        )
        self.auth = TokenManager(
            self.http,
            self.base_url + "/oauth/token",
            credentials,
            policy=self.retry,
            timeouts=self.timeouts,
            expiry_buffer=settings.token_expiry_buffer if expiry_buffer is None else expiry_buffer,
            clock=clock,
            sleep=sleep,
            user_agent=settings.user_agent,
        )
        self.core = RequestCore(
            self.http,
            self.base_url,
            self.auth,
            policy=self.retry,
            timeouts=self.timeouts,
            sleep=sleep,
            user_agent=settings.user_agent,
        )
        self.graphql = GraphQLAPI(self.core)
        self.jobs = JobsAPI(self.core, lambda: self._retailer_id, sleep=sleep, clock=clock)
        self.events = EventsAPI(self.core, lambda: self._retailer_id)
        self._clock = clock
        self._sleep = sleep

    @classmethod
    def from_profile(
        cls,
        profile: str,
        *,
        retailer: str | None = None,
        profile_dir: str | Path | None = None,
        **kwargs: Any,
    ) -> FluentClient:
        """A client configured from the Fluent CLI profile ``profile`` (see :mod:`.profiles`)."""
        settings = FluentSettings(
            profile=profile,
            profile_retailer=retailer,
            profile_dir=Path(profile_dir) if profile_dir is not None else None,
        )
        return cls(settings, **kwargs)

    def __repr__(self) -> str:
        return f"FluentClient(base_url={self.base_url!r}, retailer_id={self._retailer_id!r})"

    @property
    def retailer_id(self) -> str | None:
        """The configured retailer id (a string); required before Job and Event calls."""
        return self._retailer_id

    @retailer_id.setter
    def retailer_id(self, value: str | int | None) -> None:
        self._retailer_id = normalise_id(value) if value is not None else None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the owned httpx client (a shared one is left open)."""
        if self._owns_http:
            await self.http.aclose()

    async def check_connection(self) -> str | None:
        """Run ``query { me { ref } }`` and return the user's ref (raises on failure)."""
        data = await self.graphql.query("query { me { ref } }")
        me = data.get("me") if isinstance(data, dict) else None
        return str(me["ref"]) if isinstance(me, dict) and me.get("ref") is not None else None

    def paginate(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        operation_name: str | None = None,
        direction: Direction | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        connection_path: str | Sequence[str] | None = None,
        max_pages: int | None = None,
        max_records: int | None = None,
        timeout: float | None = None,
        page_timeout: float | None = None,
        delay: float = 0.0,
        dedupe_window: int | None = 100_000,
    ) -> Paginator:
        """A streaming :class:`Paginator` over the Relay connection in ``query``."""
        return Paginator(
            self.graphql,
            query,
            variables,
            operation_name=operation_name,
            direction=direction,
            page_size=page_size,
            connection_path=connection_path,
            max_pages=max_pages,
            max_records=max_records,
            timeout=timeout,
            page_timeout=page_timeout,
            delay=delay,
            dedupe_window=dedupe_window,
            clock=self._clock,
            sleep=self._sleep,
        )

    async def query(
        self, query: str, variables: Mapping[str, Any] | None = None, operation_name: str | None = None
    ) -> Any:
        """``graphql.query``: execute and return ``data``."""
        return await self.graphql.query(query, variables, operation_name)

    async def mutate(
        self, mutation: str, variables: Mapping[str, Any] | None = None, operation_name: str | None = None
    ) -> Any:
        """``graphql.mutate``: execute a mutation and return ``data``."""
        return await self.graphql.mutate(mutation, variables, operation_name)

    async def send_event(self, event: Mapping[str, Any], mode: EventMode = "async") -> EventResponse:
        """``events.send``."""
        return await self.events.send(event, mode=mode)
