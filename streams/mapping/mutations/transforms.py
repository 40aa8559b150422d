"""Built-in transforms and value conversions of the GraphQL mutation mapper.

The reference's synchronous transforms (``parseInt``, ``toISO8601``…), ``${VAR}`` substitution in literal values
and the JSON-ready conversion of mapped variables live here, below everything else in the package, so the
argument compiler, the mapper and the fields pattern can all share them without import cycles.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from ..jsvalues import epoch_ms_to_datetime, js_falsy, js_parse_date, js_to_string, to_iso
from ..paths import MISSING
from ..resolvers import js_parse_float, js_parse_int

__all__ = ["BUILTIN_TRANSFORMS", "substitute_env"]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _to_boolean(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return v == v and v != 0
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes", "y", "on")
    return not js_falsy(v)


def _new_date(v: Any) -> datetime | None:
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=UTC)
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day, tzinfo=UTC)
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return epoch_ms_to_datetime(float(v))
    if isinstance(v, str):
        return js_parse_date(v)
    return None


def _to_iso8601(v: Any) -> Any:
    if v is None or (isinstance(v, str) and v == ""):
        return v
    parsed = _new_date(v)
    return to_iso(parsed) if parsed is not None else v


def _to_date(v: Any) -> Any:
    if v is None:
        return None
    return _new_date(v)


def _str_only(fn: Callable[[str], str]) -> Callable[[Any], Any]:
    return lambda v: fn(v) if isinstance(v, str) else v


#: name → ``fn(value)``. ``parseInt``/``parseFloat`` keep NaN (sent as ``null``, like ``JSON.stringify``).
BUILTIN_TRANSFORMS: dict[str, Callable[[Any], Any]] = {
    "parseInt": js_parse_int,
    "parseFloat": js_parse_float,
    "toString": lambda v: "" if v is None or v is MISSING else js_to_string(v),
    "toUpperCase": _str_only(str.upper),
    "toLowerCase": _str_only(str.lower),
    "trim": lambda v: v.strip("\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
                              "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff") if isinstance(v, str) else v,
    "toBoolean": _to_boolean,
    "toISO8601": _to_iso8601,
    "toDate": _to_date,
}


def substitute_env(value: Any, environ: Mapping[str, str] | None = None) -> Any:
    """Replace ``${VAR}`` in strings (recursively in lists/objects); an unset variable stays literal."""
    env = os.environ if environ is None else environ
    if isinstance(value, str):
        return _ENV.sub(lambda m: env.get(m.group(1), m.group(0)), value) if "${" in value else value
    if isinstance(value, list):
        return [substitute_env(v, env) for v in value]
    if isinstance(value, dict):
        return {k: substitute_env(v, env) for k, v in value.items()}
    return value


def _jsonable(value: Any) -> Any:
    """What ``JSON.stringify`` sends: dates → ISO strings, NaN/±Infinity → null, MISSING dropped."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if v is not MISSING}
    if isinstance(value, list):
        return [None if v is MISSING else _jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return to_iso(value)
    if isinstance(value, date):
        return to_iso(datetime(value.year, value.month, value.day, tzinfo=UTC))
    return value
