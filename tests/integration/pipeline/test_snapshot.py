"""Snapshot workflows: keys a newer full snapshot no longer contains get the delete policy.

Real worker, embedded broker and sandbox. A first snapshot sets the baseline; a second one without two
keys soft-deletes exactly those two (status INACTIVE); a third with an unparseable row deletes nothing,
because a key may hide in that row.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.tail import TopicTail
from fluentsync.streams.kafka.topics import TopicSpec, ensure_topics
from tests.fixtures.pipelines import ACTIVE_INVENTORY_MAPPING, local_inbox, local_inbox_source, write_inventory_pipeline
from tests.fixtures.processes import background_process
from tests.fixtures.sandbox_admin import Admin

pytestmark = pytest.mark.integration


def snapshot(skus: list[int], malformed: bool = False) -> str:
    rows = ["sku,location,qty"] + [f"S-{i},L-1,{i}" for i in skus]
    if malformed:
        rows.append("S-999,L-1,5,EXTRA")
    return "\n".join(rows) + "\n"


def settled(events: list[dict[str, Any]], path: str) -> bool:
    return any(e["kind"] == "SETTLED" and e["file"]["path"] == path for e in events)


async def wait_for(check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.2)


async def test_soft_delete_of_keys_missing_from_a_newer_snapshot(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, sandbox: Any, admin: Admin
) -> None:
    workflow = unique_name("snap").replace("-", "_")
    inbox = local_inbox(tmp_path)
    config = write_inventory_pipeline(
        tmp_path, mapping=ACTIVE_INVENTORY_MAPPING, bootstrap=kafka_broker.bootstrap, app_id=unique_name("app"),
        workflow=workflow, fluent=sandbox.fluent_config(), source=local_inbox_source(inbox),
        options={"snapshot": {"delete_policy": "soft_delete"}},
        target={"linger": 0.2, "status": {"intervals": [0.2, 0.2, 0.2], "min_interval": 0.1}},
    )
    topics = WorkflowTopics.of(workflow)
    await ensure_topics(kafka_broker.bootstrap, [TopicSpec(name, 3) for name in topics.all()])
    (inbox / "incoming" / "day1.csv").write_text(snapshot(list(range(10))))

    def entities(batches: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for b in batches for e in b["entities"]]

    async with TopicTail(kafka_broker.bootstrap, topics.files) as files:
        with background_process([sys.executable, "-m", "fluentsync", "worker", "--config", str(config),
                                 "--data-dir", str(tmp_path / "data"), "-l", "info",
                                 "--web-port", "0"], tmp_path / "worker.log"):
            await files.until(lambda e: settled(e, "incoming/day1.csv"), timeout=90)
            assert len(entities(await admin.batches())) == 10

            # Day 2 lacks S-3 and S-7 and changes nothing else: exactly two soft deletes.
            (inbox / "incoming" / "day2.csv").write_text(snapshot([i for i in range(10) if i not in (3, 7)]))
            await files.until(lambda e: settled(e, "incoming/day2.csv"), timeout=60)

            async def deletes() -> list[dict[str, Any]]:
                return [e for e in entities(await admin.batches()) if e.get("status") == "INACTIVE"]

            deleted = await wait_for(deletes)
            await asyncio.sleep(1.0)  # nothing more arrives
            deleted = await deletes()
            assert sorted(e["skuRef"] for e in deleted) == ["S-3", "S-7"]
            assert all(e["locationRef"] == "L-1" and e["qty"] == 0 for e in deleted)
            count = len(entities(await admin.batches()))
            assert count == 12  # 10 + the 2 deletes; the 8 unchanged rows sent nothing

            # Day 3 lacks S-0 but has an unparseable row: no deletes from an incomplete snapshot.
            (inbox / "incoming" / "day3.csv").write_text(snapshot([1, 2, 4, 5, 6, 8, 9], malformed=True))
            await files.until(lambda e: settled(e, "incoming/day3.csv"), timeout=60)
            await asyncio.sleep(1.5)
            assert len(entities(await admin.batches())) == count
