"""Event API (fluent-api.md §6): send events (async or sync), search the event log, get one event.

Why both modes: ``async`` (``POST /api/v4.1/event/async``, 15 s time-out) is accepted at once and the
workflow outcome is not reported: the default for volume. ``sync`` (``/event/sync``, 30 s) waits for
the workflow and answers 404 when no rule matched and 422 on validation failure; both are client errors
and fail fast. Every response is reported as :class:`EventResponse` with ``status_code`` (the HTTP
status) and ``success`` (true unless the server said otherwise), the reference's shape since 0.1.47.

Payload checks before sending (§6.2): ``name`` and ``entityType`` required, ``entityRef`` or ``entityId``
required, ``attributes`` an object, and ``retailerId`` from the payload or the client's configuration
(always sent as a string). Search parameters with empty values are not sent; ``count`` ≤ 5000.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import FluentConfigError, FluentValidationError
from .jobs import normalise_id
from .transport import RequestCore

__all__ = ["MAX_SEARCH_COUNT", "EventResponse", "EventSearchPage", "EventsAPI"]

MAX_SEARCH_COUNT = 5000

EventMode = Literal["async", "sync"]


@dataclass(frozen=True)
class EventResponse:
    """Outcome of sending one event."""

    status_code: int
    success: bool
    id: str | None = None
    status: str | None = None
    body: Any = field(default=None, repr=False)


@dataclass(frozen=True)
class EventSearchPage:
    """One page of ``GET /api/v4.1/event``."""

    start: int
    count: int
    has_more: bool
    results: list[dict[str, Any]]


def _normalise_event(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        return {"value": item}
    out = dict(item)
    if "id" in out:
        out["id"] = normalise_id(out["id"])
    if "retailerId" in out:
        out["retailerId"] = normalise_id(out["retailerId"])
    ctx = out.get("context")
    if isinstance(ctx, dict):
        out["context"] = {k: (normalise_id(v) if k in ("entityId", "rootEntityId") else v) for k, v in ctx.items()}
    return out


class EventsAPI:
    """``/api/v4.1/event…`` calls through the request core."""

    def __init__(self, core: RequestCore, retailer_id: Callable[[], str | None]) -> None:
        self._core = core
        self._retailer_id = retailer_id

    def _prepare(self, event: Mapping[str, Any], retailer_id: str | int | None) -> dict[str, Any]:
        payload = dict(event)
        for key in ("name", "entityType"):
            if not payload.get(key):
                raise FluentValidationError(f"an event needs {key!r}")
        if not payload.get("entityRef") and payload.get("entityId") in (None, ""):
            raise FluentValidationError("an event needs 'entityRef' or 'entityId'")
        if (
            "attributes" in payload
            and payload["attributes"] is not None
            and not isinstance(payload["attributes"], Mapping)
        ):
            raise FluentValidationError("event 'attributes' must be an object map {key: value}")
        retailer = payload.get("retailerId")
        if retailer in (None, ""):
            retailer = retailer_id if retailer_id is not None else self._retailer_id()
        if retailer in (None, ""):
            raise FluentConfigError(
                "a retailer id is required for Event calls: put retailerId in the event or set FLUENT_RETAILER_ID"
            )
        payload["retailerId"] = normalise_id(retailer)
        return payload

    async def send(
        self,
        event: Mapping[str, Any],
        *,
        mode: EventMode = "async",
        retailer_id: str | int | None = None,
        attempt_timeout: float | None = None,
    ) -> EventResponse:
        """Send one event; ``mode`` is ``async`` (default) or ``sync``.

        ``attempt_timeout`` overrides the per-attempt deadline (15 s async, 30 s sync by default).
        """
        if mode not in ("async", "sync"):
            raise FluentValidationError(f"event mode must be 'async' or 'sync', got {mode!r}")
        payload = self._prepare(event, retailer_id)
        response = await self._core.request(
            "POST",
            f"/api/v4.1/event/{mode}",
            operation="event_async" if mode == "async" else "event_sync",
            json_body=payload,
            attempt_timeout=attempt_timeout,
            op_name=f"event_{mode}",
        )
        body = response.body
        data = body if isinstance(body, dict) else {}
        success = data.get("success", True)
        return EventResponse(
            status_code=response.status,
            success=bool(success) if isinstance(success, bool) else True,
            id=normalise_id(data.get("id")),
            status=str(data["status"]) if data.get("status") is not None else None,
            body=body,
        )

    async def send_async(self, event: Mapping[str, Any], **kwargs: Any) -> EventResponse:
        return await self.send(event, mode="async", **kwargs)

    async def send_sync(self, event: Mapping[str, Any], **kwargs: Any) -> EventResponse:
        return await self.send(event, mode="sync", **kwargs)

    async def search(self, params: Mapping[str, Any] | None = None, **filters: Any) -> EventSearchPage:
        """``GET /api/v4.1/event``. Dotted keys (``context.entityRef``) go in ``params``.

        ``filters`` accepts the plain ones as keywords (``name=``, ``start=``, ``count=``, …).
        """
        query: dict[str, Any] = {}
        for key, value in {**(params or {}), **filters}.items():
            if value is None or value == "":
                continue
            query[key] = str(value).lower() if isinstance(value, bool) else value
        count = query.get("count")
        if count is not None and int(count) > MAX_SEARCH_COUNT:
            raise FluentValidationError(f"event search count is at most {MAX_SEARCH_COUNT}, got {count}")
        response = await self._core.request(
            "GET", "/api/v4.1/event", operation="event_read", params=query, op_name="event_search"
        )
        body = response.body if isinstance(response.body, dict) else {}
        results = body.get("results") if isinstance(body.get("results"), list) else []
        assert isinstance(results, list)
        return EventSearchPage(
            start=int(body.get("start", query.get("start", 0)) or 0),
            count=int(body.get("count", len(results)) or 0),
            has_more=body.get("hasMore") is True,
            results=[_normalise_event(r) for r in results],
        )

    async def iter_search(
        self, params: Mapping[str, Any] | None = None, *, page_size: int = 100, **filters: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Every matching event, paging with ``start``/``count`` until ``hasMore`` is false."""
        start = int({**(params or {}), **filters}.get("start", 0) or 0)
        while True:
            page = await self.search(params, **{**filters, "start": start, "count": page_size})
            for item in page.results:
                yield item
            if not page.has_more or not page.results:
                return
            start += len(page.results)

    async def get(self, event_id: str | int) -> dict[str, Any]:
        """``GET /api/v4.1/event/{id}``."""
        ident = normalise_id(event_id)
        if not ident:
            raise FluentValidationError("an event id is required")
        response = await self._core.request(
            "GET", f"/api/v4.1/event/{ident}", operation="event_read", op_name="event_get"
        )
        return _normalise_event(response.body)
