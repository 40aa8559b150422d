"""Small helpers shared by the route handlers: JSON bodies and Fluent-style REST errors.

REST errors use one shape everywhere, ``{"code": ..., "message": ...}``, because the service reports
"the status code and body" (fluent-api.md §3.4) and tests match on ``code``.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

__all__ = ["RequestError", "error_response", "json_response", "read_json"]


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), default=str)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A compact JSON response (``default=str`` turns datetimes and the like into strings)."""
    return web.Response(text=_dumps(data), status=status, content_type="application/json", headers=headers)


def error_response(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return json_response({"code": code, "message": message, **extra}, status=status)


class RequestError(Exception):
    """Raised by handlers to answer with a REST error; turned into a response by the middleware."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message, **self.extra)


async def read_json(request: web.Request, *, max_bytes: int | None = None) -> Any:
    """The request body parsed as JSON; 400 ``INVALID_JSON`` (or 400 ``PAYLOAD_TOO_LARGE``) otherwise."""
    raw = await request.read()
    if max_bytes is not None and len(raw) > max_bytes:
        raise RequestError(400, "PAYLOAD_TOO_LARGE", f"Request body exceeds {max_bytes} bytes")
    if not raw.strip():
        raise RequestError(400, "INVALID_JSON", "Request body is empty")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(400, "INVALID_JSON", f"Request body is not valid JSON: {exc}") from exc
