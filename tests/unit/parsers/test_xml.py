"""XML: item paths, @attr/#text conventions, lists, namespaces, errors, and refused DTDs (XXE, billion laughs)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from fluentsync.connectors.parsers import (
    FileParseError,
    MalformedCode,
    MalformedRecord,
    ParsedRecord,
    Record,
    XmlOptions,
    parse,
    parse_path,
)

DATA = Path(__file__).parent / "data"


def run(data: bytes, **options: Any) -> list[Record]:
    return list(parse(io.BytesIO(data), XmlOptions(**options)))


def collect(data: bytes, **options: Any) -> tuple[list[Record], FileParseError | None]:
    out: list[Record] = []
    try:
        for item in parse(io.BytesIO(data), XmlOptions(**options)):
            out.append(item)
    except FileParseError as exc:
        return out, exc
    return out, None


def test_golden_inventory_conventions() -> None:
    items = list(parse_path(DATA / "inventory.xml", XmlOptions(item_path="Inventory/Item")))
    assert all(isinstance(i, ParsedRecord) for i in items)
    assert [i.record for i in items] == [  # type: ignore[union-attr]
        {
            "@id": "1",
            "@x:source": "wms",
            "SKU": "000123",  # strings: leading zeros survive
            "Location": "LOC-1",
            "Qty": "5",
            "Tag": ["red", "sale"],  # repeated children become a list
            "Note": {"@lang": "en", "#text": "Fragile"},  # text + attributes -> #text
            "Empty": None,  # empty element -> null
        },
        {"@id": "2", "SKU": "000456", "Location": "LOC-2", "Qty": "0", "x:Extra": "e"},
        {"@id": "3", "SKU": "000789", "Description": "<b>bold</b> & co"},
    ]
    raw = (DATA / "inventory.xml").read_bytes()
    assert [i.row_number for i in items] == [1, 2, 3]
    for item, needle in zip(items, [b'<Item id="1"', b'<Item id="2"', b'<Item id="3"'], strict=True):
        assert item.byte_offset == raw.index(needle)
        assert item.line == raw[: raw.index(needle)].count(b"\n") + 1


def test_relative_item_path_and_wildcards() -> None:
    doc = b"<r><batch><Item><a>1</a></Item></batch><other><Item><a>2</a></Item></other></r>"
    assert [i.record for i in run(doc, item_path="Item")] == [{"a": "1"}, {"a": "2"}]  # type: ignore[union-attr]
    assert [i.record for i in run(doc, item_path="//Item")] == [{"a": "1"}, {"a": "2"}]  # type: ignore[union-attr]
    assert [i.record for i in run(doc, item_path="//batch/Item")] == [{"a": "1"}]  # type: ignore[union-attr]
    assert [i.record for i in run(doc, item_path="r/*/Item")] == [{"a": "1"}, {"a": "2"}]  # type: ignore[union-attr]
    assert [i.record for i in run(doc, item_path="/r/other/Item")] == [{"a": "2"}]  # type: ignore[union-attr]


def test_outermost_match_wins_for_relative_paths() -> None:
    doc = b"<r><Item><Item>inner</Item><b>x</b></Item></r>"
    assert [i.record for i in run(doc, item_path="//Item")] == [{"Item": "inner", "b": "x"}]  # type: ignore[union-attr]


def test_wrong_root_fails_fast() -> None:
    with pytest.raises(FileParseError, match="root element is <Inventory>"):
        run((DATA / "inventory.xml").read_bytes(), item_path="Stock/Item")


def test_namespace_modes() -> None:
    doc = b'<r xmlns="urn:d" xmlns:p="urn:p"><p:Item p:a="1"><p:x>v</p:x><y>w</y></p:Item></r>'
    assert run(doc, item_path="r/Item")[0].record == {"@p:a": "1", "p:x": "v", "y": "w"}  # type: ignore[union-attr]
    assert run(doc, item_path="r/p:Item", namespaces="strip")[0].record == {"@a": "1", "x": "v", "y": "w"}  # type: ignore[union-attr]
    assert run(doc, item_path="r/Item", namespaces="uri")[0].record == {  # type: ignore[union-attr]
        "@{urn:p}a": "1",
        "{urn:p}x": "v",
        "{urn:d}y": "w",
    }


def test_force_list_attributes_off_and_text_items() -> None:
    doc = b'<r><Item id="1"><Line>a</Line></Item><Item>plain</Item><Item/></r>'
    items = run(doc, item_path="r/Item", force_list=["Line"], include_attributes=False)
    assert [i.record for i in items] == [{"Line": ["a"]}, {"#text": "plain"}, {}]  # type: ignore[union-attr]


def test_mixed_content_and_comments() -> None:
    doc = b"<r><Item>hello <!-- c --><b>x</b> world<?pi x?></Item></r>"
    assert run(doc, item_path="r/Item")[0].record == {"#text": "hello  world", "b": "x"}  # type: ignore[union-attr]


def test_encodings_from_declaration_and_override() -> None:
    latin = '<?xml version="1.0" encoding="ISO-8859-1"?><r><Item>Café</Item></r>'.encode("latin-1")
    assert run(latin, item_path="r/Item")[0].record == {"#text": "Café"}  # type: ignore[union-attr]
    cp1252 = '<?xml version="1.0" encoding="windows-1252"?><r><Item>€</Item></r>'.encode("cp1252")
    assert run(cp1252, item_path="r/Item")[0].record == {"#text": "€"}  # type: ignore[union-attr]
    undeclared = "<r><Item>Café</Item></r>".encode("latin-1")
    assert run(undeclared, item_path="r/Item", encoding="latin-1")[0].record == {"#text": "Café"}  # type: ignore[union-attr]


def test_invalid_item_yields_a_malformed_record_then_fails_the_file() -> None:
    doc = b"<r>\n<Item><a>1</a></Item>\n<Item><a>2</b></Item>\n<Item><a>3</a></Item>\n</r>"
    items, error = collect(doc, item_path="r/Item")
    assert [type(i).__name__ for i in items] == ["ParsedRecord", "MalformedRecord"]
    bad = items[1]
    assert isinstance(bad, MalformedRecord)
    assert (bad.index, bad.line, bad.byte_offset, bad.row_number) == (1, 3, doc.index(b"<Item><a>2"), 2)
    assert bad.code == MalformedCode.XML_SYNTAX and "mismatched tag" in bad.message
    assert bad.raw.startswith(b"<Item><a>2</b>")
    assert error is not None and error.line == 3 and "inside item 2" in str(error)


def test_errors_outside_items_fail_the_file() -> None:
    with pytest.raises(FileParseError, match="not well-formed") as info:
        run(b"<r><head></r>", item_path="r/Item")
    assert info.value.line == 1
    items, error = collect(b"<r><Item>1</Item>", item_path="r/Item")  # truncated after an item
    assert len(items) == 1 and error is not None and "no element found" in str(error)
    with pytest.raises(FileParseError, match="no element found"):
        run(b"", item_path="r/Item")


def test_undeclared_entity_is_an_error_not_an_expansion() -> None:
    items, error = collect(b"<r><Item>&xxe;</Item></r>", item_path="r/Item")
    assert isinstance(items[0], MalformedRecord) and "undefined entity" in items[0].message
    assert error is not None


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz><Item>&lol4;</Item></lolz>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<foo><Item>&xxe;</Item></foo>"""

XXE_PARAMETER = b"""<?xml version="1.0"?>
<!DOCTYPE foo SYSTEM "http://127.0.0.1:1/evil.dtd">
<foo><Item>x</Item></foo>"""


@pytest.mark.parametrize("doc", [BILLION_LAUGHS, XXE, XXE_PARAMETER], ids=["billion-laughs", "xxe", "external-dtd"])
def test_dtds_are_refused(doc: bytes) -> None:
    with pytest.raises(FileParseError, match="DTDs, entity declarations and external entities are not allowed") as info:
        run(doc, item_path="//Item")
    assert info.value.line == 2 and info.value.records_read == 0


def test_item_path_validation() -> None:
    with pytest.raises(ValueError, match="empty segment"):
        XmlOptions(item_path="a//b")
    with pytest.raises(ValueError, match="Field required"):
        XmlOptions()  # type: ignore[call-arg]


def test_many_items_stay_flat() -> None:
    body = b"".join(b'<Item n="%d"><v>%d</v></Item>' % (i, i) for i in range(30_000))
    items = run(b"<r>" + body + b"</r>", item_path="r/Item")
    assert len(items) == 30_000 and items[-1].record == {"@n": "29999", "v": "29999"}  # type: ignore[union-attr]


def test_repeated_children_one_is_an_object_several_a_list_force_list_always_a_list() -> None:
    """An order with one ``<Item>`` gives an object, with two a list; ``force_list`` names (as they appear in
    records, so ``ns:Item`` with ``namespaces: prefix``) are lists at any depth, even when they occur once."""
    one = b"<r><Order><Items><Item>a</Item></Items></Order></r>"
    two = b"<r><Order><Items><Item>a</Item><Item>b</Item></Items></Order></r>"
    assert run(one, item_path="Order")[0].record == {"Items": {"Item": "a"}}  # type: ignore[union-attr]
    assert run(two, item_path="Order")[0].record == {"Items": {"Item": ["a", "b"]}}  # type: ignore[union-attr]
    assert run(one, item_path="Order", force_list=["Item"])[0].record == {"Items": {"Item": ["a"]}}  # type: ignore[union-attr]
    assert run(two, item_path="Order", force_list=["Item"])[0].record == {"Items": {"Item": ["a", "b"]}}  # type: ignore[union-attr]
    prefixed = b'<r xmlns:s="urn:s"><Order><s:Item>a</s:Item></Order></r>'
    assert run(prefixed, item_path="Order", force_list=["s:Item"])[0].record == {"s:Item": ["a"]}  # type: ignore[union-attr]
    assert run(prefixed, item_path="Order", force_list=["Item"], namespaces="strip")[0].record == {"Item": ["a"]}  # type: ignore[union-attr]
