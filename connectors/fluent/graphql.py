"""GraphQL: execute a document and classify Fluent's errors (fluent-api.md §4.3-§4.4).

Why classification lives here and is not applied automatically: Fluent answers HTTP 200 with
``errors[]``, and whether to retry depends on the code (``S0002`` → retry in 30 s, ``C0121`` → never).
The delays are long (10-60 s), so :meth:`GraphQLAPI.execute` does not sleep on them; it raises
:class:`~fluentsync.connectors.fluent.errors.FluentGraphQLError` with ``retryable``/``retry_after`` set
from the table and lets the caller (a sink with its own back-pressure) decide. The one exception is
``UNAUTHENTICATED``, which is a token problem: the token is refreshed and the call replayed, like an
HTTP 401.

The C/S/T table is applied only to codes shaped ``[CST]\\d{4}[EW]``, found in ``extensions.code`` or
embedded in ``message`` (the reference applied the letter rule to any code, so ``SERVER_ERROR`` became a
"retryable server error"; that is deliberately not copied). Standard codes: ``UNAUTHENTICATED`` → refresh
and retry, ``GRAPHQL_VALIDATION_FAILED``/``BAD_USER_INPUT`` → not retryable, ``INTERNAL_SERVER_ERROR``
→ retryable. Anything else falls back to message keywords.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .errors import FluentError, FluentGraphQLError
from .transport import RequestCore

__all__ = [
    "ErrorClassification",
    "GraphQLAPI",
    "GraphQLResult",
    "classify_error",
    "classify_errors",
]

Category = Literal["client", "server", "third_party", "auth", "validation", "unknown"]
Action = Literal["fix_and_retry", "retry_later", "contact_support", "verify_payload", "refresh_token", "none"]
ErrorHandling = Literal["throw", "partial"]

_FLUENT_CODE = re.compile(r"\b([CST])(\d{4})([EW])\b")


@dataclass(frozen=True)
class ErrorClassification:
    """The verdict on one GraphQL error (or, from :func:`classify_errors`, on a list)."""

    retryable: bool
    category: Category
    action: Action
    user_message: str
    retry_delay: float | None = None
    error_code: str | None = None


def _c(action: Action, msg: str, code: str) -> ErrorClassification:
    return ErrorClassification(False, "client", action, msg, None, code)


def _classify_fluent(letter: str, number: int, code: str) -> ErrorClassification:
    if letter == "C":
        if number == 1:
            return _c("fix_and_retry", "Query complexity exceeded", code)
        if number in (3, 11):
            msg = "Virtual View still initialising" if number == 3 else "Rate limit exceeded"
            return ErrorClassification(True, "client", "retry_later", msg, 60.0, code)
        if number == 20:
            return _c("contact_support", "Insufficient permissions", code)
        if 100 <= number <= 119:
            return _c("fix_and_retry", "Date validation failed / invalid date format", code)
        specific = {
            120: ("verify_payload", "Referenced entity not found"),
            121: ("verify_payload", "Entity already exists / unique constraint"),
            122: ("fix_and_retry", "Invalid (e.g. negative) number"),
            123: ("verify_payload", "Unique constraint violated"),
            128: ("fix_and_retry", "Duplicate product ref"),
            140: ("fix_and_retry", "Missing required variables"),
            141: ("fix_and_retry", "Maximum field length exceeded"),
        }
        if number in specific:
            action, msg = specific[number]
            return _c(action, msg, code)  # type: ignore[arg-type]
        if 120 <= number <= 139:
            return _c("verify_payload", "Field validation failed", code)
        if 140 <= number <= 159:
            return _c("fix_and_retry", "Request format error", code)
        if 160 <= number <= 179:
            return _c("fix_and_retry", "Custom (rule) validation failed", code)
        return _c("verify_payload", "Client error", code)
    if letter == "S":
        if number in (2, 20):
            return ErrorClassification(True, "server", "retry_later", "Temporary server error", 30.0, code)
        if number == 1 or 3 <= number <= 19:
            return ErrorClassification(False, "server", "contact_support", "Platform configuration error", None, code)
        if number == 30:
            return ErrorClassification(False, "server", "contact_support", "Virtual View set-up failed", None, code)
        if number == 40:
            return ErrorClassification(
                True, "server", "retry_later", "Authentication / JWT extraction failure", 10.0, code
            )
        return ErrorClassification(True, "server", "retry_later", "Server error", 30.0, code)
    return ErrorClassification(True, "third_party", "retry_later", "Third-party error", 30.0, code)


_STANDARD: dict[str, ErrorClassification] = {
    "UNAUTHENTICATED": ErrorClassification(True, "auth", "refresh_token", "Not authenticated", 0.0, "UNAUTHENTICATED"),
    "GRAPHQL_VALIDATION_FAILED": ErrorClassification(
        False, "validation", "fix_and_retry", "Query validation failed", None, "GRAPHQL_VALIDATION_FAILED"
    ),
    "BAD_USER_INPUT": ErrorClassification(
        False, "validation", "fix_and_retry", "Invalid input", None, "BAD_USER_INPUT"
    ),
    "INTERNAL_SERVER_ERROR": ErrorClassification(
        True, "server", "retry_later", "Internal server error", 30.0, "INTERNAL_SERVER_ERROR"
    ),
}

_MESSAGE_RULES: tuple[tuple[tuple[str, ...], ErrorClassification], ...] = (
    (
        ("already exists", "duplicate"),
        ErrorClassification(False, "client", "verify_payload", "Already exists"),
    ),
    (("not found", "does not exist"), ErrorClassification(False, "client", "verify_payload", "Not found")),
    (
        ("required", "missing", "null value"),
        ErrorClassification(False, "client", "fix_and_retry", "Missing required value"),
    ),
    (
        ("timeout", "connection", "network"),
        ErrorClassification(True, "server", "retry_later", "Network or time-out error", 30.0),
    ),
    (
        ("server error", "internal error"),
        ErrorClassification(True, "server", "retry_later", "Server error", 30.0),
    ),
)


def classify_error(error: Mapping[str, Any]) -> ErrorClassification:
    """Classify one GraphQL error object per the C/S/T table and its refinement."""
    message = str(error.get("message") or "")
    ext = error.get("extensions")
    ext_code = str(ext.get("code")) if isinstance(ext, Mapping) and ext.get("code") is not None else None
    for candidate in (ext_code, message):
        if candidate:
            match = _FLUENT_CODE.search(candidate)
            if match:
                return _classify_fluent(match.group(1), int(match.group(2)), match.group(0))
    if ext_code in _STANDARD:
        return _STANDARD[ext_code]
    lowered = message.lower()
    for needles, verdict in _MESSAGE_RULES:
        if any(n in lowered for n in needles):
            return replace(verdict, error_code=ext_code)
    return ErrorClassification(False, "unknown", "none", message[:200] or "Unknown error", None, ext_code)


def classify_errors(errors: Sequence[Mapping[str, Any]]) -> ErrorClassification:
    """Classify a list: one non-retryable error makes it non-retryable (primary = first such, else first).

    When every error is retryable the delay is the longest of them.
    """
    if not errors:
        return ErrorClassification(False, "unknown", "none", "No error")
    verdicts = [classify_error(e) for e in errors]
    for verdict in verdicts:
        if not verdict.retryable:
            return verdict
    delays = [v.retry_delay for v in verdicts if v.retry_delay is not None]
    first = verdicts[0]
    if delays:
        return ErrorClassification(
            True, first.category, first.action, first.user_message, max(delays), first.error_code
        )
    return first


@dataclass
class GraphQLResult:
    """``{data, errors?, extensions?}``; ``has_partial_data`` is set in ``partial`` mode with errors."""

    data: Any
    errors: list[dict[str, Any]] = field(default_factory=list)
    extensions: dict[str, Any] | None = None
    has_partial_data: bool = False
    classification: ErrorClassification | None = None


class GraphQLAPI:
    """``POST /graphql`` through the request core (so 401/5xx/429/time-outs follow §3.4)."""

    def __init__(self, core: RequestCore) -> None:
        self._core = core

    async def execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        *,
        error_handling: ErrorHandling = "throw",
        attempt_timeout: float | None = None,
    ) -> GraphQLResult:
        """Run a query or mutation.

        ``throw`` (default): a non-empty ``errors[]`` raises :class:`FluentGraphQLError` carrying the
        errors, partial data, query, variables and the classification. ``partial``: the result comes
        back with ``has_partial_data=True`` and the classification instead. ``attempt_timeout``
        overrides the per-attempt deadline (60 s by default).
        """
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = dict(variables)
        if operation_name:
            body["operationName"] = operation_name
        replays = 0
        while True:
            response = await self._core.request(
                "POST", "/graphql", operation="graphql", json_body=body, attempt_timeout=attempt_timeout
            )
            payload = response.body
            if not isinstance(payload, dict):
                raise FluentError(
                    f"GraphQL answered HTTP {response.status} with a non-JSON-object body",
                    status=response.status,
                )
            raw_errors = payload.get("errors") or []
            errors = [e if isinstance(e, dict) else {"message": str(e)} for e in raw_errors]
            result = GraphQLResult(data=payload.get("data"), errors=errors, extensions=payload.get("extensions"))
            if not errors:
                return result
            verdict = classify_errors(errors)
            auth = self._core.auth
            if verdict.category == "auth" and auth is not None:
                auth.invalidate(response.token)
                if replays < self._core.policy.max_auth_retries:
                    replays += 1
                    await self._core.sleep(self._core.policy.auth_backoff(replays))
                    continue
            result.classification = verdict
            if error_handling == "partial":
                result.has_partial_data = True
                return result
            first = str(errors[0].get("message", ""))[:300]
            more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
            code = f" [{verdict.error_code}]" if verdict.error_code else ""
            raise FluentGraphQLError(
                f"GraphQL error{code}: {first}{more}",
                errors=errors,
                data=result.data,
                classification=verdict,
                query=query,
                variables=variables,
                retryable=verdict.retryable,
                retry_after=verdict.retry_delay if verdict.retryable else None,
                status=response.status,
            )

    async def query(
        self, query: str, variables: Mapping[str, Any] | None = None, operation_name: str | None = None
    ) -> Any:
        """Execute and return ``data`` (raises on any GraphQL error)."""
        return (await self.execute(query, variables, operation_name)).data

    async def mutate(
        self, mutation: str, variables: Mapping[str, Any] | None = None, operation_name: str | None = None
    ) -> Any:
        """Execute a mutation and return ``data`` (raises on any GraphQL error)."""
        return (await self.execute(mutation, variables, operation_name)).data
