"""Extractions in the worker: the leader's schedule publishes triggers, the trigger agent runs them."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fluentsync.streams.config import parse_pipeline
from fluentsync.streams.extraction import StateTopics
from fluentsync.streams.extraction.agent import ExtractionsRuntime
from fluentsync.streams.extraction.state import read_compacted
from tests.fixtures.processes import background_process

from .conftest import Env, read_all
from .test_crash import _cli, _pipeline

pytestmark = pytest.mark.integration


async def test_due_schedules_queue_runs_and_triggers_run_them(env: Env) -> None:
    config = parse_pipeline({
        "kafka": {"bootstrap": env.bootstrap, "topic_prefix": env.prefix},
        "fluent": env.sandbox.fluent_config(),
        "extractions": {"locations": {"entity": "locations", "schedule": "*/15 * * * *"},
                        "products": {"entity": "products"}},  # on demand only
    })
    runtime = ExtractionsRuntime(config, env.bootstrap, env.client)
    runtime.service.create_topics = True
    t0 = datetime(2026, 1, 1, 0, 14, 55, tzinfo=UTC)
    try:
        assert await runtime.check_schedules(t0) == []  # the first check only starts the clock
        assert await runtime.check_schedules(t0 + timedelta(seconds=10)) == ["locations"]
        assert await runtime.check_schedules(t0 + timedelta(seconds=20)) == []
        topics = StateTopics.of(env.prefix)
        triggers = await read_all(env.bootstrap, topics.triggers)
        assert [(k, v["triggered_by"]) for k, v in triggers] == [(b"locations", "schedule")]
        [queued] = await runtime.service.state.runs()
        assert queued.status == "QUEUED" and queued.run_id == triggers[0][1]["run_id"]
        run = await runtime.on_trigger(triggers[0][1])
        assert run is not None and run.status == "COMPLETED" and run.nodes == 8 and run.triggered_by == "schedule"
        [done] = await runtime.service.state.runs()
        assert done.run_id == queued.run_id and done.created_at == queued.created_at and done.status == "COMPLETED"
        assert await runtime.on_trigger({"extraction": "unknown", "run_id": "x"}) is None
        assert set(await read_compacted(env.bootstrap, topics.watermarks)) == {b"locations"}
    finally:
        await runtime.stop()


async def test_a_worker_runs_a_triggered_extraction(env: Env, tmp_path: Path) -> None:
    pipeline = _pipeline(env, tmp_path)
    text = pipeline.read_text().replace("kafka:\n", f"kafka:\n  app_id: {env.prefix.strip('.')}\n")
    pipeline.write_text(text)
    with background_process([sys.executable, "-m", "fluentsync", "worker", "--web-port", "0", "-c", str(pipeline),
                             "--data-dir", str(tmp_path / "data"), "-l", "warning"], tmp_path / "worker.log"):
        code, out = await _cli("extract", "orders", "-c", str(pipeline), "--trigger")
        assert code == 0, out
        deadline = time.monotonic() + 60
        while True:
            found = await read_compacted(env.bootstrap, StateTopics.of(env.prefix).runs)
            statuses = [v["status"] for v in found.values()]
            if statuses == ["COMPLETED"]:
                break
            assert time.monotonic() < deadline, f"run not completed by the worker: {statuses}\n" + \
                (tmp_path / "worker.log").read_text()[-3000:]
            await asyncio.sleep(0.5)
    assert len({v["ref"] for _k, v in await env.events("orders")}) == 300


async def test_finished_runs_expire_after_seven_days(env: Env) -> None:
    config = parse_pipeline({"kafka": {"topic_prefix": env.prefix},
                             "extractions": {"locations": {"entity": "locations"}}})
    runtime = ExtractionsRuntime(config, env.bootstrap, env.client)
    runtime.service.create_topics = True
    try:
        service = await runtime._ensure_started()
        done = await service.runner("locations").run()
        queued = await service.state.trigger("locations")
        now = datetime.now(UTC)
        assert await runtime.prune_runs(now + timedelta(days=6)) == []
        assert await runtime.prune_runs(now + timedelta(days=7, seconds=1)) == [done.run_id]
        assert [r.run_id for r in await service.state.runs()] == [queued.run_id]  # queued runs are kept
    finally:
        await runtime.stop()
