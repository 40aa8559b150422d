"""The admin API under ``/_sandbox/`` (no auth, loopback peers only).

Tests drive the sandbox through these routes (or through the same methods on :class:`SandboxState`):
reset and seed the data, inject faults, revoke or expire tokens, close jobs, move the clock, and
inspect what arrived. Admin calls are not written to the request log, so counting attempts of a
Fluent route is never polluted by the test's own bookkeeping. Every route is described, with a
``curl`` example, in ``docs/sandbox.md``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .clock import parse_datetime
from .events import EventRule
from .faults import ROUTES, FaultSpec
from .responses import RequestError, json_response
from .webhooks import DeliveryRequest, Subscription

if TYPE_CHECKING:
    from .state import SandboxState

__all__ = ["ADMIN_PREFIX", "add_admin_routes", "is_loopback"]

ADMIN_PREFIX = "/_sandbox"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class SeedRequest(BaseModel):
    """Body of ``POST /_sandbox/seed``."""

    model_config = ConfigDict(extra="forbid")

    orders: int = Field(ge=0)
    products: int | None = Field(default=None, ge=1)
    locations: int | None = Field(default=None, ge=1)
    updated_from: datetime | None = None
    updated_to: datetime | None = None


def is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote.split("%", 1)[0]).is_loopback
    except ValueError:
        return remote == "localhost"


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = await request.json()
    except ValueError as exc:
        raise RequestError(400, "INVALID_JSON", f"Body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise RequestError(400, "INVALID_JSON", "Body must be a JSON object")
    return data


M = TypeVar("M", bound=BaseModel)


def _model(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestError(400, "VALIDATION_ERROR", str(exc)) from exc


def add_admin_routes(app: web.Application, state: SandboxState) -> None:
    """Register every ``/_sandbox/`` route on ``app``."""
    routes = web.RouteTableDef()
    p = ADMIN_PREFIX

    @routes.get(p)
    @routes.get(p + "/")
    async def index(_request: web.Request) -> web.Response:
        return json_response({"base_url_routes": list(ROUTES), "docs": "docs/sandbox.md"})

    @routes.post(p + "/reset")
    async def reset(request: web.Request) -> web.Response:
        body = await _body(request)
        seed = body.get("seed")
        if seed is not None and (not isinstance(seed, int) or seed < 0):
            raise RequestError(400, "VALIDATION_ERROR", "seed must be a non-negative integer")
        state.reset(seed)
        return json_response({"ok": True, "store": state.store.counts()})

    @routes.post(p + "/seed")
    async def seed(request: web.Request) -> web.Response:
        spec = _model(SeedRequest, await _body(request))
        base = state.default_seed_spec(spec.orders)
        updated_from = spec.updated_from or base.updated_from
        updated_to = spec.updated_to or base.updated_to
        if updated_from.tzinfo is None:
            updated_from = parse_datetime(updated_from.isoformat())
        if updated_to.tzinfo is None:
            updated_to = parse_datetime(updated_to.isoformat())
        if updated_to <= updated_from:
            raise RequestError(400, "VALIDATION_ERROR", "updated_to must be after updated_from")
        state.reseed(
            type(base)(
                orders=spec.orders,
                products=spec.products or base.products,
                locations=spec.locations or base.locations,
                updated_from=updated_from,
                updated_to=updated_to,
                retailer_id=base.retailer_id,
                random_seed=base.random_seed,
            )
        )
        return json_response(state.store.counts())

    @routes.get(p + "/faults")
    async def list_faults(_request: web.Request) -> web.Response:
        return json_response(state.faults.snapshot())

    @routes.post(p + "/faults")
    async def add_fault(request: web.Request) -> web.Response:
        fault = state.faults.add(_model(FaultSpec, await _body(request)))
        return json_response({"id": fault.id})

    @routes.delete(p + "/faults")
    async def clear_faults(_request: web.Request) -> web.Response:
        state.faults.clear()
        return json_response({"ok": True})

    @routes.delete(p + "/faults/{fault_id}")
    async def delete_fault(request: web.Request) -> web.Response:
        if not state.faults.remove(request.match_info["fault_id"]):
            raise RequestError(404, "NOT_FOUND", "No such fault")
        return json_response({"ok": True})

    @routes.post(p + "/tokens/revoke")
    async def revoke(_request: web.Request) -> web.Response:
        return json_response({"revoked": state.tokens.revoke_all()})

    @routes.post(p + "/tokens/expire")
    async def expire(request: web.Request) -> web.Response:
        token = (await _body(request)).get("token")
        return json_response({"expired": state.tokens.expire(token if isinstance(token, str) else None)})

    @routes.post(p + "/tokens/rotate-refresh")
    async def rotate(_request: web.Request) -> web.Response:
        return json_response({"invalidated": state.tokens.rotate_refresh()})

    @routes.post(p + "/jobs/{job_id}/close")
    async def close_job(request: web.Request) -> web.Response:
        raw = request.match_info["job_id"]
        job = state.jobs.close(int(raw), "admin") if raw.isdigit() else None
        if job is None:
            raise RequestError(404, "NOT_FOUND", f"Job {raw} not found")
        return json_response(state.jobs.job_view(job))

    @routes.get(p + "/clock")
    async def get_clock(_request: web.Request) -> web.Response:
        return json_response({"now": state.clock.now().isoformat(), "offset": state.clock.offset_seconds})

    @routes.post(p + "/clock")
    async def set_clock(request: web.Request) -> web.Response:
        body = await _body(request)
        if "set" in body:
            try:
                state.clock.set(parse_datetime(body["set"]))
            except ValueError as exc:
                raise RequestError(400, "VALIDATION_ERROR", str(exc)) from exc
        elif "advance" in body and isinstance(body["advance"], int | float):
            state.clock.advance(float(body["advance"]))
        elif body.get("reset"):
            state.clock.reset()
        else:
            raise RequestError(400, "VALIDATION_ERROR", "Body needs 'set' (ISO), 'advance' (seconds) or 'reset'")
        return json_response({"now": state.clock.now().isoformat(), "offset": state.clock.offset_seconds})

    @routes.get(p + "/requests")
    async def requests(request: web.Request) -> web.Response:
        route = request.query.get("route")
        return json_response([e for e in state.request_log if route is None or e["route"] == route])

    @routes.delete(p + "/requests")
    async def clear_requests(_request: web.Request) -> web.Response:
        state.request_log.clear()
        return json_response({"ok": True})

    @routes.get(p + "/inspect")
    async def inspect(_request: web.Request) -> web.Response:
        return json_response(state.inspect())

    @routes.get(p + "/jobs")
    async def jobs(_request: web.Request) -> web.Response:
        return json_response([state.jobs.job_view(j) for j in state.jobs.jobs.values()])

    @routes.get(p + "/batches")
    async def batches(request: web.Request) -> web.Response:
        job_id = request.query.get("job_id")
        with_entities = request.query.get("entities", "true").lower() != "false"
        return json_response(
            [
                state.jobs.batch_view(b, with_entities=with_entities)
                for b in state.jobs.batches.values()
                if job_id is None or str(b.job_id) == job_id
            ]
        )

    @routes.get(p + "/events")
    async def events(request: web.Request) -> web.Response:
        name = request.query.get("name")
        return json_response([e for e in state.events.log if name is None or e["name"] == name])

    @routes.get(p + "/mutations")
    async def mutations(request: web.Request) -> web.Response:
        name = request.query.get("mutation")
        return json_response([m for m in state.mutations if name is None or m["mutation"] == name])

    @routes.get(p + "/inventory")
    async def inventory(request: web.Request) -> web.Response:
        product = request.query.get("productRef") or request.query.get("skuRef")
        location = request.query.get("locationRef")
        rows = []
        for position in state.store.inventory_positions:
            if (product and position["productRef"] != product) or (location and position["locationRef"] != location):
                continue
            ids = state.store.quantity_index.get(int(position["id"]), {})
            quantities = {t: q["qty"] for t, i in ids.items() if (q := state.store.inventory_quantities.get(i))}
            rows.append({**position, "catalogueRef": position["catalogue"]["ref"], "quantities": quantities})
        return json_response(rows)

    @routes.get(p + "/webhook-key")
    async def webhook_key(_request: web.Request) -> web.Response:
        return json_response(
            {
                "public_key": state.webhooks.public_key_b64,
                "public_key_pem": state.webhooks.public_key_pem,
                "algorithm": "SHA512withRSA",
                "legacy_algorithm": "MD5withRSA",
            }
        )

    @routes.post(p + "/webhooks/deliver")
    async def deliver(request: web.Request) -> web.Response:
        return json_response(await state.webhooks.deliver(_model(DeliveryRequest, await _body(request))))

    @routes.get(p + "/webhooks/deliveries")
    async def deliveries(_request: web.Request) -> web.Response:
        return json_response(state.webhooks.deliveries)

    @routes.get(p + "/webhooks/subscriptions")
    async def subscriptions(_request: web.Request) -> web.Response:
        return json_response([s.model_dump() for s in state.webhooks.subscriptions])

    @routes.post(p + "/webhooks/subscriptions")
    async def subscribe(request: web.Request) -> web.Response:
        state.webhooks.subscriptions.append(_model(Subscription, await _body(request)))
        return json_response({"ok": True, "count": len(state.webhooks.subscriptions)})

    @routes.delete(p + "/webhooks/subscriptions")
    async def unsubscribe(_request: web.Request) -> web.Response:
        state.webhooks.subscriptions.clear()
        return json_response({"ok": True})

    @routes.get(p + "/settings")
    async def get_settings(_request: web.Request) -> web.Response:
        return json_response(state.settings.model_dump())

    @routes.post(p + "/settings")
    async def set_settings(request: web.Request) -> web.Response:
        changes = await _body(request)
        merged = {**state.settings.model_dump(), **changes}
        state.settings = _model(type(state.settings), merged)
        return json_response(state.settings.model_dump())

    @routes.get(p + "/event-rules")
    async def rules(_request: web.Request) -> web.Response:
        return json_response([r.model_dump() for r in state.events.rules])

    @routes.post(p + "/event-rules")
    async def add_rule(request: web.Request) -> web.Response:
        state.events.add_rule(_model(EventRule, await _body(request)))
        return json_response({"ok": True, "count": len(state.events.rules)})

    @routes.delete(p + "/event-rules")
    async def reset_rules(_request: web.Request) -> web.Response:
        state.events.reset_rules()
        return json_response({"ok": True})

    app.router.add_routes(routes)
