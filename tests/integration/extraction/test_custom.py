"""A custom query: generic ``fluentsync.outbound.Node`` events, nested connections kept nested."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fluentsync.streams.config import load_pipeline
from fluentsync.streams.extraction import ExtractionConfig

from .conftest import Env

pytestmark = pytest.mark.integration

QUERY = """
query Groups($pageSize: Int, $cursor: String) {
  controlGroups(first: $pageSize, after: $cursor) {
    edges { cursor node { id ref name status controls(first: 10) { edges { node { ref type values { name value } } }
      pageInfo { hasNextPage } } } }
    pageInfo { hasNextPage }
  }
}
"""

INCREMENTAL = """
query Booked($first: Int, $after: String, $window: DateRange, $status: [String]) {
  orders(first: $first, after: $after, updatedOn: $window, status: $status) {
    edges { node { id ref status updatedOn items { edges { node { ref quantity } } } } }
    pageInfo { hasNextPage }
  }
}
"""


async def test_a_custom_query_publishes_generic_nodes(env: Env, tmp_path: Path) -> None:
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / "groups.graphql").write_text(QUERY)
    (tmp_path / "pipeline.yaml").write_text(
        "extractions:\n  groups:\n    query: queries/groups.graphql\n    result_path: controlGroups\n"
        "    incremental: null\n    key_field: ref\n")
    config = load_pipeline(tmp_path / "pipeline.yaml")
    query_path = config.extractions["groups"].query
    if query_path is not None and not query_path.is_absolute():  # until the loader resolves query paths
        config = config.model_copy(update={"extractions": {"groups": config.extractions["groups"].model_copy(
            update={"query": tmp_path / query_path})}})
    async with env.service(**config.extractions) as service:
        run = await service.runner("groups").run()
        assert run.status == "COMPLETED" and run.nodes == 1 and run.schema == "fluentsync.outbound.Node"
        assert run.watermark_after is None  # not incremental: every run extracts everything
    [(key, event)] = await env.events("groups")
    assert key == b"CG:DEFAULT" and event["entity"] == "controlGroups" and event["updatedOn"] is None
    body = json.loads(event["json"])
    assert [c["ref"] for c in body["controls"]] == ["CTRL-001", "CTRL-002", "CTRL-003"]
    assert body["controls"][1]["values"] == [{"name": "CONTROL_VALUE", "value": 2}]


async def test_a_custom_incremental_query_with_its_own_variable_names(env: Env, tmp_path: Path) -> None:
    query = tmp_path / "booked.graphql"
    query.write_text(INCREMENTAL)
    config = ExtractionConfig.model_validate({
        "query": str(query), "result_path": "orders", "variables": {"status": ["BOOKED"]},
        "incremental": {"variable": "window", "overlap": "0s"}})
    async with env.service(booked=config) as service:
        run = await service.runner("booked").run()
        assert run.status == "COMPLETED" and run.nodes == 50 and run.watermark_after is not None
        again = await service.runner("booked").run()
        assert again.nodes == 0 and again.overlap_skipped == 1
    events = [json.loads(v["json"]) for _k, v in await env.events("booked")]
    assert {e["status"] for e in events} == {"BOOKED"} and all(isinstance(e["items"], list) for e in events)


async def test_a_query_without_the_window_variable_is_refused(env: Env, tmp_path: Path) -> None:
    query = tmp_path / "plain.graphql"
    query.write_text(QUERY)
    async with env.service(plain=ExtractionConfig(query=query, result_path="controlGroups")) as service:
        run = await service.runner("plain").run()
        assert run.status == "FAILED" and "declares no $updatedOn" in (run.error or "")
