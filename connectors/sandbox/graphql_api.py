"""``POST /graphql``: a real GraphQL engine (graphql-core) over the sandbox store.

Why graphql-core rather than hand-rolled parsing: clients are only proven correct if the server
validates queries the way a GraphQL server does (unknown fields, wrong argument types, missing
variables), so the sandbox parses, validates and executes with the reference implementation and only
supplies resolvers.

Paging (fluent-api.md §4.2): every connection is ordered by ``(updatedOn, id)`` ascending, using the
collection's presorted index, so a page costs a binary search plus a scan of the page. Cursors are
opaque base64 of ``<type>:<updatedOn µs>:<id>``; paging resumes *after* that key, so inserts and updates
elsewhere never cause gaps (an entity updated while a client pages moves to the end and may be seen
again, which is what incremental extraction expects). ``first``/``last`` default to 100, more than 250
is an error (lenient: clamped), both together is an error, and a bad cursor is an error.

Errors follow Fluent's shape, HTTP 200 with ``errors[].extensions.code``. Codes used (sandbox choices
where Fluent's is unknown): ``GRAPHQL_PARSE_FAILED``, ``GRAPHQL_VALIDATION_FAILED``, ``BAD_USER_INPUT``,
``C0140E`` missing required variable or input field, ``C0101E`` invalid date-time, ``C0120E`` entity not
found, ``C0121E`` already exists, ``C0122E`` invalid number, ``C0142E`` page size over the cap,
``C0143E`` ``first`` with ``last``, ``C0144E`` invalid cursor, ``C0001E`` query too complex,
``C0011E`` rate limit.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeGuard

from aiohttp import web
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    StringValueNode,
    build_schema,
    execute,
    parse,
    validate,
)
from graphql.language import ValueNode
from graphql.utilities import value_from_ast_untyped

from .auth import request_token
from .clock import format_datetime, parse_datetime
from .graphql_mutations import MUTATION_RESOLVERS
from .graphql_schema import build_sdl
from .responses import json_response, read_json
from .store import Collection, Record, SortKey, to_micros

if TYPE_CHECKING:
    from .state import SandboxState

    #: Resolver info; the context is ``{"state": SandboxState, "token": TokenInfo | None, ...}``.
    Info = GraphQLResolveInfo[dict[str, Any]]

__all__ = ["GraphQLService", "fluent_error", "get_schema"]

log = logging.getLogger(__name__)


_MAX_KEY = 2**62


def fluent_error(code: str, message: str) -> GraphQLError:
    """A GraphQL error carrying a Fluent code in ``extensions.code``."""
    return GraphQLError(message, extensions={"code": code})


# -- scalars -----------------------------------------------------------------------------------------


def _parse_datetime_value(value: Any) -> str:
    if isinstance(value, datetime):
        return format_datetime(value)
    try:
        return format_datetime(parse_datetime(value))
    except (TypeError, ValueError) as exc:
        raise fluent_error("C0101E", f"Invalid date-time {value!r}; expected ISO-8601") from exc


def _parse_datetime_literal(node: ValueNode, *_args: Any) -> str:
    if not isinstance(node, StringValueNode):
        raise fluent_error("C0101E", "Date-time literals must be strings")
    return _parse_datetime_value(node.value)


def _serialize_datetime(value: Any) -> str:
    return format_datetime(value) if isinstance(value, datetime) else str(value)


# -- cursors and pages -------------------------------------------------------------------------------


def encode_cursor(kind: str, key: SortKey) -> str:
    return base64.b64encode(f"{kind}:{key[0]}:{key[1]}".encode()).decode()


def decode_cursor(kind: str, cursor: str) -> SortKey:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
        prefix, first, second = text.split(":")
        if prefix != kind:
            raise ValueError(prefix)
        return int(first), int(second)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise fluent_error("C0144E", f"Invalid cursor {cursor!r} for {kind} connection") from exc


def _page_size(args: dict[str, Any], state: SandboxState) -> tuple[int | None, int | None]:
    settings = state.settings
    first, last = args.get("first"), args.get("last")
    if first is not None and last is not None:
        raise fluent_error("C0143E", "Specify either 'first' or 'last', not both")
    for name, value in (("first", first), ("last", last)):
        if value is not None and value < 0:
            raise fluent_error("C0122E", f"'{name}' must not be negative")
        if value is not None and value > settings.page_size_max:
            if settings.strict:
                raise fluent_error("C0142E", f"'{name}' must not exceed {settings.page_size_max} (got {value})")
            if name == "first":
                first = settings.page_size_max
            else:
                last = settings.page_size_max
    if first is None and last is None:
        first = settings.page_size_default
    return first, last


def page(
    kind: str,
    keys: Sequence[SortKey],
    get: Callable[[SortKey], Record],
    args: dict[str, Any],
    state: SandboxState,
    *,
    lo: int = 0,
    hi: int | None = None,
    where: Callable[[Record], bool] | None = None,
) -> dict[str, Any]:
    """One Relay page over ``keys[lo:hi]`` (sorted), filtered by ``where``."""
    first, last = _page_size(args, state)
    range_lo, range_hi = lo, len(keys) if hi is None else hi
    lo, hi = range_lo, range_hi
    if args.get("after"):
        lo = max(lo, bisect.bisect_right(keys, decode_cursor(kind, args["after"]), range_lo, range_hi))
    if args.get("before"):
        hi = min(hi, bisect.bisect_left(keys, decode_cursor(kind, args["before"]), range_lo, range_hi))

    def matches(i: int) -> Record | None:
        record = get(keys[i])
        return record if where is None or where(record) else None

    def any_match(indices: range) -> bool:
        return any(matches(i) is not None for i in indices)

    edges: list[dict[str, Any]] = []
    if last is None:
        assert first is not None
        i = lo
        while i < hi and len(edges) <= first:
            record = matches(i)
            if record is not None:
                edges.append({"cursor": encode_cursor(kind, keys[i]), "node": record})
            i += 1
        has_next = len(edges) > first
        del edges[first:]
        has_previous = any_match(range(lo - 1, range_lo - 1, -1))
    else:
        i = hi - 1
        while i >= lo and len(edges) <= last:
            record = matches(i)
            if record is not None:
                edges.append({"cursor": encode_cursor(kind, keys[i]), "node": record})
            i -= 1
        has_previous = len(edges) > last
        del edges[last:]
        edges.reverse()
        has_next = any_match(range(hi, range_hi))
    return {
        "edges": edges,
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
            "startCursor": None,
            "endCursor": None,
        },
    }


def list_page(kind: str, records: list[Record], args: dict[str, Any], state: SandboxState) -> dict[str, Any]:
    """A page over a small in-memory list (nested connections such as ``order.items``)."""
    keys = [(0, int(r["id"])) for r in records]
    by_id = {int(r["id"]): r for r in records}
    keys.sort()
    return page(kind, keys, lambda k: by_id[k[1]], args, state)


# -- root connections --------------------------------------------------------------------------------

_LIST_FILTERS = (
    "type",
    "status",
    "productRef",
    "locationRef",
    "groupRef",
    "deliveryType",
    "orderRef",
    "email",
)


def _range_bounds(value: dict[str, Any] | None, state: SandboxState) -> tuple[str | None, str | None]:
    if not value:
        return None, None
    since = value.get("from") or (value.get("after") if not state.settings.strict else None)
    until = value.get("to") or (value.get("before") if not state.settings.strict else None)
    return since, until


def _connection_resolver(attribute: str, kind: str) -> Callable[..., dict[str, Any]]:
    def resolve(_root: Any, info: Info, **args: Any) -> dict[str, Any]:
        state: SandboxState = info.context["state"]
        collection: Collection = getattr(state.store, attribute)
        checks: list[Callable[[Record], bool]] = []
        for name in _LIST_FILTERS:
            values = args.get(name)
            if values:
                wanted = {str(v) for v in values if v is not None}
                checks.append(lambda r, n=name, w=wanted: str(r.get(n)) in w)  # type: ignore[misc]
        if args.get("retailerId") is not None:
            retailer = str(args["retailerId"])
            checks.append(lambda r: str(r.get("retailerId", state.store.retailer_id)) == retailer)
        catalogues = list(args.get("catalogues") or [])
        if args.get("catalogue"):
            catalogues.append(args["catalogue"])
        if catalogues:
            wanted_refs = {c["ref"] for c in catalogues}
            checks.append(lambda r: (r.get("catalogue") or {}).get("ref") in wanted_refs)
        created_from, created_to = _range_bounds(args.get("createdOn"), state)
        if created_from:
            checks.append(lambda r: r["createdOn"] >= created_from)
        if created_to:
            checks.append(lambda r: r["createdOn"] <= created_to)
        where = (lambda r: all(c(r) for c in checks)) if checks else None

        keys: Sequence[SortKey] = collection.keys
        refs = args.get("ref")
        if refs:
            keys = collection.keys_for_refs(str(r) for r in refs if r is not None)
        lo, hi = 0, len(keys)
        updated_from, updated_to = _range_bounds(args.get("updatedOn"), state)
        if updated_from:
            lo = bisect.bisect_left(keys, (to_micros(parse_datetime(updated_from)), -1))
        if updated_to:
            hi = bisect.bisect_right(keys, (to_micros(parse_datetime(updated_to)), _MAX_KEY))
        _check_complexity(info, args, state)
        return page(kind, keys, collection.record_at, args, state, lo=lo, hi=max(lo, hi), where=where)

    return resolve


def _check_complexity(info: Info, args: dict[str, Any], state: SandboxState) -> None:
    limit = state.settings.complexity_limit
    if limit is None:
        return
    size = args.get("first") or args.get("last") or state.settings.page_size_default
    depth = max(_depth(node.selection_set) for node in info.field_nodes)
    if size * depth > limit:
        raise fluent_error("C0001E", f"Query complexity {size * depth} exceeds the limit {limit}")


def _depth(selection_set: SelectionSetNode | None) -> int:
    if selection_set is None:
        return 0
    best = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode | InlineFragmentNode):
            best = max(best, _depth(selection.selection_set))
    return best + 1


# -- single lookups and nested fields ----------------------------------------------------------------


def _state(info: Info) -> SandboxState:
    state: SandboxState = info.context["state"]
    return state


def _by_ref_or_id(attribute: str) -> Callable[..., Record | None]:
    def resolve(_root: Any, info: Info, **args: Any) -> Record | None:
        collection: Collection = getattr(_state(info).store, attribute)
        if args.get("id") is not None:
            record = collection.get(args["id"])
            if record is None or (args.get("ref") and record.get("ref") != args["ref"]):
                return None
            return record
        if args.get("ref") is not None:
            catalogue = (args.get("catalogue") or {}).get("ref")
            return collection.first_by_ref(
                str(args["ref"]),
                (lambda r: (r.get("catalogue") or {}).get("ref") == catalogue) if catalogue else None,
            )
        return None

    return resolve


def _resolve_me(_root: Any, info: Info) -> Record:
    state = _state(info)
    token = info.context.get("token")
    subject = getattr(token, "subject", state.config.username)
    return {
        "id": 1 if subject == state.config.username else 2,
        "ref": subject,
        "username": subject,
        "firstName": "Sandbox",
        "lastName": "User",
        "type": "ADMIN" if subject == state.config.username else "API",
        "status": "ACTIVE",
        "primaryRetailer": state.store.retailer(),
        "roles": [
            {
                "role": {"name": "ADMIN"},
                "contexts": [{"contextType": "retailer", "contextId": state.config.retailer_id}],
            }
        ],
    }


def _nested(kind: str, records: Callable[[Record, SandboxState], list[Record]]) -> Callable[..., dict[str, Any]]:
    def resolve(source: Record, info: Info, **args: Any) -> dict[str, Any]:
        state = _state(info)
        return list_page(kind, records(source, state), args, state)

    return resolve


def _link(getter: Callable[[Record, SandboxState], Record | None]) -> Callable[..., Record | None]:
    def resolve(source: Record, info: Info) -> Record | None:
        return getter(source, _state(info))

    return resolve


def _order_item(source: Record, state: SandboxState) -> Record | None:
    located = state.store.order_item_index.get(int(source.get("orderItemId") or 0))
    if located is None:
        return None
    order = state.store.orders.get(located[0])
    return order["items"][located[1]] if order else None


def _quantities(source: Record, state: SandboxState) -> list[Record]:
    ids = state.store.quantity_index.get(int(source["id"]), {}).values()
    return [q for i in ids if (q := state.store.inventory_quantities.get(i)) is not None]


_FIELD_RESOLVERS: dict[tuple[str, str], Callable[..., Any]] = {
    ("Order", "retailer"): _link(lambda s, st: st.store.retailer()),
    ("Order", "customer"): _link(lambda s, st: st.store.customers.get(s.get("customerId"))),
    ("Order", "items"): _nested("OrderItem", lambda s, st: list(s.get("items") or [])),
    ("Order", "fulfilments"): _nested(
        "Fulfilment",
        lambda s, st: [f for i in s.get("fulfilmentIds") or [] if (f := st.store.fulfilments.get(i)) is not None],
    ),
    ("OrderItem", "product"): _link(lambda s, st: st.store.products.first_by_ref(str(s.get("productRef")))),
    ("OrderItem", "order"): _link(lambda s, st: st.store.orders.get(s.get("orderId"))),
    ("Fulfilment", "order"): _link(lambda s, st: st.store.orders.get(s.get("orderId"))),
    ("Fulfilment", "fromLocation"): _link(lambda s, st: st.store.locations.first_by_ref(str(s.get("fromLocationRef")))),
    ("Fulfilment", "items"): _nested("FulfilmentItem", lambda s, st: list(s.get("items") or [])),
    ("FulfilmentItem", "orderItem"): _link(_order_item),
    ("Location", "retailer"): _link(lambda s, st: st.store.retailer()),
    ("InventoryPosition", "quantities"): _nested("InventoryQuantity", _quantities),
    ("InventoryQuantity", "position"): _link(lambda s, st: st.store.inventory_positions.get(s.get("positionId"))),
    ("Control", "controlGroup"): _link(
        lambda s, st: st.store.control_groups.first_by_ref(str(s.get("controlGroupRef")))
    ),
    ("Control", "virtualCatalogue"): _link(
        lambda s, st: st.store.catalogues["virtual"].get(str(s.get("virtualCatalogueRef")))
    ),
    ("ControlGroup", "controls"): _nested(
        "Control",
        lambda s, st: [c for i in s.get("controlIds") or [] if (c := st.store.controls.get(i)) is not None],
    ),
}

_ROOT_CONNECTIONS = {
    "orders": ("orders", "Order"),
    "fulfilments": ("fulfilments", "Fulfilment"),
    "inventoryPositions": ("inventory_positions", "InventoryPosition"),
    "inventoryQuantities": ("inventory_quantities", "InventoryQuantity"),
    "virtualPositions": ("virtual_positions", "VirtualPosition"),
    "products": ("products", "Product"),
    "locations": ("locations", "Location"),
    "customers": ("customers", "Customer"),
    "controls": ("controls", "Control"),
    "controlGroups": ("control_groups", "ControlGroup"),
}

_ROOT_SINGLES = {
    "order": "orders",
    "orderById": "orders",
    "fulfilment": "fulfilments",
    "fulfilmentById": "fulfilments",
    "inventoryPosition": "inventory_positions",
    "product": "products",
    "location": "locations",
    "locationById": "locations",
    "customer": "customers",
    "controlGroup": "control_groups",
}


@functools.cache
def get_schema(lenient: bool) -> GraphQLSchema:
    """The executable schema (built once per variant and process)."""
    schema = build_schema(build_sdl(lenient=lenient))
    # graphql-core 3.2 calls parse_value/parse_literal/serialize; 3.3 calls the coerce_* variants.
    hooks: dict[str, dict[tuple[str, str], Callable[..., Any]]] = {
        "DateTime": {
            ("serialize", "coerce_output_value"): _serialize_datetime,
            ("parse_value", "coerce_input_value"): _parse_datetime_value,
            ("parse_literal", "coerce_input_literal"): _parse_datetime_literal,
        },
        "Json": {("parse_literal", "coerce_input_literal"): value_from_ast_untyped},
    }
    for type_name, functions in hooks.items():
        scalar = schema.type_map[type_name]
        assert isinstance(scalar, GraphQLScalarType)
        for names, function in functions.items():
            for name in names:
                if hasattr(scalar, name):
                    setattr(scalar, name, function)

    def field(type_name: str, field_name: str) -> Any:
        owner = schema.type_map[type_name]
        assert isinstance(owner, GraphQLObjectType)
        return owner.fields[field_name]

    field("Query", "me").resolve = _resolve_me
    for name, (attribute, kind) in _ROOT_CONNECTIONS.items():
        field("Query", name).resolve = _connection_resolver(attribute, kind)
    for name, attribute in _ROOT_SINGLES.items():
        field("Query", name).resolve = _by_ref_or_id(attribute)
    for (type_name, field_name), resolver in _FIELD_RESOLVERS.items():
        field(type_name, field_name).resolve = resolver
    for name, resolver in MUTATION_RESOLVERS.items():
        field("Mutation", name).resolve = resolver
    return schema


# -- the HTTP handler --------------------------------------------------------------------------------


def _error_body(message: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"data": None, "errors": [{"message": message, "extensions": {"code": code}, **extra}]}


def _input_code(error: GraphQLError) -> str:
    original = error.original_error
    if isinstance(original, GraphQLError) and original.extensions and "code" in original.extensions:
        return str(original.extensions["code"])
    if any(s in error.message for s in ("was not provided", "to be provided", "of required type")):
        return "C0140E"
    return "BAD_USER_INPUT"


def _never_awaitable(_value: Any) -> TypeGuard[Awaitable[Any]]:
    """Every resolver is synchronous; telling graphql-core so saves an isawaitable check per field."""
    return False


class GraphQLService:
    """Parses, validates (with a cache) and executes GraphQL requests against one state."""

    _CACHE_SIZE = 256

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self._documents: OrderedDict[tuple[bool, str], DocumentNode] = OrderedDict()

    def _document(self, lenient: bool, query: str) -> DocumentNode | dict[str, Any]:
        key = (lenient, query)
        document = self._documents.get(key)
        if document is not None:
            self._documents.move_to_end(key)
            return document
        try:
            document = parse(query)
        except GraphQLError as exc:
            formatted = dict(exc.formatted)
            formatted["extensions"] = {"code": "GRAPHQL_PARSE_FAILED"}
            return {"data": None, "errors": [formatted]}
        errors = validate(get_schema(lenient), document)
        if errors:
            formatted_errors = []
            for error in errors:
                item = dict(error.formatted)
                item["extensions"] = {"code": "GRAPHQL_VALIDATION_FAILED"}
                formatted_errors.append(item)
            return {"data": None, "errors": formatted_errors}
        self._documents[key] = document
        if len(self._documents) > self._CACHE_SIZE:
            self._documents.popitem(last=False)
        return document

    def execute(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
        token: Any = None,
    ) -> dict[str, Any]:
        """Run one GraphQL request; returns the response body (always a dict)."""
        state = self.state
        state.graphql_requests += 1
        lenient = not state.settings.strict
        document = self._document(lenient, query)
        if isinstance(document, dict):
            return document
        context = {"state": state, "token": token, "started": time.time()}
        result = execute(
            get_schema(lenient),
            document,
            variable_values=variables,
            operation_name=operation_name,
            context_value=context,
            is_awaitable=_never_awaitable,
        )
        assert isinstance(result, ExecutionResult), "resolvers are synchronous"
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            errors = []
            variables_failed = result.data is None and all(not e.path for e in result.errors)
            for error in result.errors:
                item: dict[str, Any] = dict(error.formatted)
                extensions = dict(item.get("extensions") or {})
                if "code" not in extensions:
                    if variables_failed:
                        extensions["code"] = _input_code(error)
                    else:
                        log.error("sandbox resolver failed", exc_info=error.original_error)
                        extensions["code"] = "INTERNAL_SERVER_ERROR"
                item["extensions"] = extensions
                errors.append(item)
            body["errors"] = errors
        return body

    async def handle(self, request: web.Request) -> web.Response:
        try:
            payload = await read_json(request)
        except Exception as exc:  # RequestError: answer in GraphQL's shape
            return json_response(_error_body(str(exc), "BAD_REQUEST"), status=400)
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return json_response(_error_body("Body must be an object with a 'query' string", "BAD_REQUEST"), status=400)
        variables = payload.get("variables")
        if variables is not None and not isinstance(variables, dict):
            return json_response(_error_body("'variables' must be an object", "BAD_REQUEST"), status=400)
        operation = payload.get("operationName")
        body = self.execute(
            payload["query"],
            variables,
            operation if isinstance(operation, str) else None,
            request_token(request),
        )
        return json_response(body)
