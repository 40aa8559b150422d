"""Webhook bodies: accepted content types, parsing into records, and the event id.

A webhook body is parsed with the workflow's own parser options (the same code that reads files), so
numbers, XML safety (no DTDs, no entity expansion, no external entities) and error messages are the
same for both paths. One difference: a JSON webhook is usually one object, not an array, so a body that
is a single top-level object is read as one record when no ``item_path`` is configured.

The receiver parses every body once before publishing, so malformed input is refused with 400 and
never reaches Kafka; the worker parses the same bytes again (cheap: bodies are bounded).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator, Mapping
from typing import Any

from fluentsync.connectors.parsers.options import JsonOptions, XmlOptions
from fluentsync.connectors.parsers.records import FileParseError, MalformedRecord, ParsedRecord, Record
from fluentsync.connectors.parsers.stream import parse

from .settings import EventIdConfig

__all__ = ["BodyError", "WebhookFormat", "accepts_content_type", "body_records", "event_id", "parse_body"]

WebhookFormat = JsonOptions | XmlOptions

_JSON_TYPES = ("application/json", "text/json")
_XML_TYPES = ("application/xml", "text/xml")


class BodyError(ValueError):
    """The body cannot be read as the workflow's format; the message is safe to return to the sender."""


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def accepts_content_type(options: WebhookFormat, content_type: str | None) -> bool:
    """JSON workflows take ``application/json`` (and ``+json`` types), XML ones ``application/xml``."""
    media = _media_type(content_type)
    if isinstance(options, JsonOptions):
        return media in _JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))
    return media in _XML_TYPES or (media.startswith("application/") and media.endswith("+xml"))


def body_records(body: bytes, options: WebhookFormat) -> Iterator[Record]:
    """The body's records as the file parsers yield them (malformed ones included, as MalformedRecord).

    Raises :class:`FileParseError` when the body as a whole cannot be read.
    """
    data = body
    if isinstance(options, JsonOptions) and options.item_path is None and body.lstrip()[:1] == b"{":
        data = b"[" + body + b"]"
    return parse(io.BytesIO(data), options)


def parse_body(body: bytes, options: WebhookFormat) -> list[ParsedRecord]:
    """Every record of ``body``; :class:`BodyError` if the body or any record in it is malformed.

    A webhook is all or nothing: the sender cannot be told "3 of your 4 lines were fine", so one bad
    record refuses the request (400) and the sender fixes and resends it.
    """
    records: list[ParsedRecord] = []
    try:
        for item in body_records(body, options):
            if isinstance(item, MalformedRecord):
                raise BodyError(f"malformed record {item.index}: {item.message}")
            records.append(item)
    except FileParseError as exc:
        raise BodyError(str(exc)) from None
    if not records:
        raise BodyError("the body contains no records")
    return records


def _field(document: Any, path: str) -> str | None:
    value = document
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
        return str(value)
    return None


def event_id(body: bytes, headers: Mapping[str, str], config: EventIdConfig, *, is_json: bool) -> tuple[str, str]:
    """``(id, where it came from)``: the configured body field, else the header, else the body's SHA-256.

    ``headers`` must have lower-case names. The id becomes a Kafka key and a table key, so it is capped
    at 200 characters (longer ids are replaced by their SHA-256, still deterministic).
    """
    found: tuple[str, str] | None = None
    if config.field and is_json:
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        value = _field(document, config.field)
        if value is not None:
            found = (value, "field")
    if found is None and config.header:
        value = headers.get(config.header, "").strip()
        if value:
            found = (value, "header")
    if found is None:
        return hashlib.sha256(body).hexdigest(), "body_sha256"
    if len(found[0]) > 200:
        return hashlib.sha256(found[0].encode()).hexdigest(), found[1]
    return found
