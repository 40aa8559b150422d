"""GraphQLMutationMapper: maps one record to one mutation request and batches requests with aliases.

This is the entry point of the package; it validates and compiles the config (arguments pattern, or the
fields pattern of :mod:`.nodes`), walks the compiled argument tree for each record and chunks mapped records
into aliased batch requests. Nothing else in the package imports it at runtime.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fluentsync.streams.problems import FieldProblem

from ..config import MappingConfigError, clone_constant, load_config
from ..helpers import ResolverHelpers
from ..jsvalues import js_to_string
from ..paths import MISSING, is_empty
from ..registry import ResolverRegistry
from ..resolvers import Resolver
from .aliases import AliasedResponse, parse_aliased_response
from .arguments import _Array, _Compiler, _Nested, _Node, _Scalar
from .nodes import NodesResult, _FieldsPattern
from .paths import MutationPathError
from .results import STAGE, MutationMappingError, MutationRequest, MutationResult, _FieldError, _RecordErrors
from .transforms import _jsonable, substitute_env
from .validation import _input_type, _selection, _transform_lookup, build_mutation_query, validate_mapping_config

__all__ = ["DEFAULT_MUTATIONS_PER_BATCH", "MAX_MUTATIONS_PER_BATCH", "GraphQLMutationMapper"]

DEFAULT_MUTATIONS_PER_BATCH = 5
MAX_MUTATIONS_PER_BATCH = 20


class GraphQLMutationMapper:
    """Maps records to mutation requests (arguments pattern) and batches them with aliases.

    ``custom_transforms`` (and the config's ``customTransforms``) are called ``fn(value, record, context,
    helpers)``; resolver names of ``registry`` (e.g. ``sdk.trim``) are accepted as transforms too.
    ``before_mapping(record)`` may return a replacement record; ``after_mapping(variables, record)`` may
    return replacement variables (``None`` keeps them).
    """

    def __init__(
        self,
        config: Mapping[str, Any] | str | Path,
        *,
        custom_transforms: Mapping[str, Resolver] | None = None,
        registry: ResolverRegistry | None = None,
        context: Any = None,
        strict: bool = False,
        before_mapping: Callable[[Any], Any] | None = None,
        after_mapping: Callable[[dict[str, Any], Any], Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        cfg = load_config(config)
        report = validate_mapping_config(cfg, strict=strict, custom_transforms=custom_transforms, registry=registry)
        errors = list(report.errors)
        args = cfg.get("arguments")
        if errors:
            raise MappingConfigError(errors)
        self.config = cfg
        self.warnings = report.warnings
        self.mutation: str = cfg["mutation"]
        self.operation_name: str | None = cfg.get("operationName")
        self.return_fields: str | list[str] | None = cfg.get("returnFields")
        self.before_mapping = before_mapping
        self.after_mapping = after_mapping
        self.environ = environ
        self.helpers = ResolverHelpers(context)
        lookup, names = _transform_lookup(cfg, custom_transforms, registry, [], self.helpers)
        self.query = build_mutation_query(self.mutation, self.operation_name, self.return_fields)
        self._nodes: list[_Node] = []
        self._wrap_input = True
        self._fields_pattern: _FieldsPattern | None = None
        if isinstance(args, Mapping) and args:
            self._nodes = _Compiler(lookup, names).children(args, "arguments", items=False)
            self._wrap_input = not (len(self._nodes) == 1 and self._nodes[0].name == "input"
                                    and isinstance(self._nodes[0], _Nested) and self._nodes[0].source is None)
        else:
            self._fields_pattern = _FieldsPattern(cfg, self, lookup, dict(custom_transforms or {}), registry)
        batching = cfg.get("aliasBatching") or {}
        self.max_per_batch = min(int(batching.get("maxMutationsPerBatch", MAX_MUTATIONS_PER_BATCH)),
                                 MAX_MUTATIONS_PER_BATCH)
        self.mutations_per_batch = min(int(batching.get("mutationsPerBatch", DEFAULT_MUTATIONS_PER_BATCH)),
                                       self.max_per_batch)

    # --- single record ----------------------------------------------------------------------------------
    def map(self, record: Any) -> MutationRequest:
        """``{query, variables}``; raises :class:`MutationMappingError` listing every field problem."""
        return {"query": self.query, "variables": self.map_variables(record)}

    def map_safe(self, record: Any) -> MutationResult:
        """Like :meth:`map` but never raises."""
        try:
            variables = self.map_variables(record)
        except MutationMappingError as exc:
            return MutationResult(False, None, None, exc.problems)
        except Exception as exc:  # a hook or custom transform misbehaving in an unexpected way
            return MutationResult(False, None, None, [FieldProblem(STAGE, None, f"mapping failed: {exc}",
                                                                   None, "ERROR", "mapping_failed")])
        return MutationResult(True, self.query, variables)

    def map_variables(self, record: Any) -> dict[str, Any]:
        if self._fields_pattern is not None:
            result = self.map_with_nodes(record)
            if not result.success or result.variables is None:
                raise MutationMappingError(result.errors)
            return result.variables
        if self.before_mapping is not None:
            try:
                replaced = self.before_mapping(record)
            except Exception as exc:
                raise MutationMappingError([FieldProblem(STAGE, None, f"beforeMapping hook failed: {exc}",
                                                         None, "ERROR", "hook_failed")]) from exc
            record = record if replaced is None else replaced
        errors = _RecordErrors()
        mapped = self._object(self._nodes, record, "", errors)
        if errors.problems:
            raise MutationMappingError(errors.problems)
        variables: dict[str, Any] = _jsonable(mapped if not self._wrap_input else {"input": mapped})
        if self.after_mapping is not None:
            try:
                replaced = self.after_mapping(variables, record)
            except Exception as exc:
                raise MutationMappingError([FieldProblem(STAGE, None, f"afterMapping hook failed: {exc}",
                                                         None, "ERROR", "hook_failed")]) from exc
            if replaced is not None:
                variables = replaced
        return variables

    def _object(self, nodes: list[_Node], record: Any, prefix: str, errors: _RecordErrors) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for node in nodes:
            path = f"{prefix}.{node.name}" if prefix else node.name
            try:
                if isinstance(node, _Scalar):
                    value = self._scalar(node, record, path)
                elif isinstance(node, _Array):
                    value = self._array(node, record, path, errors)
                else:
                    value = self._nested(node, record, path, errors)
            except _FieldError as exc:
                errors.add(path, str(exc), exc.value, exc.code)
                continue
            except MutationPathError as exc:
                errors.add(path, str(exc), MISSING, "bad_path")
                continue
            if value is not MISSING:
                out[node.name] = value
        return out

    def _scalar(self, node: _Scalar, record: Any, path: str) -> Any:
        if node.has_value:
            value = substitute_env(clone_constant(node.value) if isinstance(node.value, dict | list) else node.value,
                                   self.environ)
        elif node.source is not None:
            value = node.source.get(record)
        else:
            value = MISSING
        if node.mapping is not None and value is not None and value is not MISSING:
            key = value if isinstance(value, str) else js_to_string(value)
            if key in node.mapping:
                value = node.mapping[key]
        if (value is None or value is MISSING) and node.has_default:
            value = clone_constant(node.default) if isinstance(node.default, dict | list) else node.default
        if node.required and is_empty(value):
            raise _FieldError(f"Required field '{path}' is missing or empty", value, "required")
        if node.transform is not None and value is not MISSING:
            try:
                value = node.transform(value, record)
            except Exception as exc:
                raise _FieldError(f"Transform '{node.transform_name}' failed for '{path}': {exc}", value,
                                  "transform_failed") from exc
            if inspect.isawaitable(value):
                if inspect.iscoroutine(value):
                    value.close()
                raise _FieldError(f"Transform '{node.transform_name}' returned an awaitable; transforms are "
                                  "synchronous", MISSING, "transform_failed")
            if node.required and is_empty(value):
                raise _FieldError(f"Required field '{path}' is empty after transform '{node.transform_name}'",
                                  value, "required")
        return value

    def _nested(self, node: _Nested, record: Any, path: str, errors: _RecordErrors) -> Any:
        root = record
        if node.source is not None:
            root = node.source.get(record)
            if root is None or root is MISSING:
                if node.required:
                    raise _FieldError(f"Required field '{path}' is missing or empty", root, "required")
                return MISSING
        return self._object(node.children, root, path, errors)

    def _array(self, node: _Array, record: Any, path: str, errors: _RecordErrors) -> Any:
        assert node.source is not None
        found = node.source.get(record)
        if found is None or found is MISSING:
            if node.required or node.min_items:
                raise _FieldError(f"Required field '{path}' is missing or empty", found, "required")
            return MISSING
        if not isinstance(found, list):
            if not node.auto_wrap:
                raise _FieldError(f"Field '{path}' must be an array (set autoWrap to wrap a single value)",
                                  found, "not_array")
            found = [found]
        if len(found) < node.min_items:
            raise _FieldError(f"Field '{path}' needs at least {node.min_items} item(s), got {len(found)}",
                              MISSING, "min_items")
        if node.items is None:
            return clone_constant(found)
        return [self._object(node.items, item, f"{path}[{i}]", errors) for i, item in enumerate(found)]

    # --- fields pattern -------------------------------------------------------------------------------
    def map_with_nodes(self, record: Any) -> NodesResult:
        """The fields pattern (config without ``arguments``); never raises. Async resolvers need
        :meth:`amap_with_nodes`."""
        coro = self.amap_with_nodes(record)
        try:
            coro.send(None)
        except StopIteration as done:
            result: NodesResult = done.value
            return result
        coro.close()
        problem = FieldProblem(STAGE, None, "an async resolver suspended; call amap_with_nodes() from async code",
                               None, "ERROR", "mapping_failed")
        return NodesResult(False, None, None, self.query, {}, [problem])

    async def amap_with_nodes(self, record: Any) -> NodesResult:
        if self._fields_pattern is None:
            problem = FieldProblem(STAGE, None, "this config uses 'arguments'; call map()", None, "ERROR",
                                   "mapping_failed")
            return NodesResult(False, None, None, self.query, {}, [problem])
        return await self._fields_pattern.run(record)

    # --- alias batching ---------------------------------------------------------------------------------
    def batch_query(self, count: int) -> str:
        """``mutation Batch<M>s($input1: <M>Input!, …) { <m>1: <m>(input: $input1) { … } … }``."""
        m, sel = self.mutation, _selection(self.return_fields)
        decls = ", ".join(f"$input{i}: {_input_type(m)}!" for i in range(1, count + 1))
        body = " ".join(f"{m}{i}: {m}(input: $input{i}) {{ {sel} }}" for i in range(1, count + 1))
        return f"mutation Batch{m[:1].upper()}{m[1:]}s({decls}) {{ {body} }}"

    def batch_map(self, records: Sequence[Any], mutations_per_batch: int | None = None) -> list[MutationRequest]:
        """Map **every** record and chunk them into aliased requests (default 5 per request, at most 20).

        Record ``k`` (0-based) is alias ``<m>{k % n + 1}`` of request ``k // n``. Raises
        :class:`MutationMappingError` (fields prefixed ``[k]``) if any record fails: use :meth:`map_safe`
        first to route bad records to the DLQ.
        """
        per = self.mutations_per_batch if mutations_per_batch is None else mutations_per_batch
        if per < 1:
            raise ValueError("mutations_per_batch must be at least 1")
        per = min(per, self.max_per_batch)
        inputs: list[Any] = []
        problems: list[FieldProblem] = []
        for k, record in enumerate(records):
            res = self.map_safe(record)
            if not res.success or res.variables is None:
                problems.extend(FieldProblem(p.stage, f"[{k}].{p.field}" if p.field else f"[{k}]", p.message,
                                             p.value, p.severity, p.code) for p in res.errors)
                continue
            inputs.append(res.variables.get("input", res.variables))
        if problems:
            raise MutationMappingError(problems)
        requests: list[MutationRequest] = []
        for start in range(0, len(inputs), per):
            chunk = inputs[start:start + per]
            requests.append({"query": self.batch_query(len(chunk)),
                             "variables": {f"input{i}": v for i, v in enumerate(chunk, 1)}})
        return requests

    def parse_aliased_response(self, response: Mapping[str, Any], count: int | None = None) -> AliasedResponse:
        return parse_aliased_response(response, self.mutation, count)
