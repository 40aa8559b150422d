"""Extraction runs against the seeded sandbox and the embedded broker: what is published, and the watermark."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from fluentsync.streams.extraction import ENTITIES, ExtractionConfig, RunRequest
from fluentsync.streams.extraction.state import format_timestamp, parse_timestamp

from .conftest import Env

pytestmark = pytest.mark.integration

STORE = {"orders": "orders", "fulfilments": "fulfilments", "inventory_positions": "inventory_positions",
         "inventory_quantities": "inventory_quantities", "virtual_positions": "virtual_positions",
         "products": "products", "locations": "locations"}

UPDATE_ORDER = "mutation($input: UpdateOrderInput!) { updateOrder(input: $input) { id ref updatedOn } }"


async def test_a_full_extraction_publishes_every_node_once(env: Env) -> None:
    configs = {name: ExtractionConfig.model_validate({"entity": name}) for name in ENTITIES}
    async with env.service(**configs) as service:
        for name in ENTITIES:
            run = await service.runner(name).run()
            collection = getattr(env.sandbox.state.store, STORE[name])
            assert run.status == "COMPLETED" and run.stage == "finished", run.error
            assert run.nodes == len(collection) > 0
            events = await env.events(name)
            refs = Counter(value["ref"] for _key, value in events)
            assert set(refs) == {r["ref"] for r in collection} and max(refs.values()) == 1
            assert all(key.decode() == value["ref"] for key, value in events)  # keyed by ref
            assert all(value["extraction"]["run_id"] == run.run_id for _key, value in events)
            assert run.watermark_after == max(r["updatedOn"] for r in collection)
            assert sum(p["offset"] for p in run.end_offsets) == len(collection)
    order = next(value for _k, value in await env.events("orders") if value["ref"] == "ORD-000003")
    assert [item["ref"] for item in order["items"]] == ["ORD-000003-1", "ORD-000003-2", "ORD-000003-3"]


async def test_an_incremental_run_publishes_only_the_changed_nodes(env: Env) -> None:
    async with env.service(orders=ExtractionConfig(entity="orders")) as service:
        runner = service.runner("orders")
        first = await runner.run()
        assert first.nodes == 300 and first.watermark_after is not None
        changed = ["ORD-000001", "ORD-000100", "ORD-000150", "ORD-000298", "ORD-000299"]
        for ref in changed:
            order = (await env.client.query("query($ref: String) { order(ref: $ref) { id } }", {"ref": ref}))["order"]
            await env.client.mutate(UPDATE_ORDER, {"input": {"id": order["id"], "status": "SHIPPED"}})
        second = await runner.run()
        assert second.status == "COMPLETED"
        assert second.window_from == format_timestamp(parse_timestamp(first.watermark_after) - timedelta(seconds=60))
        assert second.nodes == 5 and second.overlap_skipped == 1  # ORD-000300 at the old watermark: already sent
        events = await env.events("orders")
        assert sorted(v["ref"] for _k, v in events if v["extraction"]["run_id"] == second.run_id) == changed
        assert len(events) == 305
        assert all(v["status"] == "SHIPPED" for _k, v in events if v["extraction"]["run_id"] == second.run_id)
        assert second.watermark_before == first.watermark_after
        assert second.watermark_after is not None and second.watermark_after > first.watermark_after
        third = await runner.run()  # nothing changed: a successful run that leaves the watermark alone (R62)
        assert third.status == "COMPLETED" and third.nodes == 0 and third.overlap_skipped == 5
        assert third.watermark_after is None
        stored = await service.state.watermark("orders")
        assert stored is not None and stored.watermark == second.watermark_after


async def test_a_late_node_inside_the_overlap_window_is_delivered(env: Env) -> None:
    async with env.service(orders=ExtractionConfig(entity="orders")) as service:
        first = await service.runner("orders").run()
        assert first.watermark_after is not None
        # Fluent's index is eventually consistent: a node may show up after a run with an older updatedOn.
        store = env.sandbox.state.store.orders
        late = store.first_by_ref("ORD-000005")
        assert late is not None
        store.touch(late, parse_timestamp(first.watermark_after) - timedelta(seconds=30))
        second = await service.runner("orders").run()
        assert second.nodes == 1 and second.overlap_skipped == 1
        assert [v["ref"] for _k, v in await env.events("orders") if v["extraction"]["run_id"] == second.run_id] == [
            "ORD-000005"]
        assert second.watermark_after is None  # below the stored watermark: it never goes backwards


async def test_explicit_windows_never_move_the_watermark_over_a_hole(env: Env) -> None:
    async with env.service(orders=ExtractionConfig(entity="orders")) as service:
        runner = service.runner("orders")
        # No watermark yet: a window that starts later would leave everything before it unextracted.
        later = await runner.run(RunRequest(window_from=parse_timestamp("2025-06-01T00:00:00Z")))
        assert later.status == "COMPLETED" and 0 < later.nodes < 300 and later.watermark_after is None
        assert await service.state.watermark("orders") is None
        full = await runner.run(RunRequest(full=True))
        assert full.nodes == 300 and full.watermark_after is not None
        old = await runner.run(RunRequest(window_from=parse_timestamp("2025-01-01T00:00:00Z"),
                                          window_to=parse_timestamp("2025-02-01T00:00:00Z")))
        assert old.status == "COMPLETED" and 0 < old.nodes < 300 and old.watermark_after is None
        mine = [v for _k, v in await env.events("orders") if v["extraction"]["run_id"] == old.run_id]
        assert len(mine) == old.nodes and all("2025-01-01" <= v["updatedOn"] <= "2025-02-01" for v in mine)
        stored = await service.state.watermark("orders")
        assert stored is not None and stored.watermark == full.watermark_after


async def test_runs_are_tracked(env: Env) -> None:
    async with env.service(locations=ExtractionConfig(entity="locations"),
                           products=ExtractionConfig(entity="products")) as service:
        a = await service.runner("locations").run()
        b = await service.runner("products").run()
        runs = await service.state.runs()
        assert [(r.run_id, r.status, r.nodes) for r in runs] == [(a.run_id, "COMPLETED", 8),
                                                                 (b.run_id, "COMPLETED", 50)]
        stored = runs[0]
        assert stored.started_at is not None and stored.completed_at is not None and stored.failed_at is None
        assert stored.duration_ms is not None and stored.pages == 1 and stored.stage == "finished"
        assert stored.topic == env.topic("locations") and stored.schema == "fluentsync.outbound.Location"
        assert [r.run_id for r in await service.state.runs(["products"])] == [b.run_id]
