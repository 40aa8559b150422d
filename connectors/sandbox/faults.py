"""Fault injection (fluent-api.md §3.4, §5.10).

The service's retry, back-off and at-least-once logic can only be trusted if it is exercised against
real failures, so every Fluent route can be told to misbehave: answer a status (5xx, 429 with
``Retry-After``, 4xx), add latency, hang until the client gives up, or reset the connection. A batch
can also get entity-level errors for chosen refs.

A fault targets a route (or ``*``) and optionally an entity ref that the request body must mention.
Among the calls it matches it fires on: the ``nth`` only (1-based, counted from when the fault was
set), else the next ``times`` (default: all), each thinned by ``fraction`` drawn from a seeded RNG so
runs are repeatable. Latency faults stack; of the terminal kinds (``status``, ``hang``, ``reset``) the
first one that fires wins. With ``after_store`` the request is handled normally (the batch or event is
stored) and only the answer is replaced by the fault, which is how a lost acknowledgement looks.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ROUTES", "Fault", "FaultRegistry", "FaultSpec", "RateLimiter"]

#: Route names used by faults and by the request log.
ROUTES: tuple[str, ...] = (
    "token",
    "graphql",
    "job_create",
    "job_get",
    "batch_create",
    "batch_get",
    "job_results",
    "event_async",
    "event_sync",
    "event_search",
    "event_get",
)

FaultKind = Literal["status", "latency", "hang", "reset", "entity_error"]
TERMINAL_KINDS = ("status", "hang", "reset")


class FaultSpec(BaseModel):
    """A fault as posted to ``POST /_sandbox/faults``."""

    model_config = ConfigDict(extra="forbid")

    route: str = Field(description="One of ROUTES, or '*' for every Fluent route.")
    kind: FaultKind
    status: int | None = Field(default=None, ge=100, le=599, description="kind=status: the HTTP status.")
    body: Any = Field(default=None, description="kind=status: the JSON body (default: a short error object).")
    retry_after: float | None = Field(default=None, ge=0, description="kind=status: Retry-After header, seconds.")
    delay: float | None = Field(default=None, ge=0, description="kind=latency: seconds to wait before handling.")
    times: int | None = Field(default=None, ge=1, description="Fire on the next N matching calls only.")
    nth: int | None = Field(default=None, ge=1, description="Fire on the Nth matching call only (1-based).")
    fraction: float | None = Field(default=None, ge=0, le=1, description="Fire on this fraction of calls.")
    after_store: bool = Field(default=False, description="Handle the request, then answer with the fault.")
    ref: str | None = Field(default=None, description="Only calls whose body mentions this ref.")
    code: str | None = Field(default=None, description="kind=entity_error: the error code (default C0160E).")
    message: str | None = Field(default=None, description="kind=entity_error: the error message.")

    @model_validator(mode="after")
    def _check(self) -> FaultSpec:
        if self.route != "*" and self.route not in ROUTES:
            raise ValueError(f"unknown route {self.route!r}; expected one of {', '.join(ROUTES)} or '*'")
        if self.kind == "status" and self.status is None:
            raise ValueError("kind 'status' needs a 'status'")
        if self.kind == "latency" and self.delay is None:
            raise ValueError("kind 'latency' needs a 'delay' in seconds")
        if self.kind == "entity_error" and self.route not in ("batch_create", "*"):
            raise ValueError("kind 'entity_error' applies to route 'batch_create' only")
        if self.after_store and self.kind not in ("status", "reset"):
            raise ValueError("'after_store' works with kind 'status' or 'reset'")
        return self


@dataclass
class Fault:
    """A registered fault and its counters."""

    id: str
    spec: FaultSpec
    rng: random.Random
    matched: int = 0
    fired: int = 0

    def _decide(self) -> bool:
        self.matched += 1
        spec = self.spec
        if spec.nth is not None:
            fire = self.matched == spec.nth
        elif spec.times is not None:
            fire = self.fired < spec.times
        else:
            fire = True
        if fire and spec.fraction is not None:
            fire = self.rng.random() < spec.fraction
        return fire

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.spec.model_dump(exclude_none=True),
            "matched": self.matched,
            "fired": self.fired,
        }


@dataclass
class FaultRegistry:
    """The active faults, in the order they were added."""

    random_seed: int = 0
    _faults: list[Fault] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add(self, spec: FaultSpec) -> Fault:
        number = next(self._ids)
        fault = Fault(id=f"f{number}", spec=spec, rng=random.Random(self.random_seed * 1000 + number))
        self._faults.append(fault)
        return fault

    def remove(self, fault_id: str) -> bool:
        before = len(self._faults)
        self._faults = [f for f in self._faults if f.id != fault_id]
        return len(self._faults) != before

    def clear(self) -> None:
        self._faults.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        return [f.as_dict() for f in self._faults]

    def needs_body(self, route: str) -> bool:
        """Whether some fault for ``route`` filters on a ref (so the body must be read first)."""
        return any(
            f.spec.ref is not None and f.spec.kind != "entity_error" and f.spec.route in (route, "*")
            for f in self._faults
        )

    def select(self, route: str, body: str | None) -> tuple[list[Fault], Fault | None]:
        """Faults that fire for this call: the latency faults, and at most one terminal fault."""
        latency: list[Fault] = []
        terminal: Fault | None = None
        for fault in self._faults:
            spec = fault.spec
            if spec.kind == "entity_error" or spec.route not in (route, "*"):
                continue
            if spec.ref is not None and (body is None or spec.ref not in body):
                continue
            if not fault._decide():
                continue
            if spec.kind == "latency":
                fault.fired += 1
                latency.append(fault)
            elif terminal is None:
                fault.fired += 1
                terminal = fault
        return latency, terminal

    def entity_error(self, entity: dict[str, Any]) -> tuple[str, str] | None:
        """An injected ``(code, message)`` for one batch entity, or ``None``."""
        refs: set[str] | None = None  # built only when an entity_error fault names a ref
        for fault in self._faults:
            spec = fault.spec
            if spec.kind != "entity_error":
                continue
            if spec.ref is not None:
                if refs is None:
                    refs = {str(entity.get(k)) for k in ("ref", "skuRef", "locationRef") if entity.get(k) is not None}
                if spec.ref not in refs:
                    continue
            if fault._decide():
                fault.fired += 1
                return spec.code or "C0160E", spec.message or "Injected entity error"
        return None


@dataclass
class RateLimiter:
    """A token bucket per access token (``rate_limit`` requests/s, ``burst`` capacity)."""

    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, key: str, rate: float, burst: int, now: float) -> float:
        """Consume one request; returns 0 when allowed, else the seconds until one is available."""
        tokens, last = self._buckets.get(key, (float(burst), now))
        tokens = min(float(burst), tokens + (now - last) * rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1 - tokens) / rate

    def clear(self) -> None:
        self._buckets.clear()
