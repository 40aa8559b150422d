"""Streaming record writers: CSV, JSON array, JSON Lines and XML into a local spool file.

Each writer appends one record at a time to a file on local disk and keeps nothing but the current
record (and the file object's write buffer) in memory, so a file of any size costs the same memory.
The whole file goes to its destination only when it is complete (see ``destinations``).

Two guarantees the rolling sink relies on:

- ``write`` encodes the record completely *before* writing any byte, so a record that cannot be
  encoded raises :class:`RecordEncodingError` and leaves the file exactly as it was.
- ``size`` is the number of bytes of the encoded file so far (footer excepted), for ``max_bytes``;
  with ``compression: gzip`` the compressed bytes the compressor has let out so far (they lag by its
  buffer, so a file may pass ``max_bytes`` by a few tens of KiB).

Gzip output has a zero timestamp in its header, so the same records give byte-identical files.

CSV header choice: the columns are the configured ``columns``, else those derived from the topic's Avro
schema (stable whatever the first record holds), else the first row's. A later row with a non-empty
value for a column not in the header fails that record (``extra_columns: error``) or loses just that
value (``ignore``); a null value for an unknown column is not data and is dropped silently (a null
parent object flattens to its own name, not to its children's columns).
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import gzip as _gzip
import json
import os
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, ClassVar
from xml.sax.saxutils import escape, quoteattr

from fluentsync.connectors.filesinks.flatten import explode_rows, flatten, schema_columns
from fluentsync.connectors.filesinks.settings import (
    XML_NAME,
    CsvFormat,
    FormatConfig,
    JsonFormat,
    JsonlFormat,
    ParquetFormat,
    XmlFormat,
)

__all__ = [
    "CsvWriter",
    "JsonArrayWriter",
    "JsonLinesWriter",
    "RecordEncodingError",
    "RecordWriter",
    "XmlWriter",
    "extension",
    "open_writer",
]

_BUFFER = 1 << 20


class RecordEncodingError(ValueError):
    """A record cannot be written in this format (e.g. an unknown CSV column, an invalid XML name)."""


class RecordWriter(ABC):
    """One spool file being written. Not thread-safe; one writer per open file."""

    extension: ClassVar[str]

    def __init__(self, path: Path, *, gzip: bool = False) -> None:
        self.path = path
        self.records = 0
        self._file: BinaryIO = open(path, "wb", buffering=_BUFFER)  # noqa: SIM115 - closed by close/abort
        # mtime=0: the same records give the same bytes, so a rewritten file is identical
        self._out: BinaryIO | _gzip.GzipFile = (
            _gzip.GzipFile(fileobj=self._file, mode="wb", mtime=0) if gzip else self._file
        )
        self._gzip = gzip
        self._size = 0
        self._closed = False

    @property
    def size(self) -> int:
        """Bytes of the file so far; compressed, the bytes the compressor has let out (it lags a little)."""
        return self._file.tell() if self._gzip and not self._closed else self._size

    def _emit(self, data: bytes) -> None:
        self._out.write(data)
        self._size += len(data)

    @abstractmethod
    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record; raise RecordEncodingError (file unchanged) if it cannot be encoded."""

    def _footer(self) -> None:  # noqa: B027 - optional hook: JSON Lines and CSV have no footer
        """Whatever closes the document (``]``, ``</root>``)."""

    def close(self) -> None:
        """Finish the document; the spool file is then complete."""
        if self._closed:
            return
        self._footer()
        if self._out is not self._file:
            self._out.close()  # the gzip trailer; the file itself stays open
        self._file.flush()
        self._size = os.fstat(self._file.fileno()).st_size
        self._file.close()
        self._closed = True

    def abort(self) -> None:
        """Close without finishing (the spool file is then thrown away by the caller)."""
        if not self._closed:
            self._closed = True
            self._file.close()


# -- JSON -----------------------------------------------------------------------------------------


def json_default(value: Any) -> Any:
    """JSON for the values Avro decoding produces: datetimes as ISO 8601, decimals as strings, bytes
    as base64 (what a JSON consumer can round-trip without losing precision)."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# one encoder for every record (``json.dumps`` with options builds a new one per call)
_ENCODER = json.JSONEncoder(default=json_default, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _dumps(record: Mapping[str, Any]) -> bytes:
    try:
        return _ENCODER.encode(record).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise RecordEncodingError(f"record is not JSON: {exc}") from None


class JsonLinesWriter(RecordWriter):
    extension = "jsonl"

    def __init__(self, path: Path, options: JsonlFormat | None = None) -> None:
        super().__init__(path, gzip=options is not None and options.compression == "gzip")

    def write(self, record: Mapping[str, Any]) -> None:
        self._emit(_dumps(record) + b"\n")
        self.records += 1


class JsonArrayWriter(RecordWriter):
    """``[`` + records separated by ``,`` + ``]``: a valid JSON array streamed element by element."""

    extension = "json"

    def __init__(self, path: Path, options: JsonFormat | None = None) -> None:
        super().__init__(path, gzip=options is not None and options.compression == "gzip")
        self._emit(b"[")

    def write(self, record: Mapping[str, Any]) -> None:
        data = _dumps(record)
        self._emit((b"\n" if not self.records else b",\n") + data)
        self.records += 1

    def _footer(self) -> None:
        self._emit(b"\n]\n" if self.records else b"]\n")


# -- CSV ------------------------------------------------------------------------------------------


class _Lines:
    """What csv.writer writes to: the record's rows collect here, and reach the file only once all of
    them are encoded (an exploded record is several rows: never half of them)."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def take(self) -> bytes:
        text, self.parts = "".join(self.parts), []
        return _utf8(text)


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (from JSON "\ud800") has no UTF-8 form
        raise RecordEncodingError("text holds a character that cannot be encoded as UTF-8") from None


class CsvWriter(RecordWriter):
    extension = "csv"

    def __init__(self, path: Path, options: CsvFormat, avro_schema: Mapping[str, Any] | None = None) -> None:
        super().__init__(path, gzip=options.compression == "gzip")
        self.options = options
        self._lines = _Lines()
        self._csv = csv.writer(self._lines, delimiter=options.delimiter, quotechar=options.quote_char,
                               lineterminator=options.line_terminator, quoting=csv.QUOTE_MINIMAL)
        columns = options.columns
        if columns is None and avro_schema is not None:
            columns = schema_columns(avro_schema, separator=options.separator)
        self.columns: list[str] | None = list(columns) if columns is not None else None
        self._known: set[str] = set(self.columns or ())
        self._leaves = frozenset(self._known)  # a known column holding an object: one JSON cell

    def _rows(self, record: Mapping[str, Any]) -> list[dict[str, Any]]:
        opts = self.options
        leaves = self._leaves
        if opts.arrays == "explode" and opts.explode:
            return list(explode_rows(record, opts.explode, separator=opts.separator,
                                     join_separator=opts.join_separator, leaves=leaves))
        return [flatten(record, separator=opts.separator, join_separator=opts.join_separator, leaves=leaves)]

    def write(self, record: Mapping[str, Any]) -> None:
        rows = self._rows(record)
        if self.columns is None:
            columns: dict[str, None] = {}
            for row in rows:
                columns.update(dict.fromkeys(row))
            self.columns, self._known = list(columns), set(columns)
        if self.options.extra_columns == "error":
            # an empty child array of joined objects (order items without attributes) flattens to the
            # array's own name with one empty value per element ("|"): no data, like a null
            sep = self.options.join_separator
            for row in rows:
                if self._known.issuperset(row):  # the usual case, tested in C
                    continue
                extra = [k for k, v in row.items() if k not in self._known and v is not None
                         and not (isinstance(v, str) and not v.replace(sep, ""))]
                if extra:
                    raise RecordEncodingError(f"columns not in the CSV header: {sorted(extra)}")
        null, header = self.options.null, self.columns
        # text cells (most of them) as they are, without a call each
        lines = [[v if type(v) is str else _csv_cell(v, null) for v in map(row.get, header)] for row in rows]
        if not self.records and self.options.header:
            self._csv.writerow(header)
        self._csv.writerows(lines)
        self._emit(self._lines.take())  # raises before writing anything when a row cannot be encoded
        self.records += 1


def _csv_cell(value: Any, null: str) -> str:
    if value is None:
        return null
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


# -- XML ------------------------------------------------------------------------------------------

# characters XML 1.0 cannot carry at all, not even as character references
_ILLEGAL_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TEXT_ENTITIES = {"\r": "&#13;"}  # a raw CR would be normalised away by any parser


class XmlWriter(RecordWriter):
    """Items as elements under one root; built with escaping, never by pasting raw strings.

    Shapes (the XML parser's, so files round-trip): a dict is an element whose ``@name`` keys are
    attributes, ``#text`` its text and other keys child elements; a list repeats the element once per
    value; ``None`` is an empty element; anything else is text. Names that are not XML names and
    characters XML 1.0 cannot carry fail the record.
    """

    extension = "xml"

    def __init__(self, path: Path, options: XmlFormat) -> None:
        super().__init__(path, gzip=options.compression == "gzip")
        self.options = options
        head = '<?xml version="1.0" encoding="UTF-8"?>\n' if options.declaration else ""
        self._emit(f"{head}<{options.root}>".encode())
        self._newline = "\n" if options.indent else ""

    def write(self, record: Mapping[str, Any]) -> None:
        parts: list[str] = [self._newline + ("  " if self._newline else "")]
        _element(self.options.item, record, parts)
        self._emit(_utf8("".join(parts)))
        self.records += 1

    def _footer(self) -> None:
        self._emit(f"{self._newline}</{self.options.root}>\n".encode())


def _name(name: Any) -> str:
    if not isinstance(name, str) or not XML_NAME.match(name):
        raise RecordEncodingError(f"{name!r} is not a valid XML name")
    return name


def _text(value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dt.datetime | dt.date | dt.time):
        text = value.isoformat()
    elif isinstance(value, bytes | bytearray):
        text = base64.b64encode(bytes(value)).decode("ascii")
    else:
        text = str(value)
    if _ILLEGAL_XML.search(text):
        raise RecordEncodingError("text holds a character XML 1.0 cannot represent")
    return text


def _element(tag: str, value: Any, out: list[str]) -> None:
    tag = _name(tag)
    if isinstance(value, list | tuple):
        for item in value:
            _element(tag, item, out)
        return
    if value is None:
        out.append(f"<{tag}/>")
        return
    if not isinstance(value, Mapping):
        out.append(f"<{tag}>{escape(_text(value), _TEXT_ENTITIES)}</{tag}>")
        return
    attrs = "".join(
        f" {_name(key[1:])}={quoteattr(_text(item))}"
        for key, item in value.items() if isinstance(key, str) and key.startswith("@") and item is not None
    )
    inner: list[str] = []
    for key, item in value.items():
        if key == "#text":
            if item is not None:
                inner.append(escape(_text(item), _TEXT_ENTITIES))
        elif not (isinstance(key, str) and key.startswith("@")):
            _element(key, item, inner)
    out.append(f"<{tag}{attrs}>{''.join(inner)}</{tag}>" if inner else f"<{tag}{attrs}/>")


# -- factory --------------------------------------------------------------------------------------


def extension(options: FormatConfig) -> str:
    """The file extension for a format (``{ext}`` in name templates): ``csv``, ``csv.gz``, ``parquet``..."""
    gz = not isinstance(options, ParquetFormat) and options.compression == "gzip"
    return options.type + (".gz" if gz else "")


def open_writer(options: FormatConfig, path: Path, avro_schema: Mapping[str, Any] | None = None) -> RecordWriter:
    """A writer for ``options`` on a new spool file at ``path``."""
    if isinstance(options, CsvFormat):
        return CsvWriter(path, options, avro_schema)
    if isinstance(options, JsonFormat):
        return JsonArrayWriter(path, options)
    if isinstance(options, JsonlFormat):
        return JsonLinesWriter(path, options)
    if isinstance(options, XmlFormat):
        return XmlWriter(path, options)
    if isinstance(options, ParquetFormat):
        from fluentsync.connectors.filesinks.parquet import ParquetWriter  # pyarrow is large: lazily

        return ParquetWriter(path, options, avro_schema)
    raise TypeError(f"unknown format {options!r}")
