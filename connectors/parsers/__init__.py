"""Streaming parsers with bounded memory: CSV, JSON, JSON Lines, XML, Parquet (and their gzip variants).

Each format is a synchronous generator over a binary file object that yields, in file order, a
:class:`ParsedRecord` per good record and a :class:`MalformedRecord` per bad one (dead-letter material:
position, raw bytes, message; the file goes on). ``index`` is contiguous over both. A file that cannot be
read at all raises :class:`FileParseError`.

- :func:`parse` -- any binary file object + options (a model or a ``format:`` mapping);
- :func:`parse_chunks` -- async: a source's chunk stream → lists of records, parsed in a worker thread
  with backpressure;
- :func:`parse_path` -- a local file; :func:`detect_format` -- format type from a file name.

Options: :class:`CsvOptions`, :class:`JsonOptions`, :class:`JsonLinesOptions`, :class:`XmlOptions`,
:class:`ParquetOptions`, or the discriminated union :data:`ParserOptions` (``type: csv|json|...``)
validated by :func:`parser_options`. See ``docs/parsers.md``.
"""

from fluentsync.connectors.parsers.options import (
    CsvOptions,
    JsonLinesOptions,
    JsonOptions,
    ParquetOptions,
    ParserOptions,
    XmlOptions,
    parser_options,
)
from fluentsync.connectors.parsers.records import (
    RAW_LIMIT,
    FileParseError,
    MalformedCode,
    MalformedRecord,
    ParsedRecord,
    Record,
)
from fluentsync.connectors.parsers.stream import FormatType, detect_format, parse, parse_chunks, parse_path

__all__ = [
    "RAW_LIMIT",
    "CsvOptions",
    "FileParseError",
    "FormatType",
    "JsonLinesOptions",
    "JsonOptions",
    "MalformedCode",
    "MalformedRecord",
    "ParquetOptions",
    "ParsedRecord",
    "ParserOptions",
    "Record",
    "XmlOptions",
    "detect_format",
    "parse",
    "parse_chunks",
    "parse_path",
    "parser_options",
]
