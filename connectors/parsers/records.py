"""What a parser yields: good records, malformed records, and the one exception for a failed file.

Every parser yields, in file order, one item per *record* of the file: a :class:`ParsedRecord` when the
record could be read, a :class:`MalformedRecord` when it could not (it goes to the dead-letter topic with
its position, raw bytes and the parser's message; the rest of the file continues). ``index`` is 0-based
and contiguous over **all** records of the file, good and malformed (requirement R3), so
``record_index``/``chunk_id`` in the published provenance never have gaps.

Positions (see ``schemas/avro/fluentsync.Provenance.avsc``):

``line``
    1-based physical line where the record starts (CSV, JSON Lines, XML); ``None`` where the format
    has no lines (Parquet) or the position is not tracked (JSON array items, see ``json_parser``).
``byte_offset``
    offset of the record's first byte in the *decompressed* stream (CSV, JSON Lines, XML); ``None``
    where not tracked.
``row_number``
    1-based data record number: CSV rows after the header, JSON array items, non-empty JSON Lines,
    XML items, Parquet rows. Malformed records count, so it is always ``index + 1``.

A file that cannot be read at all (not gzip although it says so, not Parquet, undecodable header,
XML not well-formed before the first item, a DTD, a corrupt tail after which no record can be trusted,
or the ``halt`` policy) raises :class:`FileParseError`, which the caller turns into a file-level failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "RAW_LIMIT",
    "FileParseError",
    "MalformedCode",
    "MalformedRecord",
    "ParsedRecord",
    "Record",
    "truncate_raw",
]

#: Raw snippets carried by a :class:`MalformedRecord` are cut to this many bytes.
RAW_LIMIT = 4096


class MalformedCode:
    """Values of :attr:`MalformedRecord.code` (stable strings, safe to alert on)."""

    CELL_COUNT = "csv_cell_count"  #: CSV row with another number of cells than the header
    CSV_SYNTAX = "csv_syntax"  #: the csv module refused the row (bad quoting in strict mode, field too large)
    DECODE = "decode_error"  #: bytes not valid in the configured encoding
    JSON_SYNTAX = "json_syntax"  #: invalid JSON (a JSON Lines line, or an item of a JSON document)
    NOT_OBJECT = "json_not_object"  #: valid JSON but not an object
    XML_SYNTAX = "xml_syntax"  #: XML not well-formed inside an item
    TOO_LONG = "record_too_long"  #: a line longer than the configured maximum


@dataclass(frozen=True, slots=True, init=False)
class ParsedRecord:
    """One record read from the file. Values are JSON-able Python (see each format for the types)."""

    index: int
    record: dict[str, Any]
    line: int | None
    byte_offset: int | None
    row_number: int | None

    def __init__(
        self,
        index: int,
        record: dict[str, Any],
        line: int | None,
        byte_offset: int | None,
        row_number: int | None,
    ) -> None:
        # The frozen dataclass __init__ goes through object.__setattr__ five times (about 1.2 us per
        # record, a third of the CSV parse budget); the slot descriptors do the same in half the time.
        _set_index(self, index)
        _set_record(self, record)
        _set_line(self, line)
        _set_byte_offset(self, byte_offset)
        _set_row_number(self, row_number)


_set_index, _set_record, _set_line, _set_byte_offset, _set_row_number = (
    ParsedRecord.__dict__[name].__set__ for name in ("index", "record", "line", "byte_offset", "row_number")
)


@dataclass(frozen=True, slots=True)
class MalformedRecord:
    """One record that could not be read: dead-letter material (file identity is added by the caller).

    ``raw`` is the record's original bytes (or, where the record's extent is unknown, the bytes around
    the error), cut to :data:`RAW_LIMIT`.
    """

    index: int
    line: int | None
    byte_offset: int | None
    row_number: int | None
    raw: bytes
    message: str
    code: str


Record = ParsedRecord | MalformedRecord


class FileParseError(Exception):
    """The file as a whole cannot be parsed (or parsing was halted by policy).

    ``line``/``byte_offset`` say where, when known. ``records_read`` is how many records (good and
    malformed) had been yielded before the failure. ``malformed`` is the record that triggered a
    ``halt`` policy, if that is why parsing stopped.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        byte_offset: int | None = None,
        records_read: int | None = None,
        malformed: MalformedRecord | None = None,
    ) -> None:
        where = []
        if line is not None:
            where.append(f"line {line}")
        if byte_offset is not None:
            where.append(f"byte {byte_offset}")
        super().__init__(f"{message} ({', '.join(where)})" if where else message)
        self.reason = message
        self.line = line
        self.byte_offset = byte_offset
        self.records_read = records_read
        self.malformed = malformed


def truncate_raw(raw: bytes, limit: int = RAW_LIMIT) -> bytes:
    """``raw`` cut to ``limit`` bytes (the beginning is kept: it is what identifies a record)."""
    return raw if len(raw) <= limit else raw[:limit]
