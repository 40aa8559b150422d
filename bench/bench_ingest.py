"""Benchmark: parse + publish of CSV files through the source connector's publisher.

Prints records/s for parse+publish (CSV, and JSON Lines for comparison) against the embedded broker,
and peak RSS when streaming a generated 200 MB and a 2 GB CSV (each size in its own process, so the
peak is that size's alone) side by side. The data is generated on the fly as an async chunk source, so
no large file is written to disk. Baseline in the same run: the same records parsed without publishing.

Also per run: the CPU of this process per record (parse thread + event loop, generating the data
included; the figure other load on the machine disturbs least), the embedded broker's CPU seconds
(a separate process), and records/s over the first and the last 10 % of the records (whether a run
slows as the broker's in-memory topic grows).

    python bench/bench_ingest.py            # 200 MB vs 2 GB
    python bench/bench_ingest.py --quick    # 20 MB vs 200 MB
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from fluentsync.connectors.ingest.keys import RecordKeyBuilder
from fluentsync.connectors.ingest.publisher import FilePublisher
from fluentsync.connectors.parsers.options import parser_options
from fluentsync.connectors.parsers.stream import parse_chunks
from fluentsync.connectors.sources.base import FileRef
from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.topics import TopicSpec, ensure_topics
from fluentsync.streams.worker import tune_gc

PARTITIONS = 6
REF = FileRef("local", "/bench", "inventory.csv", "v1", 0, datetime(2026, 1, 1, tzinfo=UTC))


def csv_row(i: int) -> bytes:
    return f"SKU-{i:08d},LOC-{i % 250:04d},{i % 97},ACTIVE,LAST_ON_HAND,2026-11-22T00:00:00Z\n".encode()


def jsonl_row(i: int) -> bytes:
    return (json.dumps({"skuRef": f"SKU-{i:08d}", "locationRef": f"LOC-{i % 250:04d}", "qty": i % 97,
                        "status": "ACTIVE"}) + "\n").encode()


async def generated(fmt: str, target_bytes: int, chunk: int = 1 << 20) -> AsyncIterator[bytes]:
    """An async source of ``target_bytes`` of generated data in ``chunk``-sized pieces."""
    row = csv_row if fmt == "csv" else jsonl_row
    buffer = bytearray(b"skuRef,locationRef,qty,status,type,expectedOn\n" if fmt == "csv" else b"")
    produced, i = 0, 0
    while produced < target_bytes:
        while len(buffer) < chunk:
            buffer += row(i)
            i += 1
        produced += len(buffer)
        yield bytes(buffer)
        buffer.clear()


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of this process (all threads) or of child ``pid`` (from /proc)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Progress:
    """Wraps the parser's record lists to time the first and the last 10 % of the records."""

    def __init__(self) -> None:
        self.marks: list[tuple[int, float]] = []

    async def watch(self, groups: AsyncIterator[Any]) -> AsyncIterator[Any]:
        seen = 0
        self.marks.append((0, time.perf_counter()))
        async for group in groups:
            seen += len(group)
            self.marks.append((seen, time.perf_counter()))
            yield group

    def rates(self) -> tuple[float, float]:
        """records/s over the first and the last tenth of the records (by count)."""
        total = self.marks[-1][0]
        first = next(m for m in self.marks if m[0] >= total / 10)
        last_start = next(m for m in self.marks if m[0] >= total * 9 / 10)
        end = self.marks[-1]
        return first[0] / (first[1] - self.marks[0][1]), (end[0] - last_start[0]) / (end[1] - last_start[1])


async def run_one(fmt: str, target_bytes: int, publish: bool) -> dict[str, float]:
    options = parser_options({"type": "csv"} if fmt == "csv" else {"type": "jsonl"})
    keys = RecordKeyBuilder(["skuRef", "locationRef"])
    started, cpu = time.perf_counter(), cpu_seconds()
    if not publish:
        count = 0
        async for group in parse_chunks(generated(fmt, target_bytes), options):
            for item in group:
                keys(item.record)
            count += len(group)
        return {"records": count, "seconds": time.perf_counter() - started, "cpu": cpu_seconds() - cpu}
    async with EmbeddedBroker() as broker:
        topics = WorkflowTopics.of("bench")
        await ensure_topics(broker.bootstrap, [TopicSpec(name, PARTITIONS) for name in topics.all()])
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=5,
                                    max_batch_size=1 << 20, max_request_size=8 << 20)
        await producer.start()
        try:
            publisher = FilePublisher(producer, topics, PARTITIONS)
            progress = Progress()
            broker_cpu = cpu_seconds(broker.pid)
            started, cpu = time.perf_counter(), cpu_seconds()
            counts = await publisher.publish(
                REF, progress.watch(parse_chunks(generated(fmt, target_bytes), options)), keys)
            seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
            first, last = progress.rates()
            return {"records": counts.published, "seconds": seconds, "cpu": cpu,
                    "broker_cpu": cpu_seconds(broker.pid) - broker_cpu, "first10": first, "last10": last}
        finally:
            await producer.stop()


def child(fmt: str, size: int, publish: bool) -> None:
    tune_gc()  # as the worker does
    result = asyncio.run(run_one(fmt, size, publish))
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(fmt: str, size: int, publish: bool) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", fmt, str(size), str(int(publish))],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["small", "large"], help="run only that size's parse + publish row")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.child[2] == "1")
        return
    mb = 1 << 20
    small, large = (20 * mb, 200 * mb) if args.quick else (200 * mb, 2048 * mb)
    print(f"{'run':<34}{'records':>12}{'seconds':>10}{'records/s':>12}{'peak RSS MB':>13}{'us/rec':>8}"
          f"{'broker CPU s':>14}{'first/last 10% rec/s':>24}")
    rows = [
        ("csv parse only (baseline)", "csv", 50 * mb if not args.quick else 10 * mb, False),
        ("jsonl parse + publish", "jsonl", 50 * mb if not args.quick else 10 * mb, True),
        (f"csv parse + publish {small // mb} MB", "csv", small, True),
        (f"csv parse + publish {large // mb} MB", "csv", large, True),
    ]
    if args.only:
        rows = [rows[2] if args.only == "small" else rows[3]]
    results = {}
    for label, fmt, size, publish in rows:
        result = measure(fmt, size, publish)
        results[label] = result
        tail = (f"{result['broker_cpu']:>14.1f}{result['first10']:>12,.0f}{result['last10']:>12,.0f}"
                if publish else "")
        print(f"{label:<34}{result['records']:>12,}{result['seconds']:>10.1f}"
              f"{result['records'] / result['seconds']:>12,.0f}{result['rss_mb']:>13.0f}"
              f"{result['cpu'] / result['records'] * 1e6:>8.2f}{tail}", flush=True)
    if args.only:
        return
    small_rss = results[rows[2][0]]["rss_mb"]
    large_rss = results[rows[3][0]]["rss_mb"]
    print(f"peak RSS {large // mb} MB vs {small // mb} MB: {large_rss:.0f} / {small_rss:.0f} MB"
          f" = {large_rss / small_rss:.2f}x (goal: within 1.20x and under ~150 MB)")


if __name__ == "__main__":
    main()
