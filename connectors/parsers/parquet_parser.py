"""Parquet, streamed row group by row group with pyarrow (imported lazily: it is large).

Parquet keeps its schema in a footer at the end of the file, so it needs random access. A seekable
file object is read in place; a stream (S3/SFTP chunks, gzip) is first **spooled to an anonymous
temporary file on disk** -- never to memory -- and read from there. Rows are then produced
``batch_rows`` at a time with ``ParquetFile.iter_batches`` (memory: about one row group's column chunks
plus one batch of Python rows).

Values are converted to JSON-able Python, column by column:

=====================================  ===========================================================
Arrow type                             Python value
=====================================  ===========================================================
string, bool, int*, uint*, float*      str, bool, int (never stringified, any width), float
timestamp without time zone            ISO-8601 string, wall time: ``2024-06-01T10:00:00.123456``
timestamp with time zone               ISO-8601 string in UTC: ``2024-06-01T08:00:00.123Z``
                                       (fraction digits follow the unit: ms 3, us 6, ns 9)
date32/date64, time32/time64           ``2024-06-01`` / ``10:00:00.123``
decimal                                string, exact (``"12.50"``)
binary, large_binary, fixed_size       base64 string
duration                               int, in the column's unit
dictionary-encoded                     the decoded values
list, struct, map                      list, dict, dict (map keys as strings), recursively converted
null                                   None
=====================================  ===========================================================

Positions: ``row_number`` is the 1-based row of the file; ``line`` and ``byte_offset`` are ``None``.
A stream that is not Parquet, a corrupt footer or row group, or an unknown column in ``columns`` is a
:class:`FileParseError`. (The reference SDK gives up on Parquet after a fixed delay with empty results;
this parser never does.)
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import shutil
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from fluentsync.connectors.parsers.options import ParquetOptions
from fluentsync.connectors.parsers.records import FileParseError, ParsedRecord, Record

__all__ = ["parse_parquet"]

_SPOOL_CHUNK = 1024 * 1024


def _jsonable(value: Any) -> Any:
    """Python values from ``to_pylist`` of nested types → JSON-able values."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):  # a map: [(key, value)]
            return {str(k): _jsonable(v) for k, v in value}
        return [_jsonable(v) for v in value]
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat() + "Z"
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.timedelta):
        return value // dt.timedelta(microseconds=1)
    return str(value)


def _column(arr: Any) -> list[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    t = arr.type
    types = pa.types
    if types.is_dictionary(t):
        return _column(arr.dictionary_decode())
    if types.is_timestamp(t):
        if t.tz is not None:
            utc = arr.cast(pa.timestamp(t.unit, tz="UTC"))
            return pc.strftime(utc, format="%Y-%m-%dT%H:%M:%SZ").to_pylist()  # type: ignore[no-any-return]
        return pc.strftime(arr, format="%Y-%m-%dT%H:%M:%S").to_pylist()  # type: ignore[no-any-return]
    if types.is_date(t) or types.is_time(t) or types.is_decimal(t):
        return arr.cast(pa.string()).to_pylist()  # type: ignore[no-any-return]
    if types.is_binary(t) or types.is_large_binary(t) or types.is_fixed_size_binary(t):
        return [None if v is None else base64.b64encode(v).decode("ascii") for v in arr.to_pylist()]
    if types.is_duration(t):
        return arr.cast(pa.int64()).to_pylist()  # type: ignore[no-any-return]
    if types.is_nested(t):
        return [_jsonable(v) for v in arr.to_pylist()]
    return arr.to_pylist()  # type: ignore[no-any-return]


def _seekable(fileobj: Any) -> bool:
    try:
        return bool(fileobj.seekable())
    except (AttributeError, ValueError):
        return False


def parse_parquet(
    fileobj: IO[bytes], options: ParquetOptions | None = None, *, spool: bool | None = None
) -> Iterator[Record]:
    """Rows of a Parquet file. ``fileobj`` may be seekable (read in place) or a stream (spooled to disk).

    ``spool`` forces the choice; by default a file object whose ``seekable()`` is true is read in place.
    """
    options = options or ParquetOptions()
    must_spool = spool if spool is not None else not _seekable(fileobj)
    if not must_spool:
        yield from _rows(fileobj, options)
        return
    with tempfile.TemporaryFile(prefix="fluentsync-parquet-") as tmp:
        shutil.copyfileobj(fileobj, tmp, _SPOOL_CHUNK)
        tmp.seek(0)
        yield from _rows(tmp, options)


def _rows(source: IO[bytes], options: ParquetOptions) -> Iterator[Record]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(source)
    except (pa.ArrowException, OSError) as exc:
        raise FileParseError(f"not a readable Parquet file: {exc}") from None
    if options.columns is not None:
        missing = [c for c in options.columns if c not in pf.schema_arrow.names]
        if missing:
            raise FileParseError(f"unknown Parquet column(s): {', '.join(missing)}")
    index = 0
    batches = pf.iter_batches(batch_size=options.batch_rows, columns=options.columns)
    while True:
        try:
            batch = next(batches, None)
        except (pa.ArrowException, OSError) as exc:
            raise FileParseError(f"corrupt Parquet data after row {index}: {exc}", records_read=index) from None
        if batch is None:
            return
        names = batch.schema.names
        columns = [_column(col) for col in batch.columns]
        for values in zip(*columns, strict=True):
            yield ParsedRecord(index, dict(zip(names, values, strict=True)), None, None, index + 1)
            index += 1
