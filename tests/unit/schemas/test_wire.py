"""The Confluent wire format: subject strategies, round trips, both framings read, ids cached, the switch.

The registry is the stand-in (:mod:`tests.fixtures.registry`) behind an in-memory httpx transport: the
real client code and the registry's rules, without sockets. Its request log counts registry calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from fluentsync.schemas.codec import (
    AvroCodec,
    AvroDecodeError,
    ConfluentFraming,
    SingleObjectFraming,
    default_codec,
)
from fluentsync.schemas.faust_codec import AvroFaustCodec
from fluentsync.schemas.registry import SchemaRegistryClient, SchemaRegistryConfig
from fluentsync.schemas.repository import SchemaRepository
from fluentsync.schemas.wire import SubjectStrategyError, configure_codec, subject_name, subject_namer
from tests.fixtures.registry import RegistryState

NOW = datetime(2026, 11, 22, 12, 30, 15, 123000, tzinfo=UTC)
FILE = {"source": "local", "location": "/in", "path": "incoming/a.csv", "version": "v1"}
EVENT: dict[str, Any] = {"event_id": "e1", "workflow": "inventory", "kind": "DISCOVERED", "file": FILE, "size": 12,
                         "occurred_at": NOW}
FILE_EVENT = "fluentsync.files.FileEvent"


@pytest.fixture
def state() -> RegistryState:
    return RegistryState()


def confluent(state: RegistryState, strategy: Any = "topic_name", repository: SchemaRepository | None = None,
              **kwargs: Any) -> AvroCodec:
    client = SchemaRegistryClient("http://registry.test", transport=state.transport(), backoff=0, **kwargs)
    repository = repository or SchemaRepository()
    return AvroCodec(repository, framing=ConfluentFraming(repository, client, subject_namer(strategy)))


@pytest.mark.parametrize(("strategy", "subject"), [
    ("topic_name", "files.inventory-value"),
    ("record_name", FILE_EVENT),
    ("topic_record_name", f"files.inventory-{FILE_EVENT}"),
])
def test_subject_strategies_name_the_registered_subject(state: RegistryState, strategy: Any, subject: str) -> None:
    codec = confluent(state, strategy)
    data = codec.encode(FILE_EVENT, EVENT, topic="files.inventory")
    assert data[0] == 0
    schema_id = int.from_bytes(data[1:5], "big")
    assert list(state.subjects) == [subject]
    assert state.subjects[subject][0].id == schema_id
    assert subject_name(strategy, "files.inventory", FILE_EVENT) == subject
    assert codec.decode(data)["file"] == FILE


def test_key_subjects_and_a_missing_topic() -> None:
    assert subject_name("topic_name", "orders", "x.Y", key=True) == "orders-key"
    with pytest.raises(SubjectStrategyError, match=r"topic_name needs the topic.*topic=\.\.\."):
        subject_name("topic_name", None, FILE_EVENT)
    assert subject_name("record_name", None, FILE_EVENT) == FILE_EVENT


def test_another_process_reads_by_id_and_asks_the_registry_once(state: RegistryState) -> None:
    writer = confluent(state)
    messages = [writer.encode(FILE_EVENT, {**EVENT, "size": i}, topic="files.a") for i in range(50)]
    assert state.calls("/versions") == 1  # one registration for 50 messages
    assert len({m[:5] for m in messages}) == 1
    reader = confluent(state, repository=SchemaRepository(directories=()))  # knows no schema of its own
    assert [reader.decode(m)["size"] for m in messages] == list(range(50))
    assert state.calls("/schemas/ids/") == 1  # one lookup for 50 messages
    # The same schema on another topic is one more subject, with the same global id.
    other = writer.encode(FILE_EVENT, EVENT, topic="files.b")
    assert other[:5] == messages[0][:5] and state.calls("/versions") == 2
    assert sorted(state.subjects) == ["files.a-value", "files.b-value"]


def test_both_framings_are_read(state: RegistryState) -> None:
    """A topic switched over to the registry mid-life: older single-object messages still decode."""
    old = AvroCodec().encode(FILE_EVENT, EVENT)
    assert old[:2] == b"\xc3\x01"
    codec = confluent(state)
    assert codec.decode(old)["event_id"] == "e1"
    assert state.requests == []  # no registry needed for those
    new = codec.encode(FILE_EVENT, EVENT, topic="files.a")
    assert codec.decode(new) == codec.decode(old)
    with pytest.raises(AvroDecodeError, match=r"expected magic 00.*or single-object c301"):
        codec.decode(b'{"json": 1}')


def test_an_id_the_registry_never_issued_is_a_decode_error(state: RegistryState) -> None:
    codec = confluent(state)
    with pytest.raises(AvroDecodeError, match="schema id 999 is not in the schema registry"):
        codec.decode(b"\x00\x00\x00\x03\xe7\x02")


def test_single_object_bytes_do_not_change_with_a_topic() -> None:
    codec = AvroCodec()
    assert codec.encode(FILE_EVENT, EVENT, topic="files.a") == codec.encode(FILE_EVENT, EVENT)


def test_faust_codec_sends_under_its_topic(state: RegistryState) -> None:
    codec = confluent(state)
    serializer = AvroFaustCodec(FILE_EVENT, codec, topic="files.faust")
    data = serializer.dumps(EVENT)
    assert data[0] == 0 and list(state.subjects) == ["files.faust-value"]
    assert serializer.loads(data)["event_id"] == "e1"


@pytest.fixture
def restore_default() -> Iterator[AvroCodec]:
    codec = default_codec()
    try:
        yield codec
    finally:
        configure_codec(None)


def test_configure_codec_switches_the_process_codec_in_place(restore_default: AvroCodec) -> None:
    codec = restore_default
    assert isinstance(codec.framing, SingleObjectFraming)
    config = SchemaRegistryConfig(url="http://registry.test:8081/", subject_strategy="record_name",
                                  username="svc", password=SecretStr("s3cret-pass"))
    assert configure_codec(config) is codec  # the same object: holders of default_codec() follow
    framing = codec.framing
    assert isinstance(framing, ConfluentFraming) and isinstance(framing.registry, SchemaRegistryClient)
    assert framing.registry.url == "http://registry.test:8081"
    configure_codec(SchemaRegistryConfig(**config.model_dump()))  # an equal configuration: kept, caches too
    assert codec.framing is framing
    configure_codec(config.model_copy(update={"subject_strategy": "topic_name"}))
    assert codec.framing is not framing and isinstance(codec.framing, ConfluentFraming)
    configure_codec(None)
    assert isinstance(codec.framing, SingleObjectFraming)
    assert codec.encode(FILE_EVENT, EVENT)[:2] == b"\xc3\x01"
