"""Plain-Python acceptance checks that let a clearly valid payload skip pydantic.

Why: pydantic's ``model_validate`` + ``model_dump`` cost ~3 µs per INVENTORY entity, most of the
validation stage of the records path, for payloads that are almost always valid. A :class:`FastCheck`
answers one question cheaply - "would the model accept this payload exactly as it is?" - using exact
class tests (``str``, ``int`` but not ``bool``, ``None`` where the field allows it), the models' own
constraints and validators. If yes, the validator returns what ``model_dump(exclude_unset=True)``
would: the given fields in model order, containers copied. If not, or if in doubt (an unknown field, a
``str`` subclass, a negative quantity), pydantic runs as before and reports the problems, so messages,
codes and edge cases stay pydantic's.

Each check lists its model's fields: ``tests/unit/validation`` fails if a model gains, loses or
reorders a field without its check, and compares both paths on generated payloads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from fluentsync.streams.validation.entities import InventoryEntity

__all__ = ["FAST_CHECKS", "FastCheck", "Field"]

_NONE = type(None)


class Field:
    """What one field accepts: values of exactly these classes, then (if given) ``more(value)`` true."""

    __slots__ = ("classes", "container", "more")

    def __init__(self, *classes: type, more: Callable[[Any], bool] | None = None) -> None:
        self.classes = frozenset(classes)
        self.more = more
        self.container = dict in self.classes  #: copied into the result, as ``model_dump`` does


def _iso_8601(value: Any) -> bool:
    """As ``InventoryEntity._iso_8601`` accepts it (``None`` passes: the class test decided)."""
    if value is None:
        return True
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _non_empty(value: str) -> bool:
    return value != ""


def _str_map(value: Any) -> bool:
    return value is None or all(k.__class__ is str and v.__class__ is str for k, v in value.items())


class FastCheck:
    """``check(payload)`` -> the payload as the model would dump it, or ``None`` to ask pydantic."""

    def __init__(self, model: type[BaseModel], fields: Mapping[str, Field], *,
                 payload: Callable[[Mapping[str, Any]], bool] | None = None) -> None:
        self.model = model
        self.fields = dict(fields)  # model order
        self.required = frozenset(name for name, info in model.model_fields.items() if info.is_required())
        self.payload = payload  #: cross-field rules of the model's validators
        self._rank = {name: rank for rank, name in enumerate(self.fields)}
        #: the field order of the result for each key order seen (mappings emit one or a few)
        self._orders: dict[tuple[str, ...], tuple[tuple[str, ...], tuple[str, ...]]] = {}

    def __call__(self, payload: Any) -> dict[str, Any] | None:
        if payload.__class__ is not dict:
            return None
        fields = self.fields
        for name, value in payload.items():
            field = fields.get(name)
            if field is None or value.__class__ not in field.classes or (
                    field.more is not None and not field.more(value)):
                return None
        if not self.required <= payload.keys() or (self.payload is not None and not self.payload(payload)):
            return None
        keys = tuple(payload)
        order = self._orders.get(keys)
        if order is None:
            names = tuple(sorted(keys, key=self._rank.__getitem__))
            order = (names, tuple(name for name in names if fields[name].container))
            if len(self._orders) < 256:
                self._orders[keys] = order
        result = {name: payload[name] for name in order[0]}
        for name in order[1]:
            if result[name] is not None:
                result[name] = dict(result[name])
        return result


def _inventory_qty(payload: Mapping[str, Any]) -> bool:
    """``InventoryEntity._absolute_qty``: a negative quantity only for a type other than LAST_ON_HAND."""
    qty: int = payload["qty"]
    return qty >= 0 or payload.get("type") not in (None, "LAST_ON_HAND")


_STR, _INT, _NONE_STR, _NONE_INT = Field(str), Field(int), Field(str, _NONE), Field(int, _NONE)
_NON_EMPTY, _ISO = Field(str, more=_non_empty), Field(str, _NONE, more=_iso_8601)

#: entity type -> fast check (types without one always run pydantic)
FAST_CHECKS: dict[str, FastCheck] = {
    "INVENTORY": FastCheck(InventoryEntity, {
        "skuRef": _NON_EMPTY, "locationRef": _NON_EMPTY, "type": _NONE_STR, "qty": _INT, "status": _NONE_STR,
        "correctedQty": _NONE_INT, "reservedQty": _NONE_INT, "retailerId": Field(int, str, _NONE),
        "ref": _NONE_STR, "expectedOn": _ISO, "attributes": Field(dict, _NONE, more=_str_map), "uom": _NONE_STR,
        "lot": _NONE_STR, "expiry": _ISO, "effectiveFrom": _ISO, "inventoryId": _NONE_STR,
    }, payload=_inventory_qty),
}
