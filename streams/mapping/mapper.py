"""The UniversalMapper engine: compiled field specs applied to records (sdk-parity.md §3.3-§3.4).

One evaluation routine serves both :meth:`Mapper.map` (sync) and :meth:`Mapper.amap` (async): it is written
as a coroutine, and ``map`` drives it with a single ``send(None)``. Without async resolvers the coroutine
never suspends, so the sync path pays no event-loop cost; if an async resolver does suspend, ``map`` says
to use ``amap``. This keeps a single copy of the reference's per-field rules. A *flat* mapping (scalar
fields only, no declared async resolver: the common CSV case) is mapped by a plain loop instead, which
calls the same per-field routines; creating and driving the coroutines was a third of its cost.

Errors follow the reference: a failing ``required`` field (or any "Required field" error from a nested or
array sub-field) fails the whole record at once; other field errors are recorded, the field is left out and
mapping continues with ``success=True``. Errors are :class:`FieldProblem` objects shaped like the dead-letter
``ErrorDetail`` (``field``, ``message``, ``value``, ``severity``, ``code``); the caller adds ``stage``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from fluentsync.streams.problems import VALUE_LIMIT, FieldProblem

from .config import FieldKind, FieldSpec, Problem, clone_constant, compile_fields, load_config
from .helpers import ResolverHelpers
from .jsvalues import js_falsy, js_stringify
from .paths import MISSING, Missing, Step, get_path, is_empty, set_path
from .registry import ResolverRegistry
from .resolvers import Resolver

__all__ = ["FieldProblem", "Mapper", "MappingResult"]

Severity = Literal["ERROR", "WARNING"]


def _value_text(value: Any) -> str | None:
    """The offending value as short text for the DLQ (``None`` when absent)."""
    if value is MISSING:
        return None
    try:
        text = value if isinstance(value, str) else js_stringify(value)
    except (ValueError, RecursionError):
        text = repr(value)
    if text is None:
        return None
    return text if len(text) <= VALUE_LIMIT else text[: VALUE_LIMIT - 1] + "…"


@dataclass(slots=True)
class MappingResult:
    """``{success, data, errors, skippedFields}``; ``data`` is ``None`` when the record failed."""

    success: bool
    data: Any
    errors: list[FieldProblem] = field(default_factory=list)
    skipped_fields: list[str] = field(default_factory=list)

    def messages(self) -> list[str]:
        """Error messages as the reference reports them (plain strings)."""
        return [e.message for e in self.errors]


class _Pending:
    """An awaitable returned by a resolver, to be awaited by the (async) caller."""

    __slots__ = ("awaitable",)

    def __init__(self, awaitable: Any) -> None:
        self.awaitable = awaitable


_PLAIN = frozenset({str, int, float, bool, type(None), dict, list, Missing, datetime})


class _Suspended(RuntimeError):
    def __init__(self) -> None:
        super().__init__("an async resolver suspended; call Mapper.amap() from async code")


def _drive(coro: Any) -> Any:
    """Run a coroutine that is expected not to suspend (as ``map`` does with the whole mapping)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise _Suspended


class _Fatal(Exception):
    def __init__(self, error: FieldProblem) -> None:
        super().__init__(error.message)
        self.error = error


class _Run:
    """State of one ``map`` call."""

    __slots__ = ("context", "errors", "skipped")

    def __init__(self, context: Any) -> None:
        self.context = context
        self.errors: list[FieldProblem] = []
        self.skipped: list[str] = []


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _display(steps: tuple[Step, ...]) -> str:
    return "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps).lstrip(".")


class Mapper:
    """A compiled mapping. Build with :meth:`compile`; :meth:`map` is cheap and safe to call concurrently."""

    def __init__(self, fields: list[FieldSpec], *, helpers: ResolverHelpers, warnings: list[Problem],
                 fail_on_field_error: bool = False) -> None:
        self.fields = fields
        self.helpers = helpers
        self.warnings = warnings
        self.fail_on_field_error = fail_on_field_error
        #: scalar fields only, none with a declared async resolver: ``map`` needs no coroutine
        self._flat = all(s.kind is FieldKind.SCALAR and not s.resolver_is_async for s in fields)
        #: per field, its target key when the target is one plain key (then ``set_path`` is one store)
        self._keys = [s.target[0] if len(s.target) == 1 and isinstance(s.target[0], str) else None for s in fields]

    @classmethod
    def compile(
        cls,
        config: Mapping[str, Any] | str | Path,
        registry: ResolverRegistry | None = None,
        *,
        resolvers: Mapping[str, Resolver] | None = None,
        context: Any = None,
        strict: bool = False,
        fail_on_field_error: bool = False,
    ) -> Mapper:
        """Validate and compile ``config`` (dict, JSON text or file path); raises ``MappingConfigError``.

        ``resolvers`` are custom resolvers merged after the built-ins (they may shadow ``sdk.*``).
        ``strict`` makes config warnings errors. ``fail_on_field_error`` fails the record on *any* field
        error (the reference only fails on required fields; R17 wants resolver failures in the DLQ).
        """
        if registry is None:
            registry = ResolverRegistry(resolvers)
        elif resolvers:
            registry = registry.with_custom(resolvers)
        specs, warnings = compile_fields(load_config(config), registry, strict=strict)
        return cls(specs, helpers=ResolverHelpers(context), warnings=warnings,
                   fail_on_field_error=fail_on_field_error)

    # --- public API -------------------------------------------------------------------------------------
    def map(self, record: Any, context: Any = None) -> MappingResult:
        """Map one record (or a list of records, aggregated like the reference)."""
        if self._flat and not isinstance(record, list):
            return self._map_flat(record, context)
        coro = self.amap(record, context)
        try:
            coro.send(None)
        except StopIteration as done:
            result: MappingResult = done.value
            return result
        coro.close()
        raise RuntimeError("an async resolver suspended; call Mapper.amap() from async code")

    async def amap(self, record: Any, context: Any = None) -> MappingResult:
        if isinstance(record, list):
            return await self._map_many(record, context)
        run = _Run(self.helpers.context if context is None else context)
        data: dict[str, Any] = {}
        try:
            await self._fields(self.fields, record, data, run, "")
        except _Fatal as fatal:
            return MappingResult(False, None, [fatal.error], run.skipped)
        return MappingResult(True, data, run.errors, run.skipped)

    def _map_flat(self, record: Any, context: Any) -> MappingResult:
        """``map`` of a flat mapping: :meth:`_fields` as a loop, same rules, same results."""
        run = _Run(self.helpers.context if context is None else context)
        data: dict[str, Any] = {}
        try:
            for spec, key in zip(self.fields, self._keys, strict=True):
                try:
                    value = self._scalar(spec, record, run)
                    if value.__class__ is _Pending:  # a resolver returned an awaitable: it may not suspend
                        value = _drive(self._finish(spec, value))
                except (_Fatal, _Suspended):
                    raise
                except Exception as exc:
                    self._field_failed(spec, "", exc, record, run)
                    continue
                if value is MISSING:
                    run.skipped.append(spec.name)
                elif key is not None:
                    data[key] = value
                else:
                    set_path(data, spec.target, value)
        except _Fatal as fatal:
            return MappingResult(False, None, [fatal.error], run.skipped)
        return MappingResult(True, data, run.errors, run.skipped)

    async def _map_many(self, records: Sequence[Any], context: Any) -> MappingResult:
        data, errors, skipped = [], [], []
        for rec in records:
            res = await self.amap(rec, context)
            if res.success:
                data.append(res.data)
            errors.extend(res.errors)
            skipped.extend(res.skipped_fields)
        return MappingResult(bool(data), data, errors, skipped)

    # --- evaluation -------------------------------------------------------------------------------------
    async def _fields(self, specs: list[FieldSpec], record: Any, out: dict[str, Any], run: _Run,
                      prefix: str) -> None:
        for spec in specs:
            try:
                if spec.kind is FieldKind.SCALAR:
                    value = self._scalar(spec, record, run)
                    if value.__class__ is _Pending:
                        value = await self._finish(spec, value)
                elif spec.kind is FieldKind.ARRAY:
                    value = await self._array(spec, record, run, prefix)
                else:
                    value = await self._nested(spec, record, run, prefix)
            except _Fatal:
                raise
            except Exception as exc:
                self._field_failed(spec, prefix, exc, record, run)
                continue
            if value is MISSING:
                run.skipped.append(_join(prefix, spec.name))
            else:
                set_path(out, spec.target, value)

    def _field_failed(self, spec: FieldSpec, prefix: str, exc: Exception, record: Any, run: _Run) -> None:
        message = str(exc)
        source = get_path(record, spec.source) if spec.source else MISSING
        fatal = spec.required or "Required field" in message or self.fail_on_field_error
        code = "required" if "Required field" in message else "resolver_failed"
        error = FieldProblem("MAP", _join(prefix, spec.name), message, _value_text(source),
                           "ERROR" if fatal else "WARNING", code)
        if fatal:
            raise _Fatal(error)
        run.errors.append(error)

    def _scalar(self, spec: FieldSpec, record: Any, run: _Run) -> Any:
        """Synchronous on purpose (no coroutine per field); an awaitable result comes back as ``_Pending``."""
        if spec.has_value:
            value = clone_constant(spec.value) if spec.copy_constants else spec.value
        elif spec.source is not None:
            value = get_path(record, spec.source)
        else:
            value = MISSING
        empty = value is None or value is MISSING or (value.__class__ is str and value == "")
        if empty and spec.required and not spec.resolver_only:
            raise ValueError(f"Required field '{spec.name}' is missing or empty")
        if empty and spec.has_default:
            value = clone_constant(spec.default) if spec.copy_constants else spec.default
        if spec.resolver is None:
            return value
        try:
            value = spec.resolver(value, record, run.context, self.helpers)
        except Exception as exc:
            raise ValueError(f"Resolver '{spec.resolver_name}' failed: {exc}") from exc
        if spec.resolver_is_async or (value.__class__ not in _PLAIN and inspect.isawaitable(value)):
            return _Pending(value)
        return self._after_resolver(spec, value)

    async def _finish(self, spec: FieldSpec, pending: _Pending) -> Any:
        try:
            value = await pending.awaitable
        except Exception as exc:
            raise ValueError(f"Resolver '{spec.resolver_name}' failed: {exc}") from exc
        return self._after_resolver(spec, value)

    @staticmethod
    def _after_resolver(spec: FieldSpec, value: Any) -> Any:
        """``required`` is re-checked on the resolver's result for *every* field.

        The reference re-checks only resolver-only fields, so a resolver returning ``''``, null or nothing
        yields an empty or dropped "required" field (a known defect, sdk-parity.md §3.4: not copied).
        """
        if spec.required and is_empty(value):
            if spec.resolver_only:
                raise ValueError(f"Required field '{spec.name}' is missing or empty")
            raise ValueError(f"Required field '{spec.name}' is empty after resolver '{spec.resolver_name}'")
        return value

    async def _nested(self, spec: FieldSpec, record: Any, run: _Run, prefix: str) -> Any:
        root = record
        if spec.source is not None:
            root = get_path(record, spec.source)
            if root is None or root is MISSING:
                if spec.required:
                    raise ValueError(f"Required field '{spec.name}' is missing or empty")
                return MISSING
        out: dict[str, Any] = {}
        await self._fields(spec.fields, root, out, run, _join(prefix, spec.name))
        return out

    async def _array(self, spec: FieldSpec, record: Any, run: _Run, prefix: str) -> Any:
        if spec.array_path is not None:
            found = get_path(record, spec.array_path)
            base = found if isinstance(found, list) else []
            items = [get_path(i, spec.node_path) for i in base] if spec.node_path else list(base)
        else:
            found = get_path(record, spec.source) if spec.source is not None else MISSING
            if isinstance(found, list):
                items = found
            elif isinstance(found, Mapping) and "edges" in found:
                edges = found["edges"] if isinstance(found["edges"], list) else []
                items = [e["node"] if isinstance(e, Mapping) and "node" in e else e for e in edges]
            elif js_falsy(found):
                items = []
            else:
                items = [found]
        name = _join(prefix, spec.name)
        result = []
        for i, item in enumerate(items):
            out: dict[str, Any] = {}
            await self._fields(spec.fields, item, out, run, f"{name}[{i}]")
            result.append(out)
        return result

