"""The registry client over real HTTP against the stand-in, and ``fluentsync webhooks`` with a registry."""

from __future__ import annotations

import asyncio
import copy
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from fluentsync.connectors.webhooks import generate_api_key
from fluentsync.schemas.codec import AvroCodec, ConfluentFraming
from fluentsync.schemas.registry import (
    SchemaIncompatibleError,
    SchemaNotRegisteredError,
    SchemaRegistryAuthError,
    SchemaRegistryClient,
    SchemaRegistryConfig,
    SchemaRegistryUnavailable,
)
from fluentsync.schemas.repository import SchemaRepository
from fluentsync.schemas.wire import configure_codec, prepare_registry, subject_namer
from fluentsync.streams.kafka.broker import EmbeddedBroker, free_port
from fluentsync.streams.kafka.names import WorkflowTopics
from tests.fixtures.kafka import consume
from tests.fixtures.processes import background_process
from tests.fixtures.registry import RegistryServer, RegistryState, running_registry
from tests.fixtures.webhooks import standalone_receiver

pytestmark = pytest.mark.integration

ORDER: dict[str, Any] = {"type": "record", "name": "shop.Order",
                         "fields": [{"name": "ref", "type": "string"}, {"name": "qty", "type": "int"}]}
FILE_EVENT = "fluentsync.files.FileEvent"


def test_register_lookup_and_an_incompatible_change(schema_registry: RegistryServer,
                                                    unique_name: Callable[[str], str]) -> None:
    subject = unique_name("orders") + "-value"
    with SchemaRegistryClient(schema_registry.url, compatibility="BACKWARD") as registry:
        with pytest.raises(SchemaNotRegisteredError):
            registry.lookup(subject, json.dumps(ORDER))
        schema_id = registry.register(subject, json.dumps(ORDER))
        with SchemaRegistryClient(schema_registry.url) as other:  # another process: same id, one version
            assert other.register(subject, json.dumps(ORDER)) == schema_id
            assert other.lookup(subject, json.dumps(ORDER)).version == 1
            assert json.loads(other.schema(schema_id)) == ORDER
        changed = copy.deepcopy(ORDER)
        changed["fields"].append({"name": "channel", "type": "string"})  # no default: old data unreadable
        with pytest.raises(SchemaIncompatibleError, match=rf"under subject '{subject}': not BACKWARD compatible"):
            registry.register(subject, json.dumps(changed))
        changed["fields"][-1]["default"] = "web"
        assert registry.register(subject, json.dumps(changed)) != schema_id
        assert registry.versions(subject) == [1, 2] and registry.compatibility(subject) == "BACKWARD"


def test_codec_over_http_asks_once(schema_registry: RegistryServer, unique_name: Callable[[str], str]) -> None:
    topic = unique_name("files")
    state = schema_registry.state
    before = state.calls(topic), state.calls("/schemas/ids/")
    with SchemaRegistryClient(schema_registry.url) as writer_client, \
            SchemaRegistryClient(schema_registry.url) as reader_client:
        writer = AvroCodec(framing=ConfluentFraming(SchemaRepository(), writer_client, subject_namer("topic_name")))
        bare = SchemaRepository(directories=())
        reader = AvroCodec(bare, framing=ConfluentFraming(bare, reader_client, subject_namer("topic_name")))
        event = {"event_id": "e", "workflow": "w", "kind": "DISCOVERED", "file": {
            "source": "local", "location": "/", "path": "a.csv", "version": "1"}, "occurred_at": 0}
        for i in range(100):
            assert reader.decode(writer.encode(FILE_EVENT, {**event, "size": i}, topic=topic))["size"] == i
    assert state.calls(topic) - before[0] == 1  # POST /subjects/<topic>-value/versions, once
    assert state.calls("/schemas/ids/") - before[1] == 1  # the reader's one lookup of the id


def test_worker_start_registers_the_workflow_schemas_or_lists_the_missing(
    schema_registry: RegistryServer, unique_name: Callable[[str], str],
) -> None:
    topics = WorkflowTopics.of(unique_name("wf").replace("-", "_"))
    lookup_only = SchemaRegistryConfig(url=schema_registry.url, auto_register=False)
    try:
        with pytest.raises(SchemaNotRegisteredError, match=rf"5 schema\(s\) not registered: .*{topics.records}-value"):
            prepare_registry(lookup_only, [topics])
        subjects = prepare_registry(SchemaRegistryConfig(url=schema_registry.url), [topics])
        assert sorted(subjects) == sorted(f"{topic}-value" for topic in topics.all())
        assert all(schema_registry.state.subjects[s] for s in subjects)
        registrations = schema_registry.state.calls("/versions")
        assert prepare_registry(lookup_only, [topics]) == subjects  # registered now: found by lookup
        assert schema_registry.state.calls("/versions") == registrations
    finally:
        configure_codec(None)


def test_basic_auth_over_http() -> None:
    with running_registry(RegistryState(credentials=("svc", "s3cret-registry"))) as server:
        with SchemaRegistryClient(server.url) as anonymous, pytest.raises(SchemaRegistryAuthError):
            anonymous.register("orders-value", json.dumps(ORDER))
        config = SchemaRegistryConfig(url=server.url, username="svc", password=SecretStr("s3cret-registry"))
        with SchemaRegistryClient.from_config(config) as registry:
            assert registry.register("orders-value", json.dumps(ORDER)) == 1


def test_registry_down_is_a_clear_error_not_a_bad_record() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with SchemaRegistryClient(url, retries=1, backoff=0.05, timeout=2) as registry:
        codec = AvroCodec(framing=ConfluentFraming(SchemaRepository(), registry, subject_namer("topic_name")))
        started = time.monotonic()
        with pytest.raises(SchemaRegistryUnavailable, match=rf"schema registry {url} unavailable.*ConnectError"):
            codec.encode(FILE_EVENT, {}, topic="files.x")  # before the body is even looked at
        assert time.monotonic() - started < 5


async def test_worker_refuses_to_start_without_its_registry(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path,
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({
        "kafka": {"bootstrap": kafka_broker.bootstrap, "partitions": 1, "app_id": unique_name("app"),
                  "schema_registry": {"url": url}},
        "workflows": {unique_name("wf").replace("-", "_"): {
            "source": {"type": "local", "root": str(tmp_path)}, "format": {"type": "csv"}, "key": ["sku"]}},
    }))
    log = tmp_path / "worker.log"
    with background_process([sys.executable, "-m", "fluentsync", "worker", "-c", str(config), "--data-dir",
                             str(tmp_path / "data"), "--web-port", "0"], log) as worker:
        code = await asyncio.to_thread(worker.wait, 60)
    assert code != 0
    assert f"SchemaRegistryUnavailable: schema registry {url} unavailable: GET /config" in log.read_text()


async def test_standalone_webhooks_receiver_writes_confluent(
    kafka_broker: EmbeddedBroker, schema_registry: RegistryServer, unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    workflow = unique_name("hooks").replace("-", "_")
    key = generate_api_key("shop")
    kafka = {"bootstrap": kafka_broker.bootstrap, "partitions": 1,
             "schema_registry": {"url": schema_registry.url, "subject_strategy": "topic_record_name"}}
    async with standalone_receiver(tmp_path, kafka, workflow, key) as client:
        body = json.dumps({"id": "evt-1", "ref": "A-1"}).encode()
        answer = await client.post(f"/webhooks/{workflow}", content=body,
                                   headers={"content-type": "application/json", "x-api-key": key})
        assert answer.status_code == 200, answer.text
        [record] = await consume(kafka_broker.bootstrap, f"webhooks.{workflow}", 1, timeout=20)
    subject = f"webhooks.{workflow}-fluentsync.webhooks.WebhookEvent"
    [version] = schema_registry.state.subjects[subject]
    assert record.value[0] == 0 and int.from_bytes(record.value[1:5], "big") == version.id
    with SchemaRegistryClient(schema_registry.url) as registry:
        codec = AvroCodec(framing=ConfluentFraming(SchemaRepository(), registry))
        assert codec.decode(record.value)["body"] == body
