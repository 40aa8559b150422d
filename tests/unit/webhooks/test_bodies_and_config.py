"""Webhook bodies (records, event ids, content types) and the webhook sections of the pipeline file."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from fluentsync.connectors.parsers.options import JsonOptions, XmlOptions
from fluentsync.connectors.webhooks.bodies import BodyError, accepts_content_type, event_id, parse_body
from fluentsync.connectors.webhooks.settings import EventIdConfig
from fluentsync.streams.agents.webhooks import fluent_event, root_key
from fluentsync.streams.config import ConfigError, parse_pipeline


def test_one_json_object_is_one_record_and_an_array_is_several() -> None:
    [one] = parse_body(b' {"orderRef": "A", "qty": 1.50}', JsonOptions())
    assert one.record == {"orderRef": "A", "qty": 1.5}
    many = parse_body(b'[{"a": 1}, {"a": 2}]', JsonOptions())
    assert [r.record for r in many] == [{"a": 1}, {"a": 2}]
    nested = parse_body(b'{"order": {"lines": [{"sku": "X"}, {"sku": "Y"}]}}', JsonOptions(item_path="order.lines"))
    assert [r.record["sku"] for r in nested] == ["X", "Y"]


@pytest.mark.parametrize("body, options", [
    (b'{"a": ', JsonOptions()),
    (b"[1, 2]", JsonOptions()),  # items that are not objects
    (b"[]", JsonOptions()),  # no records at all
    (b"<Order><ref>1</ref>", XmlOptions(item_path="Order")),
    (b'<!DOCTYPE o [<!ENTITY e "x">]><Order><ref>&e;</ref></Order>', XmlOptions(item_path="Order")),
    (b'<!DOCTYPE o [<!ENTITY e SYSTEM "file:///etc/passwd">]><Order>&e;</Order>', XmlOptions(item_path="Order")),
])
def test_bad_bodies_are_refused_whole(body: bytes, options: Any) -> None:
    with pytest.raises(BodyError):
        parse_body(body, options)


def test_content_types_follow_the_format() -> None:
    assert accepts_content_type(JsonOptions(), "application/json; charset=utf-8")
    assert accepts_content_type(JsonOptions(), "application/vnd.shop+json")
    assert not accepts_content_type(JsonOptions(), "application/xml")
    assert not accepts_content_type(JsonOptions(), None)
    assert accepts_content_type(XmlOptions(item_path="Order"), "text/xml")
    assert not accepts_content_type(XmlOptions(item_path="Order"), "application/json")


def test_event_id_field_then_header_then_body_hash() -> None:
    config = EventIdConfig()
    assert event_id(b'{"id": "e-1"}', {"x-request-id": "r-1"}, config, is_json=True) == ("e-1", "field")
    assert event_id(b'{"entityRef": "X"}', {"x-request-id": "r-1"}, config, is_json=True) == ("r-1", "header")
    body = b"<Order/>"
    assert event_id(body, {}, config, is_json=False) == (hashlib.sha256(body).hexdigest(), "body_sha256")
    nested = EventIdConfig(field="meta.eventId", header=None)
    assert event_id(b'{"meta": {"eventId": 42}}', {}, nested, is_json=True) == ("42", "field")
    long_id = "x" * 500
    ident, source = event_id(json.dumps({"id": long_id}).encode(), {}, config, is_json=True)
    assert (ident, source) == (hashlib.sha256(long_id.encode()).hexdigest(), "field")


def test_fluent_events_are_keyed_by_root_entity() -> None:
    body = {"id": "e1", "name": "OrderCreated", "entityType": "FULFILMENT", "entityRef": "F-1",
            "rootEntityType": "ORDER", "rootEntityRef": "HD-1", "retailerId": 1, "attributes": {"a": [1]}}
    raw = json.dumps(body).encode()
    key, value = fluent_event("wf", {"event_id": "e1", "body": raw, "received_at": 0, "verified_alg": "rsa-sha512"})
    assert json.loads(key) == ["ORDER", "HD-1"]
    assert (value["retailer_id"], value["entity_ref"], value["payload"]) == ("1", "F-1", raw.decode())
    assert json.loads(value["attributes"]) == {"a": [1]}
    assert json.loads(root_key({"entityType": "ORDER", "entityRef": "HD-2"}, "e2")) == ["ORDER", "HD-2"]
    assert json.loads(root_key({}, "e3")) == [None, "e3"]


def pipeline(**workflow: Any) -> dict[str, Any]:
    return {"workflows": {"hooks": {"format": {"type": "json"}, **workflow}}}


FLUENT_AUTH = {"type": "webhook", "auth": {"kind": "fluent"}}


def test_webhook_workflows_validate() -> None:
    config = parse_pipeline(pipeline(source={**FLUENT_AUTH, "deliver": "fluent_events"}))
    assert config.workflows["hooks"].key == []  # Fluent events need no record key
    assert config.webhooks.port == 8080
    records = parse_pipeline(pipeline(source={**FLUENT_AUTH, "route": "/in/orders/"}, key=["ref"]))
    assert records.workflows["hooks"].source.route_for("hooks") == "/in/orders"  # type: ignore[union-attr]


@pytest.mark.parametrize("workflow, problem", [
    ({"source": FLUENT_AUTH}, "workflows.hooks.key"),
    ({"source": {"type": "webhook"}, "key": ["ref"]}, "workflows.hooks.source.webhook.auth"),
    ({"source": {**FLUENT_AUTH, "route": "/_sandbox/x"}, "key": ["ref"]}, "route must be a plain URL path"),
    ({"source": FLUENT_AUTH, "key": ["ref"], "format": {"type": "csv"}}, "format.type must be json or xml"),
    ({"source": {**FLUENT_AUTH, "deliver": "fluent_events"}, "target": {"api": "event", "event": {
        "name": "X", "entity_type": "ORDER", "entity_ref": "{ref}"}}}, "remove `target`"),
])
def test_bad_webhook_workflows_are_refused_with_the_reason(workflow: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_pipeline(pipeline(**workflow))
    assert problem in str(caught.value)
