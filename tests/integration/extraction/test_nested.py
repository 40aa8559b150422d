"""An order with more items than the query's first page: the event holds every item (follow-up queries)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fluentsync.streams.extraction import ENTITIES, ExtractionConfig
from tests.fixtures.sandbox_admin import Admin

from .conftest import Env

pytestmark = pytest.mark.integration

CREATE_ORDER = "mutation C($input: CreateOrderInput!) { createOrder(input: $input) { id ref } }"
ITEMS = 250  # the first page holds 100: two follow-ups (100, then 50)


async def _big_order(env: Env, ref: str) -> None:
    items = [{"ref": f"{ref}-{i:03d}", "productRef": "SKU-0001", "quantity": i, "price": 1.0, "totalPrice": float(i),
              "currency": "AUD"} for i in range(1, ITEMS + 1)]
    await env.client.mutate(CREATE_ORDER, {"input": {
        "ref": ref, "type": "HD", "retailer": {"id": "1"}, "totalPrice": 10.0, "currency": "AUD",
        "customer": {"ref": "CUST-00001"}, "items": items}})


async def test_an_order_with_more_items_than_a_page_arrives_whole(env: Env) -> None:
    await env.sandbox.reset(3)
    await _big_order(env, "ORD-BIG")
    async with env.service(orders=ExtractionConfig.model_validate({"entity": "orders"})) as service:
        run = await service.runner("orders").run()
    assert run.status == "COMPLETED" and run.nodes == 4, run.error
    assert run.nested_truncated == 0
    events = {value["ref"]: value for _key, value in await env.events("orders")}
    big = events["ORD-BIG"]
    assert [item["ref"] for item in big["items"]] == [f"ORD-BIG-{i:03d}" for i in range(1, ITEMS + 1)]
    assert big["items"][-1]["quantity"] == ITEMS and big["items"][-1]["totalPrice"] == float(ITEMS)
    others = [order for order in env.sandbox.state.store.orders if order["ref"] != "ORD-BIG"]
    assert len(others) == 3
    for order in others:  # their items as they are: no follow-up needed
        assert [i["ref"] for i in events[order["ref"]]["items"]] == [i["ref"] for i in order["items"]]


async def test_a_query_without_item_cursors_keeps_the_first_page_and_counts_it(env: Env, tmp_path: Path) -> None:
    await env.sandbox.reset(3)
    await _big_order(env, "ORD-BIG")
    query = tmp_path / "orders.graphql"
    query.write_text(ENTITIES["orders"].query.replace("items(first: 100) { edges { cursor node {",
                                                      "items(first: 100) { edges { node {"))
    config = ExtractionConfig.model_validate({"entity": "orders", "query": str(query)})
    async with env.service(orders=config) as service:
        run = await service.runner("orders").run()
    assert run.status == "COMPLETED" and run.nodes == 4, run.error
    assert run.nested_truncated == 1  # cannot resume without the cursor: counted, not hidden
    big = next(value for _key, value in await env.events("orders") if value["ref"] == "ORD-BIG")
    assert len(big["items"]) == 100


async def test_a_follow_up_cursor_that_does_not_advance_fails_the_run(env: Env, admin: Admin) -> None:
    await env.sandbox.reset(3)
    await _big_order(env, "ORD-BIG")
    stuck = {"data": {"orderById": {"items": {"edges": [{"cursor": "STUCK", "node": {"id": "9", "ref": "X"}}],
                                              "pageInfo": {"hasNextPage": True}}}}}
    await admin.fault("graphql", "status", status=200, body=stuck, ref="FluentsyncNested")  # follow-ups only
    async with env.service(orders=ExtractionConfig.model_validate({"entity": "orders"})) as service:
        run = await service.runner("orders").run()
        assert run.status == "FAILED" and run.error is not None and "did not advance" in run.error
        assert run.watermark_after is None
        assert await service.state.watermark("orders") is None  # nothing moved: the next run starts over
