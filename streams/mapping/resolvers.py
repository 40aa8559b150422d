"""The 16 built-in ``sdk.*`` resolvers, with the reference SDK's exact behaviour (sdk-parity.md §4).

Every resolver has the signature ``(value, record, context, helpers) -> value`` and receives
:data:`~.paths.MISSING` for an absent value; returning ``MISSING`` leaves the target field out. The quirks
(``parseInt`` of garbage is ``0``, ``formatDate`` of an epoch number is its string form, ``parseDate(None)``
is the epoch) are kept on purpose: mapping files written for the reference must produce the same output.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from .jsvalues import (
    JS_WHITESPACE,
    epoch_ms_to_datetime,
    js_falsy,
    js_number,
    js_parse_date,
    js_stringify,
    js_to_string,
    to_iso,
)
from .paths import MISSING

__all__ = ["SDK_RESOLVERS", "Resolver", "js_parse_float", "js_parse_int"]

#: ``(value, record, context, helpers) -> value`` (may also return an awaitable).
Resolver = Callable[[Any, Any, Any, Any], Any]

_INT_PREFIX = re.compile(r"[+-]?\d+")
_FLOAT_PREFIX = re.compile(r"[+-]?(?:Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")


def js_parse_int(value: Any) -> int | float:
    """JS ``parseInt(String(v), 10)``; NaN is returned as ``math.nan`` (callers map it to 0)."""
    m = _INT_PREFIX.match(js_to_string(value).lstrip(JS_WHITESPACE))
    return js_number(int(m.group(0))) if m else math.nan


def js_parse_float(value: Any) -> int | float:
    """JS ``parseFloat(String(v))``: the longest decimal-literal prefix, or ±Infinity; else ``math.nan``."""
    m = _FLOAT_PREFIX.match(js_to_string(value).lstrip(JS_WHITESPACE))
    if not m:
        return math.nan
    text = m.group(0)
    if text.endswith("Infinity"):
        return -math.inf if text.startswith("-") else math.inf
    return js_number(float(text))


def _nan_to_zero(n: int | float) -> int | float:
    return 0 if n != n else n


def uppercase(value: Any, *_: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def lowercase(value: Any, *_: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def trim(value: Any, *_: Any) -> Any:
    return value.strip(JS_WHITESPACE) if isinstance(value, str) else value


def parse_int(value: Any, *_: Any) -> Any:
    return _nan_to_zero(js_parse_int(value))


def parse_float(value: Any, *_: Any) -> Any:
    return _nan_to_zero(js_parse_float(value))


def format_date(value: Any, *_: Any) -> Any:
    """Strings are parsed and returned as ISO; invalid strings unchanged; other types as ``String(v)``."""
    if js_falsy(value):
        return value
    if isinstance(value, str):
        parsed = js_parse_date(value)
        return to_iso(parsed) if parsed is not None else value
    if isinstance(value, date):
        parsed = _new_date(value)
        assert parsed is not None
        return to_iso(parsed)
    return js_to_string(value)


def _new_date(value: Any) -> datetime | None:
    """JS ``new Date(v)`` for one argument: numbers and booleans are epoch ms, the rest goes through String."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value is None:
        return epoch_ms_to_datetime(0)
    if isinstance(value, bool | int | float):
        return epoch_ms_to_datetime(float(value))
    return js_parse_date(js_to_string(value))


def format_date_short(value: Any, *_: Any) -> Any:
    if js_falsy(value):
        return value
    parsed = _new_date(value)
    return to_iso(parsed)[:10] if parsed is not None else value


def parse_date(value: Any, *_: Any) -> Any:
    """A ``datetime`` (UTC) or ``None``; ``None`` in gives the epoch (JS ``new Date(null)``)."""
    if value is MISSING:
        return None
    return _new_date(value)


def boolean(value: Any, *_: Any) -> Any:
    if isinstance(value, str):
        return value.lower() in ("true", "1", "yes", "y")
    if isinstance(value, bool):
        return value
    return isinstance(value, int | float) and value == 1


def to_string(value: Any, *_: Any) -> Any:
    return "" if value is None or value is MISSING else js_to_string(value)


def identity(value: Any, *_: Any) -> Any:
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _normalise_json(value: Any) -> Any:
    """Numbers as JS holds them (``1.0`` → ``1``, huge ints → float)."""
    if isinstance(value, dict):
        return {k: _normalise_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise_json(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return js_number(value)
    return value


def parse_json(value: Any, *_: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return _normalise_json(json.loads(value, parse_constant=_reject_constant))
    except ValueError:
        return value


def to_json(value: Any, *_: Any) -> Any:
    if value is MISSING:
        return MISSING
    try:
        out = js_stringify(value)
    except (ValueError, RecursionError):
        return value
    return MISSING if out is None else out


def coalesce(value: Any, *_: Any) -> Any:
    return MISSING if value is None else value


#: Name → resolver, in the reference's order. ``sdk.number`` is ``sdk.parseFloat``; ``sdk.default`` and
#: ``sdk.identity`` both return the value unchanged (``sdk.default`` does not apply a default).
SDK_RESOLVERS: dict[str, Resolver] = {
    "sdk.uppercase": uppercase,
    "sdk.lowercase": lowercase,
    "sdk.trim": trim,
    "sdk.parseInt": parse_int,
    "sdk.parseFloat": parse_float,
    "sdk.number": parse_float,
    "sdk.formatDate": format_date,
    "sdk.formatDateShort": format_date_short,
    "sdk.parseDate": parse_date,
    "sdk.boolean": boolean,
    "sdk.toString": to_string,
    "sdk.default": identity,
    "sdk.identity": identity,
    "sdk.parseJson": parse_json,
    "sdk.toJson": to_json,
    "sdk.coalesce": coalesce,
}
