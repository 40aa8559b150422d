"""The CSV fast path's pieces give exactly what the per-record path gives.

Runs of rows (``RowRun``) replace per-record objects between the parse thread and the publisher, and the
publisher keys and partitions a run in bulk. Each bulk step is checked here against its per-record
counterpart; test_publisher_wire.py checks the bytes that come out of the whole path.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import pytest

from fluentsync.connectors.ingest.keys import MissingKeyField, RecordKeyBuilder
from fluentsync.connectors.parsers.records import MalformedRecord, ParsedRecord, RecordGroup, RowRun
from fluentsync.connectors.parsers.stream import parse, parse_chunks
from fluentsync.streams.kafka.partitioning import partition_function, partitions_of

COLUMNS = ["sku", "loc", "qty"]


def per_record(builder: RecordKeyBuilder, rows: list[list[str]]) -> list[str | None]:
    out: list[str | None] = []
    for row in rows:
        try:
            out.append(builder(dict(zip(COLUMNS, row, strict=True))))
        except MissingKeyField:
            out.append(None)
    return out


@pytest.mark.parametrize("fields", [["sku"], ["sku", "loc"], ["loc", "qty", "sku"]])
def test_keys_of_a_run_equal_the_per_record_keys(fields: list[str]) -> None:
    rows = [[f"S-{i}", f"é{i % 7}", str(i)] for i in range(500)]
    builder = RecordKeyBuilder(fields)
    assert builder.of_rows(COLUMNS, rows) == per_record(builder, rows)
    assert builder.of_rows(COLUMNS, []) == []


@pytest.mark.parametrize(
    "odd",
    [["", "L", "1"], ['S"1', "L", "1"], ["S\\1", "L", "1"], ["S\n1", "L", "1"], ["S\u20281", "L", "1"]],
)
def test_a_run_with_a_row_needing_the_per_record_rules_is_refused(odd: list[str]) -> None:
    rows = [["S1", "L", "1"], odd, ["S2", "L", "2"]]
    assert RecordKeyBuilder(["sku", "loc"]).of_rows(COLUMNS, rows) is None


def test_dotted_or_absent_key_fields_take_the_per_record_path() -> None:
    rows = [["S1", "L", "1"]]
    assert RecordKeyBuilder(["sku", "x.y"]).of_rows(COLUMNS, rows) is None
    assert RecordKeyBuilder(["sku", "missing"]).of_rows(COLUMNS, rows) is None


@pytest.mark.parametrize("strategy", ["crc32", "murmur2"])
def test_bulk_partitions_equal_the_per_key_rule(strategy: str) -> None:
    keys = [f'["K{i}","é{i % 3}"]' for i in range(1000)]
    one = partition_function(strategy)  # type: ignore[arg-type]
    assert partitions_of(strategy, keys, 7) == [one(key.encode(), 7) for key in keys]  # type: ignore[arg-type]


def test_row_run_reads_as_the_records_it_stands_for() -> None:
    run = RowRun(COLUMNS, [["a", "b", "1"], ["c", "d", "2"]], 10, [12, 13], [100, None])
    assert list(run) == [ParsedRecord(10, {"sku": "a", "loc": "b", "qty": "1"}, 12, 100, 11),
                         ParsedRecord(11, {"sku": "c", "loc": "d", "qty": "2"}, 13, None, 12)]
    assert run[-1] == run[1] and run[0:1] == [run[0]] and len(run) == 2
    group = RecordGroup([run, [MalformedRecord(12, 14, 120, 13, b"x", "bad", "csv_syntax")]])
    assert len(group) == 3 and [item.index for item in group] == [10, 11, 12] and group[2].index == 12


async def chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
        await asyncio.sleep(0)


@pytest.mark.parametrize("options", [{"type": "csv"}, {"type": "csv", "trim": True, "delimiter": ";"},
                                     {"type": "csv", "encoding": "utf-16"}, {"type": "csv", "on_malformed": "halt"}])
async def test_the_async_adapter_yields_the_records_of_the_sync_parser(options: dict[str, object]) -> None:
    sep = ";" if options.get("delimiter") else ","
    malformed = options.get("on_malformed") != "halt"  # halt: well-formed rows only, so that it does not stop
    lines = [sep.join(["sku", "loc", "note"])]
    for i in range(2500):
        note = f'"two\nlines {i}"' if i % 101 == 0 else f" n{i} "
        lines.append(sep.join([f"S{i}", f"L{i % 3}", note]) + (f"{sep}extra" if malformed and i % 333 == 5 else ""))
        if i % 250 == 7:
            lines.append("")
    data = ("\n".join(lines) + "\n").encode(str(options.get("encoding", "utf-8")))
    expected = list(parse(io.BytesIO(data), options))
    groups = [group async for group in parse_chunks(chunks(data, 4093), options, batch_size=300)]
    assert [item for group in groups for item in group] == expected
    assert all(isinstance(group, RecordGroup) and len(group) <= 300 + 300 for group in groups)
    assert any(isinstance(segment, RowRun) for group in groups for segment in group.segments)  # type: ignore[attr-defined]


async def test_rows_of_a_slow_stream_are_handed_over_before_more_data_arrives() -> None:
    release = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"sku,loc\nA,1\nB,2\n"
        await release.wait()
        yield b"C,3\n"

    groups = parse_chunks(slow(), {"type": "csv"}, batch_size=1000)
    first = await asyncio.wait_for(anext(groups), timeout=10)
    assert [item.record for item in first] == [{"sku": "A", "loc": "1"}, {"sku": "B", "loc": "2"}]  # type: ignore[union-attr]
    release.set()
    rest = [item async for group in groups for item in group]
    assert [(item.index, item.record) for item in rest] == [(2, {"sku": "C", "loc": "3"})]  # type: ignore[union-attr]
