"""JSON (streamed array, item path) and JSON Lines."""

from __future__ import annotations

import io
import json

import ijson
import pytest

from fluentsync.connectors.parsers import (
    FileParseError,
    JsonLinesOptions,
    JsonOptions,
    MalformedCode,
    MalformedRecord,
    ParsedRecord,
    Record,
    parse,
)


def run(data: bytes, options: JsonOptions | JsonLinesOptions) -> list[Record]:
    return list(parse(io.BytesIO(data), options))


def collect(data: bytes, options: JsonOptions | JsonLinesOptions) -> tuple[list[Record], FileParseError | None]:
    out: list[Record] = []
    try:
        for item in parse(io.BytesIO(data), options):
            out.append(item)
    except FileParseError as exc:
        return out, exc
    return out, None


# --- JSON -------------------------------------------------------------------------------------------


def test_top_level_array() -> None:
    doc = b'\xef\xbb\xbf [{"sku":"A","qty":5,"price":12.5,"n":10.0,"big":9007199254740993}, {"sku":"B"}]'
    items = run(doc, JsonOptions())
    assert [i.record for i in items if isinstance(i, ParsedRecord)] == [
        {"sku": "A", "qty": 5, "price": 12.5, "n": 10, "big": 9007199254740993},
        {"sku": "B"},
    ]
    assert [(i.index, i.row_number, i.line, i.byte_offset) for i in items] == [(0, 1, None, None), (1, 2, None, None)]
    n = items[0].record["n"]  # type: ignore[union-attr]
    assert type(n) is int  # integral decimals become int, like JavaScript numbers


def test_integers_beyond_64_bits_are_refused_by_the_c_backend() -> None:
    # a documented limitation of ijson's yajl2 backend: the item is malformed and the file fails
    if ijson.backend != "yajl2_c":
        pytest.skip("only the yajl2 C backend has this limit")
    items, error = collect(b'[{"a":1},{"id":123456789012345678901234}]', JsonOptions())
    assert isinstance(items[-1], MalformedRecord) and "integer overflow" in items[-1].message
    assert error is not None


def test_nested_values_and_number_rules() -> None:
    items = run(b'[{"a":{"b":[1.0,2.5,{"c":3e2}]},"t":true,"z":null}]', JsonOptions())
    assert items[0].record == {"a": {"b": [1, 2.5, {"c": 300}]}, "t": True, "z": None}  # type: ignore[union-attr]


def test_item_path() -> None:
    doc = b'{"meta":{"count":2,"items":[{"not":"this"}]},"data":{"items":[{"sku":"A"},{"sku":"B"}]}}'
    items = run(doc, JsonOptions(item_path="data.items"))
    assert [i.record for i in items] == [{"sku": "A"}, {"sku": "B"}]  # type: ignore[union-attr]
    assert run(b'{"data":{"items":[]}}', JsonOptions(item_path="data.items")) == []


def test_item_path_missing_or_not_an_array() -> None:
    with pytest.raises(FileParseError, match="not found"):
        run(b'{"data":{"itemz":[{"a":1}]}}', JsonOptions(item_path="data.items"))
    with pytest.raises(FileParseError, match="holds a JSON object, not an array"):
        run(b'{"data":{"items":{"a":1}}}', JsonOptions(item_path="data.items"))


def test_top_level_not_an_array() -> None:
    with pytest.raises(FileParseError, match=r"top-level JSON value is an object.*item_path"):
        run(b'{"sku":"A"}', JsonOptions())
    with pytest.raises(FileParseError, match="top-level JSON value is a JSON string"):
        run(b'"x"', JsonOptions())
    with pytest.raises(FileParseError, match="empty JSON document"):
        run(b"  \n", JsonOptions())


def test_items_that_are_not_objects_are_malformed() -> None:
    items = run(b'[{"a":1}, 2, [3], null, {"b":2}]', JsonOptions())
    assert [type(i).__name__ for i in items] == ["ParsedRecord"] + ["MalformedRecord"] * 3 + ["ParsedRecord"]
    assert [i.index for i in items] == [0, 1, 2, 3, 4]
    bad = items[1]
    assert isinstance(bad, MalformedRecord) and bad.code == MalformedCode.NOT_OBJECT and bad.raw == b"2"


def test_syntax_error_mid_array_yields_one_malformed_record_then_fails_the_file() -> None:
    items, error = collect(b'[{"a":1},{"a":2},{"a":3,,"b":4},{"a":5}]', JsonOptions())
    assert [type(i).__name__ for i in items] == ["ParsedRecord", "ParsedRecord", "MalformedRecord"]
    bad = items[2]
    assert isinstance(bad, MalformedRecord)
    assert bad.index == 2 and bad.row_number == 3 and bad.code == MalformedCode.JSON_SYNTAX
    assert b'{"a":3,,' in bad.raw and "right here" in bad.message
    assert error is not None and "after item 2" in str(error) and error.records_read == 3


def test_truncated_array() -> None:
    items, error = collect(b'[{"a":1},{"a":2},{"a"', JsonOptions())
    assert [i.index for i in items] == [0, 1, 2] and isinstance(items[2], MalformedRecord)
    assert error is not None and "truncated" in str(error)
    assert items[2].raw.endswith(b'{"a"')


def test_halt_policy_on_json() -> None:
    with pytest.raises(FileParseError, match="on_malformed is halt"):
        run(b'[{"a":1}, 2, {"b":2}]', JsonOptions(on_malformed="halt"))


def test_other_encodings_are_transcoded() -> None:
    doc = '[{"name":"Café"}]'
    assert run(doc.encode("latin-1"), JsonOptions(encoding="latin-1"))[0].record == {"name": "Café"}  # type: ignore[union-attr]
    assert run(doc.encode("utf-16"), JsonOptions(encoding="utf-16"))[0].record == {"name": "Café"}  # type: ignore[union-attr]


def test_large_array_streams_across_read_boundaries() -> None:
    doc = json.dumps([{"sku": f"S{i}", "qty": i} for i in range(20_000)]).encode()
    items = run(doc, JsonOptions())
    assert len(items) == 20_000 and items[-1].record == {"sku": "S19999", "qty": 19999}  # type: ignore[union-attr]


def test_item_path_validation() -> None:
    assert JsonOptions(item_path="$.data.items").item_path == "data.items"
    assert JsonOptions(item_path="$").item_path is None
    with pytest.raises(ValueError, match="empty segment"):
        JsonOptions(item_path="data..items")
    with pytest.raises(ValueError, match="dot-separated"):
        JsonOptions(item_path="data.items[*]")


# --- JSON Lines -------------------------------------------------------------------------------------


def test_jsonl_broken_line_in_the_middle_with_exact_positions() -> None:
    lines = [
        b'{"sku":"A","qty":1}',
        b'{"sku":"B",',
        b"",
        b'{"sku":"C","qty":3.0}',
        b"[1,2]",
        b'{"sku":"D"} trailing',
        b'{"sku":"E"}',
    ]
    data = b"\n".join(lines) + b"\n"
    items = run(data, JsonLinesOptions())
    assert [(type(i).__name__, i.index, i.line) for i in items] == [
        ("ParsedRecord", 0, 1),
        ("MalformedRecord", 1, 2),
        ("ParsedRecord", 2, 4),
        ("MalformedRecord", 3, 5),
        ("MalformedRecord", 4, 6),
        ("ParsedRecord", 5, 7),
    ]
    for item in items:
        assert item.byte_offset == data.index(lines[item.line - 1])  # type: ignore[operator]
    broken = items[1]
    assert isinstance(broken, MalformedRecord)
    assert broken.raw == b'{"sku":"B",' and broken.code == MalformedCode.JSON_SYNTAX
    assert "invalid JSON" in broken.message
    assert items[3].code == MalformedCode.NOT_OBJECT and "expected a JSON object" in items[3].message  # type: ignore[union-attr]
    assert "Extra data" in items[4].message  # type: ignore[union-attr]
    assert items[2].record == {"sku": "C", "qty": 3}  # type: ignore[union-attr]


def test_jsonl_crlf_bom_and_blank_lines() -> None:
    data = b'\xef\xbb\xbf{"a":1}\r\n\r\n  \r\n{"a":2}\r\n'
    items = run(data, JsonLinesOptions())
    assert [(i.record, i.line, i.byte_offset) for i in items] == [({"a": 1}, 1, 3), ({"a": 2}, 4, 18)]  # type: ignore[union-attr]
    kept = run(data, JsonLinesOptions(skip_empty_lines=False))
    assert [type(i).__name__ for i in kept] == ["ParsedRecord", "MalformedRecord", "MalformedRecord", "ParsedRecord"]


def test_jsonl_invalid_utf8_and_too_long_lines() -> None:
    data = b'{"a":1}\n{"a":"\xff"}\n' + b'{"x":"' + b"y" * 3000 + b'"}\n{"a":3}\n'
    items = run(data, JsonLinesOptions(max_line_bytes=1024))
    assert [getattr(i, "code", "ok") for i in items] == ["ok", MalformedCode.DECODE, MalformedCode.TOO_LONG, "ok"]
    assert items[3].line == 4 and items[3].byte_offset == data.index(b'{"a":3}')
    assert len(items[2].raw) <= 4096  # type: ignore[union-attr]
