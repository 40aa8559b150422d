"""``BaselineTable.flush`` waits for the writes made before it, not for the ones made while it waits.

Why it matters: the records agent's settling task holds its decoded record batch until its flush
returns, and under a steady stream of verdicts the changelog queue seldom empties. The producer here is
a stand-in whose sends the test releases one by one (the narrow unit under test is the queue's
bookkeeping; the real changelog round trip is covered by tests/integration/dedupe/test_baseline_table.py).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from fluentsync.streams.dedupe.baseline import BaselineTable


class GatedProducer:
    """``send_batch`` blocks until the test opens a gate for that call; or fails when told to."""

    def __init__(self) -> None:
        self._message_accumulator = SimpleNamespace(_batch_size=16 * 1024, _compression_type=0)
        self.gates: list[asyncio.Event] = []
        self.sent: list[int] = []  #: partitions whose batch was handed over, in order
        self.started = asyncio.Event()
        self.error: Exception | None = None

    def _ensure_producer(self) -> GatedProducer:
        return self

    async def send_batch(self, builder: Any, topic: str, partition: int) -> asyncio.Future[Any]:
        if self.error is not None:
            raise self.error
        gate = asyncio.Event()
        self.gates.append(gate)
        self.started.set()
        await gate.wait()
        self.sent.append(partition)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def make_table(producer: GatedProducer) -> tuple[BaselineTable, dict[str, int]]:
    written: dict[str, int] = {"batches": 0}

    class Db:
        def write(self, batch: Any) -> None:
            written["batches"] += 1

    store = SimpleNamespace(_db_for_partition=lambda partition: Db(), set_persisted_offset=lambda tp, offset: None)
    app = SimpleNamespace(producer=producer, in_transaction=False)
    topic = SimpleNamespace(get_topic_name=lambda: "app-baseline-wf-changelog")
    table = SimpleNamespace(app=app, data=store, changelog_topic=topic, name="baseline-wf")
    baseline = BaselineTable(table)
    baseline._fast = True  # what _bulk() finds for a RocksDB store with raw keys
    return baseline, written


def write(baseline: BaselineTable, partition: int, key: bytes, digest: str) -> None:
    baseline._partition = lambda: partition  # type: ignore[method-assign]  # Faust's current event's partition
    baseline[key] = digest


async def wait_for(condition: Any) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


async def test_flush_returns_once_earlier_writes_are_in_the_producer() -> None:
    producer = GatedProducer()
    baseline, written = make_table(producer)
    write(baseline, 0, b"k1", "h1")
    flush = asyncio.create_task(baseline.flush())
    await producer.started.wait()  # partition 0's records are being sent
    write(baseline, 1, b"k2", "h2")  # written while the flush waits: not its business
    assert baseline.pending == 1
    producer.gates[0].set()
    await asyncio.wait_for(flush, 1.0)
    assert producer.sent == [0]  # partition 1's records are still on their way
    await wait_for(lambda: len(producer.gates) == 2)
    later = asyncio.create_task(baseline.flush())  # this one does wait for k2
    await asyncio.sleep(0.02)
    assert not later.done()
    producer.gates[1].set()
    await asyncio.wait_for(later, 1.0)
    assert producer.sent == [0, 1]
    assert baseline.pending == 0 and written["batches"] >= 2  # both values reached RocksDB


async def test_flush_without_writes_returns_at_once() -> None:
    baseline, _ = make_table(GatedProducer())
    await asyncio.wait_for(baseline.flush(), 0.1)


async def test_flush_raises_when_the_records_could_not_be_queued() -> None:
    producer = GatedProducer()
    producer.error = RuntimeError("producer closed")
    baseline, _ = make_table(producer)
    write(baseline, 0, b"k1", "h1")
    with pytest.raises(RuntimeError, match="producer closed"):
        await baseline.flush()  # right after the write, as the records agent calls it
    assert baseline.pending == 0  # dropped: the caller does not ack, the records come back
