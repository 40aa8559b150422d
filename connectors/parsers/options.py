"""Parser options: one frozen pydantic model per format, and the discriminated union a pipeline uses.

A pipeline YAML ``format:`` block validates into :data:`ParserOptions` by its ``type``::

    format: {type: csv, delimiter: ";", encoding: latin-1}
    format: {type: json, item_path: data.items}
    format: {type: xml, item_path: Inventory/Item}

Use :func:`parser_options` to validate a mapping (``None``/missing ``type`` is an error). Unknown keys
are refused (``extra="forbid"``) so a typo never silently falls back to a default.

Common to all formats:

``compression``
    ``auto`` (default: gzip when the stream starts with the gzip magic bytes ``1f 8b``), ``none`` or
    ``gzip`` (a stream that is not gzip is then a :class:`~.records.FileParseError`).
``on_malformed``
    ``dead_letter`` (default: yield a :class:`~.records.MalformedRecord` and go on) or ``halt`` (raise
    :class:`~.records.FileParseError` at the first malformed record; nothing after it is yielded).
"""

from __future__ import annotations

import codecs
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

__all__ = [
    "CsvOptions",
    "JsonLinesOptions",
    "JsonOptions",
    "ParquetOptions",
    "ParserOptions",
    "XmlOptions",
    "parser_options",
]

#: Longest physical line (CSV, JSON Lines) read before the file is refused: bounds memory.
DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024


def _check_encoding(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return codecs.lookup(value).name
    except LookupError:
        raise ValueError(f"unknown encoding {value!r}") from None


def _required_encoding(value: str) -> str:
    checked = _check_encoding(value)
    assert checked is not None
    return checked


#: A codec name, normalised (``latin-1`` -> ``iso8859-1``); unknown names are refused at load time.
Encoding = Annotated[str, AfterValidator(_required_encoding)]


def _single_char(name: str, value: str | None) -> str | None:
    if value is not None and len(value) != 1:
        hint = ' (write a tab as "\\t" in a double-quoted YAML string)' if value in ("\\t", "tab") else ""
        raise ValueError(f"{name} must be exactly one character, got {value!r}{hint}")
    if value is not None and value in "\r\n":
        raise ValueError(f"{name} cannot be a line break")
    return value


class _Common(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    compression: Literal["auto", "none", "gzip"] = "auto"
    on_malformed: Literal["dead_letter", "halt"] = "dead_letter"


class CsvOptions(_Common):
    """Delimited text. Values are always strings (types come from the mapping).

    - ``has_header``: the first (non-empty) row names the columns. With ``columns`` as well, the header
      row is skipped and ``columns`` name the fields (the header must have as many cells).
    - ``columns``: explicit column names; required when ``has_header`` is false.
    - ``escapechar``: ``None`` by default, so a backslash is data (``C:\\temp`` stays intact); set
      ``"\\\\"`` for files that escape quotes as ``\\"``. ``doublequote`` (``""`` inside quotes) stays on.
    - ``quotechar``: ``None`` turns quoting off.
    - ``strict``: the csv module's strict quoting (``a,"b"c`` is then a malformed row, not ``b"c``).
    - ``relax_column_count``: by default a row whose cell count differs from the header is malformed
      (silently shifting or dropping cells corrupts data). When true, missing trailing cells become
      ``""`` and extra trailing cells are dropped if they are empty; extra non-empty cells stay malformed.
    - ``skip_empty_lines``: blank lines (empty or whitespace only) are not records. When false, a blank
      line is a row with one empty cell (malformed unless the file has one column).
    - ``trim``: strip whitespace around every value (header names are always stripped).
    - ``encoding``: any Python codec; a UTF-8 BOM is stripped whatever the encoding says.
    """

    type: Literal["csv"] = "csv"
    delimiter: str = ","
    quotechar: str | None = '"'
    escapechar: str | None = None
    doublequote: bool = True
    has_header: bool = True
    columns: list[str] | None = None
    encoding: Encoding = "utf-8"
    skip_empty_lines: bool = True
    trim: bool = False
    strict: bool = False
    relax_column_count: bool = False
    max_line_bytes: int = Field(default=DEFAULT_MAX_LINE_BYTES, ge=1024)

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, v: str) -> str:
        _single_char("delimiter", v)
        if v.isalnum():
            raise ValueError(f"delimiter cannot be a letter or digit, got {v!r}")
        return v

    @field_validator("quotechar")
    @classmethod
    def _quotechar(cls, v: str | None) -> str | None:
        return _single_char("quotechar", v)

    @field_validator("escapechar")
    @classmethod
    def _escapechar(cls, v: str | None) -> str | None:
        return _single_char("escapechar", v)

    @field_validator("columns")
    @classmethod
    def _columns(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        if not v:
            raise ValueError("columns cannot be empty")
        names = [c.strip() for c in v]
        if any(not n for n in names):
            raise ValueError("column names cannot be empty")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate column names: {', '.join(dupes)}")
        return names

    @model_validator(mode="after")
    def _consistent(self) -> CsvOptions:
        if not self.has_header and self.columns is None:
            raise ValueError("columns is required when has_header is false")
        chars = {"delimiter": self.delimiter, "quotechar": self.quotechar, "escapechar": self.escapechar}
        seen: dict[str, str] = {}
        for name, ch in chars.items():
            if ch is None:
                continue
            if ch in seen:
                raise ValueError(f"{name} and {seen[ch]} cannot be the same character ({ch!r})")
            seen[ch] = name
        return self


class JsonOptions(_Common):
    """A JSON document holding an array of objects, streamed item by item.

    ``item_path``: ``None`` means the top-level value is the array; otherwise a dot path of object keys
    to the array (``data.items``). Keys containing dots are not addressable.
    """

    type: Literal["json"] = "json"
    item_path: str | None = None
    encoding: Encoding = "utf-8"

    @field_validator("item_path")
    @classmethod
    def _item_path(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip()
        if v in ("", "$", "."):
            return None
        v = v.removeprefix("$.")
        if any(not part for part in v.split(".")):
            raise ValueError(f"item_path {v!r} has an empty segment (use dots between keys: data.items)")
        if any(ch in v for ch in "[]*"):
            raise ValueError(f"item_path {v!r}: only dot-separated keys are supported (data.items)")
        return v


class JsonLinesOptions(_Common):
    """One JSON object per line (``.jsonl``/``.ndjson``). Blank lines are skipped when ``skip_empty_lines``."""

    type: Literal["jsonl"] = "jsonl"
    encoding: Encoding = "utf-8"
    skip_empty_lines: bool = True
    max_line_bytes: int = Field(default=DEFAULT_MAX_LINE_BYTES, ge=1024)


class XmlOptions(_Common):
    """XML items streamed by path. See ``xml_parser`` for the element → dict conversion.

    - ``item_path``: ``Inventory/Item`` (absolute from the root element; a leading ``/`` is allowed),
      ``//Item`` or a bare ``Item`` (elements with that name at any depth; the outermost match wins),
      ``//Batch/Item`` (that suffix at any depth). ``*`` matches any one element name.
    - ``encoding``: override the document's declaration (default: the declaration, else UTF-8).
    - ``namespaces``: ``prefix`` (default; names as written, ``ns:Item``, like the reference SDK),
      ``strip`` (local names only) or ``uri`` (``{http://...}Item``).
    - ``include_attributes``: expose attributes as ``@name`` (default true).
    - ``force_list``: element names (as they appear in records, so per ``namespaces``) that always become
      lists, even when they occur once - e.g. an order's ``Item`` lines, one or several.
    """

    type: Literal["xml"] = "xml"
    item_path: str
    encoding: str | None = None
    namespaces: Literal["prefix", "strip", "uri"] = "prefix"
    include_attributes: bool = True
    force_list: list[str] = Field(default_factory=list)

    @field_validator("item_path")
    @classmethod
    def _item_path(cls, v: str) -> str:
        v = v.strip()
        body = v[2:] if v.startswith("//") else v.removeprefix("/")
        if not body or any(not seg for seg in body.split("/")):
            raise ValueError(f"item_path {v!r} has an empty segment (examples: Inventory/Item, //Item)")
        return v

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, v: str | None) -> str | None:
        return _check_encoding(v)


class ParquetOptions(_Common):
    """Parquet, read row group by row group (``batch_rows`` rows at a time). ``columns`` selects columns."""

    type: Literal["parquet"] = "parquet"
    columns: list[str] | None = Field(default=None, min_length=1)
    batch_rows: int = Field(default=10_000, ge=1, le=1_000_000)


ParserOptions = Annotated[
    CsvOptions | JsonOptions | JsonLinesOptions | XmlOptions | ParquetOptions,
    Field(discriminator="type"),
]

_ADAPTER: TypeAdapter[CsvOptions | JsonOptions | JsonLinesOptions | XmlOptions | ParquetOptions] = TypeAdapter(
    ParserOptions
)


def parser_options(value: Any) -> CsvOptions | JsonOptions | JsonLinesOptions | XmlOptions | ParquetOptions:
    """Validate a ``format:`` mapping (or pass an options object through)."""
    if isinstance(value, CsvOptions | JsonOptions | JsonLinesOptions | XmlOptions | ParquetOptions):
        return value
    return _ADAPTER.validate_python(value)
