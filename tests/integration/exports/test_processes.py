"""Sinks as an operator runs them: ``fluentsync sink NAME`` alone, and inside ``fluentsync worker``."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from fluentsync.streams.config import parse_pipeline
from tests.fixtures.processes import background_process

from .conftest import Env, all_records, eventually

pytestmark = pytest.mark.integration

ALL_ORDERS = Counter({f"ORD-{i:06d}": 1 for i in range(1, 301)})


def _write(env: Env, tmp_path: Path, root: Path) -> Path:
    sink: dict[str, Any] = {"extraction": "orders", "format": {"type": "csv"}, "rolling": {"max_records": 150},
                            "destination": {"type": "local", "root": str(root), "fsync": False}}
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(env.document({"orders-csv": sink})))
    return path


async def test_the_sink_command_runs_until_sigterm(env: Env, tmp_path: Path) -> None:
    root = tmp_path / "out"
    pipeline = _write(env, tmp_path, root)
    config = parse_pipeline(yaml.safe_load(pipeline.read_text()))
    await env.prepare(config)
    await env.extract(config)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fluentsync", "sink", "orders-csv", "-c", str(pipeline),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        await eventually(lambda: sum(1 for _ in all_records(root, "csv")) >= 300, 60, "the files")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    text = out.decode()
    assert proc.returncode == 0, text
    assert Counter(r["ref"] for r in all_records(root, "csv")) == ALL_ORDERS
    assert text.count(" bytes\n") == len(list(root.rglob("*.csv"))) and "300 records, 3 files" in text


async def test_the_worker_runs_the_sinks(env: Env, tmp_path: Path) -> None:
    root = tmp_path / "out"
    pipeline = _write(env, tmp_path, root)
    config = parse_pipeline(yaml.safe_load(pipeline.read_text()))
    await env.prepare(config)
    with background_process([sys.executable, "-m", "fluentsync", "worker", "--web-port", "0", "-c", str(pipeline),
                             "--data-dir", str(tmp_path / "data"), "-l", "warning"], tmp_path / "worker.log"):
        await env.extract(config)
        try:
            await eventually(lambda: sum(1 for _ in all_records(root, "csv")) >= 300, 90, "the files")
        except AssertionError:
            raise AssertionError((tmp_path / "worker.log").read_text()[-3000:]) from None
    assert Counter(r["ref"] for r in all_records(root, "csv")) == ALL_ORDERS
