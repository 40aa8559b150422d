"""The aiohttp application and :class:`SandboxServer`, the way tests, the demo and the CLI run it.

Every Fluent route goes through one middleware, in this order, because that is how a real gateway
behaves and how the tests reason about attempts:

1. the call is written to the request log (``route, method, path, status, at, fault_id``);
2. latency (``latency_ms`` setting plus any ``latency`` faults), then an injected terminal fault
   (``status`` / ``hang`` / ``reset``) unless it is ``after_store``, then the ``error_rate`` setting;
3. the bearer token is checked (every route but ``/oauth/token``), then the per-token rate limit;
4. the handler runs; an ``after_store`` fault then replaces its answer.

Admin routes (``/_sandbox/…``) skip all of this but refuse non-loopback peers with 403.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from .admin import ADMIN_PREFIX, add_admin_routes, is_loopback
from .auth import TOKEN_KEY, bearer_token, handle_token
from .config import SandboxConfig
from .faults import Fault
from .graphql_api import GraphQLService
from .responses import RequestError, error_response, json_response
from .state import SandboxState

__all__ = ["STATE_KEY", "SandboxServer", "ThreadedSandbox", "create_app"]

STATE_KEY = web.AppKey("sandbox_state", SandboxState)
_SHUTDOWN_KEY = web.AppKey("sandbox_shutdown", asyncio.Event)
_MAX_BODY = 256 * 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _ConnectionReset(Exception):
    """Raised to drop a connection without answering (fault kinds ``reset`` and ``hang``)."""


def _fault_response(fault: Fault) -> web.Response:
    spec = fault.spec
    assert spec.status is not None
    body = (
        spec.body
        if spec.body is not None
        else {
            "code": "SANDBOX_FAULT",
            "message": f"Injected fault {fault.id} (HTTP {spec.status})",
        }
    )
    headers = {}
    if spec.retry_after is not None:
        headers["Retry-After"] = f"{spec.retry_after:g}"
    return json_response(body, status=spec.status, headers=headers)


async def _terminal(request: web.Request, fault: Fault, state: SandboxState) -> web.Response:
    if fault.spec.kind == "status":
        return _fault_response(fault)
    if fault.spec.kind == "hang":
        shutdown = request.app[_SHUTDOWN_KEY]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(shutdown.wait(), timeout=state.config.hang_max)
    transport = request.transport
    if transport is not None:
        transport.abort()
    raise _ConnectionReset


def _unauthorized(description: str) -> web.Response:
    return json_response(
        {"error": "invalid_token", "error_description": description},
        status=401,
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'},
    )


async def _fluent_call(
    request: web.Request, handler: Handler, state: SandboxState, route: str, entry: dict[str, Any]
) -> web.StreamResponse:
    settings = state.settings
    body_text = None
    if state.faults.needs_body(route):
        body_text = (await request.read()).decode("utf-8", "replace")
    latency_faults, terminal = state.faults.select(route, body_text)
    delay = settings.latency_ms / 1000 + sum(f.spec.delay or 0 for f in latency_faults)
    if latency_faults:
        entry["fault_id"] = latency_faults[0].id
    if delay > 0:
        await asyncio.sleep(delay)
    if terminal is not None and not terminal.spec.after_store:
        entry["fault_id"] = terminal.id
        return await _terminal(request, terminal, state)
    if settings.error_rate and state.rng.random() < settings.error_rate:
        entry["fault_id"] = "error_rate"
        return error_response(settings.error_status, "SERVER_ERROR", "Injected server error (error_rate)")

    if route != "token":
        token = bearer_token(request)
        if token is None:
            return _unauthorized("Missing bearer token")
        info = state.tokens.check(token)
        if info is None:
            return _unauthorized("Invalid, expired or revoked token")
        request[TOKEN_KEY] = info
        if settings.rate_limit > 0:
            wait = state.rate_limiter.take(token, settings.rate_limit, settings.rate_limit_burst, time.monotonic())
            if wait > 0:
                entry["fault_id"] = "rate_limit"
                retry_after = str(max(1, math.ceil(wait)))
                if route == "graphql" and settings.graphql_rate_limit_mode == "C0011E":
                    return json_response(
                        {
                            "data": None,
                            "errors": [{"message": "Rate limit exceeded", "extensions": {"code": "C0011E"}}],
                        }
                    )
                return json_response(
                    {"code": "RATE_LIMIT_EXCEEDED", "message": "Rate limit exceeded"},
                    status=429,
                    headers={"Retry-After": retry_after},
                )
    try:
        response = await handler(request)
    except RequestError as exc:
        response = exc.response()
    if terminal is not None:
        entry["fault_id"] = terminal.id
        return await _terminal(request, terminal, state)
    return response


@web.middleware
async def _middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    if request.path.startswith(ADMIN_PREFIX):
        if not is_loopback(request.remote):
            return error_response(403, "FORBIDDEN", "The sandbox admin API is available to loopback peers only")
        try:
            return await handler(request)
        except RequestError as exc:
            return exc.response()
    resource = request.match_info.route.name
    if resource is None or not resource.startswith("fluent:"):
        return await handler(request)
    route = resource.split(":", 1)[1]
    entry: dict[str, Any] = {
        "route": route,
        "method": request.method,
        "path": request.path_qs,
        "status": None,
        "at": time.time(),
    }
    state.request_log.append(entry)
    try:
        response = await _fluent_call(request, handler, state, route, entry)
    except _ConnectionReset:
        raise asyncio.CancelledError from None
    entry["status"] = response.status
    return response


def create_app(state: SandboxState) -> web.Application:
    """The aiohttp application serving the Fluent routes and the admin API for ``state``."""
    app = web.Application(middlewares=[_middleware], client_max_size=_MAX_BODY)
    app[STATE_KEY] = state
    app[_SHUTDOWN_KEY] = asyncio.Event()
    graphql = GraphQLService(state)
    jobs, events = state.jobs, state.events

    async def token(request: web.Request) -> web.Response:
        return await handle_token(request, state.config, state.tokens)

    fluent: list[tuple[str, str, str, Handler]] = [
        ("POST", "/oauth/token", "token", token),
        ("POST", "/graphql", "graphql", graphql.handle),
        ("POST", "/api/v4.1/job", "job_create", jobs.handle_create_job),
        ("GET", "/api/v4.1/job/{job_id}", "job_get", jobs.handle_get_job),
        ("POST", "/api/v4.1/job/{job_id}/batch", "batch_create", jobs.handle_create_batch),
        ("GET", "/api/v4.1/job/{job_id}/batch/{batch_id}", "batch_get", jobs.handle_get_batch),
        ("GET", "/api/v4.1/job/{job_id}/results", "job_results", jobs.handle_job_results),
        ("POST", "/api/v4.1/event/async", "event_async", events.handle_async),
        ("POST", "/api/v4.1/event/sync", "event_sync", events.handle_sync),
        ("GET", "/api/v4.1/event", "event_search", events.handle_search),
        ("GET", "/api/v4.1/event/{event_id}", "event_get", events.handle_get),
    ]
    for method, path, name, handler in fluent:
        app.router.add_route(method, path, handler, name=f"fluent:{name}")
    add_admin_routes(app, state)

    async def on_shutdown(app: web.Application) -> None:
        app[_SHUTDOWN_KEY].set()
        state.stop()

    app.on_shutdown.append(on_shutdown)
    return app


class SandboxServer:
    """A running sandbox: ``async with SandboxServer(config) as sandbox: sandbox.base_url``.

    ``port=0`` binds a free port; :attr:`base_url` reports the real one. :attr:`state` gives direct
    access to the data, jobs, events, faults and logs for assertions.
    """

    def __init__(self, config: SandboxConfig | None = None, **overrides: Any) -> None:
        if config is None:
            config = SandboxConfig(**overrides)
        elif overrides:
            config = config.model_copy(update=overrides)
        self.config = config
        self.state = SandboxState(config)
        self.app = create_app(self.state)
        self._runner: web.AppRunner | None = None
        self.port = config.port

    @property
    def base_url(self) -> str:
        host = self.config.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        runner = web.AppRunner(self.app, handler_cancellation=True, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port, shutdown_timeout=1.0)
        await site.start()
        self._runner = runner
        for address in runner.addresses:
            if isinstance(address, tuple):
                self.port = int(address[1])
                break

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SandboxServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def start_in_thread(self) -> ThreadedSandbox:
        """Run this server on its own event loop in a daemon thread (for synchronous callers)."""
        return ThreadedSandbox(self)


class ThreadedSandbox:
    """A :class:`SandboxServer` running in a background thread; ``stop()`` ends it."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self._loop = asyncio.new_event_loop()
        started = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(server.start())
            except BaseException as exc:
                errors.append(exc)
                started.set()
                return
            started.set()
            self._loop.run_forever()
            self._loop.run_until_complete(server.stop())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="fluentsync-sandbox", daemon=True)
        self._thread.start()
        started.wait()
        if errors:
            raise errors[0]

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def state(self) -> SandboxState:
        return self.server.state

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)

    def __enter__(self) -> ThreadedSandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
