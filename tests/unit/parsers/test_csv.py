"""CSV parser: every option, positions, malformed rows, file-level failures."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from fluentsync.connectors.parsers import (
    CsvOptions,
    FileParseError,
    MalformedCode,
    MalformedRecord,
    ParsedRecord,
    Record,
    parse,
    parse_path,
)

DATA = Path(__file__).parent / "data"


def run(data: bytes, **options: Any) -> list[Record]:
    return list(parse(io.BytesIO(data), CsvOptions(**options)))


def records(items: list[Record]) -> list[dict[str, Any]]:
    return [item.record for item in items if isinstance(item, ParsedRecord)]


def test_golden_quoted_delimiters_doubled_quotes_blank_lines_and_embedded_newlines() -> None:
    items = list(parse_path(DATA / "quoted.csv"))
    assert records(items) == [
        {"sku": "A1", "name": "Shirt, blue", "qty": "5"},
        {"sku": "A2", "name": 'Say "hi"', "qty": "7"},
        {"sku": "A3", "name": "two\r\nlines", "qty": "9"},
        {"sku": "A4", "name": "", "qty": "0"},
    ]
    # blank and whitespace-only lines are not records; positions are physical lines / exact bytes
    assert [(r.index, r.line, r.row_number) for r in items] == [(0, 2, 1), (1, 4, 2), (2, 5, 3), (3, 8, 4)]
    raw = (DATA / "quoted.csv").read_bytes()
    for item in items:
        assert item.byte_offset is not None
        assert raw[item.byte_offset :].startswith(item.record["sku"].encode())  # type: ignore[union-attr]


def test_golden_escapechar_backslash() -> None:
    items = list(parse_path(DATA / "escaped_backslash.csv", CsvOptions(escapechar="\\")))
    assert records(items) == [{"sku": "B1", "note": 'he said "ok"'}, {"sku": "B2", "note": "plain\\path"}]


def test_backslash_is_data_by_default() -> None:
    items = run(b'sku,path\nB1,C:\\temp\\x\nB2,"a ""b"" \\c"\n')
    assert records(items) == [{"sku": "B1", "path": "C:\\temp\\x"}, {"sku": "B2", "path": 'a "b" \\c'}]


def test_golden_bom_and_semicolon_delimiter() -> None:
    items = list(parse_path(DATA / "bom_semicolon.csv", CsvOptions(delimiter=";")))
    assert records(items) == [
        {"sku": "C1", "description": "Café crème", "qty": "3"},
        {"sku": "C2", "description": "a;b", "qty": "4"},
    ]
    assert items[0].byte_offset == 3 + len(b"sku;description;qty\n")  # the BOM counts in offsets


def test_golden_latin1() -> None:
    items = list(parse_path(DATA / "latin1.csv", CsvOptions(encoding="latin-1")))
    assert records(items) == [{"sku": "D1", "description": "Café"}, {"sku": "D2", "description": "Crème brûlée"}]


def test_bom_stripped_even_with_latin1_and_header_names_trimmed() -> None:
    items = run(b"\xef\xbb\xbf sku , qty \nA,1\n", encoding="latin-1")
    assert records(items) == [{"sku": "A", "qty": "1"}]


def test_explicit_columns_without_header() -> None:
    items = run(b"A,1\nB,2\n", has_header=False, columns=["sku", "qty"])
    assert records(items) == [{"sku": "A", "qty": "1"}, {"sku": "B", "qty": "2"}]
    assert [i.line for i in items] == [1, 2]


def test_explicit_columns_replace_the_header() -> None:
    items = run(b"SKU CODE,QTY\nA,1\n", columns=["sku", "qty"])
    assert records(items) == [{"sku": "A", "qty": "1"}]
    with pytest.raises(FileParseError, match="header has 3 columns but 2"):
        run(b"a,b,c\n1,2,3\n", columns=["sku", "qty"])


def test_trim() -> None:
    assert records(run(b"a,b\n  x , y\n", trim=True)) == [{"a": "x", "b": "y"}]
    assert records(run(b"a,b\n  x , y\n")) == [{"a": "  x ", "b": " y"}]


def test_values_stay_strings() -> None:
    assert records(run(b"sku,qty,flag\n007,10.50,true\n")) == [{"sku": "007", "qty": "10.50", "flag": "true"}]


def test_tab_delimiter_and_no_quoting() -> None:
    items = run(b'a\tb\n"x\ty\n', delimiter="\t", quotechar=None)
    assert records(items) == [{"a": '"x', "b": "y"}]


def test_keep_empty_lines_makes_them_malformed_in_multi_column_files() -> None:
    items = run(b"a,b\n1,2\n\n3,4\n", skip_empty_lines=False)
    assert [type(i).__name__ for i in items] == ["ParsedRecord", "MalformedRecord", "ParsedRecord"]
    bad = items[1]
    assert isinstance(bad, MalformedRecord) and bad.line == 3 and bad.code == MalformedCode.CELL_COUNT
    single = run(b"a\n1\n\n2\n", skip_empty_lines=False)
    assert records(single) == [{"a": "1"}, {"a": ""}, {"a": "2"}]
    assert records(run(b'a\n1\n  \n""\n2\n')) == [{"a": "1"}, {"a": ""}, {"a": "2"}]


def test_wrong_cell_counts_are_malformed_with_raw_bytes_and_position() -> None:
    data = b'sku,qty\nA,1\nB,2,extra\nC\n"D\nx",4\nE,5\n'
    items = run(data)
    assert [i.index for i in items] == [0, 1, 2, 3, 4]
    extra, missing = items[1], items[2]
    assert isinstance(extra, MalformedRecord) and isinstance(missing, MalformedRecord)
    assert (extra.line, extra.byte_offset, extra.row_number) == (3, 12, 2)
    assert extra.raw == b"B,2,extra\n"
    assert extra.code == MalformedCode.CELL_COUNT and "expected 2 cells" in extra.message and "found 3" in extra.message
    assert (missing.line, missing.raw) == (4, b"C\n")
    multi = items[3]
    assert isinstance(multi, ParsedRecord) and multi.record == {"sku": "D\nx", "qty": "4"} and multi.line == 5
    last = items[4]
    assert last.line == 7 and last.byte_offset == data.index(b"E,5")


def test_relax_column_count() -> None:
    items = run(b"a,b,c\n1,2\n1,2,3,,\n1,2,3,4\n", relax_column_count=True)
    assert records(items) == [{"a": "1", "b": "2", "c": ""}, {"a": "1", "b": "2", "c": "3"}]
    assert isinstance(items[2], MalformedRecord)


def test_invalid_utf8_in_a_row_is_malformed_and_the_file_goes_on() -> None:
    items = run(b"a,b\n1,ok\n2,bad\xff\n3,ok\n")
    assert [type(i).__name__ for i in items] == ["ParsedRecord", "MalformedRecord", "ParsedRecord"]
    bad = items[1]
    assert isinstance(bad, MalformedRecord)
    assert bad.code == MalformedCode.DECODE and bad.raw == b"2,bad\xff\n" and bad.line == 3
    assert "\\xff" in bad.message and "column 6" in bad.message


def test_undecodable_header_fails_the_file() -> None:
    with pytest.raises(FileParseError, match="header"):
        run(b"a,\xffb\n1,2\n")


def test_strict_quoting() -> None:
    data = b'a,b\n1,"x"y\n2,z\n'
    assert records(run(data)) == [{"a": "1", "b": "xy"}, {"a": "2", "b": "z"}]
    items = run(data, strict=True)
    assert isinstance(items[0], MalformedRecord) and items[0].code == MalformedCode.CSV_SYNTAX
    assert items[0].raw == b'1,"x"y\n' and items[0].line == 2
    assert isinstance(items[1], ParsedRecord) and items[1].index == 1 and items[1].line == 3


def test_header_problems_fail_the_file() -> None:
    with pytest.raises(FileParseError, match="duplicate header names: a"):
        run(b"a,b,a\n1,2,3\n")
    with pytest.raises(FileParseError, match=r"column\(s\) 3 have no name"):
        run(b"a,b,\n1,2,3\n")


def test_empty_file_has_no_records() -> None:
    assert run(b"") == []
    assert run(b"\n\n") == []
    assert run(b"a,b\n") == []


def test_utf16_file() -> None:
    data = "sku,name\nA,Café\nB,x,y\n".encode("utf-16")
    items = run(data, encoding="utf-16")
    assert records(items) == [{"sku": "A", "name": "Café"}]
    assert isinstance(items[1], MalformedRecord) and items[1].line == 3 and items[1].byte_offset is None
    with pytest.raises(FileParseError, match="UTF-16"):
        run(data)


def test_line_longer_than_the_limit_fails_the_file() -> None:
    with pytest.raises(FileParseError, match="max_line_bytes") as info:
        run(b"a,b\n1,2\n" + b"x" * 5000 + b"\n", max_line_bytes=1024)
    assert info.value.line == 3 and info.value.byte_offset == 8


def test_index_contiguity_with_malformed_rows_in_the_middle() -> None:
    lines = [b"sku,qty"]
    for i in range(1000):
        lines.append(f"S{i},{i},oops".encode() if i in (10, 500, 998) else f"S{i},{i}".encode())
    items = run(b"\n".join(lines) + b"\n")
    assert [i.index for i in items] == list(range(1000))
    assert [i.row_number for i in items] == list(range(1, 1001))
    bad = [i for i in items if isinstance(i, MalformedRecord)]
    assert [b.index for b in bad] == [10, 500, 998]
    assert sum(isinstance(i, ParsedRecord) for i in items) == 997
    assert [b.line for b in bad] == [12, 502, 1000]


def test_halt_policy() -> None:
    with pytest.raises(FileParseError, match="on_malformed is halt") as info:
        run(b"a,b\n1,2\n3\n4,5\n", on_malformed="halt")
    assert info.value.line == 3 and info.value.malformed is not None and info.value.malformed.index == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"delimiter": ";;"}, "exactly one character"),
        ({"delimiter": "\\t"}, "tab"),
        ({"delimiter": "a"}, "letter or digit"),
        ({"delimiter": '"'}, "cannot be the same character"),
        ({"encoding": "klingon"}, "unknown encoding"),
        ({"has_header": False}, "columns is required"),
        ({"columns": ["a", "a"]}, "duplicate column names"),
        ({"delimitr": ";"}, "Extra inputs are not permitted"),
    ],
)
def test_option_validation(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CsvOptions(**options)
