"""The fields pattern (``mapWithNodes``) of the GraphQL mutation mapper, for JSON sources.

Configs without ``arguments`` describe ``nodes`` extracted from the record and ``fields`` that read from the
record, an array item or a node, with resolvers that may be async and run after the build. It has its own
compiler and runner, owned by :class:`~.mapper.GraphQLMutationMapper` (imported here for typing only).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fluentsync.streams.problems import FieldProblem

from ..config import MappingConfigError, Problem, clone_constant
from ..paths import MISSING, is_empty
from ..registry import ResolverLookupError, ResolverRegistry
from ..resolvers import Resolver
from .arguments import Transform
from .paths import MutationPath, MutationPathError, compile_mutation_path
from .results import _FieldError, _RecordErrors
from .transforms import _jsonable, substitute_env

if TYPE_CHECKING:
    from .mapper import GraphQLMutationMapper

__all__ = ["NodesResult"]


@dataclass(slots=True)
class _NodeSource:
    name: str
    extract: MutationPath
    unescape: bool
    parse: str | None
    required: bool


@dataclass(slots=True)
class _FField:
    name: str
    kind: str  # "scalar" | "nested" | "array"
    scope: str = "root"  # "root" | "item" ($.path) | "node" ($node.path)
    node: str | None = None
    path: MutationPath | None = None  # None with a scope: the whole item/node
    has_source: bool = False
    has_value: bool = False
    value: Any = None
    has_default: bool = False
    default: Any = None
    required: bool = False
    transform_name: str | None = None
    transform: Transform | None = None
    resolver_name: str | None = None
    resolver: Resolver | None = None
    children: list[_FField] = field(default_factory=list)


@dataclass(slots=True)
class NodesResult:
    """``{success, data, variables: {input}, query, context, errors}`` of :meth:`map_with_nodes`."""

    success: bool
    data: dict[str, Any] | None
    variables: dict[str, Any] | None
    query: str
    context: dict[str, Any]
    errors: list[FieldProblem] = field(default_factory=list)


class _FieldsCompiler:
    def __init__(self, node_names: set[str], lookup: Callable[[str], Transform | None],
                 resolvers: Callable[[str], Resolver | None]) -> None:
        self.node_names = node_names
        self.lookup = lookup
        self.resolvers = resolvers
        self.problems: list[Problem] = []

    def fields(self, cfg: Any, prefix: str) -> list[_FField]:
        if not isinstance(cfg, Mapping):
            self.problems.append(Problem(prefix, "must be an object"))
            return []
        out = []
        for name, sub in cfg.items():
            f = self.field(str(name), sub, f"{prefix}.{name}")
            if f is not None:
                out.append(f)
        return out

    def source(self, f: _FField, text: Any, where: str) -> None:
        if not isinstance(text, str) or not text:
            self.problems.append(Problem(f"{where}.source", "must be a non-empty path string"))
            return
        rest: str | None = text
        if text == "$" or text.startswith("$."):
            f.scope, rest = "item", text[2:] or None
        elif text.startswith("$"):
            head, _, tail = text[1:].partition(".")
            if head not in self.node_names:
                self.problems.append(Problem(f"{where}.source", f"unknown node '${head}'",
                                             f"declared nodes: {', '.join(sorted(self.node_names)) or 'none'}"))
                return
            f.scope, f.node, rest = "node", head, tail or None
        f.has_source = True
        if rest is not None:
            try:
                f.path = compile_mutation_path(rest)
            except MutationPathError as exc:
                self.problems.append(Problem(f"{where}.source", str(exc)))

    def field(self, name: str, cfg: Any, where: str) -> _FField | None:
        if isinstance(cfg, str):
            cfg = {"source": cfg}
        if not isinstance(cfg, Mapping):
            self.problems.append(Problem(where, f"must be an object or a path string, got {type(cfg).__name__}"))
            return None
        is_array = cfg.get("isArray") is True or cfg.get("_array") is True
        kind = "array" if is_array else "nested" if isinstance(cfg.get("fields"), Mapping) else "scalar"
        f = _FField(name, kind, required=cfg.get("required") is True)
        if "value" in cfg:
            f.has_value, f.value = True, cfg["value"]
        elif "source" in cfg:
            self.source(f, cfg["source"], where)
        if kind == "array" and not f.has_source:
            self.problems.append(Problem(where, "an isArray field needs a 'source'"))
        if kind != "scalar":
            f.children = self.fields(cfg.get("fields", {}), f"{where}.fields")
            return f
        if "defaultValue" in cfg:
            f.has_default, f.default = True, cfg["defaultValue"]
        if "transform" in cfg:
            f.transform_name = str(cfg["transform"])
            f.transform = self.lookup(f.transform_name)
            if f.transform is None:
                self.problems.append(Problem(f"{where}.transform", f"unknown transform {f.transform_name!r}"))
        if "resolver" in cfg:
            f.resolver_name = str(cfg["resolver"])
            f.resolver = self.resolvers(f.resolver_name)
            if f.resolver is None:
                self.problems.append(Problem(f"{where}.resolver", f"Resolver '{f.resolver_name}' not found"))
        return f


_PENDING: Any = object()


class _FieldsRun:
    __slots__ = ("deferred", "errors", "nodes", "root")

    def __init__(self, root: Any, nodes: dict[str, Any]) -> None:
        self.root = root
        self.nodes = nodes
        self.errors = _RecordErrors()
        # (container, key, field, value, record given to the resolver, display path)
        self.deferred: list[tuple[dict[str, Any], str, _FField, Any, Any, str]] = []

    def get(self, f: _FField, item: Any) -> Any:
        if f.scope == "item":
            base = item
        elif f.scope == "node":
            base = self.nodes.get(f.node or "", MISSING)
        else:
            if f.path is None:
                return self.root
            found = f.path.get(self.root)
            first = f.path.steps[0] if f.path.steps else None
            if found is MISSING and isinstance(first, str) and first in self.nodes:
                found = f.path.get(self.nodes)
            return found
        return base if f.path is None else f.path.get(base)


def _extract_nodes(specs: list[_NodeSource], record: Any, errors: _RecordErrors) -> dict[str, Any]:
    import html
    import json

    nodes: dict[str, Any] = {}
    for spec in specs:
        try:
            value = spec.extract.get(record)
        except MutationPathError as exc:
            errors.add(f"${spec.name}", str(exc), MISSING, "bad_path")
            continue
        if isinstance(value, str) and spec.unescape:
            value = html.unescape(value)
        if isinstance(value, str) and spec.parse == "json":
            try:
                value = json.loads(value)
            except ValueError as exc:
                errors.add(f"${spec.name}", f"node '{spec.name}' is not valid JSON: {exc}", value, "node_parse")
                continue
        if is_empty(value):
            if spec.required:
                errors.add(f"${spec.name}", f"Required node '{spec.name}' is missing or empty", value, "required")
            continue
        nodes[spec.name] = value
    return nodes


class _FieldsPattern:
    """The compiled fields pattern; owned by :class:`GraphQLMutationMapper`."""

    def __init__(self, cfg: Mapping[str, Any], mapper: GraphQLMutationMapper,
                 lookup: Callable[[str], Transform | None], custom: Mapping[str, Resolver],
                 registry: ResolverRegistry | None) -> None:
        self.mapper = mapper
        problems: list[Problem] = []
        self.nodes: list[_NodeSource] = []
        raw_nodes = cfg.get("nodes") or {}
        entries = (list(raw_nodes.items()) if isinstance(raw_nodes, Mapping)
                   else [(n.get("name"), n) for n in raw_nodes if isinstance(n, Mapping)])
        for name, spec in entries:
            where = f"nodes.{name}"
            if not isinstance(spec, Mapping) or not isinstance(spec.get("extract"), str):
                problems.append(Problem(where, "needs an 'extract' path"))
                continue
            parse = spec.get("parse")
            if parse not in (None, "json"):
                problems.append(Problem(f"{where}.parse", f"parse {parse!r} is not supported (only 'json')",
                                        "XML nodes are not implemented"))
                continue
            try:
                extract = compile_mutation_path(spec["extract"])
            except MutationPathError as exc:
                problems.append(Problem(f"{where}.extract", str(exc)))
                continue
            self.nodes.append(_NodeSource(str(name), extract, spec.get("unescape") is True, parse,
                                          spec.get("required") is True))
        reg = registry if registry is not None else ResolverRegistry(load_entry_points=False)

        def resolver(name: str) -> Resolver | None:
            fn = custom.get(name)
            if fn is None and name in reg:
                try:
                    fn = reg.resolve(name)
                except ResolverLookupError:
                    return None
            return fn

        compiler = _FieldsCompiler({n.name for n in self.nodes}, lookup, resolver)
        self.fields = compiler.fields(cfg.get("fields"), "fields")
        problems.extend(compiler.problems)
        if problems:
            raise MappingConfigError(problems)

    async def run(self, record: Any) -> NodesResult:
        m = self.mapper
        errors = _RecordErrors()
        nodes: dict[str, Any] = {}
        try:
            if m.before_mapping is not None:
                replaced = m.before_mapping(record)
                record = record if replaced is None else replaced
            nodes = _extract_nodes(self.nodes, record, errors)
            run = _FieldsRun(record, nodes)
            run.errors = errors
            data = self._object(self.fields, run, record, "")
            for container, key, f, value, rec, path in run.deferred:
                await self._resolve(container, key, f, value, rec, path, run)
        except Exception as exc:
            errors.add("", f"mapping failed: {exc}", MISSING, "mapping_failed")
            data = {}
        context = {"nodes": nodes}
        if errors.problems:
            return NodesResult(False, None, None, m.query, context, errors.problems)
        variables: dict[str, Any] = _jsonable({"input": data})
        if m.after_mapping is not None:
            try:
                replaced = m.after_mapping(variables, record)
            except Exception as exc:
                errors.add("", f"afterMapping hook failed: {exc}", MISSING, "hook_failed")
                return NodesResult(False, None, None, m.query, context, errors.problems)
            variables = variables if replaced is None else replaced
        return NodesResult(True, variables.get("input"), variables, m.query, context, [])

    def _object(self, specs: list[_FField], run: _FieldsRun, item: Any, prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in specs:
            path = f"{prefix}.{f.name}" if prefix else f.name
            try:
                value = self._field(f, run, item, path, out)
            except _FieldError as exc:
                run.errors.add(path, str(exc), exc.value, exc.code)
                continue
            except MutationPathError as exc:
                run.errors.add(path, str(exc), MISSING, "bad_path")
                continue
            if value is not MISSING:
                out[f.name] = value
        return out

    def _field(self, f: _FField, run: _FieldsRun, item: Any, path: str, out: dict[str, Any]) -> Any:
        if f.kind == "array":
            found = run.get(f, item)
            if found is None or found is MISSING:
                if f.required:
                    raise _FieldError(f"Required field '{path}' is missing or empty", found, "required")
                return []
            items = found if isinstance(found, list) else [found]
            return [self._object(f.children, run, it, f"{path}[{i}]") for i, it in enumerate(items)]
        if f.kind == "nested":
            base = item
            if f.has_source:
                base = run.get(f, item)
                if base is None or base is MISSING:
                    if f.required:
                        raise _FieldError(f"Required field '{path}' is missing or empty", base, "required")
                    return MISSING
            return self._object(f.children, run, base, path)
        if f.has_value:
            value = substitute_env(clone_constant(f.value), self.mapper.environ)
        elif f.has_source:
            value = run.get(f, item)
        else:
            value = MISSING
        if (value is None or value is MISSING) and f.has_default:
            value = clone_constant(f.default)
        if f.required and is_empty(value) and f.resolver is None:
            raise _FieldError(f"Required field '{path}' is missing or empty", value, "required")
        if f.transform is not None and value is not MISSING:
            try:
                value = f.transform(value, item)
            except Exception as exc:
                raise _FieldError(f"Transform '{f.transform_name}' failed for '{path}': {exc}", value,
                                  "transform_failed") from exc
        if f.resolver is not None:
            run.deferred.append((out, f.name, f, value, item, path))
            return _PENDING  # replaced (or removed) by the resolver phase
        if f.required and is_empty(value):
            raise _FieldError(f"Required field '{path}' is empty after transform '{f.transform_name}'", value,
                              "required")
        return value

    async def _resolve(self, container: dict[str, Any], key: str, f: _FField, value: Any, record: Any,
                       path: str, run: _FieldsRun) -> None:
        assert f.resolver is not None
        helpers = self.mapper.helpers
        try:
            result = f.resolver(value, record, helpers.context, helpers)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            run.errors.add(path, f"Resolver '{f.resolver_name}' failed: {exc}", value, "resolver_failed")
            del container[key]
            return
        if f.required and is_empty(result):
            run.errors.add(path, f"Required field '{path}' is missing or empty", result, "required")
            del container[key]
            return
        if result is MISSING:
            del container[key]
        else:
            container[key] = result
