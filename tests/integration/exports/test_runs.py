"""Run boundaries (R60): a run's last file appears when its end offsets are consumed; file events per run;
an incremental run's files hold only the changed nodes."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from fluentsync.streams.exports import SinkTopics
from tests.integration.extraction.conftest import read_all

from .conftest import Env, all_records, eventually, files

pytestmark = pytest.mark.integration

UPDATE_ORDER = "mutation($input: UpdateOrderInput!) { updateOrder(input: $input) { id ref updatedOn } }"


def _sink(root: Path, **extra: Any) -> dict[str, Any]:
    return {"extraction": "orders", "path": "orders/{run}/orders-{part}.{ext}", "format": {"type": "jsonl"},
            "rolling": {"max_records": 100_000, "max_bytes": None, "max_age": 3600},
            "destination": {"type": "local", "root": str(root)}, **extra}


def _size(uri: str) -> int:
    return Path(uri.removeprefix("file://")).stat().st_size


def _by_run(root: Path) -> dict[str, list[dict[str, Any]]]:
    """Records by run: the path template puts each run's files in a folder named after the run id."""
    return {folder.name: list(all_records(folder, "jsonl")) for folder in {p.parent for p in files(root, ".jsonl")}}


async def test_each_run_closes_its_files_and_an_incremental_run_writes_only_the_changes(
        env: Env, tmp_path: Path) -> None:
    config = env.pipeline({"on-end": _sink(tmp_path / "on-end"),
                           "on-age": _sink(tmp_path / "on-age", roll_on_run_end=False, file_events=False)})
    await env.prepare(config)
    first = await env.extract(config)
    async with env.sink(config, "on-end") as on_end, env.sink(config, "on-age") as on_age:
        started = time.monotonic()
        await eventually(lambda: len(_by_run(tmp_path / "on-end").get(first.run_id, [])) == 300, 20, "first run")
        assert time.monotonic() - started < 15  # max_age is an hour: the run's end closed the files
        assert on_end.run_flushes == 3  # one file per partition, closed at the run's end offset
        assert on_age.records_consumed == 300 and not files(tmp_path / "on-age")  # still open: max_age
        changed = ["ORD-000001", "ORD-000100", "ORD-000150", "ORD-000298", "ORD-000299"]
        for ref in changed:
            order = (await env.client.query("query($ref: String) { order(ref: $ref) { id } }", {"ref": ref}))["order"]
            await env.client.mutate(UPDATE_ORDER, {"input": {"id": order["id"], "status": "SHIPPED"}})
        second = await env.extract(config)
        assert second.nodes == 5
        await eventually(lambda: len(_by_run(tmp_path / "on-end").get(second.run_id, [])) == 5, 20, "second run")
    runs = _by_run(tmp_path / "on-end")
    assert sorted(r["ref"] for r in runs[first.run_id]) == sorted(f"ORD-{i:06d}" for i in range(1, 301))
    assert sorted(r["ref"] for r in runs[second.run_id]) == changed
    assert all(r["status"] == "SHIPPED" and r["extraction"]["run_id"] == second.run_id for r in runs[second.run_id])
    # R60 completion details: one SinkFile event per committed file, by run
    topics = SinkTopics.of("on-end", env.prefix)
    events = [value for _key, value in await read_all(env.bootstrap, topics.files)]
    per_run: dict[str, int] = defaultdict(int)
    for event in {e["uri"]: e for e in events}.values():
        per_run[event["run_id"]] += event["records"]
        assert event["sink"] == "on-end" and event["extraction"] == "orders" and event["size"] > 0
        assert _size(event["uri"]) == event["size"]
    assert dict(per_run) == {first.run_id: 300, second.run_id: 5}
    assert await read_all(env.bootstrap, topics.dlq) == []
    # the files the hour-long max_age held back were committed at stop
    assert sum(1 for _ in all_records(tmp_path / "on-age", "jsonl")) == 305
