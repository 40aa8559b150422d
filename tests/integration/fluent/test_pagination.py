"""Streaming pagination through the sandbox's seeded orders (R59, sdk-parity §18)."""

from __future__ import annotations

from typing import Any

import pytest

from fluentsync.connectors.fluent import FluentClient
from tests.fixtures.sandbox_admin import Admin

pytestmark = pytest.mark.integration

FORWARD = """
query ExportOrders($pageSize: Int, $cursor: String) {
  page: orders(first: $pageSize, after: $cursor) {
    edges { cursor node { id ref } }
    pageInfo { hasNextPage }
  }
}
"""

BACKWARD = """
query ExportOrdersBackwards($howMany: Int, $olderThan: String) {
  orders(last: $howMany, before: $olderThan) {
    edges { cursor node { id ref } }
    pageInfo { hasPreviousPage }
  }
}
"""


async def seeded_orders(admin: Admin) -> int:
    counts = await admin.call("GET", "/inspect")
    found = _find_count(counts, "orders")  # /_sandbox/inspect → {"store": {"orders": N, …}, …}
    assert found, counts
    return found


def _find_count(value: Any, key: str) -> int | None:
    if isinstance(value, dict):
        if isinstance(value.get(key), int):
            return int(value[key])
        for item in value.values():
            found = _find_count(item, key)
            if found is not None:
                return found
    return None


async def all_ids(client: FluentClient, query: str, **kwargs: Any) -> tuple[list[str], Any]:
    paginator = client.paginate(query, **kwargs)
    ids: list[str] = []
    async for page in paginator:
        ids.extend(str(node["id"]) for node in page.nodes)
    return ids, paginator.stats


async def test_forward_every_order_once_non_standard_names(fluent: FluentClient, admin: Admin) -> None:
    total = await seeded_orders(admin)
    ids, stats = await all_ids(fluent, FORWARD, page_size=70)
    assert len(ids) == total == len(set(ids))
    assert stats.total_pages == -(-total // 70) and not stats.truncated and stats.duplicates == 0


async def test_backward_matches_forward(fluent: FluentClient, admin: Admin) -> None:
    forward, _ = await all_ids(fluent, FORWARD)
    backward, stats = await all_ids(fluent, BACKWARD, page_size=120)
    assert stats.direction == "backward"
    assert len(backward) == len(set(backward)) == len(forward)
    assert set(backward) == set(forward)


async def test_default_page_size_is_100_and_cap_250(fluent: FluentClient, admin: Admin) -> None:
    total = await seeded_orders(admin)
    _ids, stats = await all_ids(fluent, FORWARD)
    assert stats.total_pages == -(-total // 100)
    _ids, stats = await all_ids(fluent, FORWARD, page_size=250)
    assert stats.total_pages == -(-total // 250)


async def test_max_pages_and_max_records(fluent: FluentClient, admin: Admin) -> None:
    ids, stats = await all_ids(fluent, FORWARD, page_size=50, max_pages=2)
    assert len(ids) == 100 and stats.truncation_reason == "maxPages"
    assert len(await admin.requests("graphql")) == 2
    ids, stats = await all_ids(fluent, FORWARD, page_size=50, max_records=120)
    assert len(ids) == 120 and stats.truncation_reason == "maxRecords" and stats.total_pages == 3


async def test_pagination_survives_a_5xx_mid_stream(fluent: FluentClient, admin: Admin) -> None:
    total = await seeded_orders(admin)
    await admin.fault("graphql", "status", status=503, nth=2)
    ids, _ = await all_ids(fluent, FORWARD)
    assert len(ids) == len(set(ids)) == total


async def test_pages_arrive_one_request_at_a_time(fluent: FluentClient, admin: Admin) -> None:
    pages = fluent.paginate(FORWARD, page_size=10).pages()
    first = await anext(pages)
    assert len(first.edges) == 10
    assert len(await admin.requests("graphql")) == 1
    await pages.aclose()
