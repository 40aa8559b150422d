"""The pipeline file: defaults, ${VAR} secrets, precise errors, and ``fluentsync config check``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fluentsync.streams.cli import main
from fluentsync.streams.config import ConfigError, load_pipeline, parse_pipeline

GOOD = """
kafka: {bootstrap: "broker:9092", partitions: 6}
workflows:
  inventory:
    source: {type: sftp, host: sftp.example, username: wms, password: "${SFTP_PASSWORD}", prefix: inventory/in}
    format: {type: csv, delimiter: ";"}
    key: [skuRef, locationRef]
"""


def test_a_good_file_with_secrets_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFTP_PASSWORD", "s3cret-value")
    path = tmp_path / "pipeline.yaml"
    path.write_text(GOOD)
    pipeline = load_pipeline(path)
    workflow = pipeline.workflows["inventory"]
    assert workflow.source.prefix == "inventory/in/"
    assert workflow.archive_prefix("processed") == "inventory/processed/"
    assert workflow.stable_listings() == 2  # SFTP files grow in place
    assert "s3cret-value" not in repr(pipeline)  # secrets never show
    result = CliRunner().invoke(main, ["config", "check", str(path)])
    assert result.exit_code == 0 and "OK" in result.output and "s3cret" not in result.output


def test_missing_environment_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SFTP_PASSWORD", raising=False)
    path = tmp_path / "pipeline.yaml"
    path.write_text(GOOD)
    result = CliRunner().invoke(main, ["config", "check", str(path)])
    assert result.exit_code == 1
    assert "workflows.inventory.source.password: ${SFTP_PASSWORD}" in result.output


def test_every_problem_is_listed_with_its_path() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_pipeline({"kafka": {"partitions": 0}, "workflows": {"inv": {
            "source": {"type": "s3", "buckt": "x"}, "format": {"type": "csv", "delimiter": "ab"}, "key": []}}})
    text = str(caught.value)
    for expected in ("kafka.partitions", "workflows.inv.source.s3.bucket", "workflows.inv.source.s3.buckt",
                     "workflows.inv.format.csv.delimiter", "workflows.inv.key"):
        assert expected in text


def test_defaults_and_bad_documents(tmp_path: Path) -> None:
    assert parse_pipeline(None).kafka.bootstrap == "embedded"
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_pipeline(["not", "a", "mapping"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("kafka: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_pipeline(bad)
    with pytest.raises(ConfigError, match="invalid workflow id"):
        parse_pipeline({"workflows": {"bad name!": {"source": {"type": "local", "root": "/x"},
                                                   "format": {"type": "csv"}, "key": ["a"]}}})


def test_targets_mappings_and_config_check_compiles_mappings(tmp_path: Path) -> None:
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "inventory.json").write_text(
        '{"fields": {"skuRef": {"source": "sku"}, "qty": {"source": "q", "resolver": "fluentsync.integer"}}}')
    (tmp_path / "maps" / "broken.json").write_text('{"fields": {"qty": {"source": "q", "resolver": "sdk.nope"}}}')
    document = """
workflows:
  inventory:
    source: {type: local, root: /tmp/in}
    format: {type: csv}
    key: [sku]
    mapping: maps/%s
    target: {api: batch, job_strategy: daily, max_batch_size: 5000}
  products:
    source: {type: local, root: /tmp/in}
    format: {type: json}
    key: [ref]
    target: {api: event, event: {name: UPSERT_PRODUCTS, entity_type: PRODUCT_CATALOGUE, entity_ref: "PC:{c}"}}
"""
    path = tmp_path / "pipeline.yaml"
    path.write_text(document % "inventory.json")
    pipeline = load_pipeline(path)
    inventory = pipeline.workflows["inventory"]
    assert inventory.mapping == tmp_path / "maps" / "inventory.json"  # relative to the pipeline file
    assert inventory.target is not None and inventory.target.api == "batch" and inventory.target.await_status
    assert pipeline.workflows["products"].target is not None and pipeline.workflows["products"].target.api == "event"
    result = CliRunner().invoke(main, ["config", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "-> batch" in result.output and "-> event" in result.output

    path.write_text(document % "broken.json")
    result = CliRunner().invoke(main, ["config", "check", str(path)])
    assert result.exit_code == 1 and "workflow inventory" in result.output and "sdk.nope" in result.output

    with pytest.raises(ConfigError, match="max_batch_size"):
        parse_pipeline({"workflows": {"w": {"source": {"type": "local", "root": "/x"}, "format": {"type": "csv"},
                                            "key": ["k"], "target": {"api": "batch", "max_batch_size": 6000}}}})


def test_sftp_host_key_checking_without_known_hosts_is_refused() -> None:
    """asyncssh takes known_hosts=None as "accept any host key": that must never happen by accident."""
    source = {"type": "sftp", "host": "h", "username": "u", "known_hosts": None}
    document = {"workflows": {"w": {"source": source, "format": {"type": "csv"}, "key": ["a"]}}}
    with pytest.raises(ConfigError, match="host_key_checking needs known_hosts"):
        parse_pipeline(document)
    source["host_key_checking"] = False  # explicit opt-out: trusted networks and tests
    assert parse_pipeline(document).workflows["w"].source.host_key_checking is False  # type: ignore[union-attr]


def test_config_check_lists_extractions_and_sinks(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "kafka: {bootstrap: embedded, topic_prefix: 'prod.'}\n"
        "extractions:\n  orders: {entity: orders, schedule: '*/15 * * * *'}\n  stock: {entity: products}\n"
        "sinks:\n  orders-csv:\n    extraction: orders\n    path: 'orders/{yyyy}/orders-{run}-{part}.{ext}'\n"
        "    format: {type: csv}\n    rolling: {max_records: 1000}\n"
        f"    destination: {{type: local, root: '{tmp_path}'}}\n"
    )
    result = CliRunner().invoke(main, ["config", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "extraction orders: orders, schedule '*/15 * * * *' (UTC) -> topic prod.outbound.orders" in result.output
    assert "extraction stock: products, on demand -> topic prod.outbound.stock" in result.output
    assert "sink orders-csv: topic prod.outbound.orders -> csv files on local" in result.output
