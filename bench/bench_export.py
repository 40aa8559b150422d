"""Export throughput: nodes/s from the sandbox's GraphQL through the outbound topic into files, and peak RSS.

One process runs both halves as a single-process deployment would: the extraction runner (page,
convert, Avro-encode, publish with ``acks=all``) and the sink consumer (fetch, decode, write rolling
files, commit offsets after each file). The sandbox and the embedded broker run in their own processes.
The clock starts when the run starts and stops when the sink has committed files holding every node
(the run's end closes the last file: ``roll_on_run_end``), so the figure is end to end.

Columns: entity, format, nodes, seconds, nodes/s, this process's CPU per node (extraction and sink
together) and so the nodes/s one process could sustain if the sandbox kept up, and peak RSS (sampled
every 20 ms). Memory is flat when the peak does not grow with the number of nodes.

    python bench/bench_export.py            # inventory positions 50k, orders 20k; jsonl, csv, parquet
    python bench/bench_export.py --quick    # 20k positions, 5k orders
    python bench/bench_export.py --products 20000 --entities inventory_positions --formats jsonl   # 1M nodes
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from bench_extract import REPO, PeakRss

from fluentsync.connectors.filesinks import CommittedFile
from fluentsync.connectors.fluent import FluentClient, FluentSettings
from fluentsync.streams.config import parse_pipeline
from fluentsync.streams.exports import build_consumer, sink_topic_specs
from fluentsync.streams.extraction import ExtractionService, RunRequest, extraction_topic_specs
from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.topics import ensure_topics

FAST_GROUP = {"session_timeout_ms": 3000, "rebalance_timeout_ms": 1000, "heartbeat_interval_ms": 300}


async def one(bootstrap: str, client: FluentClient, entity: str, fmt: str, root: Path, n: int) -> None:
    prefix = f"bench{n}."
    config = parse_pipeline({
        "kafka": {"bootstrap": bootstrap, "topic_prefix": prefix, "partitions": 3, "app_id": f"bench{n}"},
        "extractions": {entity: {"entity": entity, "page_size": 250}},
        "sinks": {"out": {"extraction": entity, "format": {"type": fmt},
                          "rolling": {"max_records": 100_000, "max_bytes": None, "max_age": 600},
                          "destination": {"type": "local", "root": str(root), "fsync": False}}},
    })
    await ensure_topics(bootstrap, [*extraction_topic_specs(config.extractions, prefix, 3), *sink_topic_specs(config)])
    written = 0

    def count(files: list[CommittedFile]) -> None:
        nonlocal written
        written += sum(f.records for f in files)

    consumer = build_consumer(config, "out", bootstrap, consumer_options=FAST_GROUP, on_files=count)
    await consumer.start()
    try:
        while not consumer._owned:  # noqa: ASYNC110 - joined: the clock measures work, not the group join
            await asyncio.sleep(0.05)
        async with ExtractionService(config.extractions, bootstrap=bootstrap, client=client, prefix=prefix,
                                     partitions=3) as service:
            with PeakRss() as rss:
                started, cpu = time.perf_counter(), time.process_time()
                run = await service.runner(entity).run(RunRequest(full=True))
                assert run.status == "COMPLETED", run.error
                while written < run.nodes:  # noqa: ASYNC110 - polled: the sink reports files as it commits them
                    await asyncio.sleep(0.01)
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await consumer.stop()
    print(f"{entity:22}{fmt:9}{run.nodes:>9,}{elapsed:>9.2f}{run.nodes / elapsed:>10,.0f}"
          f"{cpu / run.nodes * 1e6:>13.1f}{run.nodes / cpu:>13,.0f}{rss.peak:>13.0f}", flush=True)


async def main(args: argparse.Namespace) -> None:
    sandbox = subprocess.Popen([sys.executable, str(REPO / "bench" / "bench_extract.py"), "--serve-sandbox"],  # noqa: ASYNC220
                               cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert sandbox.stdout is not None
        fluent = json.loads(await asyncio.get_running_loop().run_in_executor(None, sandbox.stdout.readline))
        if args.quick:
            plan = [("inventory_positions", {"orders": 0, "products": 400, "locations": 50}),
                    ("orders", {"orders": 5000})]
        else:
            plan = [("inventory_positions", {"orders": 0, "products": args.products, "locations": 50}),
                    ("orders", {"orders": args.orders})]
        plan = [(entity, seed) for entity, seed in plan if entity in args.entities]
        print(f"{os.cpu_count()} CPUs shared by this process, the sandbox and the broker; page size 250")
        print(f"{'entity':22}{'format':9}{'nodes':>9}{'seconds':>9}{'nodes/s':>10}{'CPU us/node':>13}"
              f"{'nodes/CPU-s':>13}{'peak RSS MB':>13}")
        n = 0
        async with (httpx.AsyncClient(base_url=fluent["base_url"] + "/_sandbox", timeout=600) as admin,
                    EmbeddedBroker() as broker, FluentClient(FluentSettings(**fluent)) as client):
            for entity, seed in plan:
                await admin.post("/seed", json=seed)
                for fmt in args.formats:
                    with tempfile.TemporaryDirectory() as root:
                        await one(broker.bootstrap, client, entity, fmt, Path(root), n)
                    n += 1
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller datasets")
    parser.add_argument("--formats", nargs="+", default=["jsonl", "csv", "parquet"],
                        choices=["csv", "json", "jsonl", "xml", "parquet"])
    parser.add_argument("--products", type=int, default=1000,
                        help="products seeded; inventory positions = products x 50 locations (20000: 1M nodes)")
    parser.add_argument("--orders", type=int, default=20000, help="orders seeded")
    parser.add_argument("--entities", nargs="+", default=["inventory_positions", "orders"],
                        choices=["inventory_positions", "orders"])
    asyncio.run(main(parser.parse_args()))
