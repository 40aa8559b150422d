"""Faust serializers backed by :class:`~fluentsync.schemas.codec.AvroCodec`.

Faust serializes keys and values through *codecs*. :class:`AvroFaustCodec` is one bound to an Avro
schema name: agents and topics that use it exchange plain dicts, while the bytes on Kafka are framed
Avro (single-object by default), decoded with schema resolution so an agent keeps working while
producers roll out a newer schema version.

Keys stay raw bytes (``key_serializer="raw"``): record keys are already unambiguous encoded strings,
and the same bytes must hash to the same partition in every producer, Faust or not.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.serializers.codecs import Codec

from fluentsync.schemas.codec import AvroCodec, default_codec

__all__ = ["AvroFaustCodec", "avro_schema"]


class AvroFaustCodec(Codec):
    """A Faust codec that writes and reads one named Avro schema."""

    def __init__(self, schema_name: str, codec: AvroCodec | None = None, topic: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(schema_name=schema_name, codec=codec, topic=topic, **kwargs)
        self.schema_name = schema_name
        self.topic = topic  #: where sent values go: names the registry subject under the Confluent framing
        self.avro = codec or default_codec()
        self.info = self.avro.repository.get(schema_name)  # fail at declaration, not on first message

    def _dumps(self, obj: Any) -> bytes:
        data: bytes = self.avro.encode(self.info, obj, topic=self.topic)
        return data

    def _loads(self, s: bytes) -> Any:
        return self.avro.decode(s, reader=self.info)


def avro_schema(schema_name: str, codec: AvroCodec | None = None,
                topic: str | None = None) -> faust.Schema:  # type: ignore[type-arg]
    """A :class:`faust.Schema` with raw bytes keys and Avro values of ``schema_name``.

    ``topic`` is needed only to *send* through the schema with a topic-based registry subject strategy
    (fluentsync's agents only read through these schemas and encode what they send themselves)."""
    return faust.Schema(
        key_type=bytes,
        key_serializer="raw",
        value_serializer=AvroFaustCodec(schema_name, codec, topic),
    )
