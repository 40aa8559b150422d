"""Config validation, transform lookup and query building of the GraphQL mutation mapper.

:func:`validate_mapping_config` checks a whole config at once (top-level keys, nodes, the compiled argument
tree); the transform lookup (built-ins, custom transforms, the resolver registry) and the GraphQL query text
are needed both there and by the mapper, so they live here too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..config import Problem, load_config
from ..helpers import ResolverHelpers
from ..registry import ResolverLookupError, ResolverRegistry
from ..resolvers import Resolver
from .arguments import Transform, _Compiler
from .results import ConfigValidation
from .transforms import BUILTIN_TRANSFORMS

__all__ = ["build_mutation_query", "validate_mapping_config"]

DEFAULT_RETURN_FIELDS = "id ref"

_MUTATION_NAME = re.compile(r"^[a-z][a-zA-Z0-9]*$")
_NODE_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?$")
_SOURCE_FORMATS = ("xml", "json", "jsonl")


def _field_name_problems(cfg: Any, prefix: str, out: list[Problem]) -> None:
    """``..`` in any field name of a ``fields`` tree (the fields pattern; arguments are checked when compiled)."""
    if not isinstance(cfg, Mapping):
        return
    for name, sub in cfg.items():
        where = f"{prefix}.{name}"
        if ".." in str(name):
            out.append(Problem(where, "field name contains '..'", "use single dots or nest objects"))
        if isinstance(sub, Mapping):
            if "value" in sub and "source" in sub:
                out.append(Problem(where, "has both 'value' and 'source'; 'value' wins", "remove one", True))
            if isinstance(sub.get("fields"), Mapping):
                _field_name_problems(sub["fields"], f"{where}.fields", out)


def _check_top(config: Mapping[str, Any], problems: list[Problem]) -> None:
    def err(path: str, msg: str, hint: str = "") -> None:
        problems.append(Problem(path, msg, hint))

    def warn(path: str, msg: str, hint: str = "") -> None:
        problems.append(Problem(path, msg, hint, True))

    version = config.get("version")
    if version is None:
        err("version", "is required", 'add "version": "1.0.0"')
    elif not isinstance(version, str):
        err("version", f"must be a string, got {type(version).__name__}", 'e.g. "1.0.0"')
    elif not _SEMVER.match(version):
        warn("version", f"{version!r} is not a semantic version", 'e.g. "1.0.0"')

    mutation = config.get("mutation")
    if mutation is None:
        err("mutation", "is required", 'the GraphQL mutation field, e.g. "updateOrder"')
    elif not isinstance(mutation, str):
        err("mutation", f"must be a string, got {type(mutation).__name__}")
    elif not _MUTATION_NAME.match(mutation):
        err("mutation", f"{mutation!r} must match ^[a-z][a-zA-Z0-9]*$", 'camelCase, e.g. "createLocation"')

    fmt = config.get("sourceFormat")
    if fmt is None:
        err("sourceFormat", "is required", "one of xml, json, jsonl")
    elif fmt not in _SOURCE_FORMATS:
        err("sourceFormat", f"{fmt!r} is not one of xml, json, jsonl")

    has_args = "arguments" in config
    has_fields = "fields" in config
    if not has_args and not has_fields:
        err("arguments", "either 'arguments' or 'fields' is required")
    if has_args and not isinstance(config["arguments"], Mapping):
        err("arguments", f"must be an object, got {type(config['arguments']).__name__}")
    if has_fields:
        if not isinstance(config["fields"], Mapping):
            err("fields", f"must be an object, got {type(config['fields']).__name__}")
        else:
            _field_name_problems(config["fields"], "fields", problems)
    if has_args and has_fields and config["arguments"]:
        warn("fields", "both 'arguments' and 'fields' are given; 'arguments' is used", "remove one")

    nodes = config.get("nodes")
    if nodes is not None:
        _check_nodes(nodes, problems)

    if "returnFields" not in config:
        warn("returnFields", f"is missing; the mutation returns '{DEFAULT_RETURN_FIELDS}'",
             'add e.g. "returnFields": ["id", "ref"]')
    elif not isinstance(config["returnFields"], str | list) or (
            isinstance(config["returnFields"], list) and not all(isinstance(f, str) for f in config["returnFields"])):
        err("returnFields", "must be a list of strings or a string")

    batching = config.get("aliasBatching")
    if batching is not None:
        if not isinstance(batching, Mapping):
            err("aliasBatching", "must be an object")
        else:
            for key in ("mutationsPerBatch", "maxMutationsPerBatch"):
                v = batching.get(key)
                if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                    err(f"aliasBatching.{key}", "must be a positive integer")


def _check_nodes(nodes: Any, problems: list[Problem]) -> None:
    if isinstance(nodes, Mapping):
        entries = [(str(k), v) for k, v in nodes.items()]
    elif isinstance(nodes, list):
        entries = [(str(n.get("name")) if isinstance(n, Mapping) else "", n) for n in nodes]
    else:
        problems.append(Problem("nodes", "must be an object of node name → {extract, ...}"))
        return
    seen: set[str] = set()
    for name, node in entries:
        where = f"nodes.{name}"
        if not _NODE_NAME.match(name):
            problems.append(Problem(where, f"node name {name!r} must match ^[a-zA-Z_][a-zA-Z0-9_]*$"))
        if name in seen:
            problems.append(Problem(where, f"duplicate node name {name!r}"))
        seen.add(name)
        if isinstance(node, Mapping) and node.get("unescape") and not node.get("parse"):
            problems.append(Problem(where, "unescape without parse leaves the node a string",
                                    'add "parse": "xml" or "json"', True))


def validate_mapping_config(
    config: Mapping[str, Any] | str | Path,
    *,
    strict: bool = False,
    custom_transforms: Mapping[str, Resolver] | None = None,
    registry: ResolverRegistry | None = None,
) -> ConfigValidation:
    """The reference's ``validateMappingConfig``: every error and warning at once; ``strict``: warnings fail.

    Beyond the reference, the argument tree is compiled too (unknown transforms, bad paths, an isArray without
    ``source``), so problems show at start-up rather than on the first record.
    """
    cfg = load_config(config)
    problems: list[Problem] = []
    _check_top(cfg, problems)
    args = cfg.get("arguments")
    if isinstance(args, Mapping) and args:
        lookup, names = _transform_lookup(cfg, custom_transforms, registry, problems)
        compiler = _Compiler(lookup, names)
        compiler.children(args, "arguments", items=False)
        problems.extend(compiler.problems)
    errors = [p for p in problems if strict or not p.warning]
    warnings = [] if strict else [p for p in problems if p.warning]
    if strict:
        errors = [Problem(p.path, p.message, p.suggestion, False) for p in errors]
    return ConfigValidation(errors, warnings)


def _transform_lookup(
    cfg: Mapping[str, Any],
    custom: Mapping[str, Resolver] | None,
    registry: ResolverRegistry | None,
    problems: list[Problem],
    helpers: ResolverHelpers | None = None,
) -> tuple[Callable[[str], Transform | None], Callable[[], list[str]]]:
    """Transform names → ``fn(value, record)``: built-ins, then custom (constructor, then the config's
    ``customTransforms`` of name → ``'package.module:function'``), then the resolver registry (``sdk.*``…).
    Custom transforms and resolvers are called as ``fn(value, record, context, helpers)``."""
    reg = registry if registry is not None else ResolverRegistry(load_entry_points=False)
    customs: dict[str, Resolver] = dict(custom or {})
    from_config = cfg.get("customTransforms")
    if isinstance(from_config, Mapping):
        for name, target in from_config.items():
            if isinstance(target, str):
                try:
                    customs.setdefault(str(name), reg.resolve(target))
                except ResolverLookupError as exc:
                    problems.append(Problem(f"customTransforms.{name}", str(exc), exc.suggestion))
            # non-string entries (JS function bodies in reference configs) must be given as custom_transforms
    elif from_config is not None:
        problems.append(Problem("customTransforms", "must be an object of name → 'package.module:function'"))
    helpers = helpers if helpers is not None else ResolverHelpers(None)

    def lookup(name: str) -> Transform | None:
        builtin = BUILTIN_TRANSFORMS.get(name)
        if builtin is not None:
            return lambda v, _r, fn=builtin: fn(v)  # type: ignore[misc]
        fn: Resolver | None = customs.get(name)
        if fn is None and name in reg:
            try:
                fn = reg.resolve(name)
            except ResolverLookupError:
                fn = None
        if fn is None:
            return None
        resolver = fn
        bound_helpers = helpers
        return lambda v, r: resolver(v, r, bound_helpers.context, bound_helpers)

    def names() -> list[str]:
        return [*BUILTIN_TRANSFORMS, *customs, *reg.names()]

    return lookup, names


def build_mutation_query(mutation: str, operation_name: str | None = None,
                         return_fields: str | Sequence[str] | None = None) -> str:
    """``mutation <op>($input: <M>Input!) { <m>(input: $input) { <returnFields> } }``."""
    op = operation_name or f"{mutation}Mutation"
    return (f"mutation {op}($input: {_input_type(mutation)}!) "
            f"{{ {mutation}(input: $input) {{ {_selection(return_fields)} }} }}")


def _input_type(mutation: str) -> str:
    return f"{mutation[:1].upper()}{mutation[1:]}Input"


def _selection(return_fields: str | Sequence[str] | None) -> str:
    if not return_fields:
        return DEFAULT_RETURN_FIELDS
    if isinstance(return_fields, str):
        return return_fields
    return " ".join(return_fields)
