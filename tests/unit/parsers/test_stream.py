"""Entry points: gzip handling, format detection, options union, and the async thread adapter."""

from __future__ import annotations

import asyncio
import gzip
import io
import threading
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from pydantic import ValidationError

from fluentsync.connectors.parsers import (
    CsvOptions,
    FileParseError,
    JsonLinesOptions,
    MalformedRecord,
    ParsedRecord,
    Record,
    XmlOptions,
    detect_format,
    parse,
    parse_chunks,
    parse_path,
    parser_options,
)


def csv_rows(n: int, start: int = 0) -> bytes:
    return b"".join(b"S%07d,%d,AVAILABLE\n" % (i, i % 97) for i in range(start, start + n))


# --- gzip ---------------------------------------------------------------------------------------------


def test_gzip_variants_by_magic(tmp_path: Path) -> None:
    csv_gz = tmp_path / "stock.csv.gz"
    csv_gz.write_bytes(gzip.compress(b"sku,qty\nA,1\nB,2\n"))
    assert [i.record for i in parse_path(csv_gz)] == [{"sku": "A", "qty": "1"}, {"sku": "B", "qty": "2"}]  # type: ignore[union-attr]
    jsonl_gz = tmp_path / "stock.jsonl.gz"
    data = b'{"a":1}\nnope\n{"a":3}\n'
    jsonl_gz.write_bytes(gzip.compress(data))
    items = list(parse_path(jsonl_gz))
    assert [type(i).__name__ for i in items] == ["ParsedRecord", "MalformedRecord", "ParsedRecord"]
    assert items[2].byte_offset == data.index(b'{"a":3}')  # offsets are in the decompressed stream
    xml_gz = gzip.compress(b"<r><Item>1</Item></r>")
    assert len(list(parse(io.BytesIO(xml_gz), XmlOptions(item_path="r/Item")))) == 1
    json_gz = gzip.compress(b'[{"a":1}]')
    assert len(list(parse(io.BytesIO(json_gz), {"type": "json", "compression": "gzip"}))) == 1


def test_gzip_forced_on_plain_data() -> None:
    with pytest.raises(FileParseError, match="not a gzip stream"):
        list(parse(io.BytesIO(b"sku\nA\n"), CsvOptions(compression="gzip")))


def test_corrupt_and_truncated_gzip() -> None:
    good = gzip.compress(csv_rows(5000, 0) * 1)
    corrupt = bytearray(good)
    for i in range(200, 260):
        corrupt[i] ^= 0xFF
    with pytest.raises(FileParseError, match="corrupt gzip"):
        list(parse(io.BytesIO(bytes(corrupt)), CsvOptions(has_header=False, columns=["sku", "qty", "status"])))
    with pytest.raises(FileParseError, match="truncated"):
        list(parse(io.BytesIO(good[: len(good) // 2]), CsvOptions(has_header=False, columns=["sku", "qty", "status"])))


def test_uncompressed_gzip_magic_can_be_turned_off() -> None:
    # compression="none" reads bytes as they are (here: garbage that is not a valid header)
    with pytest.raises(FileParseError):
        list(parse(io.BytesIO(gzip.compress(b"a,a\n")), CsvOptions(compression="none", encoding="utf-8")))


# --- detection, options, paths --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.csv", "csv"),
        ("A.CSV.GZ", "csv"),
        ("x/y/stock.txt", "csv"),
        ("a.json", "json"),
        ("a.json.gz", "json"),
        ("a.jsonl", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.jsonl.gz", "jsonl"),
        ("a.xml", "xml"),
        ("a.xml.gz", "xml"),
        ("a.parquet", "parquet"),
        ("a.pq", "parquet"),
        ("a.xlsx", None),
        ("README", None),
        ("a.gz", None),
    ],
)
def test_detect_format(name: str, kind: str | None) -> None:
    assert detect_format(name) == kind


def test_pipeline_yaml_format_blocks_validate_into_the_union() -> None:
    doc = yaml.safe_load(
        """
        a: {type: csv, delimiter: ";", encoding: latin-1, trim: true}
        b: {type: json, item_path: data.items}
        c: {type: jsonl, on_malformed: halt}
        d: {type: xml, item_path: Inventory/Item, namespaces: strip}
        e: {type: parquet, columns: [sku, qty]}
        """
    )
    kinds = {k: type(parser_options(v)).__name__ for k, v in doc.items()}
    assert kinds == {
        "a": "CsvOptions",
        "b": "JsonOptions",
        "c": "JsonLinesOptions",
        "d": "XmlOptions",
        "e": "ParquetOptions",
    }
    assert parser_options(doc["a"]).encoding == "iso8859-1"  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        parser_options({"type": "xlsx"})
    with pytest.raises(ValidationError, match="Unable to extract tag"):
        parser_options({"delimiter": ";"})
    with pytest.raises(ValidationError, match="Extra inputs"):
        parser_options({"type": "json", "delimiter": ";"})
    with pytest.raises(ValidationError, match="frozen"):
        CsvOptions().delimiter = ";"  # type: ignore[misc]


def test_parse_path_failures(tmp_path: Path) -> None:
    with pytest.raises(FileParseError, match="cannot open"):
        parse_path(tmp_path / "missing.csv")
    with pytest.raises(FileParseError, match="cannot tell the format"):
        parse_path(tmp_path / "x.xlsx")
    with pytest.raises(FileParseError, match="item_path"):
        parse_path(tmp_path / "x.xml")


# --- async adapter ------------------------------------------------------------------------------------------


class CountingSource:
    """An async chunk source that counts how many chunks were pulled and whether it was closed."""

    def __init__(self, chunks: list[bytes], fail_after: int | None = None) -> None:
        self.chunks = chunks
        self.pulled = 0
        self.closed = False
        self.fail_after = fail_after

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            for chunk in self.chunks:
                if self.fail_after is not None and self.pulled >= self.fail_after:
                    raise ConnectionResetError("source went away")
                self.pulled += 1
                await asyncio.sleep(0)
                yield chunk
        finally:
            self.closed = True


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def parser_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "fluentsync-parse" and t.is_alive()]


async def wait_for_no_parser_threads() -> None:
    for _ in range(100):
        if not parser_threads():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("parser thread still alive")


async def test_batches_and_positions_across_chunk_boundaries() -> None:
    data = b"sku,qty,status\n" + csv_rows(2500)
    source = CountingSource(chunked(data, 777))  # chunk edges fall inside rows
    batches = [b async for b in parse_chunks(source, CsvOptions(), batch_size=1000)]
    items = [i for b in batches for i in b]
    assert len(items) == 2500 and all(isinstance(i, ParsedRecord) for i in items)
    assert all(len(b) <= 1000 for b in batches)
    assert [i.index for i in items] == list(range(2500))
    assert items[1234].record == {"sku": "S0001234", "qty": str(1234 % 97), "status": "AVAILABLE"}  # type: ignore[union-attr]
    assert items[1234].byte_offset == data.index(b"S0001234") and items[1234].line == 1236
    assert source.closed
    await wait_for_no_parser_threads()


async def test_index_contiguity_through_the_adapter() -> None:
    rows = [b"sku,qty"] + [b"S%d,%d%s" % (i, i, b",x" if i in (3, 400, 999) else b"") for i in range(1000)]
    source = CountingSource(chunked(b"\n".join(rows) + b"\n", 100))
    items: list[Record] = [i async for b in parse_chunks(source, {"type": "csv"}, batch_size=64) for i in b]
    assert [i.index for i in items] == list(range(1000))
    assert [i.index for i in items if isinstance(i, MalformedRecord)] == [3, 400, 999]
    assert sum(isinstance(i, ParsedRecord) for i in items) == 997


async def test_backpressure_bounds_the_chunks_read_by_a_slow_consumer() -> None:
    chunk_size = 8 * 1024
    data = b"sku,qty,status\n" + csv_rows(120_000)  # about 2.4 MB: ~300 chunks
    source = CountingSource(chunked(data, chunk_size))
    queue_chunks = 4
    bound = queue_chunks + (64 * 1024) // chunk_size + 4  # queue + the parser's read buffer + slack
    async with aclosing(parse_chunks(source, CsvOptions(), batch_size=100, queue_chunks=queue_chunks)) as batches:
        first = await anext(batches)
        assert len(first) == 100
        await asyncio.sleep(0.3)  # a stalled consumer
        stalled = source.pulled
        await asyncio.sleep(0.2)
        assert source.pulled == stalled, "reading went on while the consumer was stalled"
        assert stalled <= bound < len(source.chunks) // 10
        total = len(first) + sum([len(b) async for b in batches])
    assert total == 120_000 and source.pulled == len(source.chunks)


async def test_early_stop_ends_the_thread_and_closes_the_source() -> None:
    source = CountingSource(chunked(b"sku,qty,status\n" + csv_rows(50_000), 4096))
    async with aclosing(parse_chunks(source, CsvOptions(), batch_size=10)) as batches:
        async for _batch in batches:
            break
    assert source.closed and source.pulled < len(source.chunks)
    await wait_for_no_parser_threads()


async def test_cancelling_the_consumer_task_ends_the_thread() -> None:
    source = CountingSource(chunked(b"sku,qty,status\n" + csv_rows(50_000), 4096))
    started = asyncio.Event()

    async def consume() -> None:
        async with aclosing(parse_chunks(source, CsvOptions(), batch_size=10)) as batches:
            async for _batch in batches:
                started.set()
                await asyncio.sleep(10)

    task = asyncio.create_task(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert source.closed
    await wait_for_no_parser_threads()


async def test_source_errors_propagate_unchanged() -> None:
    source = CountingSource(chunked(b"sku,qty,status\n" + csv_rows(10_000), 1024), fail_after=150)
    received = 0
    with pytest.raises(ConnectionResetError, match="source went away"):
        async for batch in parse_chunks(source, CsvOptions(), batch_size=50):
            received += len(batch)
    assert 0 < received < 10_000
    await wait_for_no_parser_threads()


async def test_parser_errors_propagate() -> None:
    source = CountingSource([b"a,a\n1,2\n"])
    with pytest.raises(FileParseError, match="duplicate header"):
        async for _ in parse_chunks(source, CsvOptions()):
            pass
    await wait_for_no_parser_threads()


async def test_partial_batches_are_handed_over_while_the_source_is_slow() -> None:
    release = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b'{"a":1}\n{"a":2}\n'
        await release.wait()
        yield b'{"a":3}\n'

    async with aclosing(parse_chunks(slow(), JsonLinesOptions(), batch_size=1000)) as batches:
        first = await asyncio.wait_for(anext(batches), timeout=5)
        assert [i.record for i in first] == [{"a": 1}, {"a": 2}]  # type: ignore[union-attr]
        release.set()
        rest = [i async for b in batches for i in b]
    assert [i.record for i in rest] == [{"a": 3}]  # type: ignore[union-attr]


async def test_jsonl_gzip_and_parquet_through_the_adapter() -> None:
    lines = b"".join(b'{"n":%d}\n' % i for i in range(3000))
    gz_source = CountingSource(chunked(gzip.compress(lines), 500))
    items = [i async for b in parse_chunks(gz_source, {"type": "jsonl"}) for i in b]
    assert len(items) == 3000 and items[-1].byte_offset == lines.index(b'{"n":2999}')
    sink = io.BytesIO()
    pq.write_table(pa.table({"n": list(range(3000))}), sink, row_group_size=1000)
    source = CountingSource(chunked(sink.getvalue(), 1000))
    rows = [i async for b in parse_chunks(source, {"type": "parquet"}) for i in b]
    assert [r.record["n"] for r in rows] == list(range(3000))  # type: ignore[union-attr]


async def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        async for _ in parse_chunks(CountingSource([]), CsvOptions(), batch_size=0):
            pass


def test_sync_parse_accepts_any_reader() -> None:
    class Reader:
        def __init__(self, data: bytes) -> None:
            self.data = io.BytesIO(data)

        def read(self, n: int = -1) -> bytes:
            return self.data.read(min(n, 3) if n > 0 else n)

    items: list[Any] = list(parse(Reader(b"a,b\n1,2\n3,4\n"), CsvOptions()))
    assert [i.record for i in items] == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]
