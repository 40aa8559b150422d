"""Event API (fluent-api.md §6): async and sync events, the event log, and a rule registry.

On Fluent an event only does something if a workflow rule matches ``(rootEntityType, entityType,
name)``. The sandbox keeps a small registry of such rules so both outcomes can be tested: async events
with no rule are rejected with 400, sync events with no rule get 404, and a rule can be set to fail
(sync: 422; async: the logged event ends ``FAILED``). Every accepted event lands in the event log that
``GET /api/v4.1/event`` searches.

A few events also change the store, so flows can be checked end to end: ``OrderCancel`` cancels the
order, ``UPSERT_PRODUCT`` / ``UPSERT_PRODUCTS`` create or update products.

Strict mode rejects unknown top-level keys (the payment template's ``data``), events without an
``entityRef``/``entityId``, unknown entity types, non-object ``attributes``, and (sync only) refs to
orders or fulfilments that do not exist (422).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from .auth import request_token
from .clock import format_datetime, parse_datetime
from .responses import RequestError, json_response, read_json

if TYPE_CHECKING:
    from .state import SandboxState

__all__ = ["DEFAULT_EVENT_NAMES", "EventRule", "EventService"]

ENTITY_TYPES = frozenset(
    {
        "ORDER",
        "FULFILMENT",
        "ARTICLE",
        "CONSIGNMENT",
        "LOCATION",
        "WAVE",
        "FULFILMENT_OPTIONS",
        "FULFILMENT_PLAN",
        "PRODUCT_CATALOGUE",
        "CATEGORY",
        "PRODUCT",
        "INVENTORY_CATALOGUE",
        "INVENTORY_POSITION",
        "INVENTORY_QUANTITY",
        "VIRTUAL_CATALOGUE",
        "VIRTUAL_POSITION",
        "CONTROL_GROUP",
        "CONTROL",
        "RETURN_ORDER",
        "RETURN_FULFILMENT",
        "BILLING_ACCOUNT",
        "CREDIT_MEMO",
        "BATCH",
        "JOB",
        "CUSTOMER",
    }
)
ROOT_ENTITY_TYPES = frozenset(
    {
        "ORDER",
        "LOCATION",
        "FULFILMENT_OPTIONS",
        "PRODUCT_CATALOGUE",
        "INVENTORY_CATALOGUE",
        "VIRTUAL_CATALOGUE",
        "CONTROL_GROUP",
        "RETURN_ORDER",
        "BILLING_ACCOUNT",
        "JOB",
    }
)
_ALLOWED_KEYS = frozenset(
    {
        "id",
        "name",
        "type",
        "accountId",
        "retailerId",
        "entityType",
        "entityId",
        "entityRef",
        "entitySubtype",
        "rootEntityType",
        "rootEntityId",
        "rootEntityRef",
        "attributes",
        "source",
        "scheduledOn",
    }
)
#: Event names that have a (successful) rule out of the box, on any entity type.
DEFAULT_EVENT_NAMES: tuple[str, ...] = (
    "OrderCancel",
    "PaymentCaptured",
    "UPSERT_PRODUCT",
    "UPSERT_PRODUCTS",
    "UPSERT_LOCATION",
    "UPSERT_CUSTOMER",
    "InventoryChanged",
    "FulfilmentShipped",
    "FulfilmentDelivered",
    "ReturnOrderCreated",
    "CREATE",
    "UPDATE",
    "CANCEL",
)
_SEARCH_MAX = 5000


class EventRule(BaseModel):
    """A workflow rule: which events match and how they end (``POST /_sandbox/event-rules``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Event name, or '*' for any name.")
    entityType: str | None = None
    rootEntityType: str | None = None
    outcome: Literal["success", "failure"] = "success"
    message: str | None = Field(default=None, description="Failure message (outcome 'failure').")

    def matches(self, event: dict[str, Any]) -> bool:
        return (
            self.name in ("*", event.get("name"))
            and self.entityType in (None, event.get("entityType"))
            and self.rootEntityType in (None, event.get("rootEntityType"))
        )


@dataclass
class _Outcome:
    ok: bool
    message: str | None = None


class EventService:
    """The event log and the async/sync/search/get handlers."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.log: list[dict[str, Any]] = []
        self.by_id: dict[str, dict[str, Any]] = {}
        self.rules: list[EventRule] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.reset()

    def reset(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self.log.clear()
        self.by_id.clear()
        self.reset_rules()

    def reset_rules(self) -> None:
        """Back to the default registry: a success rule for each of :data:`DEFAULT_EVENT_NAMES`."""
        self.rules = [EventRule(name=n) for n in DEFAULT_EVENT_NAMES]

    def add_rule(self, rule: EventRule) -> None:
        self.rules.append(rule)

    def _rule_for(self, event: dict[str, Any]) -> EventRule | None:
        for rule in reversed(self.rules):
            if rule.matches(event):
                return rule
        if self.state.settings.accept_unknown_events:
            return EventRule(name="*")
        return None

    # -- validation and logging ----------------------------------------------------------------------

    def _validate(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise RequestError(400, "VALIDATION_ERROR", "Event payload must be a JSON object")
        strict = self.state.settings.strict
        for key in ("name", "entityType"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise RequestError(400, "VALIDATION_ERROR", f"{key} is required")
        retailer = body.get("retailerId")
        if retailer is None or retailer == "":
            raise RequestError(400, "VALIDATION_ERROR", "retailerId is required")
        if strict:
            unknown = sorted(set(body) - _ALLOWED_KEYS)
            if unknown:
                raise RequestError(400, "VALIDATION_ERROR", f"Unknown field(s): {', '.join(unknown)}")
            if body["entityType"] not in ENTITY_TYPES:
                raise RequestError(400, "VALIDATION_ERROR", f"Unknown entityType {body['entityType']!r}")
            root = body.get("rootEntityType")
            if root is not None and root not in ROOT_ENTITY_TYPES:
                raise RequestError(400, "VALIDATION_ERROR", f"Unknown rootEntityType {root!r}")
            if not body.get("entityRef") and not body.get("entityId"):
                raise RequestError(400, "VALIDATION_ERROR", "entityRef or entityId is required")
            attributes = body.get("attributes")
            if attributes is not None and not isinstance(attributes, dict):
                raise RequestError(400, "VALIDATION_ERROR", "attributes must be an object")
        return body

    def _record(self, body: dict[str, Any], request: web.Request, status: str) -> dict[str, Any]:
        token = request_token(request)
        entry: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "name": body["name"],
            "type": body.get("type") or "API",
            "accountId": body.get("accountId") or self.state.config.account_id,
            "retailerId": str(body["retailerId"]),
            "category": "CUSTOM",
            "context": {
                "sourceEvents": [],
                "entityType": body.get("entityType"),
                "entityId": _str_or_none(body.get("entityId")),
                "entityRef": body.get("entityRef"),
                "entitySubtype": body.get("entitySubtype"),
                "rootEntityType": body.get("rootEntityType"),
                "rootEntityId": _str_or_none(body.get("rootEntityId")),
                "rootEntityRef": body.get("rootEntityRef"),
            },
            "eventStatus": status,
            "attributes": body.get("attributes"),
            "source": body.get("source"),
            "generatedBy": getattr(token, "subject", None),
            "generatedOn": format_datetime(self.state.clock.now()),
        }
        self.log.append(entry)
        self.by_id[entry["id"]] = entry
        return entry

    def _outcome(self, event: dict[str, Any], rule: EventRule) -> _Outcome:
        if rule.outcome == "failure":
            return _Outcome(False, rule.message or f"Rule failed for event {event['name']}")
        missing = self._missing_entity(event)
        if missing:
            return _Outcome(False, missing)
        return _Outcome(True)

    def _missing_entity(self, event: dict[str, Any]) -> str | None:
        if not self.state.settings.strict:
            return None
        ref = event.get("entityRef")
        kind = event.get("entityType")
        store = self.state.store
        collection = {"ORDER": store.orders, "FULFILMENT": store.fulfilments}.get(str(kind))
        if collection is None or not ref:
            return None
        if collection.first_by_ref(str(ref)) is None:
            return f"{kind} with ref {ref} not found"
        return None

    def _apply_effects(self, event: dict[str, Any]) -> None:
        state = self.state
        now = state.clock.now()
        name = event.get("name")
        attributes = event.get("attributes") if isinstance(event.get("attributes"), dict) else {}
        assert isinstance(attributes, dict)
        if name == "OrderCancel" and event.get("entityType") == "ORDER" and event.get("entityRef"):
            order = state.store.orders.first_by_ref(str(event["entityRef"]))
            if order is not None and order["status"] != "CANCELLED":
                order["status"] = "CANCELLED"
                state.store.orders.touch(order, now)
        elif name in ("UPSERT_PRODUCT", "UPSERT_PRODUCTS"):
            products = attributes.get("products") if name == "UPSERT_PRODUCTS" else [attributes]
            for product in products if isinstance(products, list) else []:
                if isinstance(product, dict) and product.get("ref"):
                    state.upsert_product(product, now)

    # -- handlers ------------------------------------------------------------------------------------

    async def handle_async(self, request: web.Request) -> web.Response:
        body = self._validate(await read_json(request))
        rule = self._rule_for(body)
        if rule is None:
            raise RequestError(400, "VALIDATION_ERROR", f"No workflow rule matches event {body['name']!r}")
        entry = self._record(body, request, "PENDING")
        task = asyncio.get_running_loop().create_task(self._finish(entry, body, rule))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return json_response({"id": entry["id"]})

    async def _finish(self, entry: dict[str, Any], body: dict[str, Any], rule: EventRule) -> None:
        await asyncio.sleep(self.state.settings.event_delay)
        outcome = self._outcome(body, rule)
        entry["eventStatus"] = "COMPLETE" if outcome.ok else "FAILED"
        if outcome.ok:
            self._apply_effects(body)
        await self.state.webhooks.notify(entry)

    async def handle_sync(self, request: web.Request) -> web.Response:
        body = self._validate(await read_json(request))
        rule = self._rule_for(body)
        if rule is None:
            raise RequestError(404, "NO_MATCH", f"No workflow rule matches event {body['name']!r}")
        outcome = self._outcome(body, rule)
        entry = self._record(body, request, "COMPLETE" if outcome.ok else "FAILED")
        if not outcome.ok:
            raise RequestError(422, "VALIDATION_ERROR", outcome.message or "Event failed", id=entry["id"])
        self._apply_effects(body)
        await self.state.webhooks.notify(entry)
        return json_response({"id": entry["id"], "status": "COMPLETED"}, status=201)

    async def handle_get(self, request: web.Request) -> web.Response:
        event_id = request.match_info["event_id"]
        entry = self.by_id.get(event_id)
        if entry is None:
            raise RequestError(404, "NOT_FOUND", f"Event {event_id} not found")
        return json_response(entry)

    async def handle_search(self, request: web.Request) -> web.Response:
        query = request.query
        start = _int_param(query, "start", 0)
        count = _int_param(query, "count", 100)
        if start < 0 or count < 0:
            raise RequestError(400, "VALIDATION_ERROR", "start and count must not be negative")
        if count > _SEARCH_MAX:
            raise RequestError(400, "VALIDATION_ERROR", f"count must not exceed {_SEARCH_MAX}")
        try:
            since = parse_datetime(query["from"]) if query.get("from") else None
            until = parse_datetime(query["to"]) if query.get("to") else None
        except ValueError as exc:
            raise RequestError(400, "VALIDATION_ERROR", f"Invalid date: {exc}") from exc
        simple = {
            "name": "name",
            "category": "category",
            "retailerId": "retailerId",
            "eventType": "type",
            "eventStatus": "eventStatus",
            "eventId": "id",
        }
        wanted = [(field, query[param]) for param, field in simple.items() if query.get(param)]
        context = [
            (key.split(".", 1)[1], value) for key, value in query.items() if key.startswith("context.") and value
        ]
        matches: list[dict[str, Any]] = []
        for entry in reversed(self.log):
            if any(str(entry.get(f)) != v for f, v in wanted):
                continue
            ctx = entry["context"]
            if any((v not in ctx[k]) if k == "sourceEvents" else str(ctx.get(k)) != v for k, v in context):
                continue
            if since or until:
                generated = parse_datetime(entry["generatedOn"])
                if (since and generated < since) or (until and generated > until):
                    continue
            matches.append(entry)
        page = matches[start : start + count]
        return json_response(
            {"start": start, "count": len(page), "hasMore": start + count < len(matches), "results": page}
        )


def _int_param(query: Any, name: str, default: int) -> int:
    raw = query.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise RequestError(400, "VALIDATION_ERROR", f"{name} must be an integer") from exc


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
