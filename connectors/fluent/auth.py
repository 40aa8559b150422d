"""OAuth token manager: grants, early refresh, refresh-with-fallback and single-flight.

Rules (fluent-api.md §2.3) and why they matter in a stream processor where dozens of coroutines share
one client:

1. A token counts as expired ``expiry_buffer`` (60 s) before ``expires_in`` runs out, so a request
   never leaves with a token that dies in flight. Guard for short-lived tokens: the usable lifetime is
   never less than half of ``expires_in`` (with a 5 s token and a 60 s buffer, every call would
   otherwise fetch a new token).
2. When expired and a refresh token is held, the refresh grant is tried once; on *any* failure the
   refresh token is dropped and the full grant (password, or client credentials when no user is
   configured) is used.
3. **Single-flight**: one token request at a time; concurrent callers await the same future. A
   cancelled caller does not cancel the request the others are waiting for.
4. A 2xx without ``access_token`` is an auth failure (the reference sent ``Bearer undefined``).
5. The full grant fails at once on 400/401/403 (bad credentials will not improve); network errors, 429
   and 5xx are retried ``RetryPolicy.token_max_retries`` times with back-off.
6. A 401 on an API call makes the request core call :meth:`TokenManager.invalidate` with the token it
   used; only that token is discarded (a concurrent caller may already have a newer one) and the
   refresh token is kept.

Nothing here logs or raises with a secret: errors are built from status codes and redacted bodies.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from .errors import FluentAuthError, FluentConfigError, FluentError, FluentTransportError, redact
from .retry import RetryPolicy, parse_retry_after
from .timeouts import Timeouts
from .wire import Reply, send_once

__all__ = ["Credentials", "TokenManager"]

log = logging.getLogger(__name__)

DEFAULT_EXPIRES_IN = 3600.0


@dataclass(frozen=True)
class Credentials:
    """What the token endpoint needs. ``scope`` is always ``api`` (never the retailer id)."""

    client_id: str | None
    client_secret: SecretStr | None = field(default=None, repr=False)
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    scope: str = "api"

    @property
    def grant_type(self) -> str:
        """``password`` when a user is configured, else ``client_credentials``."""
        return "password" if self.username and self.password else "client_credentials"

    def secrets(self) -> tuple[str, ...]:
        """The secret values, for redaction."""
        out = []
        for secret in (self.client_secret, self.password):
            if secret is not None:
                out.append(secret.get_secret_value())
        return tuple(out)


@dataclass
class _TokenState:
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float = 0.0


class TokenManager:
    """Hands out a valid bearer token; see the module docstring for the rules."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token_url: str,
        credentials: Credentials,
        *,
        policy: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        expiry_buffer: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        user_agent: str = "fluentsync-fluent-client",
    ) -> None:
        if not 0 <= expiry_buffer <= 300:
            raise FluentConfigError("token expiry buffer must be within 0..300 s")
        self._http = http
        self._token_url = token_url
        self._credentials = credentials
        self._policy = policy or RetryPolicy()
        self._timeouts = timeouts or Timeouts()
        self._buffer = expiry_buffer
        self._clock = clock
        self._sleep = sleep
        self._user_agent = user_agent
        self._state = _TokenState()
        self._inflight: asyncio.Future[str] | None = None
        self.stats: Counter[str] = Counter()
        """Grant requests by outcome, e.g. ``password``, ``refresh_token``, ``refresh_token_failed``."""

    def __repr__(self) -> str:
        return f"TokenManager(url={self._token_url!r}, grant={self._credentials.grant_type!r})"

    @property
    def has_refresh_token(self) -> bool:
        return self._state.refresh_token is not None

    @property
    def expires_at(self) -> float:
        """Clock reading after which the current token counts as expired (0 when none)."""
        return self._state.expires_at if self._state.access_token else 0.0

    def _valid_token(self) -> str | None:
        state = self._state
        if state.access_token is not None and self._clock() < state.expires_at:
            return state.access_token
        return None

    async def get_token(self) -> str:
        """A bearer token valid for at least the expiry buffer; fetched at most once concurrently."""
        token = self._valid_token()
        if token is not None:
            return token
        if self._inflight is None:
            loop = asyncio.get_running_loop()
            task = loop.create_task(self._obtain(), name="fluent-token")
            self._inflight = task
            task.add_done_callback(self._done)
        return await asyncio.shield(self._inflight)

    def _done(self, task: asyncio.Future[str]) -> None:
        if self._inflight is task:
            self._inflight = None
        if not task.cancelled():
            task.exception()  # mark retrieved: every waiter may have been cancelled

    def invalidate(self, access_token: str | None = None) -> None:
        """Discard the access token (only if it is ``access_token``, when given); keep the refresh token."""
        if access_token is None or self._state.access_token == access_token:
            self._state.access_token = None
            self._state.expires_at = 0.0

    def clear(self) -> None:
        """Forget every token (the next call does the full grant)."""
        self._state = _TokenState()

    async def _obtain(self) -> str:
        token = self._valid_token()  # a previous flight may have just finished
        if token is not None:
            return token
        if self._state.refresh_token is not None:
            try:
                return await self._refresh()
            except FluentError as exc:
                self.stats["refresh_token_failed"] += 1
                log.info("Fluent refresh grant failed (%s); falling back to the full grant", exc)
                self._state.refresh_token = None
        return await self._full_grant()

    def _check_credentials(self) -> tuple[str, str]:
        creds = self._credentials
        if not creds.client_id or creds.client_secret is None:
            raise FluentConfigError(
                "Fluent credentials are not configured: set FLUENT_CLIENT_ID and FLUENT_CLIENT_SECRET "
                "(plus FLUENT_USERNAME/FLUENT_PASSWORD for the password grant) or FLUENT_PROFILE"
            )
        return creds.client_id, creds.client_secret.get_secret_value()

    async def _refresh(self) -> str:
        client_id, secret = self._check_credentials()
        assert self._state.refresh_token is not None
        form = {
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": secret,
            "refresh_token": self._state.refresh_token,
        }
        reply = await self._post(form)
        if not reply.ok:
            raise self._error(reply, "refresh_token")
        self.stats["refresh_token"] += 1
        return self._store(reply)

    async def _full_grant(self) -> str:
        client_id, secret = self._check_credentials()
        creds = self._credentials
        grant = creds.grant_type
        form = {"grant_type": grant, "client_id": client_id, "client_secret": secret}
        if grant == "password":
            assert creds.username is not None and creds.password is not None
            form["username"] = creds.username
            form["password"] = creds.password.get_secret_value()
        form["scope"] = creds.scope
        retry = 0
        while True:
            try:
                reply = await self._post(form)
            except FluentTransportError as exc:
                error: FluentError = exc
                retry_after = None
            else:
                if reply.ok:
                    self.stats[grant] += 1
                    return self._store(reply)
                error = self._error(reply, grant)
                if not error.retryable:
                    raise error
                retry_after = parse_retry_after(reply.headers.get("retry-after"))
            retry += 1
            if retry > self._policy.token_max_retries:
                raise error
            delay = retry_after if retry_after is not None else self._policy.backoff(retry)
            log.warning("Fluent token request failed (%s); retry %d in %.2fs", error, retry, delay)
            await self._sleep(min(delay, self._policy.max_retry_after))

    async def _post(self, form: dict[str, str]) -> Reply:
        return await send_once(
            self._http,
            "POST",
            self._token_url,
            operation="token",
            total=self._timeouts.token,
            timeouts=self._timeouts,
            headers={"Accept": "application/json", "User-Agent": self._user_agent},
            form=form,
            secrets=self._secrets(),
        )

    def _secrets(self) -> tuple[str, ...]:
        extra = tuple(t for t in (self._state.access_token, self._state.refresh_token) if t)
        return self._credentials.secrets() + extra

    def _error(self, reply: Reply, grant: str) -> FluentAuthError:
        body = redact(reply.body, self._secrets())
        summary = ""
        if isinstance(body, dict) and body.get("error"):
            summary = f": {body.get('error')}"
            if body.get("error_description"):
                summary += f" ({str(body['error_description'])[:200]})"
        retryable = reply.status >= 500 or reply.status == 429
        return FluentAuthError(
            f"Fluent token request ({grant} grant) failed with HTTP {reply.status}{summary}",
            status=reply.status,
            body=body,
            retryable=retryable,
            operation="token",
        )

    def _store(self, reply: Reply) -> str:
        body: Any = reply.body
        access = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(access, str) or not access:
            raise FluentAuthError(
                f"Fluent token endpoint answered HTTP {reply.status} without an access_token",
                status=reply.status,
                body=redact(body, self._secrets()),
                retryable=False,
                operation="token",
            )
        try:
            expires_in = float(body.get("expires_in", DEFAULT_EXPIRES_IN))
        except (TypeError, ValueError):
            expires_in = DEFAULT_EXPIRES_IN
        lifetime = max(expires_in - self._buffer, expires_in / 2)
        refresh = body.get("refresh_token")
        self._state.access_token = access
        self._state.expires_at = self._clock() + lifetime
        if isinstance(refresh, str) and refresh:
            self._state.refresh_token = refresh
        return access
