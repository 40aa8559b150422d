"""Load and validate a UniversalMapper JSON config into compiled field specs (sdk-parity.md §3.1).

Validation runs once, at start-up, and reports *every* problem in one :class:`MappingConfigError`, each as
``fields.<path>: problem (suggestion)``, so a person fixes a mapping file in one pass. Files that load in
the reference load here unchanged; what the reference silently accepts but gets wrong (``required`` with
``defaultValue``, nested ``[*]``, an unknown resolver) is an error here, and what is merely suspicious
(unknown keys, ``value`` beside ``source``) is a warning, returned alongside the specs (``strict`` turns
warnings into errors).

A top-level ``"resolvers": {"name": "package.module:function"}`` object (ignored by the reference, which
ignores unknown top-level keys) names custom resolvers by module path.
"""

from __future__ import annotations

import copy
import difflib
import enum
import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .paths import PathSyntaxError, Step, compile_path, split_wildcard
from .registry import ResolverLookupError, ResolverRegistry
from .resolvers import Resolver

__all__ = ["FieldKind", "FieldSpec", "MappingConfigError", "Problem", "compile_fields", "load_config"]

_KNOWN_KEYS = ("source", "value", "resolver", "required", "defaultValue", "fields", "isArray")
_GRAPHQL_KEYS = {"type", "transform", "mapping", "autoWrap", "validation", "_array", "_nested"}


class FieldKind(enum.Enum):
    SCALAR = "scalar"
    NESTED = "nested"
    ARRAY = "array"


@dataclass(slots=True)
class FieldSpec:
    """One compiled field. Paths are pre-split; constants that are containers are deep-copied per use."""

    name: str  # target key as written in the config
    target: tuple[Step, ...]
    kind: FieldKind
    source: tuple[Step, ...] | None = None
    has_value: bool = False
    value: Any = None
    required: bool = False
    has_default: bool = False
    default: Any = None
    copy_constants: bool = False  # value/default is a list or dict: copy so records never share it
    resolver_name: str | None = None
    resolver: Resolver | None = None
    resolver_is_async: bool = False
    resolver_only: bool = False
    fields: list[FieldSpec] = field(default_factory=list)
    array_path: tuple[Step, ...] | None = None  # set when the source was 'arrayPath[*].nodePath'
    node_path: tuple[Step, ...] = ()


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    message: str
    suggestion: str = ""
    warning: bool = False

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" + (f" ({self.suggestion})" if self.suggestion else "")


class MappingConfigError(ValueError):
    """The mapping config is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid mapping config ({len(problems)} problem(s)):\n{lines}")


def load_config(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """A config from a dict, a JSON string, or a path to a JSON file."""
    if isinstance(source, Mapping):
        return dict(source)
    if isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith("{")):
        text = Path(source).read_text(encoding="utf-8")
    else:
        text = source
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MappingConfigError([Problem("config", f"not valid JSON: {exc}", "fix the JSON syntax")]) from exc
    if not isinstance(loaded, dict):
        raise MappingConfigError([Problem("config", "top level must be a JSON object", "wrap it in {\"fields\": …}")])
    return loaded


class _Compiler:
    def __init__(self, registry: ResolverRegistry, aliases: Mapping[str, Any]) -> None:
        self.registry = registry
        self.aliases = aliases
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str, suggestion: str = "", *, warning: bool = False) -> None:
        self.problems.append(Problem(path, message, suggestion, warning))

    def fields(self, fields: Any, prefix: str) -> list[FieldSpec]:
        if not isinstance(fields, Mapping):
            self.problem(prefix, f"must be an object of target path → field config, got {type(fields).__name__}",
                         'e.g. {"skuRef": {"source": "sku"}}')
            return []
        if not fields:
            self.problem(prefix, "is empty", "map at least one field", warning=True)
        specs = []
        for name, cfg in fields.items():
            spec = self.field(str(name), cfg, f"{prefix}.{name}")
            if spec is not None:
                specs.append(spec)
        return specs

    def field(self, name: str, cfg: Any, path: str) -> FieldSpec | None:
        ok = True
        try:
            target = compile_path(name)
            if isinstance(target[0], int):
                raise PathSyntaxError("target path starts with an index", "start with a key, e.g. 'items[0]'")
        except PathSyntaxError as exc:
            self.problem(path, f"bad target path: {exc}", exc.suggestion)
            ok, target = False, ()
        if not isinstance(cfg, Mapping):
            self.problem(path, f"field config must be an object, got {type(cfg).__name__}",
                         'e.g. {"source": "sku"} or {"value": "DEFAULT"}')
            return None
        for key in cfg:
            if key in _KNOWN_KEYS:
                continue
            if key in _GRAPHQL_KEYS:
                hint = "that key belongs to the GraphQL mutation mapper; use 'resolver' here"
            else:
                close = difflib.get_close_matches(str(key), _KNOWN_KEYS, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(_KNOWN_KEYS)}"
            self.problem(path, f"unknown key '{key}' is ignored", hint, warning=True)
        for key in ("required", "isArray"):
            if key in cfg and not isinstance(cfg[key], bool):
                self.problem(path, f"'{key}' must be true or false, got {cfg[key]!r}", f'write "{key}": true')
                ok = False
        required, is_array = cfg.get("required") is True, cfg.get("isArray") is True
        has_value, has_default = "value" in cfg, "defaultValue" in cfg
        raw_source = cfg.get("source")
        if "source" in cfg and (not isinstance(raw_source, str) or raw_source == ""):
            self.problem(path, f"'source' must be a non-empty path string, got {raw_source!r}",
                         "e.g. \"source\": \"sku\" or \"source\": \"lines[0].qty\"")
            ok, raw_source = False, None
        has_fields = "fields" in cfg
        spec = FieldSpec(name=name, target=target, kind=FieldKind.SCALAR, required=required)
        if has_fields and is_array:
            spec.kind = FieldKind.ARRAY
            if required:
                self.problem(path, "'required' is ignored for arrays", "remove it; an array field is always set",
                             warning=True)
        elif has_fields:
            spec.kind = FieldKind.NESTED
        elif is_array:
            self.problem(path, "'isArray' without 'fields' is treated as a scalar",
                         "add 'fields' for the item mapping or remove 'isArray'", warning=True)
        if spec.kind is not FieldKind.SCALAR:
            for key in ("value", "defaultValue", "resolver"):
                if key in cfg:
                    self.problem(path, f"'{key}' is ignored on a {spec.kind.value} field",
                                 "move it into the nested 'fields'", warning=True)
            spec.fields = self.fields(cfg["fields"], f"{path}.fields")
        ok = self.source(spec, raw_source, path) and ok
        if spec.kind is FieldKind.SCALAR:
            ok = self.scalar(spec, cfg, path, has_value, has_default, raw_source) and ok
        return spec if ok else None

    def source(self, spec: FieldSpec, raw: str | None, path: str) -> bool:
        if raw is None:
            if spec.kind is FieldKind.ARRAY:
                self.problem(path, "an isArray field has no 'source'", "point 'source' at the list, e.g. \"lines\"")
                return False
            return True
        if raw.count("[*]") > 1:
            self.problem(path, f"source {raw!r} has more than one '[*]' (the reference maps it to [])",
                         "use one '[*]' and a nested isArray field for inner lists")
            return False
        split = split_wildcard(raw)
        try:
            if split is not None:
                if spec.kind is not FieldKind.ARRAY:
                    raise PathSyntaxError(f"'[*]' in {raw!r} needs an isArray field", "add \"isArray\": true")
                spec.array_path = compile_path(split[0])
                spec.node_path = compile_path(split[1]) if split[1] else ()
            else:
                spec.source = compile_path(raw)
        except PathSyntaxError as exc:
            self.problem(path, f"bad source path: {exc}", exc.suggestion)
            return False
        return True

    def scalar(self, spec: FieldSpec, cfg: Mapping[str, Any], path: str, has_value: bool, has_default: bool,
               raw_source: str | None) -> bool:
        ok = True
        resolver = cfg.get("resolver")
        if "resolver" in cfg:
            if not isinstance(resolver, str) or not resolver:
                self.problem(path, f"'resolver' must be a resolver name, got {resolver!r}", "e.g. \"sdk.parseInt\"")
                ok, resolver = False, None
            else:
                ok = self.resolver(spec, resolver, path) and ok
        if not (has_value or raw_source or resolver or has_default):
            self.problem(path, "has no 'source', 'value', 'resolver' or 'fields'",
                         "add \"source\": \"<column>\" or \"value\": <constant>")
            ok = False
        if has_value and raw_source:
            self.problem(path, "'value' takes precedence, so 'source' is never read", "remove one of them",
                         warning=True)
        if spec.required and has_default:
            self.problem(path, "'required' with 'defaultValue': the default is never used (required is checked first)",
                         "remove 'required' to fall back to the default, or remove 'defaultValue'")
            ok = False
        spec.has_value, spec.value = has_value, cfg.get("value")
        spec.has_default, spec.default = has_default, cfg.get("defaultValue")
        spec.copy_constants = isinstance(spec.value, list | dict) or isinstance(spec.default, list | dict)
        spec.resolver_only = bool(resolver) and not has_value and not raw_source
        return ok

    def resolver(self, spec: FieldSpec, name: str, path: str) -> bool:
        target = self.aliases.get(name, name)
        try:
            fn = self.registry.resolve(target if isinstance(target, str) else name)
        except ResolverLookupError as exc:
            self.problem(path, str(exc), exc.suggestion)
            return False
        spec.resolver_name, spec.resolver = name, fn
        spec.resolver_is_async = inspect.iscoroutinefunction(fn)
        return True


def compile_fields(
    config: Mapping[str, Any], registry: ResolverRegistry, *, strict: bool = False
) -> tuple[list[FieldSpec], list[Problem]]:
    """Validate ``config`` and compile its fields; returns ``(specs, warnings)`` or raises."""
    aliases = config.get("resolvers", {})
    compiler = _Compiler(registry, aliases if isinstance(aliases, Mapping) else {})
    if not isinstance(aliases, Mapping):
        compiler.problem("resolvers", "must be an object of name → 'package.module:function'",
                         '{"custom.sku": "mypkg.resolvers:sku"}')
    if "fields" not in config:
        compiler.problem("fields", "is missing", 'a mapping needs {"fields": {<target>: {...}}}')
        specs: list[FieldSpec] = []
    else:
        specs = compiler.fields(config["fields"], "fields")
    errors = [p for p in compiler.problems if strict or not p.warning]
    if errors:
        raise MappingConfigError(errors)
    return specs, [p for p in compiler.problems if p.warning]


def clone_constant(value: Any) -> Any:
    """A fresh copy of a container constant, so one record's output never aliases another's."""
    return copy.deepcopy(value)
