"""Kill a run mid-way and restart: no gap, because the watermark only moves after a whole run is acked."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path

import pytest
import yaml

from fluentsync.streams.extraction import ExtractionConfig

from .conftest import Env, read_all

pytestmark = pytest.mark.integration

ALL_ORDERS = {f"ORD-{i:06d}" for i in range(1, 301)}


async def _wait_for_requests(env: Env, count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while len(await env.sandbox.requests("graphql")) < count:
        assert time.monotonic() < deadline, "the run did not get going"
        await asyncio.sleep(0.02)


async def test_a_cancelled_run_leaves_the_watermark_and_the_rerun_fills_everything(env: Env) -> None:
    await env.sandbox.add_fault("graphql", "latency", delay=0.05)
    async with env.service(orders=ExtractionConfig(entity="orders", page_size=20)) as service:
        task = asyncio.create_task(service.runner("orders").run())
        await _wait_for_requests(env, 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        [killed] = await service.state.runs()
        assert killed.status == "FAILED" and "cancelled" in (killed.error or "")
        assert await service.state.watermark("orders") is None
        partial = {v["ref"] for _k, v in await env.events("orders")}
        assert 0 < len(partial) < 300
        await env.sandbox.clear_faults()
        rerun = await service.runner("orders").run()
        assert rerun.status == "COMPLETED" and rerun.nodes == 300
        assert {v["ref"] for _k, v in await env.events("orders")} == ALL_ORDERS


def _pipeline(env: Env, tmp_path: Path, **extraction: object) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump({
        "kafka": {"bootstrap": env.bootstrap, "topic_prefix": env.prefix, "partitions": 3},
        "fluent": env.sandbox.fluent_config(),
        "extractions": {"orders": {"entity": "orders", **extraction}},
    }))
    return path


async def _cli(*args: str, timeout: float = 60.0) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "fluentsync", *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode()


async def test_a_killed_cli_run_leaves_no_gap(env: Env, tmp_path: Path) -> None:
    pipeline = _pipeline(env, tmp_path, page_size=10)
    await env.sandbox.add_fault("graphql", "latency", delay=0.1)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fluentsync", "extract", "orders", "-c", str(pipeline),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while len(await read_all(env.bootstrap, env.topic("orders"))) < 30:
        assert time.monotonic() < deadline and proc.returncode is None, "the CLI run did not publish"
        await asyncio.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    await env.sandbox.clear_faults()
    async with env.service(orders=ExtractionConfig(entity="orders")) as service:
        [killed] = await service.state.runs()
        assert killed.status == "RUNNING"  # it never finished: no watermark either
        assert await service.state.watermark("orders") is None
        rerun = await service.runner("orders").run()
        assert rerun.status == "COMPLETED" and rerun.watermark_after is not None
    assert {v["ref"] for _k, v in await env.events("orders")} == ALL_ORDERS


async def test_the_cli_runs_lists_and_queues(env: Env, tmp_path: Path) -> None:
    pipeline = _pipeline(env, tmp_path)
    code, out = await _cli("extract", "orders", "-c", str(pipeline))
    assert code == 0, out
    assert "COMPLETED" in out and "nodes 300" in out and "watermark - -> 2025-06-30T09:31:12.000Z" in out
    code, out = await _cli("extract", "orders", "-c", str(pipeline), "--json")
    assert code == 0 and json.loads(out)["nodes"] == 0 and json.loads(out)["overlap_skipped"] == 1
    code, out = await _cli("extract", "orders", "-c", str(pipeline), "--trigger")
    assert code == 0 and out.startswith("queued orders-")
    code, out = await _cli("runs", "-c", str(pipeline), "--json")
    runs = [json.loads(line) for line in out.splitlines()]
    assert [r["status"] for r in runs] == ["COMPLETED", "COMPLETED", "QUEUED"] and runs[0]["nodes"] == 300
    code, out = await _cli("extract", "--list", "-c", str(pipeline), "--json")
    [row] = [json.loads(line) for line in out.splitlines()]
    assert row["watermark"] == "2025-06-30T09:31:12.000Z" and row["last_status"] == "QUEUED"
    code, out = await _cli("extract", "nope", "-c", str(pipeline))
    assert code == 1 and "unknown extraction 'nope'" in out
