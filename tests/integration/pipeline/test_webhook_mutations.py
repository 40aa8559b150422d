"""Webhooks whose target is GraphQL mutations, through a real worker (receiver inside), broker and sandbox.

- A storefront posts XML orders (API key): each becomes one ``createOrder`` - nested customer, repeated
  ``<Item>`` lines as ``items`` (a single ``<Item>`` too), prices from XML text as numbers - and the order
  is in the sandbox with its items. An order whose ref already exists is refused by Fluent (a FLUENT dead
  letter); one with a price that is not a plain decimal never reaches Fluent.
- A storefront posts JSON gift messages (HMAC): each becomes ``updateOrder`` with an ``attributes`` entry;
  one for an unknown order id is refused by Fluent.
- Every webhook gets one ``RunReport`` with exactly one outcome for its record.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from fluentsync.streams.config import load_pipeline
from fluentsync.streams.kafka.broker import EmbeddedBroker, free_port
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.tail import TopicTail
from fluentsync.streams.kafka.topics import ensure_topics
from fluentsync.streams.worker import workflow_topic_specs
from tests.fixtures.processes import background_process
from tests.fixtures.sandbox_admin import Admin
from tests.fixtures.webhooks import SHOP_HMAC, api_key_auth, shop_signed, wait_ready

pytestmark = pytest.mark.integration

API_KEY = "fc_shop_" + "ab" * 32

#: Fields pattern: inside ``items`` a plain path ("Currency") reads the order, ``$.path`` the line. The
#: workflow's ``force_list: [Item]`` makes a single ``<Item>`` a list too (the fields pattern would also wrap it).
CREATE_ORDER = {
    "version": "1.0.0", "mutation": "createOrder", "sourceFormat": "xml", "returnFields": ["id", "ref", "status"],
    "fields": {
        "ref": {"source": "@ref", "required": True},
        "type": {"source": "Type", "defaultValue": "HD"},
        "retailer": {"fields": {"id": {"value": "1"}}},
        "currency": {"source": "Currency", "required": True},
        "totalPrice": {"source": "TotalPrice", "required": True, "transform": "fluentsync.decimal"},
        "customer": {"source": "Customer", "required": True, "fields": {
            "ref": {"source": "$.@ref", "required": True}, "email": "$.Email",
            "firstName": "$.Name.First", "lastName": "$.Name.Last"}},
        "items": {"isArray": True, "source": "Items.Item", "required": True, "fields": {
            "ref": {"source": "$.@line", "required": True},
            "productRef": {"source": "$.Sku", "required": True},
            "quantity": {"source": "$.Qty", "required": True, "transform": "fluentsync.integer"},
            "price": {"source": "$.Price", "required": True, "transform": "fluentsync.decimal"},
            "totalPrice": {"source": "$.Total", "required": True, "transform": "fluentsync.decimal"},
            "currency": "Currency"}},
    },
}

#: Arguments pattern: one attribute built from a named field of the record (``source: "*"`` is the record).
UPDATE_ORDER = {
    "version": "1.0.0", "mutation": "updateOrder", "sourceFormat": "json", "returnFields": ["id", "ref"],
    "arguments": {"input": {
        "id": {"source": "orderId", "required": True},
        "attributes": {"isArray": True, "source": "*", "autoWrap": True, "fields": {
            "name": {"value": "giftMessage"}, "type": {"value": "STRING"},
            "value": {"source": "giftMessage", "required": True}}},
    }},
}


def order_xml(ref: str, lines: list[tuple[str, str, int, str]], *, total: str | None = None) -> bytes:
    """An order as a storefront sends it: attributes, a nested customer, one ``<Item>`` per line."""
    items = "".join(f'<Item line="{line}"><Sku>{sku}</Sku><Qty>{qty}</Qty><Price>{price}</Price>'
                     f"<Total>{float(price) * qty:.2f}</Total></Item>" for line, sku, qty, price in lines)
    amount = total if total is not None else f"{sum(float(p) * q for _, _, q, p in lines):.2f}"
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Order ref="{ref}"><Type>HD</Type><Currency>AUD</Currency>'
            f"<TotalPrice>{amount}</TotalPrice>"
            f'<Customer ref="CUST-{ref}"><Email>{ref.lower()}@example.com</Email>'
            f"<Name><First>Ada</First><Last>Lovelace</Last></Name></Customer>"
            f"<Items>{items}</Items></Order>").encode()


async def fluent_order(sandbox: Any, ref: str) -> dict[str, Any] | None:
    """The order as Fluent's GraphQL API returns it (with items and attributes), or None."""
    query = ("query($ref: [String]) { orders(ref: $ref) { edges { node { id ref status totalPrice currency "
             "customer { ref } attributes { name value } items { edges { node { ref productRef quantity price "
             "totalPrice currency } } } } } } }")
    async with httpx.AsyncClient(base_url=sandbox.base_url, timeout=10) as http:
        response = await http.post("/graphql", json={"query": query, "variables": {"ref": [ref]}},
                                   headers={"authorization": f"Bearer {await sandbox.token()}"})
    response.raise_for_status()
    edges = response.json()["data"]["orders"]["edges"]
    return edges[0]["node"] if edges else None


def report_of(reports: list[dict[str, Any]], event_id: str) -> tuple[int, int, int]:
    [report] = [r for r in reports if r["file"]["path"] == event_id]
    return report["accepted"], report["rejected"], report["unchanged"]


async def test_xml_orders_and_gift_messages_become_mutations(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, sandbox: Any, admin: Admin
) -> None:
    orders, gifts = unique_name("orders").replace("-", "_"), unique_name("gifts").replace("-", "_")
    (tmp_path / "create-order.json").write_text(json.dumps(CREATE_ORDER))
    (tmp_path / "update-order.json").write_text(json.dumps(UPDATE_ORDER))
    port = free_port()
    requests = {"max_aliases": 5, "linger": 0.1}
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({
        "kafka": {"bootstrap": kafka_broker.bootstrap, "partitions": 2, "app_id": unique_name("app")},
        "fluent": sandbox.fluent_config(),
        "webhooks": {"port": port},
        "workflows": {
            orders: {
                "source": {"type": "webhook", "route": "/shop/orders",
                           "auth": api_key_auth(API_KEY)},
                "format": {"type": "xml", "item_path": "Order", "force_list": ["Item"]}, "key": ["@ref"],
                "target": {"api": "graphql", "mutation": "create-order.json", "requests": requests},
            },
            gifts: {
                "source": {"type": "webhook", "route": "/shop/gift-messages",
                           "auth": SHOP_HMAC,
                           "event_id": {"field": "messageId"}},
                "format": {"type": "json"}, "key": ["orderId"],
                "target": {"api": "graphql", "mutation": "update-order.json", "requests": requests},
            },
        },
    }))
    order_topics, gift_topics = WorkflowTopics.of(orders), WorkflowTopics.of(gifts)
    await ensure_topics(kafka_broker.bootstrap, workflow_topic_specs(load_pipeline(config)))
    prefix = orders.upper().replace("_", "")[:10]
    two, one, bad_price = f"{prefix}-1", f"{prefix}-2", f"{prefix}-3"

    async def post_order(client: httpx.AsyncClient, body: bytes, request_id: str) -> None:
        headers = {"content-type": "application/xml", "x-api-key": API_KEY, "x-request-id": request_id}
        response = await client.post("/shop/orders", content=body, headers=headers)
        assert response.status_code == 200, response.text

    async with TopicTail(kafka_broker.bootstrap, order_topics.reports) as order_reports, \
            TopicTail(kafka_broker.bootstrap, order_topics.dlq) as order_dlq, \
            TopicTail(kafka_broker.bootstrap, gift_topics.reports) as gift_reports, \
            TopicTail(kafka_broker.bootstrap, gift_topics.dlq) as gift_dlq, \
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        with background_process([sys.executable, "-m", "fluentsync", "worker", "--config", str(config),
                                 "--data-dir", str(tmp_path / "data"), "-l", "info",
                                 "--web-port", "0"], tmp_path / "worker.log"):
            await wait_ready(client)
            unauthorised = await client.post("/shop/orders", content=order_xml(f"{prefix}-X", [("1", "S", 1, "1")]),
                                             headers={"content-type": "application/xml"})
            assert unauthorised.status_code == 401
            await post_order(client, order_xml(two, [("1", "SKU-A", 2, "19.95"), ("2", "SKU-B", 1, "5.50")]), "o-1")
            await post_order(client, order_xml(one, [("1", "SKU-C", 3, "10.00")]), "o-2")
            await post_order(client, order_xml(bad_price, [("1", "SKU-D", 1, "9.99")], total="1,234.50"), "o-3")
            await order_reports.until(lambda items: len(items) >= 3, timeout=90)

            created = await fluent_order(sandbox, two)
            assert created is not None and created["status"] == "CREATED"
            assert (created["totalPrice"], created["currency"], created["customer"]["ref"]) == (45.4, "AUD",
                                                                                                 f"CUST-{two}")
            assert [e["node"] for e in created["items"]["edges"]] == [
                {"ref": "1", "productRef": "SKU-A", "quantity": 2, "price": 19.95, "totalPrice": 39.9,
                 "currency": "AUD"},
                {"ref": "2", "productRef": "SKU-B", "quantity": 1, "price": 5.5, "totalPrice": 5.5, "currency": "AUD"}]
            single = await fluent_order(sandbox, one)
            assert single is not None
            lines = [(e["node"]["productRef"], e["node"]["quantity"]) for e in single["items"]["edges"]]
            assert lines == [("SKU-C", 3)]  # one <Item>: still a list of one item
            assert await fluent_order(sandbox, bad_price) is None

            # The same ref again (another request, other content): Fluent refuses it, the first stays.
            await post_order(client, order_xml(two, [("1", "SKU-Z", 1, "1.00")]), "o-4")
            done = await order_reports.until(lambda items: len(items) >= 4, timeout=60)
            assert report_of(done, "o-1") == (1, 0, 0)
            assert report_of(done, "o-2") == (1, 0, 0)
            assert report_of(done, "o-3") == (0, 1, 0)
            assert report_of(done, "o-4") == (0, 1, 0)
            letters = await order_dlq.until(lambda items: len(items) >= 2, timeout=30)
            by_key = {json.loads(d["record_key"])[0]: d for d in letters}
            assert set(by_key) == {bad_price, two}
            assert "fluentsync.decimal" in by_key[bad_price]["reason"] and "1,234.50" in by_key[bad_price]["reason"]
            assert by_key[bad_price]["stage"] == "MAP"  # never sent: the mutation mapping refused it
            duplicate = by_key[two]
            assert duplicate["stage"] == "FLUENT" and "C0121E" in duplicate["reason"], duplicate["reason"]
            assert json.loads(duplicate["record"])["record"]["Items"]["Item"] == [
                {"@line": "1", "Sku": "SKU-Z", "Qty": "1", "Price": "1.00", "Total": "1.00"}]
            again = await fluent_order(sandbox, two)
            assert again is not None and again["id"] == created["id"] and len(again["items"]["edges"]) == 2

            # Gift messages: updateOrder attributes on the order just created; an unknown order is refused.
            for message in ({"messageId": "g-1", "orderId": created["id"], "giftMessage": "Happy birthday!"},
                            {"messageId": "g-2", "orderId": "999999999", "giftMessage": "Lost"}):
                body, headers = shop_signed(message)
                response = await client.post("/shop/gift-messages", content=body, headers=headers)
                assert response.status_code == 200, response.text
            gift_done = await gift_reports.until(lambda items: len(items) >= 2, timeout=60)
            assert report_of(gift_done, "g-1") == (1, 0, 0)
            assert report_of(gift_done, "g-2") == (0, 1, 0)
            [lost] = await gift_dlq.until(lambda items: len(items) >= 1, timeout=30)
            assert lost["stage"] == "FLUENT" and json.loads(lost["record_key"]) == ["999999999"]
            updated = await fluent_order(sandbox, two)
            assert updated is not None and {"name": "giftMessage", "value": "Happy birthday!"} in updated["attributes"]

            await order_reports.poll(0.5)
            await gift_reports.poll(0.1)
            assert len(order_reports.items) == 4 and len(gift_reports.items) == 2  # one report per webhook
            applied = await admin.call("GET", "/mutations", params={"mutation": "createOrder"})
            assert sorted((m["input"]["ref"], m["ok"]) for m in applied) == [(two, False), (two, True), (one, True)]
