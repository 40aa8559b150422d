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

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

__all__ = [
    "RAW_LIMIT",
    "FileParseError",
    "MalformedCode",
    "MalformedRecord",
    "ParsedRecord",
    "Record",
    "RecordGroup",
    "RowRun",
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


class RowRun(Sequence[Record]):
    """Consecutive well-formed records of one file that share their columns, kept as rows of text.

    Why: the CSV parser's per-record ``dict`` and :class:`ParsedRecord` cost about a microsecond a record,
    and the publisher only turns them back into rows (design.md §4). A run hands the rows over as they
    came from the ``csv`` module; the publisher reads ``rows`` directly, anything else iterating it gets
    the same :class:`ParsedRecord` items the parser used to yield (built on access). ``offsets`` holds
    ``None`` where byte offsets are not tracked; row numbers are always ``index + 1``. Read-only: the
    publisher's batches share the row lists.
    """

    __slots__ = ("columns", "lines", "offsets", "rows", "start")

    def __init__(self, columns: list[str], rows: list[list[str]], start: int, lines: list[int],
                 offsets: list[int | None]) -> None:
        self.columns = columns
        self.rows = rows
        self.start = start  #: index of the first row
        self.lines = lines
        self.offsets = offsets

    def __len__(self) -> int:
        return len(self.rows)

    def _record(self, i: int) -> ParsedRecord:
        index = self.start + i
        return ParsedRecord(index, dict(zip(self.columns, self.rows[i], strict=True)), self.lines[i],
                            self.offsets[i], index + 1)

    @overload
    def __getitem__(self, i: int) -> Record: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Record]: ...

    def __getitem__(self, i: int | slice) -> Record | Sequence[Record]:
        if isinstance(i, slice):
            return [self._record(n) for n in range(*i.indices(len(self.rows)))]
        return self._record(range(len(self.rows))[i])

    def __iter__(self) -> Iterator[Record]:
        return map(self._record, range(len(self.rows)))

    def __repr__(self) -> str:
        return f"RowRun(start={self.start}, rows={len(self.rows)}, columns={self.columns!r})"


class RecordGroup(Sequence[Record]):
    """Records handed over together, as segments: :class:`RowRun` runs and lists of single records.

    Iterating yields every record in file order, as a plain list of records would; the publisher walks
    ``segments`` to take runs whole.
    """

    __slots__ = ("_flat", "_len", "segments")

    def __init__(self, segments: list[RowRun | list[Record]]) -> None:
        self.segments = segments
        self._len = sum(map(len, segments))
        self._flat: list[Record] | None = None

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, i: int) -> Record: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Record]: ...

    def __getitem__(self, i: int | slice) -> Record | Sequence[Record]:
        if self._flat is None:
            self._flat = list(self)
        return self._flat[i]

    def __iter__(self) -> Iterator[Record]:
        for segment in self.segments:
            yield from segment

    def __repr__(self) -> str:
        return f"RecordGroup({self.segments!r})"


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
