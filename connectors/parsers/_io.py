"""Byte-stream plumbing shared by the parsers: buffering, gzip sniffing, BOMs, error translation."""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from fluentsync.connectors.parsers.records import FileParseError

__all__ = ["BUFFER_SIZE", "GZIP_MAGIC", "UTF8_BOM", "open_stream", "strip_utf8_bom"]

BUFFER_SIZE = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

#: What a broken gzip stream raises while being read.
GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


class _Source(io.RawIOBase):
    """Any object with ``read(n)`` as a raw stream, with a replayable prefix; never closes the object.

    ``readinto`` returns what one read of the object gives (it does not wait for a full buffer, so
    records of a slow stream are parsed as soon as their bytes arrive). :meth:`head` reads ahead so that
    the first read returns at least that many bytes, which makes ``peek`` reliable for magic bytes/BOMs.
    """

    def __init__(self, fileobj: Any) -> None:
        super().__init__()
        self._f = fileobj
        self._pending = b""

    def readable(self) -> bool:
        return True

    def head(self, n: int) -> bytes:
        """The first ``n`` bytes (fewer at end of stream), left in place to be read again."""
        while len(self._pending) < n:
            data = self._f.read(max(n - len(self._pending), BUFFER_SIZE))
            if not data:
                break
            self._pending += data
        return self._pending[:n]

    def readinto(self, b: Any) -> int:
        mv = memoryview(b).cast("B")
        want = len(mv)
        if self._pending:
            take = self._pending[:want]
            self._pending = self._pending[len(take) :]
        else:
            take = self._f.read(want)
            if not take:
                return 0
            if len(take) > want:  # an object that ignores the size hint
                self._pending = take[want:]
                take = take[:want]
        mv[: len(take)] = take
        return len(take)


class _Read1(io.RawIOBase):
    """A raw stream over a buffered one that returns what is available (``read1``) instead of waiting."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._inner.read1(len(b))
        n = len(data)
        memoryview(b).cast("B")[:n] = data
        return n

    def close(self) -> None:
        self._inner.close()
        super().close()


@contextmanager
def open_stream(fileobj: Any, compression: Literal["auto", "none", "gzip"]) -> Iterator[io.BufferedReader]:
    """A buffered binary stream over ``fileobj``, gunzipped when asked or when it starts with gzip magic.

    The caller's object is never closed. A stream that is not gzip while ``compression="gzip"`` raises
    :class:`FileParseError`.
    """
    src = _Source(fileobj)
    head = src.head(4)[:2]
    gz = compression == "gzip" or (compression == "auto" and head == GZIP_MAGIC)
    if gz and head != GZIP_MAGIC:
        raise FileParseError("not a gzip stream (compression is gzip but the gzip magic bytes are missing)")
    stream: io.BufferedReader
    if gz:
        stream = io.BufferedReader(_Read1(gzip.GzipFile(fileobj=src, mode="rb")), BUFFER_SIZE)
    else:
        stream = io.BufferedReader(src, BUFFER_SIZE)
    try:
        yield stream
    finally:
        stream.close()


def strip_utf8_bom(stream: io.BufferedReader) -> int:
    """Consume a leading UTF-8 BOM; return how many bytes were skipped (0 or 3)."""
    if stream.peek(3)[:3] == UTF8_BOM:
        stream.read(3)
        return 3
    return 0


def starts_with_utf16_bom(stream: io.BufferedReader) -> bool:
    return stream.peek(2)[:2] in UTF16_BOMS


def gzip_failure(exc: BaseException) -> FileParseError:
    """A FileParseError for an exception raised while decompressing."""
    if isinstance(exc, EOFError):
        msg = "gzip stream truncated (ended before the end-of-stream marker)"
    elif isinstance(exc, gzip.BadGzipFile):
        msg = f"corrupt gzip stream: {exc}"
    else:
        msg = f"corrupt gzip data: {exc}"
    return FileParseError(msg)


def ascii_compatible(encoding: str) -> bool:
    """True when line breaks and ASCII punctuation are single bytes (so lines can be split as bytes)."""
    if encoding.replace("_", "-").lower() in ("utf-8-sig",):
        return True
    try:
        return "\n,;|\t\"'\\".encode(encoding) == b"\n,;|\t\"'\\"
    except (UnicodeError, LookupError):
        return False
