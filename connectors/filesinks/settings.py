"""Configuration of a file sink: format, rolling, file naming and destination (pydantic v2, strict).

The models mirror the source configs in ``fluentsync.streams.config`` (frozen, ``extra="forbid"``,
secrets as :class:`~pydantic.SecretStr`; the S3 and SFTP connection fields are the same models,
:mod:`fluentsync.connectors.remote.settings`) so a pipeline file can carry a sink block in the same style:

.. code-block:: yaml

    sink:
      path: "orders/{yyyy}/{mm}/{dd}/orders-{run}-{part}.{ext}"
      format: {type: csv, arrays: explode, explode: lines}
      rolling: {max_records: 100000, max_bytes: 67108864, max_age: 300}
      destination: {type: s3, bucket: exports, prefix: fluent/}

Validation happens here rather than at first use so a typo fails the pipeline file at start-up, not
after the first hundred thousand records were spooled.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fluentsync.connectors.filesinks.naming import validate_template
from fluentsync.connectors.remote.settings import S3Connection, SftpConnection

__all__ = [
    "MIN_PART_SIZE",
    "XML_NAME",
    "CsvFormat",
    "DestinationConfig",
    "FileSinkConfig",
    "FormatConfig",
    "JsonFormat",
    "JsonlFormat",
    "LocalDestinationConfig",
    "ParquetFormat",
    "RollingConfig",
    "S3DestinationConfig",
    "SftpDestinationConfig",
    "XmlFormat",
]

#: S3 rejects parts below 5 MiB (except the last one) when a multipart upload completes.
MIN_PART_SIZE = 5 * 1024 * 1024

#: an XML element or attribute name (ASCII letters plus any non-ASCII letter; optional one prefix)
XML_NAME = re.compile(r"^(?!xml)[^\W\d.-][\w.-]*(?::[^\W\d.-][\w.-]*)?$", re.IGNORECASE)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# -- formats --------------------------------------------------------------------------------------


class _TextFormat(_Model):
    #: ``gzip`` writes ``<name>.<ext>.gz`` (``{ext}`` becomes e.g. ``csv.gz``); fluentsync's sources read it
    compression: Literal["none", "gzip"] = "none"


class CsvFormat(_TextFormat):
    """CSV with a header row; nested fields become dotted column names (``customer.ref``).

    Child arrays are either *joined* into one cell (``join_separator``; an array of objects gives one
    column per child field, each cell the joined values) or *exploded*: one row per element of the
    array at ``explode`` with the parent's fields repeated on every row.
    """

    type: Literal["csv"] = "csv"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quote_char: str = Field(default='"', min_length=1, max_length=1)
    line_terminator: Literal["\n", "\r\n"] = "\n"
    header: bool = True
    separator: str = Field(default=".", min_length=1)  #: between the parts of a nested field's name
    arrays: Literal["join", "explode"] = "join"
    join_separator: str = "|"
    explode: str | None = None  #: dotted path of the array exploded into rows (``arrays: explode``)
    #: fixed column order; absent: from the Avro schema when the sink has one, else from the first row
    columns: list[str] | None = None
    #: a row with a column the header does not have: fail the record (default) or drop the value
    extra_columns: Literal["error", "ignore"] = "error"
    null: str = ""  #: how a missing or null value is written

    @model_validator(mode="after")
    def _explode_path(self) -> CsvFormat:
        if self.arrays == "explode" and not self.explode:
            raise ValueError("arrays: explode needs `explode`, the dotted path of the array to explode")
        if self.explode and self.arrays != "explode":
            raise ValueError("`explode` is set but arrays is 'join'; set arrays: explode")
        return self


class JsonFormat(_TextFormat):
    """One JSON array per file, streamed element by element (never built in memory)."""

    type: Literal["json"] = "json"


class JsonlFormat(_TextFormat):
    """JSON Lines: one record per line."""

    type: Literal["jsonl"] = "jsonl"


class XmlFormat(_TextFormat):
    """``<root><item>...</item>...</root>``; ``@name`` keys become attributes, ``#text`` the text.

    The shapes are the XML parser's (``fluentsync.connectors.parsers``), so a file written here parses
    back to the same dicts (values as strings).
    """

    type: Literal["xml"] = "xml"
    root: str = "records"
    item: str = "record"
    declaration: bool = True
    indent: bool = True  #: one item per line (items are never pretty-printed inside)

    @field_validator("root", "item")
    @classmethod
    def _name(cls, value: str) -> str:
        if not XML_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid XML element name")
        return value


class ParquetFormat(_Model):
    """Parquet via pyarrow; the schema comes from the topic's Avro schema (inferred from the first row
    group when there is none). Rows are written in row groups of ``row_group_records`` so memory stays
    flat; ``max_bytes`` is checked against what is on disk, so a file may pass it by one row group."""

    type: Literal["parquet"] = "parquet"
    compression: Literal["none", "snappy", "gzip", "zstd", "brotli", "lz4"] = "snappy"
    compression_level: int | None = None
    row_group_records: int = Field(default=10_000, ge=1, le=1_000_000)


FormatConfig = Annotated[
    CsvFormat | JsonFormat | JsonlFormat | XmlFormat | ParquetFormat, Field(discriminator="type")
]


# -- rolling ---------------------------------------------------------------------------------------


class RollingConfig(_Model):
    """When a file is closed and committed; whichever limit comes first. ``None`` turns a limit off."""

    max_records: int | None = Field(default=100_000, ge=1)  #: Kafka records (not exploded rows)
    max_bytes: int | None = Field(default=64 * 1024 * 1024, ge=1)  #: of the encoded file in the spool
    max_age: float | None = Field(default=300.0, gt=0)  #: seconds since the file's first record

    @model_validator(mode="after")
    def _some_limit(self) -> RollingConfig:
        if self.max_records is None and self.max_bytes is None and self.max_age is None:
            raise ValueError("rolling needs at least one of max_records, max_bytes, max_age")
        return self


# -- destinations ----------------------------------------------------------------------------------


class _Destination(_Model):
    prefix: str = ""  #: folder (S3 key prefix) the rendered names are relative to

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip()
        if any(part == ".." for part in value.split("/")):
            raise ValueError("prefix must not contain '..'")
        return value if not value or value.endswith("/") else value + "/"


class LocalDestinationConfig(_Destination):
    type: Literal["local"] = "local"
    root: Path
    fsync: bool = True  #: fsync file and folder before the file counts as committed


class S3DestinationConfig(S3Connection, _Destination):
    """A bucket folder; the connection fields are :class:`~fluentsync.connectors.remote.S3Connection`'s."""

    type: Literal["s3"] = "s3"
    #: files above this size go up as a multipart upload, smaller ones with one PUT
    multipart_threshold: int = Field(default=16 * 1024 * 1024, ge=MIN_PART_SIZE)
    part_size: int = Field(default=8 * 1024 * 1024, ge=MIN_PART_SIZE, le=5 * 1024 * 1024 * 1024)
    max_attempts: int = Field(default=3, ge=1, le=20)


class SftpDestinationConfig(SftpConnection, _Destination):
    """A folder on an SFTP server; the connection fields are
    :class:`~fluentsync.connectors.remote.SftpConnection`'s."""

    type: Literal["sftp"] = "sftp"
    connect_timeout: float = Field(default=30.0, gt=0)
    chunk_size: int = Field(default=256 * 1024, ge=4096, le=4 * 1024 * 1024)


DestinationConfig = Annotated[
    LocalDestinationConfig | S3DestinationConfig | SftpDestinationConfig, Field(discriminator="type")
]


# -- the sink --------------------------------------------------------------------------------------


class FileSinkConfig(_Model):
    """One outbound topic into files."""

    #: see :mod:`fluentsync.connectors.filesinks.naming`; must identify the file by partition and first
    #: offset (``{part}``, or both ``{partition}`` and ``{offset}``) so names are unique and deterministic
    path: str = "{topic}/{yyyy}/{mm}/{dd}/{topic}-{run}-{part}.{ext}"
    format: FormatConfig = Field(default_factory=JsonlFormat)
    rolling: RollingConfig = Field(default_factory=RollingConfig)
    destination: DestinationConfig
    run: str = "0"  #: ``{run}`` when a record's position carries none; must be stable across restarts
    spool_dir: Path | None = None  #: local folder for files being written; default: the system temp

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        validate_template(value)
        return value
