"""Per-workflow validation rules, on top of the payload models (R19).

``required`` treats absent, ``None`` and ``""`` as missing and ``0``/``false`` as present (the reference
SDK's truthiness test rejected ``qty: 0``). ``ranges``, ``patterns`` and ``allowed`` check values that
are present. Problems are :class:`~fluentsync.streams.problems.FieldProblem` with stage ``VALIDATE``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fluentsync.streams.problems import FieldProblem, value_text

__all__ = ["Range", "RuleSet"]


class Range(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    min: float | None = None
    max: float | None = None


class RuleSet(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    required: list[str] = Field(default_factory=list)
    ranges: dict[str, Range] = Field(default_factory=dict)
    patterns: dict[str, str] = Field(default_factory=dict)
    allowed: dict[str, list[Any]] = Field(default_factory=dict)

    @field_validator("patterns")
    @classmethod
    def _compile(cls, value: dict[str, str]) -> dict[str, str]:
        for field, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"patterns.{field}: invalid regular expression {pattern!r}: {exc}") from None
        return value

    @cached_property
    def _patterns(self) -> dict[str, re.Pattern[str]]:
        return {field: re.compile(pattern) for field, pattern in self.patterns.items()}

    @cached_property
    def _empty(self) -> bool:
        return not (self.required or self.ranges or self.patterns or self.allowed)

    def check(self, payload: Mapping[str, Any]) -> list[FieldProblem]:
        if self._empty:  # most workflows configure no rules: this runs once per record
            return []
        problems: list[FieldProblem] = []
        for field in self.required:
            value = _get(payload, field)
            if value is None or value == "":
                problems.append(FieldProblem("VALIDATE", field, "required field is missing", value_text(value),
                                             code="required"))
        for field, bounds in self.ranges.items():
            value = _get(payload, field)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(FieldProblem("VALIDATE", field, "must be a number", value_text(value), code="type"))
            elif (bounds.min is not None and value < bounds.min) or (bounds.max is not None and value > bounds.max):
                problems.append(FieldProblem("VALIDATE", field, f"must be within [{_fmt(bounds.min)}, "
                                             f"{_fmt(bounds.max)}]", value_text(value), code="range"))
        for field, pattern in self._patterns.items():
            value = _get(payload, field)
            if value is not None and not (isinstance(value, str) and pattern.fullmatch(value)):
                problems.append(FieldProblem("VALIDATE", field, f"must match {pattern.pattern}", value_text(value),
                                             code="pattern"))
        for field, choices in self.allowed.items():
            value = _get(payload, field)
            if value is not None and value not in choices:
                problems.append(FieldProblem("VALIDATE", field, f"must be one of {choices}", value_text(value),
                                             code="allowed"))
        return problems


def _fmt(bound: float | None) -> str:
    return "-inf" if bound is None else f"{bound:g}"


def _get(payload: Mapping[str, Any], path: str) -> Any:
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value
