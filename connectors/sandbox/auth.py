"""OAuth 2 token endpoint and bearer-token checks (fluent-api.md §2).

The sandbox issues opaque random tokens and remembers them, so the admin API can revoke or expire
them and a client's refresh-and-replay logic (§2.3) can be exercised for real. Token lifetimes use
real time, not the injectable business clock: moving the clock to test job closing must not log
every client out.

Behaviour:

* ``POST /oauth/token`` with the parameters in the form body (the query string is accepted too).
  Grants ``password``, ``client_credentials`` and ``refresh_token``. Success is
  ``200 {access_token, token_type:"bearer", expires_in, refresh_token, scope:"api"}``.
* Wrong client or user credentials, or an unknown/used refresh token → ``401`` with an RFC 6749 body
  (``invalid_client`` / ``invalid_grant``); a missing parameter → ``400 invalid_request``; an unknown
  grant → ``400 unsupported_grant_type``.
* Refresh tokens are single use: a refresh grant returns a new one and retires the old.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .config import SandboxConfig

__all__ = ["TOKEN_KEY", "TokenInfo", "TokenStore", "bearer_token", "handle_token", "request_token"]


@dataclass
class TokenInfo:
    """What the sandbox knows about one access token."""

    token: str
    client_id: str
    username: str | None
    grant_type: str
    expires_at: float
    issued_at: float = field(default_factory=time.time)

    @property
    def subject(self) -> str:
        """The user the token acts for (the client id for client-credentials tokens)."""
        return self.username or self.client_id


@dataclass
class _RefreshInfo:
    client_id: str
    username: str | None


class TokenStore:
    """Issued access and refresh tokens."""

    def __init__(self, ttl: int) -> None:
        self.ttl = ttl
        self._access: dict[str, TokenInfo] = {}
        self._refresh: dict[str, _RefreshInfo] = {}
        self.issued = 0
        self.refreshed = 0

    def issue(self, client_id: str, username: str | None, grant_type: str) -> tuple[TokenInfo, str]:
        access = TokenInfo(
            token=secrets.token_urlsafe(24),
            client_id=client_id,
            username=username,
            grant_type=grant_type,
            expires_at=time.time() + self.ttl,
        )
        refresh = secrets.token_urlsafe(24)
        self._access[access.token] = access
        self._refresh[refresh] = _RefreshInfo(client_id, username)
        self.issued += 1
        return access, refresh

    def refresh(self, refresh_token: str, client_id: str) -> tuple[TokenInfo, str] | None:
        info = self._refresh.get(refresh_token)
        if info is None or info.client_id != client_id:
            return None
        del self._refresh[refresh_token]
        self.refreshed += 1
        return self.issue(info.client_id, info.username, "refresh_token")

    def check(self, token: str) -> TokenInfo | None:
        """The token's info when it is known and not expired, else ``None``."""
        info = self._access.get(token)
        if info is None or info.expires_at <= time.time():
            return None
        return info

    def revoke_all(self) -> int:
        count = len(self._access) + len(self._refresh)
        self._access.clear()
        self._refresh.clear()
        return count

    def expire(self, token: str | None = None) -> int:
        """Expire one access token, or all of them; refresh tokens stay valid."""
        if token is None:
            targets = list(self._access.values())
        else:
            info = self._access.get(token)
            targets = [info] if info is not None else []
        for target in targets:
            target.expires_at = 0.0
        return len(targets)

    def rotate_refresh(self) -> int:
        """Invalidate every refresh token (the next refresh grant fails, forcing a full grant)."""
        count = len(self._refresh)
        self._refresh.clear()
        return count

    def stats(self) -> dict[str, int]:
        now = time.time()
        return {
            "tokens_issued": self.issued,
            "tokens_refreshed": self.refreshed,
            "tokens_active": sum(1 for t in self._access.values() if t.expires_at > now),
            "refresh_tokens": len(self._refresh),
        }


#: Where the middleware stores the caller's :class:`TokenInfo` on the request (aiohttp >= 3.12 has
#: typed request keys; older versions use a plain string key).
TOKEN_KEY: Any = web.RequestKey("sandbox_token", TokenInfo) if hasattr(web, "RequestKey") else "sandbox_token"


def request_token(request: web.Request) -> TokenInfo | None:
    """The authenticated caller of ``request`` (set by the middleware), if any."""
    info = request.get(TOKEN_KEY)
    return info if isinstance(info, TokenInfo) else None


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response(
        {"error": error, "error_description": description},
        status=status,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


async def handle_token(request: web.Request, config: SandboxConfig, tokens: TokenStore) -> web.Response:
    """``POST /oauth/token``."""
    params: dict[str, str] = dict(request.query)
    if request.content_type == "application/x-www-form-urlencoded" or request.can_read_body:
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    grant = params.get("grant_type")
    if not grant:
        return _oauth_error(400, "invalid_request", "Missing grant_type")
    if grant not in ("password", "client_credentials", "refresh_token"):
        return _oauth_error(400, "unsupported_grant_type", f"Unsupported grant type: {grant}")
    client_id = params.get("client_id")
    client_secret = params.get("client_secret")
    if not client_id or not client_secret:
        return _oauth_error(400, "invalid_request", "Missing client_id or client_secret")
    if client_id != config.client_id or client_secret != config.client_secret:
        return _oauth_error(401, "invalid_client", "Bad client credentials")

    if grant == "refresh_token":
        refresh_token = params.get("refresh_token")
        if not refresh_token:
            return _oauth_error(400, "invalid_request", "Missing refresh_token")
        issued = tokens.refresh(refresh_token, client_id)
        if issued is None:
            return _oauth_error(401, "invalid_grant", "Invalid refresh token")
    elif grant == "password":
        username, password = params.get("username"), params.get("password")
        if not username or not password:
            return _oauth_error(400, "invalid_request", "Missing username or password")
        if username != config.username or password != config.password:
            return _oauth_error(401, "invalid_grant", "Bad credentials")
        issued = tokens.issue(client_id, username, grant)
    else:
        issued = tokens.issue(client_id, None, grant)

    access, refresh = issued
    return web.json_response(
        {
            "access_token": access.token,
            "token_type": "bearer",
            "expires_in": tokens.ttl,
            "refresh_token": refresh,
            "scope": "api",
        },
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )
