"""Restarts: a sink stopped or killed mid-way and started again leaves neither gaps nor duplicates."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from fluentsync.connectors.filesinks import CommittedFile
from fluentsync.streams.exports import build_consumer

from .conftest import FAST, Env, all_records, eventually, files

pytestmark = pytest.mark.integration

ALL_ORDERS = Counter({f"ORD-{i:06d}": 1 for i in range(1, 301)})


def _sink(root: Path, **extra: Any) -> dict[str, Any]:
    return {"extraction": "orders", "path": "orders/orders-{run}-{part}.{ext}", "format": {"type": "jsonl"},
            "rolling": {"max_records": 20, "max_age": None}, "destination": {"type": "local", "root": str(root)},
            **extra}


async def test_a_sink_stopped_mid_way_resumes_where_it_committed(env: Env, tmp_path: Path) -> None:
    config = env.pipeline({"orders": _sink(tmp_path, max_poll_records=5)})
    await env.prepare(config)
    await env.extract(config)
    async with env.sink(config, "orders") as first:
        await eventually(lambda: first.records_consumed >= 60, 30, "some records")
    # the stop committed the open files too (a partial file per partition), and their offsets
    before = {p.name for p in files(tmp_path, ".jsonl")}
    assert len(before) > 0 and sum(1 for _ in all_records(tmp_path, "jsonl")) < 300
    async with env.sink(config, "orders") as second:
        await eventually(lambda: sum(1 for _ in all_records(tmp_path, "jsonl")) >= 300, 30, "the rest")
        assert second.records_consumed == 300 - first.records_consumed  # nothing read twice
    assert Counter(r["ref"] for r in all_records(tmp_path, "jsonl")) == ALL_ORDERS


async def test_a_sink_killed_after_a_file_became_visible_rewrites_it_under_the_same_name(
        env: Env, tmp_path: Path) -> None:
    config = env.pipeline({"orders": _sink(tmp_path)})
    await env.prepare(config)
    await env.extract(config)
    seen: list[CommittedFile] = []

    def crash_after_three(committed: list[CommittedFile]) -> None:
        seen.extend(committed)
        if len(seen) >= 3:  # the third file is visible, its offsets are not committed yet
            raise RuntimeError("killed")

    first = build_consumer(config, "orders", env.bootstrap, consumer_options=FAST, on_files=crash_after_three)
    await first.start()
    try:
        await eventually(lambda: first.done, 30, "the crash")
        with pytest.raises(RuntimeError, match="killed"):
            await first.wait()
    finally:
        await first.stop(flush=False)
    visible = {p.name: p.read_bytes() for p in files(tmp_path, ".jsonl")}
    assert len(visible) == 3
    async with env.sink(config, "orders") as second:
        await eventually(lambda: sum(1 for _ in all_records(tmp_path, "jsonl")) >= 300, 30, "everything")
    assert Counter(r["ref"] for r in all_records(tmp_path, "jsonl")) == ALL_ORDERS  # no gap, no duplicate
    after = {p.name: p.read_bytes() for p in files(tmp_path, ".jsonl")}
    assert all(after[name] == data for name, data in visible.items())  # rewritten identically, same name
    rewritten = [f for f in second.recent_files if f.name.rsplit("/", 1)[-1] in visible]
    assert len(rewritten) == 1  # the one whose offset was not committed: written again, same name


async def test_a_second_instance_takes_over_partitions_mid_stream_without_duplicates(
        env: Env, tmp_path: Path) -> None:
    config = env.pipeline({"orders": _sink(tmp_path, max_poll_records=10)},
                          {"orders": {"entity": "orders", "page_size": 10}})
    await env.prepare(config)
    await env.sandbox.add_fault("graphql", "latency", delay=0.15)  # events trickle in for ~5 s
    extraction = asyncio.create_task(env.extract(config))
    try:
        async with env.sink(config, "orders") as first:
            await eventually(lambda: first.files_committed >= 2, 30, "the first files")
            async with env.sink(config, "orders") as second:  # joins: the group rebalances mid-stream
                await extraction
                await eventually(lambda: sum(1 for _ in all_records(tmp_path, "jsonl")) >= 300, 30, "everything")
                assert second.records_consumed > 0  # it got partitions
    finally:
        await env.sandbox.clear_faults()
        if not extraction.done():
            extraction.cancel()
    assert Counter(r["ref"] for r in all_records(tmp_path, "jsonl")) == ALL_ORDERS


async def test_a_destination_outage_pauses_the_sink_and_loses_nothing(env: Env, tmp_path: Path) -> None:
    root = tmp_path / "out"
    config = env.pipeline({"orders": _sink(root, rolling={"max_records": 100, "max_age": None})})
    await env.prepare(config)
    await env.extract(config)
    root.write_text("not a folder")  # every put fails until this is gone
    async with env.sink(config, "orders") as consumer:
        await eventually(lambda: consumer._retry_at is not None, 20, "the first failure")
        await asyncio.sleep(1.5)
        assert consumer.files_committed == 0
        root.unlink()  # the destination is back
        await eventually(lambda: sum(1 for _ in all_records(root, "jsonl")) >= 300, 30, "the retries")
    assert Counter(r["ref"] for r in all_records(root, "jsonl")) == ALL_ORDERS
