"""Benchmark: parse + publish of CSV files through the source connector's publisher.

Prints records/s for parse+publish (CSV, and JSON Lines for comparison) against the embedded broker,
and peak RSS when streaming a generated 200 MB and a 2 GB CSV (each size in its own process, so the
peak is that size's alone) side by side. The data is generated on the fly as an async chunk source, so
no large file is written to disk. Baseline in the same run: the same records parsed without publishing.

    python bench/bench_ingest.py            # 200 MB vs 2 GB
    python bench/bench_ingest.py --quick    # 20 MB vs 200 MB
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

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


async def run_one(fmt: str, target_bytes: int, publish: bool) -> tuple[int, float]:
    options = parser_options({"type": "csv"} if fmt == "csv" else {"type": "jsonl"})
    keys = RecordKeyBuilder(["skuRef", "locationRef"])
    started = time.perf_counter()
    if not publish:
        count = 0
        async for group in parse_chunks(generated(fmt, target_bytes), options):
            for item in group:
                keys(item.record)
            count += len(group)
        return count, time.perf_counter() - started
    async with EmbeddedBroker() as broker:
        topics = WorkflowTopics.of("bench")
        await ensure_topics(broker.bootstrap, [TopicSpec(name, PARTITIONS) for name in topics.all()])
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=5,
                                    max_batch_size=1 << 20, max_request_size=8 << 20)
        await producer.start()
        try:
            publisher = FilePublisher(producer, topics, PARTITIONS)
            started = time.perf_counter()
            counts = await publisher.publish(REF, parse_chunks(generated(fmt, target_bytes), options), keys)
            return counts.published, time.perf_counter() - started
        finally:
            await producer.stop()


def child(fmt: str, size: int, publish: bool) -> None:
    tune_gc()  # as the worker does
    count, seconds = asyncio.run(run_one(fmt, size, publish))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"records": count, "seconds": seconds, "rss_mb": rss}))


def measure(fmt: str, size: int, publish: bool) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", fmt, str(size), str(int(publish))],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.child[2] == "1")
        return
    mb = 1 << 20
    small, large = (20 * mb, 200 * mb) if args.quick else (200 * mb, 2048 * mb)
    print(f"{'run':<34}{'records':>12}{'seconds':>10}{'records/s':>12}{'peak RSS MB':>13}")
    rows = [
        ("csv parse only (baseline)", "csv", 50 * mb if not args.quick else 10 * mb, False),
        ("jsonl parse + publish", "jsonl", 50 * mb if not args.quick else 10 * mb, True),
        (f"csv parse + publish {small // mb} MB", "csv", small, True),
        (f"csv parse + publish {large // mb} MB", "csv", large, True),
    ]
    results = {}
    for label, fmt, size, publish in rows:
        result = measure(fmt, size, publish)
        results[label] = result
        print(f"{label:<34}{result['records']:>12,}{result['seconds']:>10.1f}"
              f"{result['records'] / result['seconds']:>12,.0f}{result['rss_mb']:>13.0f}")
    small_rss = results[rows[2][0]]["rss_mb"]
    large_rss = results[rows[3][0]]["rss_mb"]
    print(f"peak RSS {large // mb} MB vs {small // mb} MB: {large_rss:.0f} / {small_rss:.0f} MB"
          f" = {large_rss / small_rss:.2f}x (goal: within 1.20x and under ~150 MB)")


if __name__ == "__main__":
    main()
