"""fluentsync's own resolvers, for what the ``sdk.*`` set cannot express safely.

``sdk.parseInt`` follows JavaScript: ``"12.5"`` becomes 12 and ``"abc"`` becomes 0 (NaN mapped to 0), so
a quantity typo silently reaches Fluent. R18 wants such values rejected, so pipelines map quantities with
``fluentsync.integer``: whole numbers only, everything else is a field error (and, with
``fail_on_field_error``, a dead letter naming the field and the value).

Prices and totals have the same problem with ``sdk.parseFloat`` (and the mutation mapper's ``parseFloat``
transform): ``"1,234.50"`` becomes 1 and ``"abc"`` NaN, sent as ``null``. ``fluentsync.decimal`` takes
plain decimal notation only - what XML order feeds carry as text - and refuses everything else.

Both are resolvers ``(value, record, context, helpers)``; the worker also offers them to GraphQL mutation
mappings, as transforms and (fields pattern) resolvers.
"""

from __future__ import annotations

import math
import re
from typing import Any

from fluentsync.streams.mapping.resolvers import Resolver

__all__ = ["FLUENTSYNC_RESOLVERS", "strict_decimal", "strict_integer"]

_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_JS_INT_LIMIT = 1e21  #: below this an integral double prints without an exponent in JS


def strict_integer(value: Any, *_: Any) -> Any:
    """``"12"`` -> 12, ``12`` -> 12; ``None``/``""`` stay as they are (required-field rules decide);
    ``"12.5"``, ``"abc"``, ``12.5``, ``True`` raise ``ValueError``."""
    if value is None or value == "":
        return value
    if isinstance(value, bool):
        raise ValueError(f"not an integer: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        # what [+-]?\d+ matches (\d is a Unicode decimal digit, as for isdecimal), without a regex
        if text.isdecimal() or (text[:1] in ("+", "-") and text[1:].isdecimal()):
            return int(text)
    raise ValueError(f"not an integer: {value!r}")


def _js_number(number: float) -> int | float:
    """Integral values as ``int`` (``"12.0"`` -> 12), as the JSON parsers and JavaScript give them."""
    return int(number) if number.is_integer() and abs(number) < _JS_INT_LIMIT else number


def strict_decimal(value: Any, *_: Any) -> Any:
    """``"59.90"`` -> 59.9, ``"12"``/``"12.0"`` -> 12, ``" -0.5 "`` -> -0.5, ``"1e3"`` -> 1000, numbers as they
    are; ``None``/``""`` stay as they are (required-field rules decide); ``"1,234.50"``, ``"59.90 AUD"``,
    ``"abc"``, ``"NaN"``, infinities and booleans raise ``ValueError``.

    The result is the nearest double (GraphQL ``Float``), which JSON writes back as the shortest decimal
    (``19.95``); amounts that need exact decimal arithmetic must stay strings."""
    if value is None or value == "":
        return value
    if isinstance(value, bool):
        raise ValueError(f"not a decimal number: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a decimal number: {value!r}")
        return _js_number(value)
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        number = float(value.strip())
        if math.isfinite(number):
            return _js_number(number)
    raise ValueError(f"not a decimal number: {value!r}")


FLUENTSYNC_RESOLVERS: dict[str, Resolver] = {"fluentsync.integer": strict_integer, "fluentsync.decimal": strict_decimal}
