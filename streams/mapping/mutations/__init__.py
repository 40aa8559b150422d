"""GraphQLMutationMapper: one record → one GraphQL mutation request ``{query, variables}`` (sdk-parity.md §6).

The **arguments pattern** (the reference's ``map``) is described below. The **fields pattern**
(``map_with_nodes``/``amap_with_nodes``, used when ``arguments`` is absent or empty) is implemented for JSON
sources only: ``nodes`` (``extract``, ``unescape``, ``parse: json``, ``required``; ``parse: xml`` is a config
error), ``$node.path`` inside a node, ``$.path`` item-relative inside arrays, plain paths root-relative (then
node names); resolvers (``sdk.*`` too, unlike the reference, and any custom one) run after the build and may
be async; ``required`` is enforced (also unlike the reference). Field configs there are a path string or
``{source|value, defaultValue, required, transform, resolver, isArray, fields}``.

Config (validated once, at construction, by :func:`validate_mapping_config`)::

    {"version": "1.0.0", "mutation": "updateOrder", "sourceFormat": "json",
     "returnFields": ["id", "ref", "status"],
     "arguments": {"input": {"id": {"source": "orderId", "required": true},
                             "status": {"value": "${DEFAULT_STATUS}"},
                             "attributes": {"isArray": true, "source": "attrs",
                                            "fields": {"name": "key", "type": {"value": "STRING"},
                                                       "value": {"source": "val", "transform": "toString"}}}}}}

Argument configs:

* keys starting with ``_`` are skipped (comments, ``_nested``/``_array`` markers);
* ``{"value": x}`` is a literal; in strings ``${VAR}`` is replaced by the environment variable (kept literally
  when the variable is unset);
* ``{"isArray": true}`` or ``{"_array": true}`` with a required ``source`` builds a list. A non-list value is
  an error unless ``autoWrap`` is true (then it becomes ``[value]``); ``validation.minItems`` is enforced.
  Item fields (``fields``, resolved **relative to the item**) are a path string, ``{value}``,
  ``{source, mapping}`` or ``{source, transform, defaultValue, required}``; without ``fields`` items are kept;
* ``{"_nested": true, "fields": {...}}``, or any object without ``source``/``value``, builds a nested object
  (an optional ``source`` on a ``_nested`` object re-roots it);
* a scalar is resolved (``value`` or ``source``), looked up in ``mapping``, defaulted (``defaultValue`` only
  for null/missing, **not** ``''``), checked (``required`` rejects null, missing and ``''``), then transformed.

Variables: if the arguments consist of a single object ``input`` (the usual form), the variables are the mapped
arguments (``{"input": {...}}``); otherwise the mapped arguments are the input (``{"input": <arguments>}``).

Deviations from the reference (documented on purpose):

* a **missing** value is never transformed: the field is left out instead of being sent as ``null``/NaN (a null
  in an update would clear the field). ``null`` is still transformed (``toString(null)`` → ``''``);
* ``required`` is re-checked after the transform (a transform must not produce an empty required field);
* variables are JSON-ready exactly as ``JSON.stringify`` would send them: dates become ISO strings and
  NaN/±Infinity become ``null``;
* :meth:`GraphQLMutationMapper.batch_map` chunks **every** record (the reference drops all but the first batch).
"""

from .aliases import AliasedResponse, AliasOutcome, parse_aliased_response
from .mapper import DEFAULT_MUTATIONS_PER_BATCH, MAX_MUTATIONS_PER_BATCH, GraphQLMutationMapper
from .results import ConfigValidation, MutationMappingError, MutationRequest, MutationResult
from .transforms import BUILTIN_TRANSFORMS, substitute_env
from .validation import build_mutation_query, validate_mapping_config

__all__ = [
    "BUILTIN_TRANSFORMS",
    "DEFAULT_MUTATIONS_PER_BATCH",
    "MAX_MUTATIONS_PER_BATCH",
    "AliasOutcome",
    "AliasedResponse",
    "ConfigValidation",
    "GraphQLMutationMapper",
    "MutationMappingError",
    "MutationRequest",
    "MutationResult",
    "build_mutation_query",
    "parse_aliased_response",
    "substitute_env",
    "validate_mapping_config",
]
