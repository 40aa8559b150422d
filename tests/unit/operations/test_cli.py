"""The replay and dlq commands refuse bad input before they connect to anything."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from fluentsync.streams.cli import main


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump({"kafka": {"bootstrap": "embedded"}, "workflows": {"inv": {
        "source": {"type": "local", "root": str(tmp_path)}, "format": {"type": "csv"}, "key": ["sku"]}}}))
    return path


@pytest.mark.parametrize("args", [
    ["replay", "inv", "--from", "earliest"],
    ["dlq", "list", "inv"],
    ["dlq", "redrive", "inv", "--stage", "MAP"],
])
def test_an_embedded_pipeline_needs_the_worker_broker_address(pipeline: Path, args: list[str]) -> None:
    result = CliRunner().invoke(main, [*args, "-c", str(pipeline)])
    assert result.exit_code == 1 and "pass --bootstrap" in result.output


def test_bad_positions_and_workflows_are_refused(pipeline: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(main, ["replay", "inv", "-c", str(pipeline), "-b", "127.0.0.1:1", "--from", "yesterday"])
    assert bad.exit_code == 1 and "not a position: 'yesterday'" in bad.output
    unknown = runner.invoke(main, ["dlq", "list", "nope", "-c", str(pipeline), "-b", "127.0.0.1:1"])
    assert unknown.exit_code == 1 and "unknown workflow 'nope'" in unknown.output
    replay = runner.invoke(main, ["replay", "nope", "-c", str(pipeline), "-b", "127.0.0.1:1", "--from", "earliest"])
    assert replay.exit_code == 1 and "unknown workflow 'nope'" in replay.output
    stage = runner.invoke(main, ["dlq", "list", "inv", "-c", str(pipeline), "--stage", "SOMETIMES"])
    assert stage.exit_code == 2 and "SOMETIMES" in stage.output
