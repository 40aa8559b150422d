"""The registry client: the REST calls, idempotence, lookup-only mode, compatibility, errors, secrets.

Against the registry stand-in through an in-memory httpx transport (no sockets); the same client over
real HTTP is in tests/integration/schemas.
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest
from pydantic import SecretStr

from fluentsync.schemas.registry import (
    RegisteredSchema,
    SchemaIncompatibleError,
    SchemaInvalidError,
    SchemaNotRegisteredError,
    SchemaRegistryAuthError,
    SchemaRegistryClient,
    SchemaRegistryConfig,
    SchemaRegistryUnavailable,
    UnknownSchemaIdError,
)
from fluentsync.streams.config import ConfigError, parse_pipeline
from tests.fixtures.registry import RegistryState

V1: dict[str, Any] = {"type": "record", "name": "Order", "namespace": "shop",
                      "fields": [{"name": "ref", "type": "string"}, {"name": "qty", "type": "int"}]}


def evolve(*fields: dict[str, Any]) -> str:
    schema = copy.deepcopy(V1)
    schema["fields"].extend(fields)
    return json.dumps(schema)


def client(state: RegistryState, **kwargs: Any) -> SchemaRegistryClient:
    return SchemaRegistryClient("http://registry.test", transport=state.transport(), backoff=0, **kwargs)


def test_register_is_idempotent_and_ids_are_global() -> None:
    state = RegistryState()
    registry = client(state)
    first = registry.register("orders-value", json.dumps(V1))
    assert client(state).register("orders-value", json.dumps(V1)) == first  # another process, same id
    assert client(state).register("archive-value", json.dumps(V1)) == first  # same schema, other subject
    assert registry.versions("orders-value") == [1] and registry.subjects() == ["archive-value", "orders-value"]
    assert registry.lookup("orders-value", json.dumps(V1)) == RegisteredSchema("orders-value", first, 1)
    assert registry.schema(first) and json.loads(registry.schema(first)) == V1
    calls = len(state.requests)
    for _ in range(10):
        registry.register("orders-value", json.dumps(V1))
        registry.schema(first)
    assert len(state.requests) == calls  # cached both ways


def test_lookup_of_what_is_not_registered() -> None:
    registry = client(RegistryState())
    with pytest.raises(SchemaNotRegisteredError, match="subject 'orders-value' does not exist"):
        registry.lookup("orders-value", json.dumps(V1))
    registry.register("orders-value", json.dumps(V1))
    with pytest.raises(SchemaNotRegisteredError, match="40403"):
        registry.lookup("orders-value", evolve({"name": "note", "type": ["null", "string"], "default": None}))
    with pytest.raises(UnknownSchemaIdError, match="schema id 77 is not in the schema registry"):
        registry.schema(77)


def test_auto_register_false_only_looks_up() -> None:
    state = RegistryState()
    lookup_only = client(state, auto_register=False)
    with pytest.raises(SchemaNotRegisteredError, match=r"auto_register is false.*POST http://registry\.test/subjects"):
        lookup_only.register("orders-value", json.dumps(V1))
    assert state.subjects == {}  # nothing was registered
    schema_id = client(state).register("orders-value", json.dumps(V1))  # e.g. by a CI job
    state.requests.clear()
    assert lookup_only.register("orders-value", json.dumps(V1)) == schema_id
    assert state.requests == [("POST", "/subjects/orders-value")]  # a lookup, never /versions


def test_incompatible_change_is_refused_with_what_to_do() -> None:
    state = RegistryState()  # BACKWARD, the registry's default
    registry = client(state)
    registry.register("orders-value", json.dumps(V1))
    required = evolve({"name": "channel", "type": "string"})  # new readers cannot read old data
    verdict = registry.check_compatibility("orders-value", required)
    assert not verdict.is_compatible and "channel" in verdict.messages[0]
    with pytest.raises(SchemaIncompatibleError) as caught:
        registry.register("orders-value", required)
    message = str(caught.value)
    assert "shop.Order under subject 'orders-value'" in message and "not BACKWARD compatible" in message
    assert "'channel'" in message and "defaults" in message
    optional = evolve({"name": "channel", "type": "string", "default": "web"})
    assert registry.check_compatibility("orders-value", optional).is_compatible
    assert registry.register("orders-value", optional) > 0 and registry.versions("orders-value") == [1, 2]
    assert registry.check_compatibility("new-subject-value", required).is_compatible  # nothing to break


def test_compatibility_is_set_per_subject_before_the_first_registration() -> None:
    state = RegistryState()
    registry = client(state, compatibility="FULL")
    registry.register("orders-value", json.dumps(V1))
    registry.register("orders-value", json.dumps(V1))
    assert state.requests.count(("PUT", "/config/orders-value")) == 1
    assert registry.compatibility("orders-value") == "FULL"
    assert registry.compatibility() == "BACKWARD"  # the global level is left alone
    assert registry.compatibility("untouched-value") == "BACKWARD"  # falls back to the global level
    # FULL: a field removed without a default breaks old readers.
    fewer = json.dumps({**V1, "fields": V1["fields"][:1]})
    with pytest.raises(SchemaIncompatibleError, match="not FULL compatible"):
        registry.register("orders-value", fewer)
    registry.set_compatibility("NONE", "orders-value")
    assert registry.register("orders-value", fewer) > 0


def test_invalid_schema_and_level_are_clear_errors() -> None:
    registry = client(RegistryState())
    with pytest.raises(SchemaInvalidError, match="42201"):
        registry.register("orders-value", json.dumps({"type": "record", "name": "X", "fields": [{"name": "a"}]}))
    with pytest.raises(SchemaInvalidError, match="42203"):
        registry.set_compatibility("SIDEWAYS", "orders-value")


def test_transient_failures_are_retried_then_reported() -> None:
    state = RegistryState()
    registry = client(state, retries=2)
    state.fail_next(2)
    assert registry.register("orders-value", json.dumps(V1)) == 1
    state.fail_next(3, status=500)
    with pytest.raises(SchemaRegistryUnavailable, match=r"unavailable: GET /schemas/ids/5: HTTP 500.*3 attempts"):
        registry.schema(5)


def test_basic_auth_and_secrets_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    state = RegistryState(credentials=("svc-key", "s3cret-registry-pass"))
    with pytest.raises(SchemaRegistryAuthError, match="username and password"):
        client(state).register("orders-value", json.dumps(V1))
    config = SchemaRegistryConfig(url="http://registry.test", username="svc-key",
                                  password=SecretStr("s3cret-registry-pass"))
    registry = SchemaRegistryClient.from_config(config, transport=state.transport())
    with caplog.at_level(logging.DEBUG):
        assert registry.register("orders-value", json.dumps(V1)) == 1
    assert "s3cret" not in caplog.text and "s3cret" not in repr(config) and "s3cret" not in str(config)
    wrong = SchemaRegistryClient("http://registry.test", username="svc-key", password=SecretStr("s3cret-wrong"),
                                 transport=state.transport())
    with pytest.raises(SchemaRegistryAuthError) as caught:
        wrong.lookup("orders-value", json.dumps(V1))
    assert "s3cret" not in str(caught.value)


def test_registry_url_credentials_are_not_in_messages() -> None:
    registry = SchemaRegistryClient("https://user:s3cret@registry.test:8443/sr/", retries=0)
    assert registry.where == "https://registry.test:8443/sr"


def test_pipeline_file_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", "http://registry:8081")
    monkeypatch.setenv("SR_PASSWORD", "s3cret-from-env")
    pipeline = parse_pipeline({"kafka": {"schema_registry": {
        "url": "${SCHEMA_REGISTRY_URL}", "username": "svc", "password": "${SR_PASSWORD}",
        "compatibility": "FULL_TRANSITIVE"}}})
    registry = pipeline.kafka.schema_registry
    assert registry is not None and registry.url == "http://registry:8081"
    assert (registry.subject_strategy, registry.auto_register) == ("topic_name", True)
    assert registry.password is not None and registry.password.get_secret_value() == "s3cret-from-env"
    assert parse_pipeline({}).kafka.schema_registry is None
    for bad, problem in [({"url": "registry:8081"}, "http:// or https://"),
                         ({"url": "http://r", "username": "svc"}, "both username and password"),
                         ({"url": "http://r", "subject_strategy": "topic"}, "subject_strategy"),
                         ({"url": "http://r", "compatibility": "backward"}, "compatibility")]:
        with pytest.raises(ConfigError, match=problem):
            parse_pipeline({"kafka": {"schema_registry": bad}})
