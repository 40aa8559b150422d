"""Entry points: :func:`parse` (sync, any binary file object), :func:`parse_path` (local files),
:func:`parse_chunks` (async, from a source's chunk stream) and :func:`detect_format`.

The parsers are synchronous generators so that they can use C-speed parsers (``csv``, ijson/yajl,
expat, Arrow). :func:`parse_chunks` runs one in a worker thread:

::

    source chunks ──(event loop)──► bounded chunk queue ──► blocking file-like ──► parser (thread)
    consumer ◄──(event loop)── lists of ≤ batch_size records ◄── bounded hand-over (2 lists) ◄──┘

CSV records come as :class:`~.records.RecordGroup` lists: runs of well-formed rows
(:class:`~.records.RowRun`, no per-record objects; the publisher takes them whole) and single records,
in file order. Iterating a group yields the same records as a plain list would.

Both hand-overs are bounded, so a consumer that stops taking records stops the parser, which stops
reading, which stops the source: memory stays flat whatever the file size (backpressure). A partial
list is handed over early whenever the parser would wait for input, so records of a slow stream are
not held back. Closing the async generator early (``break`` inside ``async with aclosing(...)``, or
cancelling the consuming task) stops the thread and the source; exceptions raised by the source or
the parser propagate to the consumer unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import queue
import threading
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from typing import IO, Any, Literal, cast

from fluentsync.connectors.parsers._io import GZIP_ERRORS, GZIP_MAGIC, gzip_failure, open_stream
from fluentsync.connectors.parsers.csv_parser import RowRuns, csv_runs, parse_csv
from fluentsync.connectors.parsers.json_parser import parse_json, parse_jsonl
from fluentsync.connectors.parsers.options import (
    CsvOptions,
    JsonLinesOptions,
    JsonOptions,
    ParquetOptions,
    XmlOptions,
    parser_options,
)
from fluentsync.connectors.parsers.parquet_parser import parse_parquet
from fluentsync.connectors.parsers.records import FileParseError, MalformedRecord, Record, RecordGroup, RowRun
from fluentsync.connectors.parsers.xml_parser import parse_xml

__all__ = ["FormatType", "detect_format", "parse", "parse_chunks", "parse_path"]

log = logging.getLogger(__name__)

FormatType = Literal["csv", "json", "jsonl", "xml", "parquet"]
AnyOptions = CsvOptions | JsonOptions | JsonLinesOptions | XmlOptions | ParquetOptions

_EXTENSIONS: dict[str, FormatType] = {
    ".csv": "csv",
    ".txt": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".xml": "xml",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def detect_format(name: str) -> FormatType | None:
    """The format type for a file name by extension (``.gz`` is looked through), or None if unknown.

    ``.csv``/``.txt`` → csv, ``.json`` → json, ``.jsonl``/``.ndjson`` → jsonl, ``.xml`` → xml,
    ``.parquet``/``.pq`` → parquet, each optionally followed by ``.gz`` (gzip itself is detected from the
    content by ``compression="auto"``).
    """
    lowered = name.lower()
    lowered = lowered.removesuffix(".gz")
    _, ext = os.path.splitext(lowered)
    return _EXTENSIONS.get(ext)


# --- sync ----------------------------------------------------------------------------------------


def parse(fileobj: IO[bytes] | Any, options: AnyOptions | dict[str, Any]) -> Iterator[Record]:
    """Records of one file, in order. ``fileobj`` is anything with ``read(n)`` returning bytes.

    Raises :class:`FileParseError` for file-level failures (and, with ``on_malformed="halt"``, at the
    first malformed record). The caller's file object is not closed.
    """
    opts = parser_options(options)
    records: Iterator[Record] = (
        _parse_parquet(fileobj, opts) if isinstance(opts, ParquetOptions)
        else cast(Iterator[Record], _parse_text(fileobj, opts))  # without ``runs``: records only
    )
    if opts.on_malformed == "halt":
        return _halting(records)
    return records


def _parse_text(fileobj: Any, options: CsvOptions | JsonOptions | JsonLinesOptions | XmlOptions,
                runs: RowRuns | None = None) -> Iterator[Record | RowRun]:
    with open_stream(fileobj, options.compression) as stream:
        try:
            if isinstance(options, CsvOptions):
                yield from (parse_csv(stream, options) if runs is None else csv_runs(stream, options, runs))
            elif isinstance(options, JsonOptions):
                yield from parse_json(stream, options)
            elif isinstance(options, JsonLinesOptions):
                yield from parse_jsonl(stream, options)
            else:
                yield from parse_xml(stream, options)
        except GZIP_ERRORS as exc:
            raise gzip_failure(exc) from None


def _parse_parquet(fileobj: Any, options: ParquetOptions) -> Iterator[Record]:
    seekable = False
    with contextlib.suppress(AttributeError, ValueError):
        seekable = bool(fileobj.seekable())
    if seekable:
        pos = fileobj.tell()
        head = fileobj.read(2)
        fileobj.seek(pos)
        if options.compression == "none" or (options.compression == "auto" and head != GZIP_MAGIC):
            yield from parse_parquet(fileobj, options, spool=False)
            return
    with open_stream(fileobj, options.compression) as stream:
        try:
            yield from parse_parquet(stream, options, spool=True)  # a stream: spooled to a temporary file
        except GZIP_ERRORS as exc:
            raise gzip_failure(exc) from None


def _halting(records: Iterator[Any]) -> Iterator[Any]:
    try:
        for item in records:
            if type(item) is MalformedRecord:
                raise FileParseError(
                    f"malformed record {item.index} ({item.code}): {item.message}; on_malformed is halt",
                    line=item.line,
                    byte_offset=item.byte_offset,
                    records_read=item.index,
                    malformed=item,
                )
            yield item
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()


def parse_path(path: str | os.PathLike[str], options: AnyOptions | dict[str, Any] | None = None) -> Iterator[Record]:
    """Records of a local file. Without options, the format comes from the extension (defaults apply;
    XML always needs options, for its ``item_path``)."""
    if options is None:
        kind = detect_format(os.fspath(path))
        if kind is None:
            raise FileParseError(f"cannot tell the format of {os.fspath(path)!r} from its extension; pass options")
        if kind == "xml":
            raise FileParseError("XML needs options with an item_path")
        options = {"type": kind}
    opts = parser_options(options)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed in the generator's finally
    except OSError as exc:
        raise FileParseError(f"cannot open {os.fspath(path)!r}: {exc.strerror or exc}") from None
    return _closing(parse(handle, opts), handle)


def _closing(records: Iterator[Record], handle: IO[bytes]) -> Iterator[Record]:
    try:
        yield from records
    finally:
        handle.close()


# --- async adapter ---------------------------------------------------------------------------------

_OUT_BATCHES = 2  # lists of records handed over but not yet taken by the consumer


class _Cancelled(BaseException):
    """Raised inside the worker thread when the consumer went away (BaseException: nothing swallows it)."""


class _SourceFailed(BaseException):
    def __init__(self, exc: BaseException) -> None:
        super().__init__(exc)
        self.exc = exc


class _Abort:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Failure:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_EOF = object()
_DONE = object()


class _ChunkPipe(io.RawIOBase):
    """The worker's side of the chunk queue: a blocking, read-only file object."""

    def __init__(self, chunks: queue.Queue[Any], on_take: Any, on_idle: Any) -> None:
        super().__init__()
        self._chunks = chunks
        self._on_take = on_take
        self._on_idle = on_idle
        self._buf = b""
        self._pos = 0
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._pos >= len(self._buf):
            if self._eof:
                return 0
            try:
                item = self._chunks.get_nowait()
            except queue.Empty:
                self._on_idle()  # about to wait: hand over what is parsed so far
                item = self._chunks.get()
            if item is _EOF:
                self._eof = True
                return 0
            if isinstance(item, _Abort):
                self._eof = True
                raise item.exc
            self._on_take()
            self._buf, self._pos = item, 0
        mv = memoryview(b).cast("B")
        n = min(len(mv), len(self._buf) - self._pos)
        mv[:n] = self._buf[self._pos : self._pos + n]
        self._pos += n
        return n


class _Worker:
    """Runs the sync parser over a :class:`_ChunkPipe` and hands lists of records to the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, options: AnyOptions, batch_size: int, slots: Any) -> None:
        self.loop = loop
        self.options = options
        self.batch_size = batch_size
        self.chunks: queue.Queue[Any] = queue.Queue()  # bounded by ``slots`` on the producer side
        self.out: asyncio.Queue[Any] = asyncio.Queue()  # bounded by ``credits``
        self.credits = threading.Semaphore(_OUT_BATCHES)
        self.stop = threading.Event()
        self.finished: asyncio.Future[None] = loop.create_future()
        self.batch: list[Record] = []
        self._slots = slots
        # CSV: well-formed rows come as runs; the batch is then a list of segments
        self.runs = RowRuns(batch_size) if isinstance(options, CsvOptions) else None
        self.segments: list[RowRun | list[Record]] = []
        self.pending = 0  #: records in ``segments``
        self.pipe = _ChunkPipe(self.chunks, self._took_chunk, self._flush)
        self.thread = threading.Thread(target=self._run, name="fluentsync-parse", daemon=True)

    def _call(self, fn: Any, *args: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            raise _Cancelled() from None

    def _took_chunk(self) -> None:
        self._call(self._slots.release)

    def _send(self, batch: list[Record] | RecordGroup) -> None:
        self.credits.acquire()
        if self.stop.is_set():
            raise _Cancelled()
        self._call(self.out.put_nowait, batch)

    def _flush(self) -> None:
        if self.runs is not None:
            run = self.runs.take()  # the rows parsed so far: the parser is about to wait
            if run is not None:
                self._add(run)
            if self.batch:
                self.segments.append(self.batch)
                self.batch = []
            if self.segments:
                segments, self.segments, self.pending = self.segments, [], 0
                self._send(RecordGroup(segments))
        elif self.batch:
            batch, self.batch = self.batch, []
            self._send(batch)

    def _add(self, run: RowRun) -> None:
        if self.batch:  # single records before the run
            self.segments.append(self.batch)
            self.batch = []
        self.segments.append(run)
        self.pending += len(run)

    def _run(self) -> None:
        try:
            size = self.batch_size
            if self.runs is not None:
                self._run_csv(size)
            else:
                for record in parse(self.pipe, self.options):
                    batch = self.batch
                    batch.append(record)
                    if len(batch) >= size:
                        self.batch = []
                        self._send(batch)
            self._flush()
            self._call(self.out.put_nowait, _DONE)
        except _Cancelled:
            pass
        except _SourceFailed as exc:
            self._safe_put(_Failure(exc.exc))
        except BaseException as exc:
            self._safe_put(_Failure(exc))
        finally:
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._set_finished)

    def _run_csv(self, size: int) -> None:
        assert isinstance(self.options, CsvOptions) and self.runs is not None
        items = _parse_text(self.pipe, self.options, self.runs)
        if self.options.on_malformed == "halt":
            items = _halting(items)
        for item in items:
            if type(item) is RowRun:
                self._add(item)
            else:
                self.batch.append(item)  # type: ignore[arg-type]
                self.pending += 1
            if self.pending >= size:
                self._flush()

    def _safe_put(self, item: Any) -> None:
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.out.put_nowait, item)

    def _set_finished(self) -> None:
        if not self.finished.done():
            self.finished.set_result(None)


async def parse_chunks(
    chunks: AsyncIterable[bytes],
    options: AnyOptions | dict[str, Any],
    *,
    batch_size: int = 1000,
    queue_chunks: int = 8,
) -> AsyncIterator[list[Record]]:
    """Parse a stream of byte chunks (e.g. ``FileSource.open(ref)``) into lists of records.

    At most ``queue_chunks`` chunks are buffered between the source and the parser and at most two
    lists of ``batch_size`` records between the parser and the consumer. Use it under
    ``contextlib.aclosing`` when you may stop early, so the worker thread and the source are released
    at once rather than when the generator is garbage-collected.
    """
    if batch_size < 1 or queue_chunks < 1:
        raise ValueError("batch_size and queue_chunks must be at least 1")
    opts = parser_options(options)
    loop = asyncio.get_running_loop()
    slots = asyncio.Semaphore(queue_chunks)
    worker = _Worker(loop, opts, batch_size, slots)

    async def produce() -> None:
        iterator = aiter(chunks)
        try:
            while True:
                await slots.acquire()
                try:
                    chunk = await anext(iterator)
                except StopAsyncIteration:
                    break
                if chunk:
                    worker.chunks.put(bytes(chunk))
                else:
                    slots.release()
            worker.chunks.put(_EOF)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            worker.chunks.put(_Abort(_SourceFailed(exc)))
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()

    producer = asyncio.create_task(produce(), name="fluentsync-parse-source")
    worker.thread.start()
    try:
        while True:
            item = await worker.out.get()
            if item is _DONE:
                break
            if isinstance(item, _Failure):
                raise item.exc
            worker.credits.release()
            yield item
    finally:
        worker.stop.set()
        worker.chunks.put(_Abort(_Cancelled()))
        worker.credits.release()
        if not producer.done():
            producer.cancel()
        try:
            await asyncio.gather(producer, return_exceptions=True)
            await asyncio.wait_for(asyncio.shield(worker.finished), timeout=30)
        except TimeoutError:
            log.warning("parser thread did not stop within 30 s after the consumer went away")
