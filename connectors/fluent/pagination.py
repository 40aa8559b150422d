"""Streaming pagination over Relay connections (fluent-api.md §4.2, sdk-parity.md §18, R59).

Why streaming: extraction runs over hundreds of thousands of records. :class:`Paginator` is an async
iterator of :class:`Page` objects, fetched one request at a time as the consumer asks for them, so the
memory held is one page plus a bounded window of seen ids (``dedupe_window``), not the result set. (The
reference SDK merged every page into one response, and its orchestrator paginated twice.)

Cursor variables are found from the query itself (:mod:`.cursors`), so non-standard names such as
``$cursor``/``$pageSize`` work.

Forward uses ``first``/``after`` and the last edge's cursor; backward ``last``/``before`` and the first
edge's cursor (Fluent returns no ``endCursor``; it is never read). Direction is forward when the
forward pair exists, unless ``direction="backward"`` is asked for.

Stops: has-more flag false; an empty page; ``max_pages`` / ``max_records`` (counted after dedupe; the
last page is trimmed; an exact fit is *not* truncation); the wall-clock ``timeout`` (checked between
pages). Errors: a cursor that does not advance, or three pages in a row with nothing new, raise
:class:`~fluentsync.connectors.fluent.errors.FluentPaginationError` (the reference only warned).
Mutations are never paginated.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .cursors import CursorVariables, Direction, detect_cursor_variables, find_connection
from .errors import FluentGraphQLError, FluentPaginationError, FluentValidationError
from .graphql import GraphQLAPI

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "CursorVariables",
    "Page",
    "PaginationStats",
    "Paginator",
    "detect_cursor_variables",
    "find_connection",
]

log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 250
MAX_EMPTY_PAGES = 3

TruncationReason = Literal["maxPages", "maxRecords", "timeout"]


@dataclass(frozen=True)
class Page:
    """One response. ``edges`` holds only edges not seen before (server order)."""

    number: int
    edges: list[dict[str, Any]]
    page_info: dict[str, Any]
    has_more: bool
    cursor: str | None
    """Cursor the next request would use."""
    duplicates: int = 0
    data: Any = field(default=None, repr=False)
    """The whole ``data`` of this response (for fields beside the connection)."""

    @property
    def nodes(self) -> list[Any]:
        return [e.get("node") for e in self.edges]


@dataclass
class PaginationStats:
    """Running totals, readable during and after iteration."""

    direction: Direction | None = None
    total_pages: int = 0
    total_records: int = 0
    duplicates: int = 0
    truncated: bool = False
    truncation_reason: TruncationReason | None = None


class Paginator:
    """``async for page in Paginator(graphql, query, variables): …`` — see the module docstring."""

    def __init__(
        self,
        graphql: GraphQLAPI,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        operation_name: str | None = None,
        direction: Direction | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        connection_path: str | Sequence[str] | None = None,
        max_pages: int | None = None,
        max_records: int | None = None,
        timeout: float | None = None,
        page_timeout: float | None = None,
        delay: float = 0.0,
        dedupe_window: int | None = 100_000,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise FluentValidationError(f"page_size must be within 1..{MAX_PAGE_SIZE}, got {page_size}")
        for name, value in (("max_pages", max_pages), ("max_records", max_records)):
            if value is not None and value < 1:
                raise FluentValidationError(f"{name} must be >= 1, got {value}")
        if dedupe_window is not None and dedupe_window < 1:
            raise FluentValidationError("dedupe_window must be >= 1 or None")
        self._graphql = graphql
        self._query = query
        self._variables = dict(variables or {})
        self._operation_name = operation_name
        self.cursor_variables = detect_cursor_variables(query)
        if self.cursor_variables.is_mutation:
            raise FluentValidationError("mutations are never paginated")
        self._direction = self._choose_direction(direction)
        self._page_size = page_size
        self._connection_path = connection_path or self.cursor_variables.connection_path
        self._max_pages = max_pages
        self._max_records = max_records
        self._timeout = timeout
        self._page_timeout = page_timeout
        self._delay = delay
        self._window = dedupe_window
        self._clock = clock
        self._sleep = sleep
        self.stats = PaginationStats(direction=self._direction)
        self._check_size_variable()

    def _choose_direction(self, wanted: Direction | None) -> Direction | None:
        cv = self.cursor_variables
        has_forward = bool(cv.after)
        has_backward = bool(cv.before)
        if wanted == "backward" and not has_backward:
            raise FluentValidationError("backward pagination needs a variable bound to 'before:'")
        if wanted == "forward" and not has_forward:
            raise FluentValidationError("forward pagination needs a variable bound to 'after:'")
        if wanted is not None:
            return wanted
        if has_forward:
            return "forward"
        if has_backward:
            return "backward"
        return None

    @property
    def _size_var(self) -> str | None:
        cv = self.cursor_variables
        return cv.last if self._direction == "backward" else cv.first

    @property
    def _cursor_var(self) -> str | None:
        cv = self.cursor_variables
        return cv.before if self._direction == "backward" else cv.after

    def _check_size_variable(self) -> None:
        size_var = self._size_var
        if size_var is None:
            return
        given = self._variables.get(size_var)
        if given is None:
            if size_var not in self.cursor_variables.size_defaults:
                self._variables[size_var] = self._page_size
        elif not isinstance(given, int) or not 1 <= given <= MAX_PAGE_SIZE:
            raise FluentValidationError(f"${size_var} must be an integer within 1..{MAX_PAGE_SIZE}, got {given!r}")

    def __aiter__(self) -> AsyncIterator[Page]:
        return self.pages()

    async def nodes(self) -> AsyncIterator[Any]:
        """Every new node, page after page."""
        async for page in self.pages():
            for node in page.nodes:
                yield node

    async def pages(self) -> AsyncIterator[Page]:
        """Fetch and yield pages until a stop condition (see the module docstring)."""
        stats = self.stats
        seen: OrderedDict[str, None] = OrderedDict()
        variables = dict(self._variables)
        started = self._clock()
        cursor_in: str | None = variables.get(self._cursor_var) if self._cursor_var else None
        empty_streak = 0
        backward = self._direction == "backward"
        while True:
            if self._timeout is not None and stats.total_pages and self._clock() - started >= self._timeout:
                self._truncate("timeout")
                return
            try:
                result = await self._graphql.execute(
                    self._query, variables, self._operation_name, attempt_timeout=self._page_timeout
                )
            except FluentGraphQLError as exc:
                exc.message = f"GraphQL error during pagination (page {stats.total_pages + 1}): {exc.message}"
                exc.args = (exc.message,)
                raise
            conn = find_connection(result.data, self._connection_path)
            if conn is None:
                conn = find_connection(result.data)
            if conn is None:
                raise FluentPaginationError(
                    f"page {stats.total_pages + 1}: no Relay connection (edges + pageInfo) in the response"
                )
            edges = [e for e in conn["edges"] if isinstance(e, dict)]
            info = dict(conn["pageInfo"])
            cursor = _cursor_of(edges[0] if backward else edges[-1]) if edges else None
            has_more = info.get("hasPreviousPage" if backward else "hasNextPage") is True

            fresh = self._dedupe(edges, seen)
            duplicates = len(edges) - len(fresh)
            trimmed = False
            if self._max_records is not None:
                room = self._max_records - stats.total_records
                if len(fresh) > room:
                    fresh = fresh[len(fresh) - room :] if backward else fresh[:room]
                    trimmed = True
            stats.total_pages += 1
            stats.total_records += len(fresh)
            stats.duplicates += duplicates
            yield Page(stats.total_pages, fresh, info, has_more, cursor, duplicates, result.data)

            full = self._max_records is not None and stats.total_records >= self._max_records
            if trimmed or (has_more and full):
                self._truncate("maxRecords")
                return
            if not has_more:
                return
            if self._cursor_var is None:
                raise FluentPaginationError(
                    "the response has more pages but the query binds no variable to 'after:'/'before:'"
                )
            if cursor is None:
                log.warning("pagination stopped: page %d says has-more but has no cursor", stats.total_pages)
                return
            if cursor == cursor_in:
                raise FluentPaginationError(
                    f"page {stats.total_pages}: the cursor did not advance (${self._cursor_var} would repeat)"
                )
            empty_streak = empty_streak + 1 if not fresh else 0
            if empty_streak >= MAX_EMPTY_PAGES:
                raise FluentPaginationError(f"{MAX_EMPTY_PAGES} pages in a row brought no new records")
            if self._max_pages is not None and stats.total_pages >= self._max_pages:
                self._truncate("maxPages")
                return
            cursor_in = cursor
            variables[self._cursor_var] = cursor
            if self._delay > 0 and self._sleep is not None:
                await self._sleep(self._delay)

    def _truncate(self, reason: TruncationReason) -> None:
        self.stats.truncated = True
        self.stats.truncation_reason = reason

    def _dedupe(self, edges: list[dict[str, Any]], seen: OrderedDict[str, None]) -> list[dict[str, Any]]:
        fresh = []
        for edge in edges:
            key = _dedupe_key(edge)
            if key is not None:
                if key in seen:
                    continue
                seen[key] = None
                if self._window is not None and len(seen) > self._window:
                    seen.popitem(last=False)
            fresh.append(edge)
        return fresh


def _cursor_of(edge: Mapping[str, Any]) -> str | None:
    cursor = edge.get("cursor")
    return str(cursor) if cursor is not None else None


def _dedupe_key(edge: Mapping[str, Any]) -> str | None:
    node = edge.get("node")
    if isinstance(node, Mapping) and node.get("id") is not None:
        return "id:" + str(node["id"])
    cursor = edge.get("cursor")
    return "cursor:" + str(cursor) if cursor is not None else None
