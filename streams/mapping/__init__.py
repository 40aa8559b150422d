"""Mapping engine: the reference SDK's UniversalMapper JSON format and its 16 ``sdk.*`` resolvers.

Compile once at start-up (config errors are reported then, all at once), map per record::

    mapper = Mapper.compile(Path("mappings/inventory.json"))
    result = mapper.map(row)          # MappingResult(success, data, errors, skipped_fields)

See docs/mapping.md for the config format, the resolvers and custom resolvers.
"""

from .config import FieldKind, FieldSpec, MappingConfigError, Problem, load_config
from .helpers import ResolverHelpers
from .jsvalues import js_parse_date, js_stringify, js_to_string
from .mapper import FieldProblem, Mapper, MappingResult
from .paths import MISSING, Missing, PathSyntaxError, compile_path, get_path, set_path
from .registry import ENTRY_POINT_GROUP, ResolverLookupError, ResolverRegistry
from .resolvers import SDK_RESOLVERS, Resolver

__all__ = [
    "ENTRY_POINT_GROUP",
    "MISSING",
    "SDK_RESOLVERS",
    "FieldKind",
    "FieldProblem",
    "FieldSpec",
    "Mapper",
    "MappingConfigError",
    "MappingResult",
    "Missing",
    "PathSyntaxError",
    "Problem",
    "Resolver",
    "ResolverHelpers",
    "ResolverLookupError",
    "ResolverRegistry",
    "compile_path",
    "get_path",
    "js_parse_date",
    "js_stringify",
    "js_to_string",
    "load_config",
    "set_path",
]
