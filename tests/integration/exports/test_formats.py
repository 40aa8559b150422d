"""Sandbox -> extraction -> outbound topic -> files in every format: every node exactly once, content intact."""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.integration.extraction.conftest import read_all

from .conftest import Env, all_records, eventually, files

pytestmark = pytest.mark.integration

FORMATS: dict[str, dict[str, Any]] = {
    "csv": {"type": "csv"},
    "json": {"type": "json"},
    "jsonl": {"type": "jsonl"},
    "xml": {"type": "xml"},
    "parquet": {"type": "parquet", "row_group_records": 40},
}


def sink(root: Path, fmt: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"extraction": "orders", "path": "orders/{run}/orders-{part}.{ext}", "format": fmt,
            "rolling": {"max_records": 70, "max_age": 30}, "destination": {"type": "local", "root": str(root)},
            **extra}


async def test_every_format_gets_every_order_exactly_once(env: Env, tmp_path: Path) -> None:
    config = env.pipeline({f"orders-{name}": sink(tmp_path / name, fmt) for name, fmt in FORMATS.items()})
    await env.prepare(config)
    run = await env.extract(config)
    orders = {o["ref"]: o for o in env.sandbox.state.store.orders}
    assert run.nodes == len(orders) == 300
    async with contextlib.AsyncExitStack() as stack:
        consumers = [await stack.enter_async_context(env.sink(config, name)) for name in config.sinks]
        for name in FORMATS:
            await eventually(lambda n=name: sum(1 for _ in all_records(tmp_path / n, n)) >= 300, 30, name)
        assert all(c.run_flushes > 0 for c in consumers)
    topic = config.extractions["orders"].topic_name("orders", env.prefix)
    events = {v["ref"]: v for _k, v in await read_all(env.bootstrap, topic)}
    assert len(events) == 300
    for name in FORMATS:
        rows = list(all_records(tmp_path / name, name))
        refs = Counter(str(r["ref"]) for r in rows)
        assert set(refs) == set(orders) and max(refs.values()) == 1, name
        for row in rows:
            event = events[row["ref"]]
            if name in ("json", "jsonl", "parquet"):  # the whole event, nested items included
                assert _without_meta(row) == _without_meta(event), name
                assert row["extraction"]["run_id"] == run.run_id
            else:  # text cells: every top-level value as written
                scalars = {k: v for k, v in event.items() if v is not None and not isinstance(v, dict | list)}
                assert {k: str(row[k]) for k in scalars} == {k: _text(v) for k, v in scalars.items()}, name
        sample = next(r for r in rows if r["ref"] == "ORD-000003")
        assert str(sample["status"]) == orders["ORD-000003"]["status"], name
        if name == "csv":  # nested items joined into one column per item field
            assert sample["items.ref"] == "ORD-000003-1|ORD-000003-2|ORD-000003-3"
            assert sample["extraction.run_id"] == run.run_id
        elif name == "xml":
            assert sample["extraction"]["run_id"] == run.run_id
        assert all(run.run_id in str(p) for p in files(tmp_path / name))


def _without_meta(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "extraction"}  # extracted_at: a datetime or its ISO text


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)
