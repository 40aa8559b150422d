"""Text writers: every file parses back (with fluentsync's own parsers and defusedxml) to the records."""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET
import pytest

from fluentsync.connectors.filesinks import (
    CsvFormat,
    JsonFormat,
    JsonlFormat,
    ParquetFormat,
    RecordEncodingError,
    XmlFormat,
    extension,
    open_writer,
)
from fluentsync.connectors.parsers import (
    CsvOptions,
    JsonLinesOptions,
    JsonOptions,
    ParsedRecord,
    XmlOptions,
    parse_path,
)

RECORDS: list[dict[str, Any]] = [
    {"ref": "O1", "status": "NEW", "customer": {"ref": "C1"}, "total": 12.5, "tags": ["a", "b"]},
    {"ref": 'O2 "quoted", <b>&co</b>', "status": None, "customer": {"ref": "C2"}, "total": 0, "tags": []},
    {"ref": "O3\nmultiline ünïcode ✓", "status": "DONE", "customer": {"ref": "C3"}, "total": -1, "tags": ["x"]},
]


def parsed(path: Path, options: Any) -> list[dict[str, Any]]:
    out = []
    for item in parse_path(path, options):
        assert isinstance(item, ParsedRecord), item
        out.append(item.record)
    return out


def write(tmp_path: Path, fmt: Any, records: list[Any], schema: dict[str, Any] | None = None) -> Path:
    path = tmp_path / f"out.{fmt.type}"
    writer = open_writer(fmt, path, schema)
    for record in records:
        writer.write(record)
    writer.close()
    assert writer.size == path.stat().st_size
    return path


@pytest.mark.parametrize("count", [0, 1, 3])
def test_json_array_is_valid_for_any_number_of_records(tmp_path: Path, count: int) -> None:
    path = write(tmp_path, JsonFormat(), RECORDS[:count])
    assert json.loads(path.read_bytes()) == RECORDS[:count]
    assert parsed(path, JsonOptions()) == RECORDS[:count]


def test_json_lines_round_trip_and_avro_values_are_json(tmp_path: Path) -> None:
    extra = {"at": dt.datetime(2024, 6, 1, 10, tzinfo=dt.UTC), "day": dt.date(2024, 6, 1),
             "price": Decimal("12.50"), "blob": b"\x00\x01"}
    path = write(tmp_path, JsonlFormat(), [*RECORDS, extra])
    lines = path.read_text("utf-8").splitlines()
    assert [json.loads(line) for line in lines[:3]] == RECORDS
    assert json.loads(lines[3]) == {"at": "2024-06-01T10:00:00+00:00", "day": "2024-06-01", "price": "12.50",
                                    "blob": "AAE="}
    assert parsed(path, JsonLinesOptions())[:3] == RECORDS


def test_unencodable_record_is_refused_and_leaves_the_file_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    writer = open_writer(JsonFormat(), path)
    writer.write(RECORDS[0])
    size = writer.size
    with pytest.raises(RecordEncodingError):
        writer.write({"bad": object()})
    with pytest.raises(RecordEncodingError):
        writer.write({"nan": float("nan")})
    assert writer.size == size
    writer.write(RECORDS[1])
    writer.close()
    assert json.loads(path.read_bytes()) == RECORDS[:2]


# -- CSV ------------------------------------------------------------------------------------------


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_csv_header_from_first_record_flattened_and_quoted(tmp_path: Path) -> None:
    path = write(tmp_path, CsvFormat(), RECORDS)
    rows = read_csv(path)
    assert list(rows[0]) == ["ref", "status", "customer.ref", "total", "tags"]
    assert [r["ref"] for r in rows] == [r["ref"] for r in RECORDS]  # quotes, commas, newlines survive
    assert [r["tags"] for r in rows] == ["a|b", "", "x"]
    assert rows[1]["status"] == ""
    assert parsed(path, CsvOptions())[0] == {"ref": "O1", "status": "NEW", "customer.ref": "C1",
                                             "total": "12.5", "tags": "a|b"}


def test_csv_header_from_avro_schema_when_the_first_record_is_sparse(tmp_path: Path) -> None:
    schema = {"type": "record", "name": "R", "fields": [
        {"name": "ref", "type": "string"},
        {"name": "customer", "type": ["null", {"type": "record", "name": "C",
                                               "fields": [{"name": "ref", "type": "string"}]}]},
    ]}
    path = write(tmp_path, CsvFormat(), [{"ref": "O1", "customer": None}, {"ref": "O2", "customer": {"ref": "C"}}],
                 schema)
    assert read_csv(path) == [{"ref": "O1", "customer.ref": ""}, {"ref": "O2", "customer.ref": "C"}]


def test_csv_explode_repeats_the_parent_on_each_child_row(tmp_path: Path) -> None:
    order = {"ref": "O1", "customer": {"ref": "C1"},
             "lines": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}]}
    path = write(tmp_path, CsvFormat(arrays="explode", explode="lines", delimiter=";"),
                 [order, {"ref": "O2", "customer": {"ref": "C2"}, "lines": []}])
    assert path.read_text().splitlines() == [
        "ref;customer.ref;lines.sku;lines.qty",
        "O1;C1;A;1",
        "O1;C1;B;2",
        "O2;C2;;",
    ]


def test_csv_join_of_child_objects(tmp_path: Path) -> None:
    order = {"ref": "O1", "lines": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}]}
    path = write(tmp_path, CsvFormat(join_separator=","), [order])
    assert read_csv(path) == [{"ref": "O1", "lines.sku": "A,B", "lines.qty": "1,2"}]


def test_csv_extra_columns_fail_the_record_or_are_dropped(tmp_path: Path) -> None:
    writer = open_writer(CsvFormat(), tmp_path / "a.csv")
    writer.write({"a": 1})
    size = writer.size
    with pytest.raises(RecordEncodingError, match="not in the CSV header"):
        writer.write({"a": 2, "b": 3})
    assert writer.size == size
    writer.write({"a": 4, "b": None})  # a null is no data: nothing is lost by dropping it
    writer.close()
    assert read_csv(tmp_path / "a.csv") == [{"a": "1"}, {"a": "4"}]

    path = write(tmp_path, CsvFormat(extra_columns="ignore", columns=["b", "a"], null="NULL"),
                 [{"a": 1, "c": 3}, {"b": True}])
    assert path.read_text().splitlines() == ["b,a", "NULL,1", "true,NULL"]


def test_csv_header_can_be_left_out(tmp_path: Path) -> None:
    path = write(tmp_path, CsvFormat(header=False, line_terminator="\r\n"), RECORDS[:1])
    assert path.read_bytes() == b"O1,NEW,C1,12.5,a|b\r\n"


# -- XML ------------------------------------------------------------------------------------------


def test_xml_escapes_text_and_attributes_and_parses_back(tmp_path: Path) -> None:
    records = [
        {"@id": "1", "@note": 'a "quoted" <attr> & \'apos\'', "sku": "000123",
         "description": "<b>bold</b> & co ]]>", "tag": ["red", "sale"],
         "note": {"@lang": "en", "#text": "Fragile"}, "empty": None},
        {"@id": "2", "sku": "000456", "qty": 5, "active": True, "nested": {"inner": {"deep": "x"}}},
    ]
    path = write(tmp_path, XmlFormat(root="Inventory", item="Item"), records)
    root = SafeET.parse(path).getroot()  # a safe parser: no DTDs, no entities
    assert root.tag == "Inventory" and len(root) == 2
    first = root[0]
    assert first.attrib == {"id": "1", "note": 'a "quoted" <attr> & \'apos\''}
    assert first.findtext("description") == "<b>bold</b> & co ]]>"
    assert [t.text for t in first.findall("tag")] == ["red", "sale"]

    back = parsed(path, XmlOptions(item_path="Inventory/Item"))
    assert back[0] == records[0]  # the XML parser's shapes: the same dict comes back
    assert back[1] == {"@id": "2", "sku": "000456", "qty": "5", "active": "true", "nested": {"inner": {"deep": "x"}}}


def test_xml_without_declaration_or_indent_and_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, XmlFormat(declaration=False, indent=False), [{"a": "1"}])
    assert path.read_text() == "<records><record><a>1</a></record></records>\n"
    empty = write(tmp_path, XmlFormat(), [])
    assert SafeET.parse(empty).getroot().tag == "records"


@pytest.mark.parametrize(
    "record",
    [{"bad name": "x"}, {"1st": "x"}, {"@bad attr": "x"}, {"ok": "bell \x07"}, {"<script>": "x"}],
)
def test_xml_refuses_what_it_cannot_represent_and_the_file_stays_valid(tmp_path: Path, record: Any) -> None:
    path = tmp_path / "out.xml"
    writer = open_writer(XmlFormat(), path)
    writer.write({"a": "1"})
    with pytest.raises(RecordEncodingError):
        writer.write(record)
    writer.close()
    assert parsed(path, XmlOptions(item_path="records/record")) == [{"a": "1"}]


def test_xml_carriage_returns_survive(tmp_path: Path) -> None:
    path = write(tmp_path, XmlFormat(), [{"text": "line1\r\nline2"}])
    assert SafeET.parse(path).getroot()[0].findtext("text") == "line1\r\nline2"


@pytest.mark.parametrize("fmt", [CsvFormat(), CsvFormat(arrays="explode", explode="l"), JsonlFormat(), XmlFormat()])
def test_a_lone_surrogate_fails_only_its_record(tmp_path: Path, fmt: Any) -> None:
    path = tmp_path / "out"
    writer = open_writer(fmt, path)
    writer.write({"a": "1", "l": [{"x": "ok"}]})
    size = writer.size
    with pytest.raises(RecordEncodingError):
        writer.write({"a": "2", "l": [{"x": "fine"}, {"x": "bad \ud800"}]})
    assert writer.size == size
    writer.write({"a": "3", "l": [{"x": "ok"}]})
    writer.close()
    assert "fine" not in path.read_text("utf-8") and path.read_text("utf-8").count("ok") == 2


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        (CsvFormat(compression="gzip"), CsvOptions()),
        (JsonFormat(compression="gzip"), JsonOptions()),
        (JsonlFormat(compression="gzip"), JsonLinesOptions()),
        (XmlFormat(compression="gzip"), XmlOptions(item_path="records/record")),
    ],
)
def test_gzip_text_files_read_back_and_are_deterministic(tmp_path: Path, fmt: Any, options: Any) -> None:
    records = [{"ref": f"O{i}", "qty": str(i)} for i in range(2000)]
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()
    first, second = write(tmp_path / "1", fmt, records), write(tmp_path / "2", fmt, records)
    assert first.read_bytes()[:2] == b"\x1f\x8b"
    assert first.read_bytes() == second.read_bytes(), "a rewritten file is byte-identical"
    assert parsed(first, options) == records


def test_extension_names_the_compression() -> None:
    assert extension(CsvFormat(compression="gzip")) == "csv.gz"
    assert extension(XmlFormat()) == "xml"
    assert extension(ParquetFormat(compression="gzip")) == "parquet"
