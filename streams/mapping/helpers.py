"""Utility functions handed to resolvers as their 4th argument (sdk-parity.md §5).

Custom resolvers ported from the reference call ``helpers.getXmlAttribute(...)`` and friends, so the common
utilities exist under both the snake_case Python name and the reference's camelCase name. Only the subset
that resolvers actually need for mapping is provided (see docs/mapping.md for the list).
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .jsvalues import JS_WHITESPACE, js_to_string
from .paths import MISSING, compile_path, get_path, is_empty, set_path
from .resolvers import _new_date, format_date, js_parse_float, js_parse_int

__all__ = ["ResolverHelpers"]

_TEMPLATE = re.compile(r"\{\{\s*([^}\s]+)\s*\}\}")


class ResolverHelpers:
    """The helper object; one per mapper. ``context`` and ``fluent_client`` are whatever the service passes."""

    def __init__(self, context: Any = None, fluent_client: Any = None, *, currency_compat: bool = False) -> None:
        self.context = context
        self.fluent_client = fluent_client
        self.fluentClient = fluent_client
        #: ``True`` reproduces the reference's ``formatCurrency`` (truncates at an exact 5; a known defect).
        self.currency_compat = currency_compat
        self.log = logging.getLogger("fluentsync.mapping.resolver")

    # --- paths and XML ----------------------------------------------------------------------------------
    @staticmethod
    def get(obj: Any, path: str, default: Any = None) -> Any:
        value = get_path(obj, compile_path(path))
        return default if value is MISSING else value

    @staticmethod
    def set(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
        set_path(obj, compile_path(path), value)
        return obj

    @staticmethod
    def get_xml_attribute(obj: Any, name: str) -> Any:
        """Tries ``$name``, ``$.name``, ``@name``, ``@.name``, ``name``, ``_attributes.name`` in that order."""
        if not isinstance(obj, Mapping):
            return None
        for holder, key in ((obj, f"${name}"), (obj.get("$"), name), (obj, f"@{name}"), (obj.get("@"), name),
                            (obj, name), (obj.get("_attributes"), name)):
            if isinstance(holder, Mapping) and holder.get(key) is not None:
                return holder[key]
        return None

    @staticmethod
    def get_xml_text_content(obj: Any) -> Any:
        if not isinstance(obj, Mapping):
            return obj
        for key in ("_", "#text", "value"):
            if obj.get(key) is not None:
                return obj[key]
        return None

    @staticmethod
    def normalize_empty(value: Any, default: Any = None) -> Any:
        if is_empty(value) or (isinstance(value, str) and value.strip(JS_WHITESPACE) == ""):
            return default
        return value

    # --- formatting -------------------------------------------------------------------------------------
    format_date = staticmethod(format_date)

    def format_currency(self, amount: Any, scale: int = 2) -> str:
        """Fixed-point string; half-up rounding (``currency_compat`` keeps the reference's truncation)."""
        try:
            d = Decimal(js_to_string(amount).strip(JS_WHITESPACE) or "0")
        except InvalidOperation:
            d = Decimal(0)
        quantum = Decimal(1).scaleb(-scale)
        if self.currency_compat:
            digit_after = int((abs(d) * Decimal(10) ** (scale + 1)) % 10)
            rounding = ROUND_DOWN if digit_after == 5 else ROUND_HALF_UP
        else:
            rounding = ROUND_HALF_UP
        return str(d.quantize(quantum, rounding=rounding))

    @staticmethod
    def parse_float_safe(value: Any, default: Any = 0) -> Any:
        n = js_parse_float(value)
        return default if n != n else n

    @staticmethod
    def parse_int_safe(value: Any, default: Any = 0) -> Any:
        n = js_parse_int(value)
        return default if n != n else n

    @staticmethod
    def safe_json_parse(text: Any, default: Any = None) -> Any:
        try:
            return json.loads(text)
        except (TypeError, ValueError):
            return default

    @staticmethod
    def map_value(value: Any, mapping: Mapping[str, Any], default: Any = None) -> Any:
        key = js_to_string(value)
        return mapping.get(key, default)

    @staticmethod
    def extract_custom_attribute(attrs: Any, attribute_id: str) -> Any:
        """Finds the attribute whose ``@attribute-id`` or ``attributeId`` matches; returns ``#text``/``value``."""
        items: Iterable[Any] = attrs if isinstance(attrs, list) else [attrs] if isinstance(attrs, Mapping) else []
        for item in items:
            if isinstance(item, Mapping) and attribute_id in (item.get("@attribute-id"), item.get("attributeId")):
                return item.get("#text", item.get("value"))
        return None

    @staticmethod
    def template(text: str, variables: Mapping[str, Any]) -> str:
        def sub(m: re.Match[str]) -> str:
            value = get_path(variables, compile_path(m.group(1)))
            return "" if value is None or value is MISSING else js_to_string(value)

        return _TEMPLATE.sub(sub, text)

    # --- misc -------------------------------------------------------------------------------------------
    @staticmethod
    def is_empty(value: Any) -> bool:
        return is_empty(value) or (isinstance(value, list | dict) and not value)

    @staticmethod
    def require_field(value: Any, name: str) -> Any:
        if is_empty(value):
            raise ValueError(f"Required field '{name}' is missing or empty")
        return value

    @staticmethod
    def ensure_array(value: Any) -> list[Any]:
        if value is None or value is MISSING:
            return []
        return value if isinstance(value, list) else [value]

    @staticmethod
    def coalesce(*values: Any) -> Any:
        return next((v for v in values if v is not None and v is not MISSING), None)

    @staticmethod
    def default_to(value: Any, default: Any) -> Any:
        return default if value is None or value is MISSING or value != value else value

    deep_clone = staticmethod(copy.deepcopy)

    @staticmethod
    def pick(obj: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
        return {k: obj[k] for k in keys if k in obj}

    @staticmethod
    def omit(obj: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
        drop = set(keys)
        return {k: v for k, v in obj.items() if k not in drop}

    @staticmethod
    def chunk(items: list[Any], size: int) -> list[list[Any]]:
        return [items[i : i + size] for i in range(0, len(items), max(1, size))]

    @staticmethod
    def unique(items: Iterable[Any]) -> list[Any]:
        out: list[Any] = []
        for item in items:
            if item not in out:
                out.append(item)
        return out

    @staticmethod
    def compact(items: Iterable[Any]) -> list[Any]:
        return [i for i in items if i]

    @staticmethod
    def group_by(items: Iterable[Any], key: str | Callable[[Any], Any]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for item in items:
            k = key(item) if callable(key) else get_path(item, compile_path(key))
            out.setdefault(js_to_string(k), []).append(item)
        return out

    @staticmethod
    def add_days(value: Any, days: int) -> Any:
        d = _new_date(value)
        return None if d is None else d + timedelta(days=days)

    @staticmethod
    def subtract_days(value: Any, days: int) -> Any:
        d = _new_date(value)
        return None if d is None else d - timedelta(days=days)

    @staticmethod
    def date_diff(a: Any, b: Any) -> Any:
        """Whole days between two dates, rounded up (reference ``dateDiff``)."""
        da, db = _new_date(a), _new_date(b)
        if da is None or db is None:
            return None
        seconds = abs((db - da).total_seconds())
        return int(-(-seconds // 86400))


_ALIASES = {
    "getXmlAttribute": "get_xml_attribute",
    "getXmlTextContent": "get_xml_text_content",
    "normalizeEmpty": "normalize_empty",
    "formatDate": "format_date",
    "formatCurrency": "format_currency",
    "parseFloatSafe": "parse_float_safe",
    "parseIntSafe": "parse_int_safe",
    "safeJsonParse": "safe_json_parse",
    "mapValue": "map_value",
    "extractCustomAttribute": "extract_custom_attribute",
    "isEmpty": "is_empty",
    "requireField": "require_field",
    "ensureArray": "ensure_array",
    "defaultTo": "default_to",
    "deepClone": "deep_clone",
    "groupBy": "group_by",
    "addDays": "add_days",
    "subtractDays": "subtract_days",
    "dateDiff": "date_diff",
}
for _camel, _snake in _ALIASES.items():
    setattr(ResolverHelpers, _camel, ResolverHelpers.__dict__[_snake])
