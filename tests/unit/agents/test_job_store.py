"""The Faust-table job store: written from the sink's sender tasks, outside any stream iteration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import faust

from fluentsync.streams.agents.jobs import TableJobStore, job_table
from fluentsync.streams.sinks import JobRecord


async def test_the_job_table_is_memory_backed_and_writable_without_a_current_event() -> None:
    app = faust.App("job-store-test", broker="kafka://127.0.0.1:1", store="rocksdb://")
    table = job_table(app, "inventory")
    # RocksDB stores need Faust's current event for every write; the sink writes from its own tasks.
    assert type(table.data).__module__ == "faust.stores.memory"
    sent: list[tuple[object, object]] = []
    table.send_changelog = lambda partition, key, value, *a, **k: sent.append((key, value)) or _Sent()
    store = TableJobStore(table)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    await store.put("inventory", "daily:2026-01-01", JobRecord("42", now, now + timedelta(hours=24), 3))
    record = await store.get("inventory", "daily:2026-01-01")
    assert record == JobRecord("42", now, now + timedelta(hours=24), 3)
    assert await store.get("inventory", "daily:2026-01-02") is None
    assert sent and sent[0][0] == "inventory|daily:2026-01-01"  # every write reaches the changelog


class _Sent:
    class message:  # mimics faust's FutureMessage.message
        partition = 0
