"""Pagination edge cases and failures mid-run, with faults injected by the sandbox."""

from __future__ import annotations

from collections import Counter

import pytest

from fluentsync.streams.extraction import ENTITIES, ExtractionConfig, RunRequest
from fluentsync.streams.extraction.state import parse_timestamp

from .conftest import Env

pytestmark = pytest.mark.integration


def _error(code: str, message: str) -> dict[str, object]:
    return {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}


async def test_an_empty_window_is_one_empty_page_and_keeps_the_watermark(env: Env) -> None:
    async with env.service(orders=ExtractionConfig(entity="orders")) as service:
        run = await service.runner("orders").run(RunRequest(window_from=parse_timestamp("2099-01-01T00:00:00Z")))
        assert (run.status, run.nodes, run.pages, run.watermark_after) == ("COMPLETED", 0, 1, None)
        assert await env.events("orders") == []


@pytest.mark.parametrize(("page_size", "pages"), [(8, 1), (4, 2), (3, 3)])
async def test_exact_and_partial_pages(env: Env, page_size: int, pages: int) -> None:
    async with env.service(locations=ExtractionConfig(entity="locations", page_size=page_size)) as service:
        run = await service.runner("locations").run()
        assert (run.status, run.nodes, run.pages) == ("COMPLETED", 8, pages)
        assert len(await env.events("locations")) == 8


async def test_a_cursor_that_does_not_advance_fails_the_run(env: Env) -> None:
    query = ENTITIES["orders"].query
    first = (await env.client.query(query, {"first": 100}))["orders"]["edges"]
    repeat = {"data": {"orders": {"edges": [first[-1]], "pageInfo": {"hasNextPage": True, "hasPreviousPage": False}}}}
    await env.sandbox.add_fault("graphql", "status", status=200, body=repeat, nth=2)
    async with env.service(orders=ExtractionConfig(entity="orders", page_size=100)) as service:
        run = await service.runner("orders").run()
        assert run.status == "FAILED" and run.stage == "error" and "did not advance" in (run.error or "")
        assert run.failed_at is not None and run.completed_at is None
        assert await service.state.watermark("orders") is None  # nothing is skipped on the next run
        assert [r.status for r in await service.state.runs()] == ["FAILED"]
        again = await service.runner("orders").run()
        assert again.status == "COMPLETED" and again.nodes == 300


async def test_server_errors_mid_way_are_retried(env: Env) -> None:
    await env.sandbox.add_fault("graphql", "status", status=503, nth=2)
    await env.sandbox.add_fault("graphql", "status", status=200, body=_error("S0002E", "try later"), nth=3)
    async with env.service(orders=ExtractionConfig(entity="orders", page_size=50, max_retry_delay=0.05)) as service:
        run = await service.runner("orders").run()
        assert run.status == "COMPLETED" and run.nodes == 300 and run.pages == 6 and run.duplicates == 0
    statuses = [entry["status"] for entry in await env.sandbox.requests("graphql")]
    assert statuses.count(503) == 1
    refs = Counter(v["ref"] for _k, v in await env.events("orders"))
    assert len(refs) == 300 and set(refs.values()) == {1}


async def test_a_fatal_error_mid_way_fails_the_run_and_the_next_run_resumes(env: Env) -> None:
    await env.sandbox.add_fault("graphql", "status", status=200, body=_error("C0020E", "Insufficient permissions"),
                                nth=3)
    async with env.service(orders=ExtractionConfig(entity="orders", page_size=50)) as service:
        failed = await service.runner("orders").run()
        assert failed.status == "FAILED" and "C0020E" in (failed.error or "") and failed.nodes == 100
        assert await service.state.watermark("orders") is None
        resumed = await service.runner("orders").run()
        assert resumed.status == "COMPLETED" and resumed.nodes == 300 and resumed.watermark_after is not None
    assert {v["ref"] for _k, v in await env.events("orders")} == {f"ORD-{i:06d}" for i in range(1, 301)}


async def test_limits_truncate_and_only_an_ordered_connection_advances(env: Env) -> None:
    async with env.service(orders=ExtractionConfig(entity="orders", max_records=120, page_size=50)) as service:
        run = await service.runner("orders").run()
        assert (run.status, run.stage, run.nodes, run.truncated) == ("COMPLETED", "completed-truncated", 120,
                                                                     "maxRecords")
        assert run.watermark_after is None  # the pages not read may hold older nodes
    ordered = ExtractionConfig.model_validate({"entity": "orders", "max_pages": 2, "page_size": 50,
                                               "incremental": {"ordered": True}})
    async with env.service(orders=ordered) as service:
        first = await service.runner("orders").run()
        assert (first.nodes, first.truncated) == (100, "maxPages") and first.watermark_after is not None
        second = await service.runner("orders").run()
        # Two more pages: the first starts with the 100th order, at the watermark and already sent.
        assert second.nodes == 99 and second.overlap_skipped == 1
        mine = {v["ref"] for _k, v in await env.events("orders") if v["extraction"]["run_id"] == second.run_id}
        assert mine == {f"ORD-{i:06d}" for i in range(101, 200)}
