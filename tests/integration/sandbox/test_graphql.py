"""GraphQL: Relay paging, filters, Fluent error shapes and mutations (fluent-api.md §4)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fluentsync.connectors.sandbox.seed import order_ref
from tests.fixtures.sandbox import SandboxHandle

from .helpers import gql

pytestmark = pytest.mark.integration

ORDERS_FORWARD = """
query Orders($first: Int, $after: String) {
  orders(first: $first, after: $after) {
    edges { cursor node { id ref updatedOn items { edges { node { ref productRef } } } } }
    pageInfo { hasNextPage hasPreviousPage }
  }
}"""

ORDERS_BACKWARD = """
query Orders($last: Int, $before: String) {
  orders(last: $last, before: $before) {
    edges { cursor node { id ref } }
    pageInfo { hasNextPage hasPreviousPage }
  }
}"""


async def _page_all(client: httpx.AsyncClient, first: int | None) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    variables: dict[str, Any] = {} if first is None else {"first": first}
    while True:
        body = await gql(client, ORDERS_FORWARD, **variables)
        assert "errors" not in body, body
        connection = body["data"]["orders"]
        nodes.extend(edge["node"] for edge in connection["edges"])
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes
        variables["after"] = connection["edges"][-1]["cursor"]


async def test_forward_paging_has_no_gaps_or_duplicates(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    n = fresh.config.seed_orders
    for first in (None, 250, 7):
        refs = [node["ref"] for node in await _page_all(client, first)]
        assert refs == [order_ref(i) for i in range(n)], f"first={first}"
    first_page = await gql(client, ORDERS_FORWARD)
    assert len(first_page["data"]["orders"]["edges"]) == 100, "default page size is 100"
    assert first_page["data"]["orders"]["pageInfo"] == {"hasNextPage": True, "hasPreviousPage": False}


async def test_backward_paging(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    refs: list[str] = []
    variables: dict[str, Any] = {"last": 40}
    while True:
        connection = (await gql(client, ORDERS_BACKWARD, **variables))["data"]["orders"]
        refs[:0] = [edge["node"]["ref"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasPreviousPage"]:
            break
        variables["before"] = connection["edges"][0]["cursor"]
    assert refs == [order_ref(i) for i in range(fresh.config.seed_orders)]


async def test_cursors_survive_concurrent_inserts(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    page1 = (await gql(client, ORDERS_FORWARD, first=50))["data"]["orders"]
    created = await gql(client, CREATE_ORDER, input=_order_input("NEW-1"))
    assert created["data"]["createOrder"]["ref"] == "NEW-1"
    edges = list(page1["edges"])
    while True:
        rest = (await gql(client, ORDERS_FORWARD, first=250, after=edges[-1]["cursor"]))["data"]["orders"]
        edges.extend(rest["edges"])
        if not rest["pageInfo"]["hasNextPage"]:
            break
    refs = [e["node"]["ref"] for e in edges]
    assert refs[: fresh.config.seed_orders] == [order_ref(i) for i in range(fresh.config.seed_orders)]
    assert refs[-1] == "NEW-1", "a new order sorts last (newest updatedOn)"


async def test_page_size_and_cursor_errors(client: httpx.AsyncClient) -> None:
    too_big = await gql(client, ORDERS_FORWARD, first=251)
    assert too_big["data"] == {"orders": None}
    assert too_big["errors"][0]["extensions"]["code"] == "C0142E"
    assert too_big["errors"][0]["path"] == ["orders"]

    both = await gql(client, "{ orders(first: 5, last: 5) { edges { cursor } } }")
    assert both["errors"][0]["extensions"]["code"] == "C0143E"

    bad_cursor = await gql(client, ORDERS_FORWARD, first=5, after="bm9wZQ==")
    assert bad_cursor["errors"][0]["extensions"]["code"] == "C0144E"

    products_page = (await gql(client, "{ products(first: 1) { edges { cursor } } }"))["data"]["products"]
    wrong_kind = await gql(client, ORDERS_FORWARD, first=5, after=products_page["edges"][0]["cursor"])
    assert wrong_kind["errors"][0]["extensions"]["code"] == "C0144E"


async def test_strict_schema_rejects_end_cursor_us_spelling_and_after(client: httpx.AsyncClient) -> None:
    end_cursor = await gql(client, "{ orders { pageInfo { hasNextPage endCursor } } }")
    assert end_cursor["data"] is None
    assert end_cursor["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    us = await gql(client, "{ fulfillments { edges { node { id } } } }")
    assert us["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    after = await gql(client, '{ orders(updatedOn: {after: "2025-01-01T00:00:00Z"}) { edges { cursor } } }')
    assert after["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    plain_items = await gql(client, "{ orders(first: 1) { edges { node { items { ref } } } } }")
    assert plain_items["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    syntax = await gql(client, "{ orders(")
    assert syntax["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


async def test_lenient_mode(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    await fresh.settings(strict=False)
    body = await gql(
        client,
        '{ orders(first: 300, updatedOn: {after: "2025-01-01T00:00:00Z"}) '
        "{ edges { cursor } pageInfo { hasNextPage endCursor } } }",
    )
    assert "errors" not in body, body
    assert len(body["data"]["orders"]["edges"]) == 250
    assert body["data"]["orders"]["pageInfo"]["endCursor"] is None


async def test_variable_errors_have_codes(client: httpx.AsyncClient) -> None:
    missing = await gql(client, "query Q($ref: String!) { order(ref: $ref) { id } }")
    assert missing["errors"][0]["extensions"]["code"] == "C0140E"
    bad_date = await gql(
        client, "query Q($r: DateRange) { orders(updatedOn: $r) { edges { cursor } } }", r={"from": "yesterday"}
    )
    assert bad_date["errors"][0]["extensions"]["code"] == "C0101E"


async def test_updated_on_range_and_filters(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    query = """query Q($r: DateRange, $status: [String], $ref: [String]) {
      orders(first: 250, updatedOn: $r, status: $status, ref: $ref) {
        edges { node { ref status updatedOn } } pageInfo { hasNextPage } } }"""
    # 300 orders spread evenly over 181 days: 1 order every 14.48 hours.
    body = await gql(client, query, r={"from": "2025-01-01T00:00:00Z", "to": "2025-01-31T23:59:59Z"})
    refs = [e["node"]["ref"] for e in body["data"]["orders"]["edges"]]
    assert refs == [order_ref(i) for i in range(52)]
    cancelled = await gql(client, query, status=["CANCELLED"])
    assert {e["node"]["status"] for e in cancelled["data"]["orders"]["edges"]} == {"CANCELLED"}
    assert len(cancelled["data"]["orders"]["edges"]) == 50
    by_ref = await gql(client, query, ref=["ORD-000010", "ORD-000003", "missing"])
    assert [e["node"]["ref"] for e in by_ref["data"]["orders"]["edges"]] == ["ORD-000003", "ORD-000010"]


async def test_template_entities_resolve(client: httpx.AsyncClient) -> None:
    body = await gql(
        client,
        """{
      fulfilments(first: 2, status: ["AWAITING_WAVE"]) { edges { node { ref status orderRef
        order { ref customer { email } } fromLocation { ref name }
        items { edges { node { productRef requestedQuantity filledQuantity orderItem { ref } } } } } } }
      inventoryPositions(first: 2, catalogues: [{ref: "DEFAULT:1"}], locationRef: ["LOC-02"]) {
        edges { node { ref productRef locationRef onHand qty catalogue { ref name } } } }
      inventoryQuantities(first: 2, productRef: ["SKU-0002"]) { edges { node { ref qty type } } }
      virtualPositions(first: 2, catalogues: [{ref: "BASE:1"}]) {
        edges { node { ref productRef groupRef quantity catalogue { ref } } } }
      products(first: 2, ref: ["SKU-0001"]) { edges { node { ref name gtin prices { type value currency } } } }
      locations(ref: ["LOC-01"]) { edges { node { ref name type primaryAddress { city country } } } }
      controlGroup(ref: "CG:DEFAULT") { ref controls(first: 10) { edges { node { ref type executionOrder
        values { name type value } } } pageInfo { hasNextPage } } }
      order(ref: "ORD-000001") { id ref status attributes { name type value } }
      me { ref username primaryRetailer { id } }
    }""",
    )
    assert "errors" not in body, body
    data = body["data"]
    assert data["fulfilments"]["edges"][0]["node"]["status"] == "AWAITING_WAVE"
    assert data["fulfilments"]["edges"][0]["node"]["order"]["customer"]["email"]
    assert {e["node"]["locationRef"] for e in data["inventoryPositions"]["edges"]} == {"LOC-02"}
    positions = data["inventoryPositions"]["edges"]
    assert all(e["node"]["onHand"] == e["node"]["qty"] for e in positions)
    assert data["products"]["edges"][0]["node"]["prices"][0]["type"] == "DEFAULT"
    assert len(data["controlGroup"]["controls"]["edges"]) == 3
    assert data["order"]["ref"] == "ORD-000001"
    assert data["me"]["primaryRetailer"]["id"] == "1"


async def test_introspection_works(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ __schema { queryType { fields { name } } } }")
    names = {f["name"] for f in body["data"]["__schema"]["queryType"]["fields"]}
    assert {
        "orders",
        "fulfilments",
        "inventoryPositions",
        "inventoryQuantities",
        "virtualPositions",
        "products",
        "locations",
        "controlGroup",
        "me",
    } <= names


CREATE_ORDER = "mutation C($input: CreateOrderInput!) { createOrder(input: $input) { id ref status } }"


def _order_input(ref: str) -> dict[str, Any]:
    return {
        "ref": ref,
        "type": "HD",
        "retailer": {"id": "1"},
        "totalPrice": 10.0,
        "currency": "AUD",
        "customer": {"ref": "CUST-00001"},
        "items": [
            {
                "ref": f"{ref}-1",
                "productRef": "SKU-0001",
                "quantity": 1,
                "price": 10.0,
                "totalPrice": 10.0,
                "currency": "AUD",
            }
        ],
    }


async def test_mutations_write_to_the_store(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    create = await gql(
        client,
        """mutation L($input: CreateLocationInput!) {
        createLocation(input: $input) { id ref name type status } }""",
        input={
            "ref": "LOC-NEW",
            "name": "New DC",
            "type": "DC",
            "primaryAddress": {"city": "Perth", "country": "AUS"},
            "openingSchedule": {"allHours": False, "monStart": 800, "monEnd": 1700},
        },
    )
    assert create["data"]["createLocation"]["ref"] == "LOC-NEW"
    found = await gql(client, '{ locations(ref: ["LOC-NEW"]) { edges { node { name primaryAddress { city } } } } }')
    assert found["data"]["locations"]["edges"][0]["node"]["primaryAddress"]["city"] == "Perth"

    order = await gql(client, CREATE_ORDER, input=_order_input("ORD-NEW"))
    order_id = order["data"]["createOrder"]["id"]
    updated = await gql(
        client,
        """mutation U($input: UpdateOrderInput!) {
        updateOrder(input: $input) { id status attributes { name value } } }""",
        input={"id": order_id, "status": "BOOKED", "attributes": [{"name": "note", "type": "STRING", "value": "hi"}]},
    )
    assert updated["data"]["updateOrder"]["status"] == "BOOKED"

    price = await gql(
        client,
        """mutation P($input: UpdateProductInput!) {
        updateProduct(input: $input) { ref prices { type value currency } } }""",
        input={"ref": "SKU-0002", "prices": [{"type": "SALE", "value": 9.5, "currency": "AUD"}]},
    )
    assert price["data"]["updateProduct"]["prices"] == [{"type": "SALE", "value": 9.5, "currency": "AUD"}]

    control = await gql(
        client,
        """mutation K($input: CreateControlInput!) {
        createControl(input: $input) { ref type executionOrder } }""",
        input={
            "ref": "CTRL-NEW",
            "type": "EXCLUSION",
            "executionOrder": 5,
            "controlGroup": {"ref": "CG:DEFAULT"},
            "values": [{"name": "CONTROL_VALUE", "type": "INTEGER", "value": 0}],
        },
    )
    assert control["data"]["createControl"]["ref"] == "CTRL-NEW"
    names = [m["mutation"] for m in fresh.state.mutations]
    assert names == ["createLocation", "createOrder", "updateOrder", "updateProduct", "createControl"]


async def test_alias_batch_gives_partial_data(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    query = """mutation BatchCreateOrders($input1: CreateOrderInput!, $input2: CreateOrderInput!,
                                          $input3: CreateOrderInput!) {
      createOrder1: createOrder(input: $input1) { id ref }
      createOrder2: createOrder(input: $input2) { id ref }
      createOrder3: createOrder(input: $input3) { id ref }
    }"""
    body = await gql(
        client, query, input1=_order_input("A-1"), input2=_order_input("ORD-000001"), input3=_order_input("A-3")
    )
    assert body["data"]["createOrder1"]["ref"] == "A-1"
    assert body["data"]["createOrder2"] is None
    assert body["data"]["createOrder3"]["ref"] == "A-3"
    [error] = body["errors"]
    assert error["path"] == ["createOrder2"]
    assert error["extensions"]["code"] == "C0121E"
    assert [m["ok"] for m in fresh.state.mutations] == [True, False, True]


async def test_domain_errors(client: httpx.AsyncClient) -> None:
    not_found = await gql(
        client,
        """mutation U($input: UpdateOrderInput!) { updateOrder(input: $input) { id } }""",
        input={"id": "999999"},
    )
    assert not_found["errors"][0]["extensions"]["code"] == "C0120E"
    bad_number = await gql(
        client,
        """mutation K($input: CreateControlInput!) { createControl(input: $input) { id } }""",
        input={"ref": "X", "type": "EXCLUSION", "executionOrder": 1000},
    )
    assert bad_number["errors"][0]["extensions"]["code"] == "C0122E"
    missing_field = await gql(client, CREATE_ORDER, input={"ref": "X"})
    assert missing_field["errors"][0]["extensions"]["code"] in ("C0140E", "BAD_USER_INPUT")


async def test_complexity_and_rate_limit_codes(fresh: SandboxHandle, client: httpx.AsyncClient) -> None:
    await fresh.settings(complexity_limit=500)
    complex_ = await gql(client, "{ orders(first: 250) { edges { node { items { edges { node { ref } } } } } } }")
    assert complex_["errors"][0]["extensions"]["code"] == "C0001E"
    await fresh.settings(complexity_limit=None, rate_limit=1, rate_limit_burst=2)
    codes = []
    for _ in range(4):
        body = await gql(client, "{ me { ref } }")
        codes.append(body.get("errors", [{}])[0].get("extensions", {}).get("code"))
    assert codes[:2] == [None, None] and "C0011E" in codes[2:]
    await fresh.settings(graphql_rate_limit_mode="429")
    response = await client.post("/graphql", json={"query": "{ me { ref } }"})
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
