"""The Event API sink against the sandbox: shapes, templates, retries, rejections, pacing, token accounting."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pydantic import ValidationError

from fluentsync.connectors.fluent import FluentClient
from fluentsync.streams.sinks import EventSink, EventSinkSettings
from tests.fixtures.sandbox_admin import Admin
from tests.integration.sinks.outcomes import TokenOutcomes

pytestmark = pytest.mark.integration

PER_PRODUCT = {
    "name": "UPSERT_PRODUCT",
    "entity_type": "PRODUCT",
    "entity_ref": "{ref}",
    "entity_subtype": "MASTER",
    "root_entity_type": "PRODUCT_CATALOGUE",
    "root_entity_ref": "PC:MASTER:{catalogue}",
}
BATCHED = {
    "name": "UPSERT_PRODUCTS",
    "entity_type": "PRODUCT_CATALOGUE",
    "entity_ref": "PC:MASTER:{catalogue}",
    "entity_subtype": "MASTER",
    "root_entity_type": "PRODUCT_CATALOGUE",
    "root_entity_ref": "PC:MASTER:{catalogue}",
    "batch_field": "products",
}


def product(i: int, ref: str | None = None, catalogue: str = "2") -> dict[str, Any]:
    """A product as the product templates send it (fluent-api.md §6.2)."""
    return {
        "ref": ref or f"EVP-{i:04d}",
        "catalogue": catalogue,
        "type": "STANDARD",
        "status": "ACTIVE",
        "name": f"Event product {i}",
        "prices": [{"type": "DEFAULT", "currency": "AUD", "value": 10 + i}],
    }


class Outcomes(TokenOutcomes):
    """Token outcomes of an Event API sink."""

    def sink(self, fluent: FluentClient, **settings: Any) -> EventSink[int]:
        return EventSink(
            fluent,
            EventSinkSettings(**settings),
            on_sent=self.on_sent,
            on_rejected=self.on_rejected,
            on_failed=self.on_failed,
        )


def test_settings_validate_templates() -> None:
    assert EventSinkSettings(**PER_PRODUCT).mode == "async"
    assert EventSinkSettings(**PER_PRODUCT, retailer_id=7).retailer_id == "7"  # type: ignore[arg-type]
    for bad in ("{ref", "{}", "{0}", "ref}"):
        with pytest.raises(ValidationError):
            EventSinkSettings(**{**PER_PRODUCT, "entity_ref": bad})
    with pytest.raises(ValidationError):
        EventSinkSettings(**PER_PRODUCT, mode="later")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        EventSinkSettings(**PER_PRODUCT, unknown=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        EventSinkSettings(**PER_PRODUCT, max_concurrency=0)


async def test_one_event_per_record_reaches_fluent(fluent: FluentClient, admin: Admin) -> None:
    out = Outcomes()
    async with out.sink(fluent, **PER_PRODUCT) as sink:
        for i in range(5):
            await sink.add(product(i), i, job_key="products.json")

    assert out.sent_tokens() == list(range(5)) and not out.rejected and not out.failed
    assert all(len(r.tokens) == 1 and r.batch_id and r.job_id == "" for r in out.sent)
    assert {r.status for r in out.sent} == {"ACCEPTED"} and {r.job_key for r in out.sent} == {"products.json"}
    page = await fluent.events.search(name="UPSERT_PRODUCT", count=100)
    by_id = {e["id"]: e for e in page.results}
    assert set(by_id) == {r.batch_id for r in out.sent}
    for result in out.sent:
        event = by_id[result.batch_id]
        i = result.tokens[0]
        assert event["context"]["entityType"] == "PRODUCT"
        assert event["context"]["entityRef"] == f"EVP-{i:04d}"
        assert event["context"]["rootEntityType"] == "PRODUCT_CATALOGUE"
        assert event["context"]["rootEntityRef"] == "PC:MASTER:2"
        assert event["attributes"] == product(i)
        assert event["retailerId"] == fluent.retailer_id


async def test_batched_events_of_100_100_50_and_products_upserted(fluent: FluentClient, admin: Admin) -> None:
    out = Outcomes()
    async with out.sink(fluent, **BATCHED, max_batch_size=100, mode="sync") as sink:
        for i in range(250):
            await sink.add(product(i), i)

    assert out.sent_tokens() == list(range(250)) and not out.rejected and not out.failed
    assert sorted(len(r.tokens) for r in out.sent) == [50, 100, 100]
    assert {r.status for r in out.sent} == {"COMPLETED"}
    events = await admin.call("GET", "/events", params={"name": "UPSERT_PRODUCTS"})
    assert sorted(len(e["attributes"]["products"]) for e in events) == [50, 100, 100]
    assert {e["context"]["entityRef"] for e in events} == {"PC:MASTER:2"}
    assert {e["eventStatus"] for e in events} == {"COMPLETE"}
    data = await fluent.query('query { product(ref: "EVP-0249") { ref name } }')
    assert data["product"] == {"ref": "EVP-0249", "name": "Event product 249"}


async def test_batched_form_groups_by_rendered_envelope_and_lingers(fluent: FluentClient, admin: Admin) -> None:
    out = Outcomes()
    sink = out.sink(fluent, **BATCHED, max_batch_size=100, linger=0.1)
    for i in range(6):
        await sink.add(product(i, catalogue="2" if i % 2 else "3"), i)
    assert sink.pending == 6
    for _ in range(100):  # no flush: the linger timer sends both partial events
        if len(out.sent) == 2:
            break
        await asyncio.sleep(0.02)
    assert sink.pending == 0
    await sink.aclose()
    assert sorted(sorted(r.tokens) for r in out.sent) == [[0, 2, 4], [1, 3, 5]]
    events = await admin.call("GET", "/events", params={"name": "UPSERT_PRODUCTS"})
    refs = {e["context"]["entityRef"]: sorted(p["ref"] for p in e["attributes"]["products"]) for e in events}
    assert refs == {
        "PC:MASTER:3": ["EVP-0000", "EVP-0002", "EVP-0004"],
        "PC:MASTER:2": ["EVP-0001", "EVP-0003", "EVP-0005"],
    }
    with pytest.raises(RuntimeError):
        await sink.add(product(9), 9)


async def test_template_error_rejects_only_that_record(fluent: FluentClient, admin: Admin) -> None:
    out = Outcomes()
    async with out.sink(fluent, **PER_PRODUCT) as sink:
        await sink.add(product(0), 0)
        await sink.add({k: v for k, v in product(1).items() if k != "ref"}, 1)  # no ref
        await sink.add({**product(2), "ref": None}, 2)  # null ref
        await sink.add({**product(3), "catalogue": ""}, 3)  # optional root ref renders "PC:MASTER:" - fine
        await sink.add({**product(4), "when": object()}, 4)  # not JSON

    assert out.sent_tokens() == [0, 3]
    reasons = dict((tokens[0], reason) for tokens, reason in out.rejected)
    assert set(reasons) == {1, 2, 4}
    assert "entity_ref" in reasons[1] and "'ref'" in reasons[1]
    assert "null" in reasons[2]
    assert "JSON" in reasons[4]
    assert len(await admin.requests("event_async")) == 2


async def test_5xx_burst_is_retried_then_sent(fluent: FluentClient, admin: Admin) -> None:
    await admin.fault("event_async", "status", status=503, times=2)
    out = Outcomes()
    async with out.sink(fluent, **PER_PRODUCT) as sink:
        await sink.add(product(1), 1)
    assert out.sent_tokens() == [1] and not out.failed
    assert await admin.statuses("event_async") == [503, 503, 200]


async def test_retries_exhausted_is_failed(fluent: FluentClient, admin: Admin) -> None:
    await admin.fault("event_async", "status", status=503, times=4)  # first attempt + 3 retries
    out = Outcomes()
    async with out.sink(fluent, **PER_PRODUCT, max_concurrency=1) as sink:
        await sink.add(product(1), 1)
        await sink.add(product(2), 2)
    assert [(tokens, err.status, err.retryable) for tokens, err in out.failed] == [([1], 503, True)]
    assert out.sent_tokens() == [2]


async def test_permanent_4xx_rejected(fluent: FluentClient, admin: Admin) -> None:
    await admin.fault("event_async", "status", status=422, body={"message": "bad product"}, ref="BAD-ONE")
    out = Outcomes()
    async with out.sink(fluent, **PER_PRODUCT) as sink:
        await sink.add(product(0), 0)
        await sink.add(product(1, ref="BAD-ONE"), 1)
    assert out.sent_tokens() == [0]
    assert [tokens for tokens, _ in out.rejected] == [[1]] and "422" in out.rejected[0][1]
    # an event name no workflow rule matches: 400 in async mode, 404 in sync mode, rejected either way
    for mode in ("async", "sync"):
        other = Outcomes()
        async with other.sink(fluent, **{**PER_PRODUCT, "name": "NoSuchEvent"}, mode=mode) as sink:
            await sink.add(product(5), 5)
        assert other.rejected_tokens() == [5] and not other.sent and not other.failed


async def test_batched_400_is_bisected_to_the_bad_records(fluent: FluentClient, admin: Admin) -> None:
    await admin.fault("event_async", "status", status=400, body={"message": "invalid product"}, ref="BAD-A")
    await admin.fault("event_async", "status", status=422, body={"message": "invalid product"}, ref="BAD-B")
    out = Outcomes()
    async with out.sink(fluent, **BATCHED, max_batch_size=16) as sink:
        for i in range(16):
            await sink.add(product(i, ref={5: "BAD-A", 12: "BAD-B"}.get(i)), i)
    assert out.rejected_tokens() == [5, 12]
    assert out.sent_tokens() == [i for i in range(16) if i not in (5, 12)]
    events = await admin.call("GET", "/events", params={"name": "UPSERT_PRODUCTS"})
    stored = sorted(p["ref"] for e in events for p in e["attributes"]["products"])
    assert stored == sorted(f"EVP-{i:04d}" for i in range(16) if i not in (5, 12))


async def test_concurrency_bound_and_rate_limit(fluent: FluentClient, admin: Admin) -> None:
    await admin.fault("event_async", "latency", delay=0.1)
    out = Outcomes()
    sink = out.sink(fluent, **PER_PRODUCT, max_concurrency=3)
    for i in range(12):
        await sink.add(product(i), i)
        assert sink.in_flight <= 3
    await sink.aclose()
    assert sink.max_in_flight_seen == 3
    assert out.sent_tokens() == list(range(12))

    await admin.call("DELETE", "/faults")
    paced = Outcomes()
    started = time.monotonic()
    async with paced.sink(fluent, **PER_PRODUCT, rate_limit=25, max_concurrency=8) as sink:
        for i in range(6):
            await sink.add(product(i), i)
    assert time.monotonic() - started >= 5 / 25 - 0.01  # the first is free, then 40 ms apart
    assert paced.sent_tokens() == list(range(6))


async def test_every_token_gets_exactly_one_outcome(fluent: FluentClient, admin: Admin) -> None:
    await admin.fault("event_async", "status", status=503, ref="DOWN-1")  # always: retries run out
    await admin.fault("event_async", "status", status=400, ref="BAD-1")
    await admin.fault("event_async", "status", status=502, times=3)  # a burst the client retries through
    out = Outcomes()
    async with out.sink(fluent, **BATCHED, max_batch_size=7, linger=0.05, max_concurrency=2) as sink:
        for i in range(40):
            ref = {3: "DOWN-1", 17: "BAD-1"}.get(i)
            entity = product(i, ref=ref, catalogue=str(i % 3))
            if i == 25:
                entity.pop("catalogue")
            await sink.add(entity, i)
    out.assert_each_once(range(40))
    assert 17 in out.rejected_tokens() and 25 in out.rejected_tokens()
    assert 3 in out.failed_tokens()  # the whole event carrying DOWN-1 failed (not bisected: retryable)
    assert all(err.retryable for _, err in out.failed)
