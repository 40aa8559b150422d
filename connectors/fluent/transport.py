"""The request core: every Fluent API call goes through :meth:`RequestCore.request`.

Why one choke point: auth, 401 replay, retries and time-outs must behave the same for GraphQL, Job/Batch
and Event calls, and the reference SDK's defects all came from doing them differently in places (no
time-outs, 429 not retried, a 401 loop nested inside the network-retry loop costing ~6 extra round trips,
status codes lost after retries).

One call = a loop of attempts over one shared ``httpx.AsyncClient`` (pooled keep-alive connections):

* get a token (single-flight, see :mod:`.auth`), send with the operation's time-outs (see
  :mod:`.timeouts`);
* **401** → invalidate that token, wait ``RetryPolicy.auth_backoff(n)``, replay; after
  ``max_auth_retries`` replays raise :class:`FluentAuthError` (status 401). Counted separately from,
  and never nested in, the retry budget below;
* **429**, **5xx**, network errors and time-outs → retried per :class:`RetryPolicy` (Retry-After
  honoured); when the budget is spent the last error is raised *with* its status code;
* any other **4xx** → :class:`FluentClientError` at once.

Tests inject an ``httpx.AsyncBaseTransport`` into the owned client (the httpx transport seam) and a
``sleep`` to observe delays; nothing is monkeypatched.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from .auth import TokenManager
from .errors import FluentAuthError, FluentError, FluentTimeoutError, error_for_status, redact
from .retry import RetryPolicy, parse_retry_after
from .timeouts import Operation, Timeouts
from .wire import send_once

__all__ = ["RequestCore", "RequestObserver", "Response"]

log = logging.getLogger(__name__)


class RequestObserver(Protocol):
    """Told about every HTTP attempt and every retry (metrics); ``RequestCore.observer``, None by default.

    ``route`` is the operation label (``batch_create``, ``graphql``, ...); ``status`` the HTTP code, or
    ``timeout`` / ``network_error`` when no response arrived; ``reason`` one of ``rate_limited``,
    ``server_error``, ``timeout``, ``network_error``, ``unauthorized``."""

    def on_attempt(self, route: str, status: int | str, seconds: float) -> None: ...

    def on_retry(self, route: str, reason: str) -> None: ...


@dataclass(frozen=True)
class Response:
    """A successful (2xx) reply. ``token`` is the bearer used, so callers can invalidate it."""

    status: int
    body: Any
    headers: httpx.Headers
    attempts: int
    token: str | None = None

    def __repr__(self) -> str:
        return f"Response(status={self.status}, attempts={self.attempts})"


class RequestCore:
    """Sends authenticated requests with the retry/time-out/replay rules of the module docstring."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        auth: TokenManager | None,
        *,
        policy: RetryPolicy,
        timeouts: Timeouts,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        user_agent: str = "fluentsync-fluent-client",
    ) -> None:
        self.http = http
        self.base_url = base_url
        self.auth = auth
        self.policy = policy
        self.timeouts = timeouts
        self.sleep = sleep
        self._user_agent = user_agent
        self.observer: RequestObserver | None = None

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    async def request(
        self,
        method: str,
        path: str,
        *,
        operation: Operation,
        json_body: Any = None,
        content: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        attempt_timeout: float | None = None,
        op_name: str | None = None,
    ) -> Response:
        """Send ``method path`` and return the 2xx :class:`Response`, or raise a :class:`FluentError`.

        ``operation`` selects the per-attempt time-out (``attempt_timeout`` overrides it); ``op_name``
        labels errors and logs (e.g. ``batch_create``). ``content`` is an already-serialised JSON
        body, sent as is.
        """
        total = attempt_timeout if attempt_timeout is not None else self.timeouts.total(operation)
        label = op_name or operation
        url = self.url(path)
        request_id = uuid.uuid4().hex
        started = time.monotonic()
        attempts = retries = auth_replays = 0
        rl_retries = 0
        while True:
            attempts += 1
            token = await self.auth.get_token() if self.auth is not None else None
            headers = {
                "Accept": "application/json",
                "User-Agent": self._user_agent,
                "x-request-id": request_id,
            }
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            if json_body is not None or content is not None:
                headers["Content-Type"] = "application/json"
            error: FluentError
            sent = time.monotonic()
            try:
                reply = await send_once(
                    self.http,
                    method,
                    url,
                    operation=label,
                    total=total,
                    timeouts=self.timeouts,
                    headers=headers,
                    json_body=json_body,
                    content=content,
                    params=params,
                    secrets=(token,) if token else (),
                )
            except FluentError as exc:
                error = exc
                if self.observer is not None:
                    status = "timeout" if isinstance(exc, FluentTimeoutError) else "network_error"
                    self.observer.on_attempt(label, status, time.monotonic() - sent)
            else:
                if self.observer is not None:
                    self.observer.on_attempt(label, reply.status, time.monotonic() - sent)
                if reply.ok:
                    return Response(reply.status, reply.body, reply.headers, attempts, token)
                secrets = (token,) if token else ()
                if reply.status == 401 and self.auth is not None:
                    self.auth.invalidate(token)
                    if auth_replays >= self.policy.max_auth_retries:
                        auth_error = FluentAuthError(
                            f"{method} {httpx.URL(url).path} still unauthorised (HTTP 401) after "
                            f"{auth_replays} token refresh(es)",
                            status=401,
                            body=redact(reply.body, secrets),
                            operation=label,
                        )
                        auth_error.attempts = attempts
                        raise auth_error
                    auth_replays += 1
                    if self.observer is not None:
                        self.observer.on_retry(label, "unauthorized")
                    pause = self.policy.auth_backoff(auth_replays)
                    log.info("Fluent %s got 401; new token, replay %d in %.2fs", label, auth_replays, pause)
                    await self.sleep(pause)
                    continue
                error = error_for_status(
                    reply.status,
                    redact(reply.body, secrets),
                    method=method,
                    path=httpx.URL(url).path,
                    operation=label,
                    retry_after=parse_retry_after(reply.headers.get("retry-after")),
                )
            if error.status == 429:
                rl_retries += 1
                retry_no = rl_retries
            else:
                retries += 1
                retry_no = retries
            delay = self.policy.delay_for(error, retry_no)
            budget = self.policy.max_elapsed
            if delay is not None and budget is not None and time.monotonic() - started + delay > budget:
                delay = None
            if delay is None:
                error.attempts = attempts
                raise error
            log.warning("Fluent %s attempt %d failed (%s); retrying in %.2fs", label, attempts, error, delay)
            if self.observer is not None:
                self.observer.on_retry(label, _retry_reason(error))
            await self.sleep(delay)


def _retry_reason(error: FluentError) -> str:
    if error.status == 429:
        return "rate_limited"
    if error.status is not None and error.status >= 500:
        return "server_error"
    return "timeout" if isinstance(error, FluentTimeoutError) else "network_error"
