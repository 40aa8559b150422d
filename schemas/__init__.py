"""Avro contracts: the shipped ``.avsc`` schemas, the schema repository and the codec.

The Faust codec (:mod:`fluentsync.schemas.faust_codec`) is imported on demand because it imports Faust.
"""

from fluentsync.schemas.codec import (
    AvroCodec,
    AvroCodecError,
    AvroDecodeError,
    AvroEncodeError,
    InMemorySchemaRegistry,
    SchemaRegistry,
    default_codec,
)
from fluentsync.schemas.repository import SCHEMA_DIR, SchemaInfo, SchemaRepository, UnknownSchemaError

__all__ = [
    "SCHEMA_DIR",
    "AvroCodec",
    "AvroCodecError",
    "AvroDecodeError",
    "AvroEncodeError",
    "InMemorySchemaRegistry",
    "SchemaInfo",
    "SchemaRegistry",
    "SchemaRepository",
    "UnknownSchemaError",
    "default_codec",
]
