"""One HTTP attempt: send, enforce the time-outs, parse the body, map transport failures.

Why separate from :mod:`.transport`: the token manager and the request core both need exactly this
(and nothing more), while the retry/auth loop must not be reachable from the token manager (a token
request that itself needed a token would recurse).

Parsing follows fluent-api.md §3.3: the body is read as text; empty text becomes ``{}``; text that is
not JSON is kept as the raw string.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from .errors import FluentNetworkError, FluentTimeoutError, redact
from .timeouts import Timeouts

__all__ = ["Reply", "parse_body", "send_once"]


@dataclass(frozen=True)
class Reply:
    """A response that arrived (any status)."""

    status: int
    body: Any
    headers: httpx.Headers
    elapsed: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def parse_body(text: str) -> Any:
    """``''`` → ``{}``; JSON → the decoded value; anything else → the text itself."""
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return text


def _httpx_timeout(timeouts: Timeouts, total: float) -> httpx.Timeout:
    read = min(timeouts.read, total) if timeouts.read is not None else total
    return httpx.Timeout(connect=min(timeouts.connect, total), read=read, write=total, pool=timeouts.pool)


async def send_once(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    operation: str,
    total: float,
    timeouts: Timeouts,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    content: bytes | None = None,
    form: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    secrets: tuple[str, ...] = (),
) -> Reply:
    """Send one request; raise :class:`FluentTimeoutError` / :class:`FluentNetworkError` on failure.

    ``total`` is the deadline for the whole attempt (connect, send, and reading the full body).
    Transport errors are re-raised *without* chaining the httpx exception: it holds the request, whose
    form body may contain a password, and tracebacks are logged.
    """
    path = httpx.URL(url).path
    started = time.monotonic()
    kwargs: dict[str, Any] = {
        "headers": headers,
        "params": params,
        "timeout": _httpx_timeout(timeouts, total),
    }
    if form is not None:
        kwargs["data"] = form
    elif content is not None:
        kwargs["content"] = content
    elif json_body is not None:
        kwargs["json"] = json_body
    try:
        async with asyncio.timeout(total):
            response = await http.request(method, url, **kwargs)
    except (TimeoutError, httpx.TimeoutException) as exc:
        kind = type(exc).__name__ if isinstance(exc, httpx.TimeoutException) else "total deadline"
        raise FluentTimeoutError(
            f"{method} {path} timed out after {time.monotonic() - started:.2f}s ({kind}; limit {total:g}s)",
            operation=operation,
        ) from None
    except httpx.TransportError as exc:
        detail = redact(str(exc) or type(exc).__name__, secrets)
        raise FluentNetworkError(
            f"{method} {path} failed without a response: {type(exc).__name__}: {detail}", operation=operation
        ) from None
    return Reply(
        status=response.status_code,
        body=parse_body(response.text),
        headers=response.headers,
        elapsed=time.monotonic() - started,
    )
