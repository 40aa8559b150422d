"""``EntityValidator``: model + rules for one workflow target; a record passes or gets its problems."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from fluentsync.streams.problems import FieldProblem, value_text
from fluentsync.streams.validation.entities import ENTITY_MODELS
from fluentsync.streams.validation.fast import FAST_CHECKS
from fluentsync.streams.validation.rules import RuleSet

__all__ = ["EntityValidator", "ValidationOutcome"]


@dataclass(frozen=True, slots=True)
class ValidationOutcome:
    payload: dict[str, Any] | None  #: the validated payload (only fields that were set), or None
    problems: list[FieldProblem]

    @property
    def ok(self) -> bool:
        return self.payload is not None


class EntityValidator:
    """Validates payloads of one entity type against its model and a workflow's :class:`RuleSet`."""

    def __init__(self, entity_type: str, rules: RuleSet | None = None, *, allow_extra_fields: bool = False) -> None:
        try:
            model = ENTITY_MODELS[entity_type]
        except KeyError:
            known = ", ".join(sorted(ENTITY_MODELS))
            raise ValueError(f"no payload model for entity type {entity_type!r} (known: {known})") from None
        if allow_extra_fields:
            model = _with_extras(model)
        self.entity_type = entity_type
        self.model = model
        self.rules = rules or RuleSet()
        #: skips pydantic for payloads it accepts as they are (extra fields are pydantic's business)
        self.fast = None if allow_extra_fields else FAST_CHECKS.get(entity_type)

    def validate(self, payload: Mapping[str, Any]) -> ValidationOutcome:
        fast = self.fast(payload) if self.fast is not None else None
        if fast is not None:
            problems = self.rules.check(payload)
            return ValidationOutcome(None if problems else fast, problems)
        problems = []
        result: dict[str, Any] | None = None
        try:
            result = self.model.model_validate(payload).model_dump(exclude_unset=True)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                field = _path(error["loc"])
                message = error["msg"].removeprefix("Value error, ")
                problems.append(FieldProblem("VALIDATE", field or None, message, value_text(error.get("input")),
                                             code=error["type"]))
        except ValueError as exc:  # model_post_init checks
            problems.append(FieldProblem("VALIDATE", None, str(exc), code="value_error"))
        problems.extend(self.rules.check(payload))
        return ValidationOutcome(result if not problems else None, problems)


def _with_extras(model: type[BaseModel]) -> type[BaseModel]:
    return type(f"{model.__name__}WithExtras", (model,), {"model_config": ConfigDict(extra="allow", frozen=True)})


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
