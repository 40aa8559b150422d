"""Streaming JSON (an array of objects, item by item, with ijson) and JSON Lines.

**JSON** (:func:`parse_json`). The document is parsed incrementally by ijson (its yajl2 C backend when
installed), so memory is bounded by the largest item, not the file: a 1 GB top-level array is fine.

- ``item_path=None``: the top-level value must be an array, else :class:`FileParseError` (a top-level
  object says "set item_path"). ``item_path="data.items"``: the array at that key path; a path that is
  absent, or holds something other than an array, is a :class:`FileParseError` at the end of the file.
- An item that is valid JSON but not an object is a :class:`MalformedRecord` (``json_not_object``).
- Invalid JSON inside the array cannot be skipped reliably (the parser cannot find where the next item
  starts). So the parser yields **one** :class:`MalformedRecord` (``json_syntax``) for the item at that
  point, with the parser's message (it shows the text around the error) and as ``raw`` the up-to-4 KiB
  window of input in which the error was found, and then raises :class:`FileParseError` ("corrupt after
  item N"): the caller marks the file failed. A truncated file behaves the same way.
- Positions: ijson does not report where an item starts, so ``line`` and ``byte_offset`` are ``None``
  for JSON items; ``row_number`` is the 1-based item number. The error message of a malformed item gives
  the byte range in which the error was detected.
- A leading UTF-8 BOM is skipped. Other encodings are transcoded to UTF-8 on the fly.

**JSON Lines** (:func:`parse_jsonl`): one object per line, exact ``line`` and ``byte_offset`` per record.
A line that is not valid JSON, or valid JSON but not an object, or longer than ``max_line_bytes``, is a
:class:`MalformedRecord` and the next line is read normally. Blank lines are skipped (not records)
unless ``skip_empty_lines=False``, in which case they are malformed.

**Numbers** (both formats): integers stay ``int`` (any size); other numbers become ``float``, except
that an integral value such as ``10.0`` or ``1e3`` becomes ``int`` when below 1e21 -- what JavaScript's
``JSON.parse`` and ``String()`` give in the reference SDK (``"10"``, not ``"10.0"``).
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import json.scanner
from collections.abc import Generator, Iterator
from functools import partial
from typing import Any, cast

import ijson

from fluentsync.connectors.parsers._io import strip_utf8_bom
from fluentsync.connectors.parsers.options import JsonLinesOptions, JsonOptions
from fluentsync.connectors.parsers.records import (
    RAW_LIMIT,
    FileParseError,
    MalformedCode,
    MalformedRecord,
    ParsedRecord,
    Record,
    truncate_raw,
)

__all__ = ["parse_json", "parse_jsonl"]

_READ_SIZE = 4096  # ijson reads this much at a time, so an error is located within 4 KiB
_INT_LIMIT = 1e21  # JavaScript prints integral numbers below this without an exponent


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() and -_INT_LIMIT < value < _INT_LIMIT else value


def _fix_floats(value: Any) -> Any:
    """Integral floats → int, in place for containers (ijson has no parse_float hook)."""
    if isinstance(value, dict):
        for key, item in value.items():
            cls = type(item)
            if cls is float:
                if item.is_integer() and -_INT_LIMIT < item < _INT_LIMIT:
                    value[key] = int(item)
            elif cls is dict or cls is list:
                _fix_floats(item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            cls = type(item)
            if cls is float:
                if item.is_integer() and -_INT_LIMIT < item < _INT_LIMIT:
                    value[i] = int(item)
            elif cls is dict or cls is list:
                _fix_floats(item)
    return value


class _PathWatcher:
    """Watches parse events (pushed, until decided) to tell whether ``item_path`` holds an array."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.state: str | None = None  # None: not seen yet; "array"; or the JSON type found there
        target = self._target()
        next(target)  # prime the generator so it can receive events
        self._coro = ijson.parse_coro(target)

    def _target(self) -> Generator[None, tuple[str, str, Any], None]:
        path = self.path
        while True:
            prefix, event, _value = yield
            if prefix == path and event not in ("map_key", "end_map", "end_array"):
                self.state = "array" if event == "start_array" else {"start_map": "object"}.get(event, event)
                return

    def feed(self, data: bytes) -> None:
        if self.state is None:
            # StopIteration: decided; JSONError: the document is broken (the main parser reports that)
            with contextlib.suppress(StopIteration, ijson.JSONError):
                self._coro.send(data)
            self.check()

    def check(self) -> None:
        """Raise as soon as the path is known to hold something other than an array."""
        if self.state is not None and self.state != "array":
            if not self.path:
                hint = "an object" if self.state == "object" else f"a JSON {self.state}"
                raise FileParseError(
                    f"the top-level JSON value is {hint}, not an array; "
                    "set item_path to the array to read (e.g. data.items)"
                )
            raise FileParseError(f"item_path {self.path!r} holds a JSON {self.state}, not an array")


class _Feed:
    """What ijson reads: counts bytes, remembers the last read (for error snippets), feeds the watcher."""

    def __init__(self, stream: io.BufferedReader, encoding: str, watcher: _PathWatcher | None) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder(encoding)() if encoding != "utf-8" else None
        self._watcher = watcher
        self.consumed = 0
        self.last = b""
        self.seen_content = False

    def read(self, n: int) -> bytes:
        if n == 0:  # ijson probes the type of the stream with read(0)
            return b""
        data = self._stream.read1(n)  # what is there: no waiting for n bytes
        if self._decoder is not None:
            data = self._decoder.decode(data, final=not data).encode("utf-8")
        if data:
            self.last = data
        self.consumed += len(data)
        if not self.seen_content and data.strip():
            self.seen_content = True
        if self._watcher is not None:
            self._watcher.feed(data)
        return data


def parse_json(stream: io.BufferedReader, options: JsonOptions) -> Iterator[Record]:
    """Items of the JSON array at ``options.item_path`` (or the top-level array). See module docstring."""
    encoding = "utf-8" if options.encoding == "utf-8-sig" else options.encoding
    strip_utf8_bom(stream)
    path = options.item_path
    watcher = _PathWatcher(path or "")
    feed = _Feed(stream, encoding, watcher)
    index = 0
    try:
        for item in ijson.items(feed, f"{path}.item" if path else "item", use_float=True, buf_size=_READ_SIZE):
            if type(item) is dict:
                yield ParsedRecord(index, _fix_floats(item), None, None, index + 1)
            else:
                raw = truncate_raw(json.dumps(item, default=str).encode())
                kind = type(item).__name__ if item is not None else "null"
                yield MalformedRecord(
                    index, None, None, index + 1, raw, f"expected a JSON object, got {kind}", MalformedCode.NOT_OBJECT
                )
            index += 1
    except ijson.JSONError as exc:
        if feed.consumed == 0 or not feed.seen_content:
            raise FileParseError("empty JSON document (no value at all)") from None
        message = str(exc).rstrip()
        start = feed.consumed - len(feed.last)
        where = f"detected in bytes {start}-{feed.consumed} of the stream"
        if watcher.state == "array":
            yield MalformedRecord(
                index,
                None,
                None,
                index + 1,
                feed.last[-RAW_LIMIT:],
                f"invalid JSON ({where}): {message}",
                MalformedCode.JSON_SYNTAX,
            )
            raise FileParseError(
                f"JSON corrupt or truncated after item {index}; the rest of the file cannot be read: "
                f"{message.splitlines()[0]}",
                records_read=index + 1,
            ) from None
        raise FileParseError(f"invalid JSON ({where}): {message}", records_read=index) from None
    if watcher.state is None:
        raise FileParseError(f"item_path {path!r} not found in the document", records_read=index)
    watcher.check()


def parse_jsonl(stream: io.BufferedReader, options: JsonLinesOptions) -> Iterator[Record]:
    """One record per line, exact positions; bad lines are malformed and the next line goes on."""
    encoding = options.encoding
    utf8 = encoding in ("utf-8", "utf-8-sig")
    offset = strip_utf8_bom(stream)
    max_line = options.max_line_bytes
    decoder = json.JSONDecoder(parse_float=_number)
    scan = json.scanner.make_scanner(cast(Any, decoder))  # the C scanner, without decode()'s per-call overhead
    readline = stream.readline
    skip_empty = options.skip_empty_lines
    index = 0
    line = 0
    for raw in iter(partial(readline, max_line), b""):
        line += 1
        start = offset
        offset += len(raw)
        error: str | None = None
        code = MalformedCode.JSON_SYNTAX
        if len(raw) == max_line and raw[-1] != 10:
            # too long: skip to the end of the line, keep the start as the snippet
            while (more := readline(max_line)) and more[-1] != 10:
                offset += len(more)
            offset += len(more)
            error, code = f"line longer than max_line_bytes ({max_line})", MalformedCode.TOO_LONG
        else:
            try:
                text = raw.decode("utf-8" if utf8 else encoding)
            except UnicodeDecodeError as exc:
                error, code = f"cannot decode as {encoding}: {exc}", MalformedCode.DECODE
            else:
                text = text.strip()
                if not text:
                    if skip_empty:
                        continue
                    error = "empty line"
                else:
                    try:
                        value, end = scan(text, 0)
                        if end != len(text):
                            decoder.decode(text)  # raises "Extra data"
                    except (StopIteration, ValueError):  # ValueError: JSONDecodeError, or a number too large
                        try:
                            decoder.decode(text)
                            error = "invalid JSON"
                        except ValueError as exc:
                            error = f"invalid JSON: {exc}"
                    else:
                        if type(value) is dict:
                            yield ParsedRecord(index, value, line, start, index + 1)
                            index += 1
                            continue
                        kind = type(value).__name__ if value is not None else "null"
                        error, code = f"expected a JSON object, got {kind}", MalformedCode.NOT_OBJECT
        yield MalformedRecord(index, line, start, index + 1, truncate_raw(raw.rstrip(b"\r\n")), error, code)
        index += 1
