"""Result, request and error types of the GraphQL mutation mapper.

What a mapping produces (a request body, a :class:`MutationResult`, a :class:`ConfigValidation`) and how a
record fails (:class:`MutationMappingError` with DLQ-ready problems, plus the per-record error collector shared
by the arguments and fields patterns) are kept apart from the mapping logic so every module can use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

from fluentsync.streams.problems import FieldProblem, value_text

from ..config import Problem
from ..paths import MISSING
from .transforms import _jsonable

__all__ = ["ConfigValidation", "MutationMappingError", "MutationRequest", "MutationResult"]

STAGE = "MAP"


class MutationRequest(TypedDict):
    """A GraphQL request body."""

    query: str
    variables: dict[str, Any]


class MutationMappingError(ValueError):
    """A record could not be mapped; ``problems`` are DLQ-ready (stage ``MAP``)."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))


@dataclass(slots=True)
class MutationResult:
    """What :meth:`GraphQLMutationMapper.map_safe` returns; ``query``/``variables`` are ``None`` on failure."""

    success: bool
    query: str | None
    variables: dict[str, Any] | None
    errors: list[FieldProblem] = field(default_factory=list)

    def request(self) -> MutationRequest:
        if not self.success or self.query is None or self.variables is None:
            raise MutationMappingError(self.errors)
        return {"query": self.query, "variables": self.variables}


@dataclass(slots=True)
class ConfigValidation:
    errors: list[Problem]
    warnings: list[Problem]

    @property
    def valid(self) -> bool:
        return not self.errors


class _RecordErrors:
    __slots__ = ("problems",)

    def __init__(self) -> None:
        self.problems: list[FieldProblem] = []

    def add(self, path: str, message: str, value: Any = MISSING, code: str = "invalid") -> None:
        shown = None if value is MISSING else value_text(_jsonable(value))
        self.problems.append(FieldProblem(STAGE, path, message, shown, "ERROR", code))


class _FieldError(Exception):
    def __init__(self, message: str, value: Any, code: str) -> None:
        super().__init__(message)
        self.value = value
        self.code = code
