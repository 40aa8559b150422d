"""Paginator: cursor-variable detection, stop conditions, dedupe, limits (sdk-parity §18, R59)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from fluentsync.connectors.fluent import (
    FluentGraphQLError,
    FluentPaginationError,
    FluentValidationError,
    detect_cursor_variables,
    find_connection,
)

from .fakes import FakeFluent, gql, make_client

# ------------------------------------------------------------------------------------------ detection


def test_detect_standard_forward() -> None:
    cv = detect_cursor_variables(
        "query Orders($first: Int, $after: String) { orders(first: $first, after: $after) "
        "{ edges { cursor node { id } } pageInfo { hasNextPage } } }"
    )
    assert (cv.first, cv.after, cv.direction, cv.connection_path) == (
        "first",
        "after",
        "forward",
        ("orders",),
    )


def test_detect_non_standard_names_by_usage() -> None:
    cv = detect_cursor_variables(
        """
        # comment with after: $nope
        query Q($pageSize: Int!, $cursor: String, $retailer: ID) {
          page: orders(retailerId: $retailer, first: $pageSize, after: $cursor) {
            edges { cursor node { id items(first: 5) { edges { node { ref } } } } }
            pageInfo { hasNextPage }
          }
        }
        """
    )
    assert (cv.first, cv.after) == ("pageSize", "cursor")
    assert cv.connection_path == ("page",)


def test_detect_backward_and_nested_path_through_fragments() -> None:
    cv = detect_cursor_variables(
        """
        query Q($n: Int, $b: String) { viewer { ...F } }
        fragment F on Viewer { ... on Viewer { fulfilments(last: $n, before: $b) { edges { cursor } } } }
        """
    )
    assert (cv.last, cv.before, cv.direction) == ("n", "b", "backward")
    assert cv.connection_path == ("viewer", "fulfilments")


def test_detect_declared_default_is_respected() -> None:
    cv = detect_cursor_variables("query($first: Int = 50, $after: String) { o(first: $first, after: $after) { x } }")
    assert cv.size_defaults == frozenset({"first"})


def test_detect_by_declared_name_when_unused_and_regex_fallback() -> None:
    cv = detect_cursor_variables("query Q($ordersFirst: Int, $ordersAfter: String) { me { ref } }")
    assert (cv.first, cv.after) == ("ordersFirst", "ordersAfter")
    broken = detect_cursor_variables("query Q($size: Int, $cur: String) { orders(first: $size, after: $cur) {")
    assert (broken.first, broken.after) == ("size", "cur")


def test_mutation_detected() -> None:
    assert detect_cursor_variables("mutation{ createOrder(input: {}) { id } }").is_mutation


def test_find_connection() -> None:
    conn = {"edges": [], "pageInfo": {"hasNextPage": False}}
    data = {"a": {"b": [{"x": 1}, {"c": conn}]}}
    assert find_connection(data) is conn
    assert find_connection({"a": {"b": conn}}, "a.b") is conn
    assert find_connection({"a": {"b": conn}}, "a.z") is None
    assert find_connection({"edges": [], "pageInfo": {}}) is None


# ------------------------------------------------------------------------------------------ paging

QUERY = """
query Orders($size: Int, $cursor: String, $n: Int, $before: String) {
  orders(first: $size, after: $cursor, last: $n, before: $before) {
    edges { cursor node { id ref } }
    pageInfo { hasNextPage hasPreviousPage }
  }
}
"""


class Relay:
    """Serves ``count`` orders as a Relay connection, reading the variables named above."""

    def __init__(self, count: int, *, overlap: int = 0, stuck_after: int | None = None) -> None:
        self.items = [{"id": str(i), "ref": f"O-{i}"} for i in range(count)]
        self.overlap = overlap
        self.stuck_after = stuck_after
        self.calls: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        variables = json.loads(request.content).get("variables") or {}
        self.calls.append(variables)
        n = len(self.items)
        if variables.get("before") is not None or variables.get("n") is not None:
            end = int(variables["before"][1:]) if variables.get("before") else n
            size = variables.get("n") or 100
            start = max(0, end - size)
            window = range(start, end)
            info = {"hasNextPage": False, "hasPreviousPage": start > 0}
        else:
            begin = int(variables["cursor"][1:]) + 1 if variables.get("cursor") else 0
            if self.stuck_after is not None and begin > self.stuck_after:
                begin = self.stuck_after + 1 - (variables.get("size") or 100)
            begin = max(0, begin - self.overlap if variables.get("cursor") else begin)
            size = variables.get("size") or 100
            window = range(begin, min(n, begin + size))
            info = {"hasNextPage": begin + size < n, "hasPreviousPage": begin > 0}
        edges = [{"cursor": f"c{i}", "node": self.items[i]} for i in window]
        return gql({"orders": {"edges": edges, "pageInfo": info}})


async def collect(paginator: Any) -> list[str]:
    ids: list[str] = []
    async for page in paginator:
        ids.extend(node["id"] for node in page.nodes)
    return ids


async def test_forward_all_records_default_page_size_100() -> None:
    fake, relay = FakeFluent(), Relay(250)
    fake.routes["/graphql"] = relay
    async with make_client(fake) as client:
        p = client.paginate(QUERY)
        ids = await collect(p)
    assert ids == [str(i) for i in range(250)]
    assert [c.get("size") for c in relay.calls] == [100, 100, 100]
    assert [c.get("cursor") for c in relay.calls] == [None, "c99", "c199"]
    assert p.stats.total_pages == 3 and p.stats.total_records == 250 and not p.stats.truncated


async def test_backward_all_records() -> None:
    fake, relay = FakeFluent(), Relay(230)
    fake.routes["/graphql"] = relay
    async with make_client(fake) as client:
        p = client.paginate(QUERY, direction="backward", page_size=100)
        ids = await collect(p)
    assert sorted(ids, key=int) == [str(i) for i in range(230)] and len(ids) == 230
    assert [c.get("before") for c in relay.calls] == [None, "c130", "c30"]


async def test_overlapping_pages_are_deduplicated() -> None:
    fake, relay = FakeFluent(), Relay(120, overlap=5)
    fake.routes["/graphql"] = relay
    async with make_client(fake) as client:
        p = client.paginate(QUERY, page_size=50)
        ids = await collect(p)
    assert ids == [str(i) for i in range(120)]
    assert p.stats.duplicates > 0 and p.stats.total_records == 120


async def test_cursor_not_advancing_raises() -> None:
    fake = FakeFluent()
    same = {"orders": {"edges": [{"cursor": "X", "node": {"id": "1"}}], "pageInfo": {"hasNextPage": True}}}
    fake.routes["/graphql"] = lambda r: gql(same)
    async with make_client(fake) as client:
        with pytest.raises(FluentPaginationError, match="did not advance"):
            await collect(client.paginate(QUERY))
    assert len(fake.api_requests("/graphql")) == 2


async def test_pages_without_new_records_raise() -> None:
    fake = FakeFluent()
    n = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal n
        n += 1
        edges = [{"cursor": f"k{n}", "node": {"id": "same"}}]
        return gql({"orders": {"edges": edges, "pageInfo": {"hasNextPage": True}}})

    fake.routes["/graphql"] = handler
    async with make_client(fake) as client:
        with pytest.raises(FluentPaginationError, match="no new records"):
            await collect(client.paginate(QUERY))


async def test_max_records_trims_and_exact_fit_is_not_truncation() -> None:
    fake, relay = FakeFluent(), Relay(300)
    fake.routes["/graphql"] = relay
    async with make_client(fake) as client:
        p = client.paginate(QUERY, max_records=150)
        assert len(await collect(p)) == 150
        assert p.stats.truncated and p.stats.truncation_reason == "maxRecords"
        exact = client.paginate(QUERY, max_records=300)
        assert len(await collect(exact)) == 300
        assert not exact.stats.truncated


async def test_max_pages() -> None:
    fake, relay = FakeFluent(), Relay(300)
    fake.routes["/graphql"] = relay
    async with make_client(fake) as client:
        p = client.paginate(QUERY, max_pages=2, page_size=50)
        assert len(await collect(p)) == 100
    assert p.stats.truncation_reason == "maxPages" and len(relay.calls) == 2


async def test_timeout_truncates_between_pages() -> None:
    from .fakes import FakeClock

    clock = FakeClock()
    fake, relay = FakeFluent(), Relay(300)
    fake.routes["/graphql"] = relay
    async with make_client(fake, clock=clock) as client:
        p = client.paginate(QUERY, timeout=10)
        async for _page in p:
            clock.now += 11
    assert p.stats.total_pages == 1 and p.stats.truncation_reason == "timeout"


async def test_page_size_validation() -> None:
    fake = FakeFluent()
    async with make_client(fake) as client:
        with pytest.raises(FluentValidationError):
            client.paginate(QUERY, page_size=251)
        with pytest.raises(FluentValidationError):
            client.paginate(QUERY, {"size": 1000})
        with pytest.raises(FluentValidationError):
            client.paginate("mutation M($after: String) { x(after: $after) { id } }")
        client.paginate(QUERY, page_size=250)


async def test_streaming_fetches_lazily() -> None:
    fake, relay = FakeFluent(), Relay(1000)
    fake.routes["/graphql"] = relay
    async with make_client(fake) as client:
        pages = client.paginate(QUERY, page_size=10).pages()
        first = await anext(pages)
        assert len(first.edges) == 10 and len(relay.calls) == 1
        await pages.aclose()


async def test_no_cursor_variable_single_page_ok_else_error() -> None:
    fake = FakeFluent()
    conn = {"edges": [{"cursor": "a", "node": {"id": "1"}}], "pageInfo": {"hasNextPage": False}}
    fake.routes["/graphql"] = lambda r: gql({"orders": conn})
    async with make_client(fake) as client:
        assert await collect(client.paginate("query { orders { edges { cursor node { id } } } }")) == ["1"]
        conn["pageInfo"] = {"hasNextPage": True}
        with pytest.raises(FluentPaginationError, match="binds no variable"):
            await collect(client.paginate("query { orders { edges { cursor node { id } } } }"))


async def test_graphql_error_names_the_page() -> None:
    fake, relay = FakeFluent(), Relay(300)
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 2:
            return gql(None, [{"message": "bad cursor", "extensions": {"code": "BAD_USER_INPUT"}}])
        return relay(request)

    fake.routes["/graphql"] = handler
    async with make_client(fake) as client:
        with pytest.raises(FluentGraphQLError, match=r"during pagination \(page 2\)"):
            await collect(client.paginate(QUERY))
