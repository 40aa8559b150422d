"""JavaScript value semantics needed for byte-compatible mapping output (sdk-parity.md §4 "Porting rules").

Mapping files written for the reference SDK expect JS behaviour: ``String(true)`` is ``"true"``, ``5.0``
prints as ``5``, ``JSON.stringify`` is compact and keeps non-ASCII, and ``new Date(s)`` accepts a specific
set of formats. Python's defaults differ on each point, so the conversions live here, in one place.

Date parsing deviates from V8 on purpose: date-times without an offset are read as **UTC** (V8 uses local
time; workers run with ``TZ=UTC`` so the result is the same), and only ISO-8601, RFC 2822 and
``MM/DD/YYYY [hh:mm[:ss]]`` are understood. V8's other lenient legacy forms are "invalid" here.
"""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .paths import MISSING

__all__ = [
    "JS_WHITESPACE",
    "js_falsy",
    "js_number",
    "js_number_to_string",
    "js_parse_date",
    "js_stringify",
    "js_to_string",
    "to_iso",
]

#: Characters removed by JS ``String.prototype.trim`` (WhiteSpace + LineTerminator), incl. U+FEFF.
JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)

_MAX_SAFE = 2**53
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def js_falsy(value: Any) -> bool:
    """JS falsiness: null, undefined, ``false``, ``0``, ``''``, NaN. Empty lists and dicts are truthy."""
    if value is None or value is MISSING or value is False:
        return True
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == 0 or value != value
    return isinstance(value, str) and value == ""


def js_number(value: float | int) -> float | int:
    """Normalise a number as JS would hold it: integral values within ±2^53 become ``int``."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if -_MAX_SAFE <= value <= _MAX_SAFE else float(value)
    if math.isfinite(value) and value.is_integer() and -_MAX_SAFE <= value <= _MAX_SAFE:
        return int(value)
    return value


def js_number_to_string(value: float | int) -> str:
    """ECMAScript ``Number::toString``: shortest round-trip digits, exponent form below 1e-6 or from 1e21."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and -_MAX_SAFE <= value <= _MAX_SAFE:
        return str(value)
    value = float(value)
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    digits = (int_part + frac_part.rstrip("0")).lstrip("0") if frac_part != "0" else int_part.lstrip("0")
    # n = position of the decimal point relative to the first significant digit (ECMA-262 notation).
    lead_zeros = len(int_part + frac_part) - len((int_part + frac_part).lstrip("0"))
    n = len(int_part) - lead_zeros + (int(exp_text) if exp_text else 0)
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        exp = f"e{'+' if e >= 0 else '-'}{abs(e)}"
        out = (digits if k == 1 else digits[0] + "." + digits[1:]) + exp
    return sign + out


def to_iso(value: datetime) -> str:
    """``Date.prototype.toISOString``: UTC, milliseconds, ``Z``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    v = value.astimezone(UTC)
    ms = v.microsecond // 1000
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}.{ms:03d}Z"


def js_to_string(value: Any) -> str:
    """JS ``String(v)``; ``str(True)`` would give ``True`` and ``str(5.0)`` ``5.0``."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if value is MISSING:
        return "undefined"
    if isinstance(value, bool | int | float):
        return js_number_to_string(value)
    if isinstance(value, list | tuple):
        return ",".join("" if v is None or v is MISSING else js_to_string(v) for v in value)
    if isinstance(value, datetime):
        v = value if value.tzinfo else value.replace(tzinfo=UTC)
        return v.astimezone(UTC).strftime("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)")
    if isinstance(value, Mapping):
        return "[object Object]"
    return str(value)


# --- JSON.stringify -------------------------------------------------------------------------------------

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\ud800-\udfff]')


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    return _ESCAPES.get(ch) or f"\\u{ord(ch):04x}"


def _quote(s: str) -> str:
    return '"' + _NEEDS_ESCAPE.sub(_escape, s) + '"'


class _Cycle(ValueError):
    pass


def _encode(value: Any, seen: set[int]) -> str | None:
    """One value; ``None`` means "undefined" (omitted in objects, ``null`` in arrays)."""
    if value is MISSING or callable(value):
        return None
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, int | float):
        return js_number_to_string(value) if math.isfinite(value) else "null"
    if isinstance(value, datetime):
        return _quote(to_iso(value))
    if isinstance(value, date):
        return _quote(to_iso(datetime(value.year, value.month, value.day, tzinfo=UTC)))
    ident = id(value)
    if ident in seen:
        raise _Cycle("Converting circular structure to JSON")
    seen.add(ident)
    try:
        if isinstance(value, Mapping):
            parts = []
            for k, v in value.items():
                enc = _encode(v, seen)
                if enc is not None:
                    parts.append(_quote(js_to_string(k)) + ":" + enc)
            return "{" + ",".join(parts) + "}"
        if isinstance(value, list | tuple):
            return "[" + ",".join(_encode(v, seen) or "null" for v in value) + "]"
        return _quote(str(value))
    finally:
        seen.discard(ident)


def js_stringify(value: Any) -> str | None:
    """``JSON.stringify(value)`` (compact, non-ASCII kept); ``None`` when JS returns undefined.

    Raises ``ValueError`` on a cycle, as JS throws ``TypeError``.
    """
    return _encode(value, set())


# --- new Date(string) -----------------------------------------------------------------------------------

_ISO = re.compile(
    r"^([+-]\d{6}|\d{4})(?:-(\d{2})(?:-(\d{2}))?)?"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|z|[+-]\d{2}:?\d{2})?$"
)
_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def _build(y: int, mo: int, d: int, h: int, mi: int, s: int, ms: int, offset_min: int) -> datetime | None:
    """Assemble like V8's MakeDay/MakeTime: month 1-12, day 1-31 rolling over, hour ≤ 24 (24:00 only)."""
    if not (1 <= mo <= 12 and 1 <= d <= 31 and mi < 60 and s < 60 and (h < 24 or (h == 24 and mi == s == ms == 0))):
        return None
    try:
        base = datetime(y, mo, 1, tzinfo=UTC)
        return base + timedelta(days=d - 1, hours=h, minutes=mi - offset_min, seconds=s, milliseconds=ms)
    except (ValueError, OverflowError):
        return None


def _parse_offset(text: str | None) -> int:
    if not text or text in "Zz":
        return 0
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return sign * (int(digits[:2]) * 60 + int(digits[2:]))


def js_parse_date(text: str) -> datetime | None:
    """``new Date(text)`` for the supported formats; ``None`` for "Invalid Date"."""
    s = text.strip(JS_WHITESPACE)
    m = _ISO.match(s)
    if m:
        y, mo, d, h, mi, sec, frac, off = m.groups()
        ms = int((frac or "0")[:3].ljust(3, "0"))
        hms = int(h or 0), int(mi or 0), int(sec or 0)
        return _build(int(y), int(mo or 1), int(d or 1), *hms, ms, _parse_offset(off))
    m = _US.match(s)
    if m:
        mo, d, y, h, mi, sec = m.groups()
        return _build(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(sec or 0), 0, 0)
    return _parse_rfc2822(s) or _parse_rfc2822(s + " 00:00:00")  # V8 also takes "15 Jan 2024"


def _parse_rfc2822(s: str) -> datetime | None:
    try:
        parsed = email.utils.parsedate_to_datetime(s)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def epoch_ms_to_datetime(ms: float) -> datetime | None:
    """``new Date(number)``: epoch milliseconds, truncated toward zero; NaN or out of range → ``None``."""
    if not math.isfinite(ms) or abs(ms) > 8.64e15:
        return None
    try:
        return _EPOCH + timedelta(milliseconds=math.trunc(ms))
    except OverflowError:
        return None
