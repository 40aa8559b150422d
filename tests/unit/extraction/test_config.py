"""The ``extractions:`` section: defaults, limits, cron and duration parsing, precise errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from fluentsync.streams.config import ConfigError, load_pipeline, parse_pipeline
from fluentsync.streams.extraction import ExtractionConfig, resolve_query_paths
from fluentsync.streams.extraction.config import parse_seconds


def test_defaults_of_a_standard_entity() -> None:
    config = parse_pipeline({"kafka": {"topic_prefix": "prod."}, "extractions": {"orders": {"entity": "orders"}}})
    orders = config.extractions["orders"]
    assert orders.page_size == 200 and orders.request_timeout == 60
    assert orders.incremental is not None and orders.incremental.field == "updatedOn"
    assert orders.incremental.overlap == 60
    assert orders.schema_name == "fluentsync.outbound.Order" and orders.connection_path == "orders"
    assert orders.topic_name("orders", config.kafka.topic_prefix) == "prod.outbound.orders"
    assert "orders(first: $first, after: $after, updatedOn: $updatedOn)" in orders.query_text()
    assert parse_pipeline({}).extractions == {}


@pytest.mark.parametrize(("section", "problem"), [
    ({"entity": "orders", "page_size": 251}, "extractions.x.page_size"),
    ({"entity": "orders", "page_size": 0}, "extractions.x.page_size"),
    ({"entity": "orders", "schedule": "61 * * * *"}, "invalid cron schedule"),
    ({"entity": "orders", "schedule": "* * *"}, "5 fields"),
    ({"entity": "orders", "max_records": 0}, "max_records"),
    ({"entity": "order"}, "extractions.x.entity"),
    ({"result_path": "orders"}, "set `entity`"),
    ({"entity": "orders", "variables": {"updatedOn": {}}}, "set by the incremental window"),
    ({"entity": "orders", "incremental": {"overlap": "soon"}}, "invalid duration"),
    ({"entity": "orders", "pagesize": 10}, "extractions.x.pagesize"),
])
def test_invalid_sections_are_named(section: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_pipeline({"extractions": {"x": section}})
    assert problem in str(info.value)


def test_extraction_names_become_topic_names() -> None:
    with pytest.raises(ConfigError, match="invalid workflow id 'bad name'"):
        parse_pipeline({"extractions": {"bad name": {"entity": "orders"}}})


def test_custom_query_is_generic_and_full_when_not_incremental(tmp_path: Path) -> None:
    query = tmp_path / "late.graphql"
    query.write_text("query($first: Int, $after: String) { orders(first: $first, after: $after) "
                     "{ edges { node { id } } pageInfo { hasNextPage } } }")
    config = ExtractionConfig(query=query, result_path="orders", incremental=None, topic="late-orders")
    assert config.schema_name == "fluentsync.outbound.Node"
    assert config.topic_name("late", "prod.") == "late-orders"  # explicit topic: verbatim
    assert config.query_text().startswith("query(")


@pytest.mark.parametrize(("value", "seconds"), [(60, 60.0), ("60s", 60.0), ("2m", 120.0), ("1h", 3600.0),
                                                ("500ms", 0.5), ("1.5", 1.5)])
def test_durations(value: object, seconds: float) -> None:
    assert parse_seconds(value) == seconds


def test_query_paths_are_relative_to_the_pipeline_file(tmp_path: Path) -> None:
    document = {"extractions": {"a": {"query": "q/a.graphql"}, "b": {"query": "/abs/b.graphql"}, "c": {}}}
    resolve_query_paths(document, tmp_path)
    assert document["extractions"]["a"]["query"] == str(tmp_path / "q/a.graphql")
    assert document["extractions"]["b"]["query"] == "/abs/b.graphql"


def test_a_pipeline_file_with_extractions(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text("extractions:\n  orders:\n    entity: orders\n    schedule: '*/15  * * * *'\n"
                    "    incremental: {field: updatedOn, overlap: 60s}\n")
    config = load_pipeline(path)
    assert config.extractions["orders"].schedule == "*/15 * * * *"
