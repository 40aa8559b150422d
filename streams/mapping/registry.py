"""Resolver registry: built-in ``sdk.*`` resolvers, callables registered by name, entry points, module paths.

Resolution happens when a mapping is compiled, never per record, so an unknown name is a start-up error
(with a "did you mean" suggestion) instead of a failure on the first bad row.

Lookup order for a name: resolvers registered on this registry (constructor ``custom`` resolvers may shadow
``sdk.*``, as in the reference; :meth:`ResolverRegistry.register` refuses ``sdk.*``), the built-ins, the
entry points of group ``fluentsync.resolvers``, and finally ``package.module:function`` strings, imported.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points

from .resolvers import SDK_RESOLVERS, Resolver

__all__ = ["ENTRY_POINT_GROUP", "ResolverLookupError", "ResolverRegistry"]

ENTRY_POINT_GROUP = "fluentsync.resolvers"


class ResolverLookupError(LookupError):
    """A resolver name could not be resolved; ``suggestion`` is ready to show to a person."""

    def __init__(self, message: str, suggestion: str) -> None:
        super().__init__(message)
        self.suggestion = suggestion


class ResolverRegistry:
    """Names → resolver callables ``(value, record, context, helpers) -> value``."""

    def __init__(self, custom: Mapping[str, Resolver] | None = None, *, load_entry_points: bool = True) -> None:
        self._resolvers: dict[str, Resolver] = dict(SDK_RESOLVERS)
        for name, fn in (custom or {}).items():
            self._check(name, fn)
            self._resolvers[name] = fn
        self._entry_points: dict[str, EntryPoint] = {}
        if load_entry_points:
            self._entry_points = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}

    def with_custom(self, custom: Mapping[str, Resolver]) -> ResolverRegistry:
        """A copy with ``custom`` merged last (so they may shadow ``sdk.*``); ``self`` is left unchanged."""
        clone = ResolverRegistry.__new__(ResolverRegistry)
        clone._resolvers = dict(self._resolvers)
        clone._entry_points = dict(self._entry_points)
        for name, fn in custom.items():
            self._check(name, fn)
            clone._resolvers[name] = fn
        return clone

    @staticmethod
    def _check(name: str, fn: object) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("a resolver name must be a non-empty string")
        if not callable(fn):
            raise TypeError(f"resolver {name!r} is not callable")

    def register(self, name: str, fn: Resolver) -> None:
        """Register a custom resolver; ``sdk.*`` names are reserved for the built-ins."""
        self._check(name, fn)
        if name.startswith("sdk."):
            raise ValueError(f"Cannot register resolver '{name}': names starting with 'sdk.' are reserved")
        self._resolvers[name] = fn

    def names(self) -> list[str]:
        return sorted({*self._resolvers, *self._entry_points})

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._resolvers or name in self._entry_points)

    def resolve(self, name: str) -> Resolver:
        """The callable for ``name``; raises :class:`ResolverLookupError` with a suggestion."""
        fn = self._resolvers.get(name)
        if fn is not None:
            return fn
        ep = self._entry_points.get(name)
        if ep is not None:
            return self._loaded(name, ep.load(), f"entry point {ep.value!r}")
        if ":" in name:
            return self._import(name)
        close = difflib.get_close_matches(name, self.names(), n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else (
            "register it with ResolverRegistry.register, an entry point in group "
            f"'{ENTRY_POINT_GROUP}', or write 'package.module:function'"
        )
        raise ResolverLookupError(f"Resolver '{name}' not found", hint)

    def _import(self, spec: str) -> Resolver:
        module_name, _, attr = spec.partition(":")
        try:
            obj: object = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ResolverLookupError(
                f"Resolver '{spec}' could not be imported: {exc}", "check the 'package.module:function' path"
            ) from exc
        fn = self._loaded(spec, obj, "module path")
        self._resolvers[spec] = fn
        return fn

    @staticmethod
    def _loaded(name: str, obj: object, where: str) -> Resolver:
        if not callable(obj):
            raise ResolverLookupError(f"Resolver '{name}' ({where}) is not callable", "point it at a function")
        return obj
