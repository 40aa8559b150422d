"""Every exception the Fluent client raises, in one place.

Callers branch on three things: *is it worth retrying* (``retryable``), *when* (``retry_after``, in
seconds, or None) and *what did the server say* (``status``, the HTTP status code or None when no
response arrived). Every exception carries all three, so a sink can apply back-pressure without
knowing the class tree; the tree exists for ``except`` clauses::

    FluentError                         .status .retryable .retry_after .code .attempts
    ├── FluentConfigError               bad or missing configuration (CONFIGURATION_ERROR)   fatal
    ├── FluentValidationError           request refused before sending (VALIDATION_ERROR)     fatal
    ├── FluentTransportError            no HTTP response at all                               retryable
    │   ├── FluentNetworkError          connect refused, connection reset, protocol error     retryable
    │   └── FluentTimeoutError          connect / read / per-attempt deadline exceeded        retryable
    ├── FluentHTTPError                 a response with a non-2xx status; ``.body`` holds it
    │   ├── FluentAuthError             401, or the token endpoint failed (AUTHENTICATION_ERROR) fatal*
    │   ├── FluentRateLimitError        429; ``retry_after`` from the Retry-After header       retryable
    │   ├── FluentServerError           5xx; keeps its status after retries ran out           retryable
    │   └── FluentClientError           any other 4xx (400, 403, 404, 409, 422): fail fast    fatal
    │       └── FluentJobClosedError    batch POST to a closed/expired job (fluent-api §5.7)  fatal
    ├── FluentGraphQLError              HTTP 200 with ``errors[]``; classified per the C/S/T table
    └── FluentPaginationError           the paginator cannot make progress (cursor stuck)     fatal

``*`` a token endpoint that answered 5xx gives a ``FluentAuthError`` whose ``retryable`` is True: the
credentials may be fine, the platform was not. An unreachable token endpoint raises the transport error
itself (``FluentNetworkError``/``FluentTimeoutError``, operation ``"token"``).

"Retryable" on an exception that escaped the client means: *the client already spent its own retry
budget*; retrying later (with ``retry_after`` if set) may succeed. "Fatal" means the same request will
fail the same way.

Secrets: messages, ``repr()`` and ``body`` never contain a client secret, a password or a token. The
token manager passes its known secrets to :func:`redact`, and bodies of token-endpoint responses are
scrubbed of token-looking fields before they are attached to an exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "FluentAuthError",
    "FluentClientError",
    "FluentConfigError",
    "FluentError",
    "FluentGraphQLError",
    "FluentHTTPError",
    "FluentJobClosedError",
    "FluentNetworkError",
    "FluentPaginationError",
    "FluentRateLimitError",
    "FluentServerError",
    "FluentTimeoutError",
    "FluentTransportError",
    "FluentValidationError",
    "error_for_status",
    "redact",
]

REDACTED = "***"
_SECRET_KEYS = frozenset(
    {"access_token", "refresh_token", "id_token", "password", "client_secret", "authorization", "token"}
)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_FORM_SECRET = re.compile(r"(?i)\b(password|client_secret|refresh_token|access_token)=([^&\s]+)")
_MAX_BODY_IN_MESSAGE = 500


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """Return ``value`` with secrets replaced by ``***``.

    Strings: every occurrence of a known secret, ``Bearer <token>`` and ``password=…``-style form
    fields. Mappings: values under secret-looking keys, recursively. Lists are walked. Anything else is
    returned unchanged. Secrets shorter than 4 characters are ignored (they would shred ordinary text).
    """
    known = [s for s in secrets if s and len(s) >= 4]
    return _redact(value, known)


def _redact(value: Any, known: list[str]) -> Any:
    if isinstance(value, str):
        for secret in known:
            value = value.replace(secret, REDACTED)
        value = _BEARER.sub(lambda m: m.group(1) + REDACTED, value)
        return _FORM_SECRET.sub(lambda m: f"{m.group(1)}={REDACTED}", value)
    if isinstance(value, Mapping):
        return {k: (REDACTED if str(k).lower() in _SECRET_KEYS else _redact(v, known)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v, known) for v in value]
    return value


def _short(body: Any) -> str:
    text = body if isinstance(body, str) else repr(body)
    return text if len(text) <= _MAX_BODY_IN_MESSAGE else text[:_MAX_BODY_IN_MESSAGE] + "…"


class FluentError(Exception):
    """Base of every error raised by the Fluent client."""

    code: str = "API_ERROR"
    default_retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = self.default_retryable if retryable is None else retryable
        self.retry_after = retry_after
        self.operation = operation
        self.attempts: int | None = None
        """How many HTTP attempts the client made before raising (set by the request core)."""

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.message!r}, status={self.status!r}, retryable={self.retryable!r})"


class FluentConfigError(FluentError):
    """The client is misconfigured (base URL, credentials, profile files, missing retailer id)."""

    code = "CONFIGURATION_ERROR"


class FluentValidationError(FluentError):
    """A request was refused before it was sent (e.g. an empty or oversized batch)."""

    code = "VALIDATION_ERROR"


class FluentTransportError(FluentError):
    """No HTTP response arrived. Retried like a 5xx (fluent-api.md §3.4)."""

    code = "NETWORK_ERROR"
    default_retryable = True


class FluentNetworkError(FluentTransportError):
    """Connection refused or reset, TLS or protocol failure."""


class FluentTimeoutError(FluentTransportError):
    """A connect, read or per-attempt total time-out fired."""

    code = "TIMEOUT_ERROR"


class FluentHTTPError(FluentError):
    """The server answered with a non-2xx status. ``body`` is the parsed body (dict, list or text)."""

    status: int

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body: Any = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message, status=status, retryable=retryable, retry_after=retry_after, operation=operation)
        self.body = body


class FluentAuthError(FluentHTTPError):
    """Authentication failed: bad credentials, a token endpoint failure, or 401 after all replays."""

    code = "AUTHENTICATION_ERROR"


class FluentRateLimitError(FluentHTTPError):
    """429 Too Many Requests; ``retry_after`` holds the server's Retry-After, if it sent one."""

    code = "RATE_LIMIT_ERROR"
    default_retryable = True


class FluentServerError(FluentHTTPError):
    """5xx. Unlike the reference SDK, the status code survives the retries."""

    default_retryable = True


class FluentClientError(FluentHTTPError):
    """A 4xx other than 401/429: the request itself is wrong and is never retried."""


class FluentJobClosedError(FluentClientError):
    """A batch was refused because its job is closed or expired: open a new job and resend once."""

    def __init__(self, message: str, *, status: int, body: Any = None, job_id: str | None = None) -> None:
        super().__init__(message, status=status, body=body, operation="batch_create")
        self.job_id = job_id


class FluentGraphQLError(FluentError):
    """A GraphQL response carried ``errors[]`` (HTTP 200).

    ``errors`` is the raw error list, ``data`` the partial data (may be None), ``classification`` the
    :class:`~fluentsync.connectors.fluent.graphql.ErrorClassification` of the list; ``retryable`` and
    ``retry_after`` come from it (e.g. S0002 → retryable after 30 s). ``query`` and ``variables`` are
    kept for diagnosis; variables are redacted of secret-looking keys.
    """

    def __init__(
        self,
        message: str,
        *,
        errors: Sequence[Mapping[str, Any]],
        data: Any = None,
        classification: Any = None,
        query: str | None = None,
        variables: Mapping[str, Any] | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        status: int | None = 200,
    ) -> None:
        super().__init__(message, status=status, retryable=retryable, retry_after=retry_after, operation="graphql")
        self.errors = list(errors)
        self.data = data
        self.classification = classification
        self.query = query
        self.variables = redact(dict(variables)) if variables is not None else None

    @property
    def error_code(self) -> str | None:
        """The Fluent or standard code of the primary error, when one was found."""
        return getattr(self.classification, "error_code", None)

    def is_validation_error(self) -> bool:
        """True for ``GRAPHQL_VALIDATION_FAILED`` or ``BAD_USER_INPUT`` (sdk-parity §1)."""
        return any(_ext_code(e) in {"GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT"} for e in self.errors)

    def is_auth_error(self) -> bool:
        """True for ``UNAUTHENTICATED`` or a message mentioning "unauthorized" (sdk-parity §1)."""
        return any(
            _ext_code(e) == "UNAUTHENTICATED" or "unauthorized" in str(e.get("message", "")).lower()
            for e in self.errors
        )


class FluentPaginationError(FluentError):
    """Pagination cannot make progress, e.g. the cursor did not advance (the 0.1.55 bug class)."""


def _ext_code(error: Mapping[str, Any]) -> str | None:
    ext = error.get("extensions")
    if isinstance(ext, Mapping):
        code = ext.get("code")
        return str(code) if code is not None else None
    return None


def error_for_status(
    status: int,
    body: Any,
    *,
    method: str,
    path: str,
    operation: str | None = None,
    retry_after: float | None = None,
) -> FluentHTTPError:
    """Build the exception for a non-2xx response (the table in fluent-api.md §3.4)."""
    safe_body = redact(body)
    text = f"{method} {path} failed with HTTP {status}"
    if safe_body not in (None, "", {}):
        text += f": {_short(safe_body)}"
    if status == 401:
        return FluentAuthError(text, status=status, body=safe_body, operation=operation)
    if status == 429:
        return FluentRateLimitError(text, status=status, body=safe_body, retry_after=retry_after, operation=operation)
    if status >= 500:
        return FluentServerError(text, status=status, body=safe_body, retry_after=retry_after, operation=operation)
    return FluentClientError(text, status=status, body=safe_body, operation=operation)
