"""The ``sinks:`` section, source resolution, run-end bookkeeping and the CSV shape of typed orders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fluentsync.connectors.filesinks import CsvFormat, open_writer
from fluentsync.schemas import default_codec
from fluentsync.streams.config import ConfigError, parse_pipeline
from fluentsync.streams.exports import RunEnds, SinkConsumer, group_id, resolve_source, sink_topic_specs

LOCAL = {"type": "local", "root": "/tmp/out"}


def pipeline(sinks: dict[str, Any], **extra: Any) -> Any:
    return parse_pipeline({"kafka": {"topic_prefix": "p.", "app_id": "app"},
                           "extractions": {"orders": {"entity": "orders"},
                                           "late": {"query": "/q.graphql", "result_path": "orders",
                                                    "topic": "erp.late"}},
                           "sinks": sinks, **extra})


def test_a_sink_reads_its_extractions_topic_with_its_typed_schema() -> None:
    config = pipeline({"o": {"extraction": "orders", "destination": LOCAL, "format": {"type": "parquet"}},
                       "l": {"extraction": "late", "destination": LOCAL}})
    o = resolve_source("o", config.sinks["o"], config)
    assert (o.topic, o.schema, o.extraction) == ("p.outbound.orders", "fluentsync.outbound.Order", "orders")
    late = resolve_source("l", config.sinks["l"], config)
    assert (late.topic, late.schema, late.extraction) == ("erp.late", "fluentsync.outbound.Node", "late")
    assert config.sinks["o"].roll_on_run_end and config.sinks["o"].file_events
    assert group_id(config, "o") == "app-sink-o"
    assert [s.name for s in sink_topic_specs(config)] == ["p.sinks.o", "p.sinks.o.dlq", "p.sinks.l", "p.sinks.l.dlq"]


def test_an_explicit_topic_is_verbatim_and_an_extractions_topic_keeps_its_runs() -> None:
    config = pipeline({"events": {"topic": "p.outbound.fluent-events", "destination": LOCAL},
                       "typed": {"topic": "p.outbound.orders", "destination": LOCAL},
                       "named": {"topic": "x", "avro_schema": "fluentsync.outbound.FluentEvent",
                                 "destination": LOCAL, "file_events": False}})
    events = resolve_source("events", config.sinks["events"], config)
    assert (events.topic, events.schema, events.extraction) == ("p.outbound.fluent-events", None, None)
    typed = resolve_source("typed", config.sinks["typed"], config)
    assert (typed.schema, typed.extraction) == ("fluentsync.outbound.Order", "orders")
    assert resolve_source("named", config.sinks["named"], config).schema == "fluentsync.outbound.FluentEvent"
    assert "p.sinks.named" not in [s.name for s in sink_topic_specs(config)]


@pytest.mark.parametrize(("sink", "message"), [
    ({"destination": LOCAL}, "exactly one of `extraction`"),
    ({"extraction": "orders", "topic": "t", "destination": LOCAL}, "exactly one of `extraction`"),
    ({"extraction": "nope", "destination": LOCAL}, "unknown extraction 'nope'"),
    ({"topic": "t", "avro_schema": "no.Such", "destination": LOCAL}, "no Avro schema named 'no.Such'"),
    ({"extraction": "orders", "destination": LOCAL, "path": "orders.csv"}, "{part}"),
    ({"extraction": "orders", "destination": LOCAL, "tick_interval": 0}, "tick_interval"),
    ({"extraction": "orders", "destination": LOCAL, "colour": "red"}, "colour"),
])
def test_mistakes_fail_the_pipeline_file(sink: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match="sinks") as info:
        pipeline({"s": sink})
    assert message in str(info.value)


def test_sink_names_are_checked_like_workflow_ids() -> None:
    with pytest.raises(ConfigError, match="invalid workflow id"):
        pipeline({"bad name": {"extraction": "orders", "destination": LOCAL}})


def test_run_ends_keep_completed_runs_of_the_topic_once() -> None:
    ends = RunEnds("unused:9092", "p.extraction.runs", "p.outbound.orders")
    offsets = [{"partition": 0, "offset": 10}, {"partition": 2, "offset": 4}]
    ends.observe({"run_id": "r1", "status": "RUNNING", "topic": "p.outbound.orders", "end_offsets": []})
    ends.observe({"run_id": "r2", "status": "COMPLETED", "topic": "p.outbound.other", "end_offsets": offsets})
    ends.observe({"run_id": "r1", "status": "COMPLETED", "topic": "p.outbound.orders", "end_offsets": offsets})
    ends.observe({"run_id": "r1", "status": "COMPLETED", "topic": "p.outbound.orders", "end_offsets": offsets})
    assert ends.take() == [(0, 10, "r1"), (2, 4, "r1")]
    assert ends.take() == []


def test_files_are_attributed_to_the_run_of_their_first_record() -> None:
    config = pipeline({"o": {"extraction": "orders", "destination": LOCAL}})
    consumer = SinkConsumer("o", config.sinks["o"], resolve_source("o", config.sinks["o"], config),
                            bootstrap="unused:9092", group_id="g")
    for offset, run in [(0, "a"), (1, "a"), (2, "b"), (3, "b"), (4, "c")]:
        consumer._note_run(0, offset, ("orders", run))
    assert [consumer._run_of(0, o)[1] for o in range(5)] == ["a", "a", "b", "b", "c"]
    consumer._note_run(0, 3, ("orders", "x"))  # seeked back: what follows is rewritten
    assert [consumer._run_of(0, o)[1] for o in (2, 3, 9)] == ["b", "x", "x"]
    consumer._prune_runs(0, 3)
    assert consumer._run_of(0, 3)[1] == "x" and consumer._run_of(1, 0) == (None, None)


def test_typed_orders_without_item_attributes_fit_the_csv_header(tmp_path: Path) -> None:
    # regression: two items with empty `attributes` joined to "|" under an unknown `items.attributes` column
    schema = default_codec().repository.get("fluentsync.outbound.Order").schema
    writer = open_writer(CsvFormat(), tmp_path / "o.csv", schema)
    writer.write({"ref": "O1", "items": [{"ref": "a", "attributes": []}, {"ref": "b", "attributes": []}],
                  "attributes": []})
    writer.write({"ref": "O2", "items": [{"ref": "c", "attributes": [{"name": "n", "value": "v"}]},
                                         {"ref": "d", "attributes": []}]})
    writer.close()
    text = (tmp_path / "o.csv").read_text()
    assert "O1" in text and "a|b" in text and "n|" in text


def test_the_sink_command_refuses_unknown_sinks_and_an_embedded_broker(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from fluentsync.streams.cli import main

    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text("extractions: {orders: {entity: orders}}\n"
                        "sinks: {o: {extraction: orders, destination: {type: local, root: out}}}\n")
    result = CliRunner().invoke(main, ["sink", "nope", "-c", str(pipeline)])
    assert result.exit_code == 1 and "unknown sink 'nope' (configured: o)" in result.output
    result = CliRunner().invoke(main, ["sink", "o", "-c", str(pipeline)])
    assert result.exit_code == 1 and "pass --bootstrap" in result.output
