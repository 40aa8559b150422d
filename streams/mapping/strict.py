"""fluentsync's own resolvers, for what the ``sdk.*`` set cannot express safely.

``sdk.parseInt`` follows JavaScript: ``"12.5"`` becomes 12 and ``"abc"`` becomes 0 (NaN mapped to 0), so
a quantity typo silently reaches Fluent. R18 wants such values rejected, so pipelines map quantities with
``fluentsync.integer``: whole numbers only, everything else is a field error (and, with
``fail_on_field_error``, a dead letter naming the field and the value).
"""

from __future__ import annotations

import re
from typing import Any

from fluentsync.streams.mapping.resolvers import Resolver

__all__ = ["FLUENTSYNC_RESOLVERS", "strict_integer"]

_INTEGER = re.compile(r"[+-]?\d+")


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
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    raise ValueError(f"not an integer: {value!r}")


FLUENTSYNC_RESOLVERS: dict[str, Resolver] = {"fluentsync.integer": strict_integer}
