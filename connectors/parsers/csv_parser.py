"""Streaming CSV parser on the stdlib ``csv`` module (C speed), with exact positions.

The binary stream is split into physical lines (``readline``, so memory is bounded by the longest
line, itself capped by ``max_line_bytes``); each line is decoded and fed to ``csv.reader``. That gives,
per record:

- ``line``: the physical line where the record starts (quoted newlines make a record span lines);
- ``byte_offset``: the exact offset of its first byte in the decompressed stream (a leading BOM counts);
- ``raw``: for malformed records, the exact original bytes of the record's lines.

Encodings whose line breaks are not single ASCII bytes (UTF-16, UTF-32) are decoded by a text wrapper
instead: positions are then lines only (``byte_offset`` is ``None``), ``raw`` is the record re-encoded as
UTF-8, and undecodable bytes fail the file.

Decisions:

- A UTF-8 BOM is stripped whatever the encoding; header names are stripped of whitespace and BOMs.
  A UTF-8-configured stream that starts with a UTF-16 BOM is refused with a hint to set the encoding.
- The header must have non-empty, unique names, else the file fails (``FileParseError``): mapping by
  name cannot work otherwise. Set ``columns`` to name the columns yourself.
- A row whose cell count differs from the header is malformed (``csv_cell_count``) unless
  ``relax_column_count`` (see :class:`~.options.CsvOptions`).
- Undecodable bytes in a data row (e.g. invalid UTF-8) make *that row* malformed (``decode_error``, the
  message names the byte position); the file goes on. Undecodable bytes in the header fail the file.
- A line longer than ``max_line_bytes`` fails the file (a missing line break would otherwise make a
  single "line" of the whole file). A field longer than the csv module's ``field_size_limit``
  (131,072 characters) makes the row malformed.
- Values are strings, never cast.

:func:`csv_runs` is the same parser for the async adapter: consecutive well-formed rows come out as
:class:`~.records.RowRun` runs instead of one :class:`~.records.ParsedRecord` each (no per-record dict
or record object: about a third of the per-record parse cost), malformed records as before.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from functools import partial

from fluentsync.connectors.parsers._io import ascii_compatible, starts_with_utf16_bom, strip_utf8_bom
from fluentsync.connectors.parsers.options import CsvOptions
from fluentsync.connectors.parsers.records import (
    FileParseError,
    MalformedCode,
    MalformedRecord,
    ParsedRecord,
    Record,
    RowRun,
    truncate_raw,
)

__all__ = ["RowRuns", "csv_runs", "parse_csv"]


class _LineTooLong(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def _dialect(options: CsvOptions) -> dict[str, object]:
    return {
        "delimiter": options.delimiter,
        "quotechar": options.quotechar,
        "escapechar": options.escapechar,
        "doublequote": options.doublequote,
        "quoting": csv.QUOTE_MINIMAL if options.quotechar is not None else csv.QUOTE_NONE,
        "skipinitialspace": False,
        "strict": options.strict,
    }


class RowRuns:
    """Where :func:`csv_runs` collects well-formed rows until a run is cut.

    ``take()`` cuts the current run (None when it is empty). The parser cuts a run when it holds
    ``size`` rows, before any record that is not part of it, and at the end; the async adapter also cuts
    it when the parser is about to wait for input, so the rows of a slow stream are not held back.
    """

    __slots__ = ("columns", "lines", "offsets", "rows", "size", "start")

    def __init__(self, size: int) -> None:
        self.size = size
        self.columns: list[str] = []
        self.rows: list[list[str]] = []
        self.lines: list[int] = []
        self.offsets: list[int | None] = []
        self.start = 0

    def take(self) -> RowRun | None:
        if not self.rows:
            return None
        # copies, then clear: the parser keeps the lists' bound methods for its hot loop
        run = RowRun(self.columns, self.rows[:], self.start, self.lines[:], self.offsets[:])
        self.rows.clear()
        self.lines.clear()
        self.offsets.clear()
        return run


def parse_csv(stream: io.BufferedReader, options: CsvOptions) -> Iterator[Record]:
    """Records of a CSV stream (already decompressed). See the module docstring for the rules."""
    return _parse(stream, options, None)  # type: ignore[return-value]  # no runs: records only


def csv_runs(stream: io.BufferedReader, options: CsvOptions, runs: RowRuns) -> Iterator[Record | RowRun]:
    """As :func:`parse_csv`, with well-formed rows collected into ``runs`` and yielded as runs."""
    return _parse(stream, options, runs)


def _parse(stream: io.BufferedReader, options: CsvOptions, runs: RowRuns | None) -> Iterator[Record | RowRun]:
    encoding = options.encoding
    if encoding == "utf-8-sig":
        encoding = "utf-8"
    if encoding.startswith("utf-8") and starts_with_utf16_bom(stream):
        raise FileParseError("the file starts with a UTF-16 byte-order mark; set encoding: utf-16")
    byte_mode = ascii_compatible(encoding)
    offset = strip_utf8_bom(stream) if byte_mode else 0
    max_line = options.max_line_bytes

    buf: list[bytes] = []  # the raw lines of the record being read
    bad: list[tuple[int, str]] = []  # (line, message) for lines that did not decode

    def byte_lines() -> Iterator[str]:
        for n, raw in enumerate(iter(partial(stream.readline, max_line), b""), 1):
            buf.append(raw)
            if len(raw) == max_line and raw[-1] != 10:
                raise _LineTooLong(n)
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                bad.append(
                    (
                        n,
                        f"cannot decode byte(s) {exc.object[exc.start : exc.end]!r} at column "
                        f"{exc.start + 1} as {encoding}: {exc.reason}",
                    )
                )
                text = raw.decode(encoding, "replace")
            yield text

    def text_lines() -> Iterator[str]:
        wrapper = io.TextIOWrapper(stream, encoding=encoding, newline="")
        n = 0
        try:
            while True:
                try:
                    text = wrapper.readline(max_line)
                except UnicodeDecodeError as exc:
                    raise FileParseError(f"cannot decode the file as {encoding}: {exc.reason}", line=n + 1) from None
                if not text:
                    return
                n += 1
                buf.append(text.encode("utf-8"))
                if len(text) == max_line and text[-1] not in "\r\n":
                    raise _LineTooLong(n)
                yield text
        finally:
            wrapper.detach()

    reader = csv.reader(byte_lines() if byte_mode else text_lines(), **_dialect(options))  # type: ignore[arg-type]
    skip_empty = options.skip_empty_lines
    trim = options.trim
    relax = options.relax_column_count
    columns: list[str] = list(options.columns) if options.columns is not None else []
    ncols = len(columns)
    need_header = options.has_header
    index = 0
    prev_line = 0
    start: int | None = None
    collect = runs is not None
    run_rows: list[list[str]] = runs.rows if runs is not None else []
    add_row, add_line, add_offset = run_rows.append, (runs.lines if runs else []).append, (
        runs.offsets if runs else []).append
    run_size = runs.size if runs is not None else 0

    def slow_path(row: list[str], error: str | None, line: int) -> Record | None:
        """Header rows, blank lines and everything malformed; None when the row is not a record."""
        nonlocal columns, ncols, need_header
        code = MalformedCode.CSV_SYNTAX
        if error is None and len(row) <= 1 and (not row or not row[0].strip()) and len(buf) == 1 and not buf[0].strip():
            # a blank line
            if skip_empty:
                bad.clear()
                return None
            row = [""]
        if need_header:
            if error is None and bad:
                error = bad[-1][1]
            if error is not None:
                raise FileParseError(f"cannot read the header row: {error}", line=line, byte_offset=start)
            names = [cell.strip().lstrip("\ufeff").strip() for cell in row]
            need_header = False
            if options.columns is not None:
                if len(names) != ncols:
                    raise FileParseError(
                        f"the header has {len(names)} columns but {ncols} columns are configured",
                        line=line,
                        byte_offset=start,
                    )
                return None
            empty = [str(i + 1) for i, name in enumerate(names) if not name]
            if empty:
                raise FileParseError(
                    f"header column(s) {', '.join(empty)} have no name; set `columns` to name them",
                    line=line,
                    byte_offset=start,
                )
            dupes = sorted({name for name in names if names.count(name) > 1})
            if dupes:
                raise FileParseError(f"duplicate header names: {', '.join(dupes)}", line=line, byte_offset=start)
            columns = names
            ncols = len(names)
            return None
        if error is None and bad and bad[-1][0] >= line:
            error = bad[-1][1]
            code = MalformedCode.DECODE
        elif error is None and len(row) != ncols:
            if relax and len(row) < ncols:
                row = row + [""] * (ncols - len(row))
            elif relax and not any(cell.strip() for cell in row[ncols:]):
                row = row[:ncols]
            else:
                code = MalformedCode.CELL_COUNT
                error = f"expected {ncols} cells (the header's count), found {len(row)}"
        bad.clear()
        if error is None:
            if trim:
                row = [cell.strip() for cell in row]
            return ParsedRecord(index, dict(zip(columns, row, strict=True)), line, start, index + 1)
        raw = buf[0] if len(buf) == 1 else b"".join(buf)
        return MalformedRecord(index, line, start, index + 1, truncate_raw(raw), error, code)

    while True:
        try:
            for row in reader:
                line = prev_line + 1
                prev_line = reader.line_num
                if byte_mode:
                    start = offset
                    offset += len(buf[0]) if len(buf) == 1 else sum(map(len, buf))
                if len(row) == ncols > 1 and not bad and not need_header:
                    # the fast path: a well-formed data row (one-column files take the slow path: blank check)
                    if trim:
                        row = [cell.strip() for cell in row]
                    if collect:
                        assert runs is not None
                        if not run_rows:
                            runs.start, runs.columns = index, columns
                        add_row(row)
                        add_line(line)
                        add_offset(start)
                        index += 1
                        if len(run_rows) >= run_size:
                            yield runs.take()  # type: ignore[misc]  # not empty
                    else:
                        yield ParsedRecord(index, dict(zip(columns, row, strict=False)), line, start, index + 1)
                        index += 1
                elif (item := slow_path(row, None, line)) is not None:
                    if run_rows:
                        yield runs.take()  # type: ignore[union-attr, misc]  # records stay in file order
                    yield item
                    index += 1
                buf.clear()
            if run_rows:
                yield runs.take()  # type: ignore[union-attr, misc]
            return
        except csv.Error as exc:
            line = prev_line + 1
            prev_line = reader.line_num
            if byte_mode:
                start = offset
                offset += sum(map(len, buf))
            item = slow_path([], str(exc), line)
            assert item is not None
            if run_rows:
                yield runs.take()  # type: ignore[union-attr, misc]
            yield item
            index += 1
            buf.clear()
        except _LineTooLong as exc:
            if run_rows:  # the rows before the failure are handed over, as single records would have been
                yield runs.take()  # type: ignore[union-attr, misc]
            where = offset + sum(map(len, buf[:-1])) if byte_mode else None
            raise FileParseError(
                f"line longer than max_line_bytes ({max_line}); is the file really CSV with line breaks?",
                line=exc.line,
                byte_offset=where,
                records_read=index,
            ) from None
