"""The compiled argument tree of the arguments pattern and its compiler.

A config's ``arguments`` are compiled once into scalar, nested and array nodes (paths compiled, transforms
looked up), collecting every problem on the way; :func:`~.validation.validate_mapping_config` reports those
problems and :class:`~.mapper.GraphQLMutationMapper` walks the resulting tree for each record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..config import Problem
from .paths import MutationPath, MutationPathError, compile_mutation_path
from .transforms import BUILTIN_TRANSFORMS

__all__: list[str] = []

Transform = Callable[[Any, Any], Any]  # (value, record) -> value


@dataclass(slots=True)
class _Scalar:
    name: str
    source: MutationPath | None = None
    has_value: bool = False
    value: Any = None
    mapping: Mapping[str, Any] | None = None
    has_default: bool = False
    default: Any = None
    required: bool = False
    transform_name: str | None = None
    transform: Transform | None = None


@dataclass(slots=True)
class _Nested:
    name: str
    children: list[_Node]
    source: MutationPath | None = None
    required: bool = False


@dataclass(slots=True)
class _Array:
    name: str
    source: MutationPath | None
    items: list[_Node] | None
    required: bool = False
    auto_wrap: bool = False
    min_items: int = 0


_Node = _Scalar | _Nested | _Array
_ARRAY_KEYS = frozenset({"isArray", "_array", "source", "fields", "autoWrap", "validation", "required",
                         "description"})
_SCALAR_KEYS = frozenset({"source", "value", "mapping", "defaultValue", "required", "transform", "type",
                          "description"})


class _Compiler:
    def __init__(self, transforms: Callable[[str], Transform | None], transform_names: Callable[[], list[str]]) -> None:
        self.lookup = transforms
        self.names = transform_names
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str, suggestion: str = "", *, warning: bool = False) -> None:
        self.problems.append(Problem(path, message, suggestion, warning))

    def path(self, text: Any, where: str) -> MutationPath | None:
        if not isinstance(text, str):
            self.problem(where, f"source must be a path string, got {type(text).__name__}")
            return None
        try:
            return compile_mutation_path(text)
        except MutationPathError as exc:
            self.problem(where, str(exc), "paths look like a.b, items[0].ref, items[*].sku or a['k.x']")
            return None

    def children(self, cfg: Any, prefix: str, *, items: bool) -> list[_Node]:
        if not isinstance(cfg, Mapping):
            self.problem(prefix, f"must be an object, got {type(cfg).__name__}")
            return []
        out: list[_Node] = []
        for name, sub in cfg.items():
            name = str(name)
            if name.startswith("_"):
                continue
            where = f"{prefix}.{name}"
            if ".." in name:
                self.problem(where, "field name contains '..'", "use single dots or nest objects")
                continue
            node = self.node(name, sub, where, items=items)
            if node is not None:
                out.append(node)
        return out

    def node(self, name: str, cfg: Any, where: str, *, items: bool) -> _Node | None:
        if isinstance(cfg, str) and items:
            src = self.path(cfg, where)
            return _Scalar(name, source=src) if src is not None else None
        if not isinstance(cfg, Mapping):
            hint = "a path string or an object" if items else 'an object such as {"source": "col"}'
            self.problem(where, f"must be {hint}, got {type(cfg).__name__}")
            return None
        if "value" in cfg and "source" in cfg:
            self.problem(where, "has both 'value' and 'source'; 'value' wins", "remove one", warning=True)
        if cfg.get("isArray") is True or cfg.get("_array") is True:
            return self.array(name, cfg, where)
        if "value" in cfg or ("source" in cfg and cfg.get("_nested") is not True):
            return self.scalar(name, cfg, where)
        # nested object: explicit `_nested` (children in `fields`, or the other keys), or no source/value
        fields = cfg.get("fields")
        body: Mapping[str, Any] = fields if isinstance(fields, Mapping) else cfg
        stray = [k for k in ("transform", "defaultValue", "mapping")
                 if body is cfg and k in cfg and not isinstance(cfg[k], Mapping)]
        if stray:
            self.problem(where, f"has {', '.join(stray)} but no 'source' or 'value'",
                         "add a 'source' (or a 'value'), or wrap children in 'fields'")
            return None
        source = self.path(cfg["source"], f"{where}.source") if "source" in cfg else None
        skip = {"source", "required", "fields", "description"} if body is cfg else set()
        children = self.children({k: v for k, v in body.items() if k not in skip}, where, items=False)
        return _Nested(name, children, source, cfg.get("required") is True)

    def array(self, name: str, cfg: Mapping[str, Any], where: str) -> _Node | None:
        if "source" not in cfg:
            self.problem(where, "an isArray field needs a 'source'", 'add "source": "<path to the list>"')
            return None
        source = self.path(cfg["source"], f"{where}.source")
        items = None
        if "fields" in cfg:
            items = self.children(cfg["fields"], f"{where}.fields", items=True)
        min_items = 0
        validation = cfg.get("validation")
        if validation is not None:
            raw = validation.get("minItems", 0) if isinstance(validation, Mapping) else None
            if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
                self.problem(f"{where}.validation", "minItems must be a non-negative integer")
            else:
                min_items = raw
        return _Array(name, source, items, cfg.get("required") is True, cfg.get("autoWrap") is True, min_items)

    def scalar(self, name: str, cfg: Mapping[str, Any], where: str) -> _Node | None:
        node = _Scalar(name, required=cfg.get("required") is True)
        if "value" in cfg:
            node.has_value, node.value = True, cfg["value"]
        else:
            node.source = self.path(cfg["source"], f"{where}.source")
        if "defaultValue" in cfg:
            node.has_default, node.default = True, cfg["defaultValue"]
        if "mapping" in cfg:
            if isinstance(cfg["mapping"], Mapping):
                node.mapping = cfg["mapping"]
            else:
                self.problem(f"{where}.mapping", "must be an object of source value → target value")
        if "transform" in cfg:
            tname = cfg["transform"]
            fn = self.lookup(tname) if isinstance(tname, str) else None
            if fn is None:
                import difflib

                close = difflib.get_close_matches(str(tname), self.names(), n=1, cutoff=0.6)
                self.problem(f"{where}.transform", f"unknown transform {tname!r}",
                             f"did you mean '{close[0]}'?" if close else
                             f"built-ins: {', '.join(BUILTIN_TRANSFORMS)}; or pass custom_transforms")
            node.transform_name, node.transform = str(tname), fn
        return node
