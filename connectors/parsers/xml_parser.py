"""Streaming, hardened XML parser: items by path, converted to dicts with the reference SDK's shapes.

Parsing is incremental (expat, fed 64 KiB at a time). Only the current item is held in memory: elements
outside items are never built, so memory stays flat however many items the file has.

**Security.** The parser refuses any DTD (``<!DOCTYPE ...>``), entity declaration or external entity
reference, with the same policy as ``defusedxml`` (``forbid_dtd``, ``forbid_entities``,
``forbid_external``; its exception types are raised internally) and parameter-entity parsing off. So
"billion laughs" and XXE inputs fail the file with :class:`FileParseError` ("DTD not allowed") before
any expansion. An undeclared entity reference (``&foo;``) is a well-formedness error. expat is used
directly rather than through ``defusedxml.ElementTree`` because only expat's own handlers give the exact
line and byte offset where each item starts.

**Items.** ``item_path``:

- ``Inventory/Item`` or ``/Inventory/Item``: absolute from the root element. If the root element is
  not ``Inventory`` the file fails at once (a misconfigured path would otherwise read zero items).
- ``Item`` or ``//Item``: ``Item`` elements at any depth; ``//Batch/Item``: that suffix at any depth.
  The outermost match wins (an ``Item`` inside an item is part of it).
- ``*`` matches any one element name. A segment matches an element's local name or, with a prefix
  (``ns:Item``), its prefixed name.

**Element → value** (the reference SDK's conventions, so mapping paths port):

- attributes → ``"@name"`` keys (unless ``include_attributes=False``);
- an element with neither attributes nor children → its text, stripped; an empty one → ``None``;
- otherwise a dict with ``@`` attributes, child elements by name, and ``"#text"`` for its (stripped,
  non-blank) text; with mixed content the text pieces are joined;
- a child name occurring more than once → a list, in document order; ``force_list`` names are always
  lists;
- an item is always a dict: a text-only item becomes ``{"#text": value}``;
- values stay strings -- no number/boolean coercion (the reference's coercion destroys leading zeros
  in SKUs; casting is the mapping's job); comments and processing instructions are dropped; CDATA is
  text.

**Names** (``namespaces``): ``prefix`` (default: as written in the document, ``ns:Item``; a default
namespace adds nothing -- what the reference SDK gives), ``strip`` (local names) or ``uri``
(``{http://...}Item``). Attributes follow the same rule.

**Errors.** expat cannot resume after a well-formedness error. An error inside an item yields one
:class:`MalformedRecord` (``xml_syntax``: the item's start line/offset, expat's message with the error
position, and up to 4 KiB of raw input from the item's start or just before the error) and then raises
:class:`FileParseError`. An error outside items (before the first item, between items, a truncated
tail) raises :class:`FileParseError` with the position.

**Positions.** ``line``/``byte_offset``: where the item's start tag begins (byte offsets are in the
input encoding). ``row_number``: 1-based item number.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any
from xml.parsers import expat

from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden

from fluentsync.connectors.parsers.options import XmlOptions
from fluentsync.connectors.parsers.records import (
    RAW_LIMIT,
    FileParseError,
    MalformedCode,
    MalformedRecord,
    ParsedRecord,
    Record,
)

__all__ = ["parse_xml"]

_CHUNK = 64 * 1024
_SEP = " "  # expat namespace separator: names arrive as "uri local" or "uri local prefix"


class _Frame:
    __slots__ = ("attrs", "children", "name", "text")

    def __init__(self, name: str, attrs: dict[str, Any] | None) -> None:
        self.name = name
        self.attrs = attrs
        self.children: dict[str, Any] | None = None
        self.text: list[str] | None = None


class _Builder:
    """expat handlers: track the element path, build items, queue finished ones."""

    def __init__(self, parser: Any, options: XmlOptions) -> None:
        self.parser = parser
        self.mode = options.namespaces
        self.attributes = options.include_attributes
        self.force_list = frozenset(options.force_list)
        path = options.item_path
        self.relative = path.startswith("//") or "/" not in path.lstrip("/")
        self.segments = path.lstrip("/").split("/")
        self.names: dict[str, tuple[str, str, str]] = {}  # expat name -> _name()
        self.path: list[tuple[str, str, str]] = []  # names of the open elements outside items
        self.frames: list[_Frame] = []  # open elements of the current item
        self.item_line = 0
        self.item_offset = 0
        self.done: list[tuple[int, int, dict[str, Any]]] = []

    # names -------------------------------------------------------------------------------------
    def _name(self, raw: str) -> tuple[str, str, str]:
        """(display name per ``namespaces``, local name, name as written with its prefix)."""
        cached = self.names.get(raw)
        if cached is not None:
            return cached
        parts = raw.split(_SEP)
        local = parts[1] if len(parts) > 1 else parts[0]
        written = f"{parts[2]}:{local}" if len(parts) == 3 else local
        if parts[0] == "http://www.w3.org/XML/1998/namespace" and len(parts) > 1:
            written = f"xml:{local}"
        if len(parts) == 1 or self.mode == "strip":
            display = local
        elif self.mode == "uri":
            display = f"{{{parts[0]}}}{local}"
        else:
            display = written
        self.names[raw] = result = (display, local, written)
        return result

    def _matches(self, segment: str, name: tuple[str, str, str]) -> bool:
        return segment == "*" or segment == name[1] or segment == name[2] or segment == name[0]

    def _is_item(self) -> bool:
        segs, path = self.segments, self.path
        if self.relative:
            if len(path) < len(segs):
                return False
            tail = path[len(path) - len(segs) :]
        else:
            if len(path) != len(segs):
                return False
            tail = path
        return all(self._matches(seg, name) for seg, name in zip(segs, tail, strict=True))

    # handlers ----------------------------------------------------------------------------------
    def start(self, raw_name: str, raw_attrs: dict[str, str]) -> None:
        name = self._name(raw_name)
        attrs = None
        if raw_attrs and self.attributes:
            attrs = {"@" + self._name(k)[0]: v for k, v in raw_attrs.items()}
        if self.frames:
            self.frames.append(_Frame(name[0], attrs))
            return
        self.path.append(name)
        if not self.relative and len(self.path) == 1 and not self._matches(self.segments[0], name):
            raise FileParseError(
                f"the root element is <{name[0]}> but item_path {'/'.join(self.segments)!r} starts with "
                f"{self.segments[0]!r}",
                line=self.parser.CurrentLineNumber,
                byte_offset=self.parser.CurrentByteIndex,
            )
        if self._is_item():
            self.path.pop()
            self.item_line = self.parser.CurrentLineNumber
            self.item_offset = self.parser.CurrentByteIndex
            self.frames.append(_Frame(name[0], attrs))

    def end(self, _raw_name: str) -> None:
        frames = self.frames
        if not frames:
            self.path.pop()
            return
        frame = frames.pop()
        value = self._value(frame)
        if frames:
            parent = frames[-1]
            children = parent.children
            if children is None:
                parent.children = children = {}
            existing = children.get(frame.name, _MISSING)
            if existing is _MISSING:
                children[frame.name] = [value] if frame.name in self.force_list else value
            elif type(existing) is list:  # element values are never lists, so this is a repetition
                existing.append(value)
            else:
                children[frame.name] = [existing, value]
        else:
            record = value if type(value) is dict else ({"#text": value} if value is not None else {})
            self.done.append((self.item_line, self.item_offset, record))

    def data(self, text: str) -> None:
        if self.frames:
            frame = self.frames[-1]
            if frame.text is None:
                frame.text = [text]
            else:
                frame.text.append(text)

    def _value(self, frame: _Frame) -> Any:
        text = "".join(frame.text).strip() if frame.text is not None else ""
        if frame.attrs is None and frame.children is None:
            return text or None
        out: dict[str, Any] = dict(frame.attrs) if frame.attrs is not None else {}
        if text:
            out["#text"] = text
        if frame.children is not None:
            out.update(frame.children)
        return out


_MISSING = object()


def _forbid_dtd(name: str, sysid: str | None, pubid: str | None, has_internal_subset: bool) -> None:
    raise DTDForbidden(name, sysid, pubid)


def _forbid_entity(name: str, is_parameter: bool, value: str | None, base: str | None, *args: Any) -> None:
    raise EntitiesForbidden(name, value, base, args[0] if args else None, args[1] if len(args) > 1 else None, None)


def _forbid_unparsed(name: str, base: str | None, sysid: str, pubid: str | None, notation: str) -> None:
    raise EntitiesForbidden(name, None, base, sysid, pubid, notation)


def _forbid_external(context: str, base: str | None, sysid: str | None, pubid: str | None) -> int:
    raise ExternalReferenceForbidden(context, base, sysid, pubid)


def _describe(error: DefusedXmlException) -> str:
    if isinstance(error, DTDForbidden):
        return f"<!DOCTYPE {error.name}>"
    if isinstance(error, EntitiesForbidden):
        return f"<!ENTITY {error.name}>"
    if isinstance(error, ExternalReferenceForbidden):
        return f"external reference {error.sysid!r}"
    return str(error)


def parse_xml(stream: io.BufferedReader, options: XmlOptions) -> Iterator[Record]:
    """Items of an XML stream (already decompressed). See the module docstring for the rules."""
    parser = expat.ParserCreate(options.encoding, _SEP)
    parser.namespace_prefixes = True
    parser.buffer_text = True
    parser.ordered_attributes = False
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    builder = _Builder(parser, options)
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = _forbid_dtd
    parser.EntityDeclHandler = _forbid_entity
    parser.UnparsedEntityDeclHandler = _forbid_unparsed
    parser.ExternalEntityRefHandler = _forbid_external

    index = 0
    consumed = 0  # bytes fed so far
    previous = b""  # the chunk before the current one, for error snippets
    chunk = b""
    done = builder.done
    while True:
        previous, chunk = chunk, stream.read1(_CHUNK)
        consumed += len(chunk)
        error: BaseException | None = None
        try:
            parser.Parse(chunk, not chunk)
        except (expat.ExpatError, DefusedXmlException, FileParseError) as exc:
            error = exc
        for line, offset, record in done:
            yield ParsedRecord(index, record, line, offset, index + 1)
            index += 1
        done.clear()
        if error is not None:
            if isinstance(error, FileParseError):
                raise error
            if isinstance(error, DefusedXmlException):
                raise FileParseError(
                    f"refused {_describe(error)}: DTDs, entity declarations and external entities are not "
                    "allowed (protection against entity expansion and XXE)",
                    line=parser.CurrentLineNumber,
                    byte_offset=parser.CurrentByteIndex,
                    records_read=index,
                ) from None
            assert isinstance(error, expat.ExpatError)
            err_line = error.lineno
            err_offset = parser.ErrorByteIndex
            message = (
                f"XML not well-formed: {expat.errors.messages[error.code]} at line {err_line}, column "
                f"{error.offset + 1}"
            )
            if builder.frames:
                window = previous + chunk
                base = consumed - len(window)
                begin = max(builder.item_offset, err_offset - (RAW_LIMIT - 512), base)
                raw = window[begin - base : begin - base + RAW_LIMIT]
                yield MalformedRecord(
                    index,
                    builder.item_line,
                    builder.item_offset,
                    index + 1,
                    raw,
                    message,
                    MalformedCode.XML_SYNTAX,
                )
                raise FileParseError(
                    f"XML corrupt or truncated inside item {index + 1}; the rest of the file cannot be read: {message}",
                    line=err_line,
                    byte_offset=err_offset if err_offset >= 0 else None,
                    records_read=index + 1,
                )
            raise FileParseError(
                message,
                line=err_line,
                byte_offset=err_offset if err_offset >= 0 else None,
                records_read=index,
            )
        if not chunk:
            return
