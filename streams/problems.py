"""One problem with one field of one record: what mapping and validation report, and the DLQ carries.

The shape is the dead-letter schema's ``ErrorDetail`` (``schemas/avro/fluentsync.dlq.DeadLetter.avsc``),
so a problem found anywhere in the pipeline reaches the dead-letter topic without translation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["VALUE_LIMIT", "FieldProblem", "value_text"]

VALUE_LIMIT = 200  #: offending values are cut to this many characters in reports

Severity = Literal["ERROR", "WARNING"]


def value_text(value: Any) -> str | None:
    """The offending value as short text (None stays None)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= VALUE_LIMIT else text[: VALUE_LIMIT - 1] + "…"


@dataclass(frozen=True, slots=True)
class FieldProblem:
    stage: str  #: a ``fluentsync.Stage`` symbol: MAP, VALIDATE, FLUENT, ...
    field: str | None  #: dotted/indexed path, e.g. ``qty`` or ``items[2].price``; None: the whole record
    message: str
    value: str | None = None
    severity: Severity = "ERROR"
    code: str | None = None

    def to_avro(self) -> dict[str, Any]:
        return {"stage": self.stage, "field": self.field, "message": self.message, "value": self.value,
                "severity": self.severity, "code": self.code}
