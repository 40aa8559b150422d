"""``fluentsync status`` without servers: option handling, worker addresses, failing honestly."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import yaml
from click.testing import CliRunner

from fluentsync.streams.cli import main
from fluentsync.streams.cli.status import _default_url, normalise_url
from fluentsync.streams.config import parse_pipeline


def pipeline(tmp_path: Path, **ops: object) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump({
        "kafka": {"bootstrap": "embedded", "app_id": "status-cli"},
        "ops": ops or {"port": 6066},
        "workflows": {"inventory": {"source": {"type": "local", "root": str(tmp_path)}, "format": {"type": "csv"},
                                    "key": ["sku"]}},
    }))
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_urls() -> None:
    assert normalise_url("127.0.0.1:6066/") == "http://127.0.0.1:6066"
    assert normalise_url("https://w1.example:443") == "https://w1.example:443"
    config = parse_pipeline({"ops": {"host": "0.0.0.0", "port": 7000}})
    assert _default_url(config) == "http://127.0.0.1:7000"
    assert _default_url(parse_pipeline({"ops": {"port": 0}})) is None  # a free port nobody can guess
    assert _default_url(parse_pipeline({"ops": {"port": None}})) is None


def test_no_broker_and_no_worker_is_an_error_that_still_prints(tmp_path: Path) -> None:
    url = f"127.0.0.1:{closed_port()}"
    result = CliRunner().invoke(main, ["status", "-c", str(pipeline(tmp_path)), "--url", url, "--json"])
    assert result.exit_code == 1
    merged = json.loads(result.stdout)
    assert merged["workers"][0]["url"] == f"http://{url}" and "ConnectError" in merged["workers"][0]["error"]
    assert "pass --bootstrap" in merged["errors"][0]["message"]
    assert list(merged["workflows"]) == ["inventory"] and merged["workflows"]["inventory"]["lag"] is None
    assert f"worker http://{url}" in result.stderr and "no broker" in result.stderr


def test_the_default_address_is_tried_quietly(tmp_path: Path) -> None:
    config = pipeline(tmp_path, host="127.0.0.1", port=closed_port())
    result = CliRunner().invoke(main, ["status", "-c", str(config), "-w", "inventory"], env={"COLUMNS": "200"})
    assert result.exit_code == 1  # no broker; the absent default worker alone would not fail the command
    assert "no worker at the pipeline's ops address" in result.stdout
    assert "worker http" not in result.stderr


def test_unknown_workflow(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["status", "-c", str(pipeline(tmp_path)), "-w", "nope"])
    assert result.exit_code != 0 and "unknown workflow(s): nope" in result.output


def test_watch_refreshes_count_times(tmp_path: Path) -> None:
    config = str(pipeline(tmp_path, port=closed_port()))
    lines = CliRunner().invoke(main, ["status", "-c", config, "--watch", "--count", "2", "--interval", "0.2", "--json"])
    assert lines.exit_code == 0, lines.output  # watching never fails: it shows the problem and goes on
    assert [json.loads(line)["kind"] for line in lines.stdout.splitlines()] == ["pipeline", "pipeline"]
    live = CliRunner().invoke(main, ["status", "-c", config, "--watch", "--count", "1"], env={"COLUMNS": "200"})
    assert live.exit_code == 0 and "fluentsync status" in live.stdout and "│ inventory" in live.stdout
