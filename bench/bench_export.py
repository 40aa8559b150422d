"""Export throughput: nodes/s from the sandbox's GraphQL through the outbound topic into files, and peak RSS.

One process runs both halves as a single-process deployment would: the extraction runner (page,
convert, Avro-encode, publish with ``acks=all``) and the sink consumer (fetch, decode, write rolling
files, commit offsets after each file). The sandbox and the embedded broker run in their own processes.
The clock starts when the run starts and stops when the sink has committed files holding every node
(the run's end closes the last file: ``roll_on_run_end``), so the figure is end to end.

Columns: entity, format, half (``both``; with ``--split`` the extraction runs alone first, filling the
topic, then the sink alone drains it: ``extract`` and ``sink``, each half's own CPU), nodes, seconds,
nodes/s, this process's CPU per node and so the nodes/s one process could sustain if the sandbox kept
up, the CPU seconds each process used meanwhile (this one, the sandbox, the broker: on a 2-core machine
they compete, so wall-clock nodes/s is bounded by their sum), this process's CPU over the sandbox's
(``ours/sbx``), and peak RSS (sampled every 20 ms). Memory is flat when the peak does not grow with
the number of nodes. The machine may be shared: other load inflates every process's CPU per node
alike, so ``ours/sbx`` (same work on the sandbox's side) is the steadiest figure to compare changes
with; repeat (``--repeat``).

    python bench/bench_export.py            # inventory positions 50k, orders 20k; jsonl, csv, parquet
    python bench/bench_export.py --quick    # 20k positions, 5k orders
    python bench/bench_export.py --products 20000 --entities inventory_positions --formats jsonl   # 1M nodes
    python bench/bench_export.py --split --repeat 3 --entities inventory_positions --formats jsonl
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
from bench_extract import REPO, PeakRss, cpu_seconds

from fluentsync.connectors.filesinks import CommittedFile
from fluentsync.connectors.fluent import FluentClient, FluentSettings
from fluentsync.streams.config import parse_pipeline
from fluentsync.streams.exports import SinkConsumer, build_consumer, sink_topic_specs
from fluentsync.streams.extraction import ExtractionService, RunRequest, extraction_topic_specs
from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.topics import ensure_topics

FAST_GROUP = {"session_timeout_ms": 3000, "rebalance_timeout_ms": 1000, "heartbeat_interval_ms": 300}


class Pids:
    """The other processes on the machine's cores, for the CPU split: the sandbox and the broker."""

    def __init__(self, sandbox: int | None, broker: int | None) -> None:
        self.sandbox, self.broker = sandbox, broker

    def read(self) -> tuple[float, float, float]:
        """CPU seconds so far: this process, the sandbox, the broker."""
        return time.process_time(), cpu_seconds(self.sandbox), cpu_seconds(self.broker)


async def one(bootstrap: str, client: FluentClient, entity: str, fmt: str, root: Path, n: int, pids: Pids,
              split: bool) -> None:
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

    async def joined(consumer: SinkConsumer) -> None:
        while not consumer._owned:  # noqa: ASYNC110 - joined: the clock measures work, not the group join
            await asyncio.sleep(0.005)

    async def sunk(nodes: int) -> None:
        while written < nodes:  # noqa: ASYNC110 - polled: the sink reports files as it commits them
            await asyncio.sleep(0.01)

    consumer = build_consumer(config, "out", bootstrap, consumer_options=FAST_GROUP, on_files=count)
    async with ExtractionService(config.extractions, bootstrap=bootstrap, client=client, prefix=prefix,
                                 partitions=3) as service:
        if split:  # the extraction alone (the topic fills), then the sink alone (it drains the topic)
            with PeakRss() as rss:
                started, cpu = time.perf_counter(), pids.read()
                run = await service.runner(entity).run(RunRequest(full=True))
                assert run.status == "COMPLETED", run.error
                extract = (time.perf_counter() - started, [b - a for a, b in zip(cpu, pids.read(), strict=True)])
                cpu = pids.read()
                await consumer.start()
                try:
                    await joined(consumer)
                    started = time.perf_counter()
                    await sunk(run.nodes)
                    sink = (time.perf_counter() - started, [b - a for a, b in zip(cpu, pids.read(), strict=True)])
                finally:
                    await consumer.stop()
            for half, (elapsed, used) in (("extract", extract), ("sink", sink)):
                _line(entity, fmt, half, run.nodes, elapsed, used, rss.peak)
            return
        await consumer.start()
        try:
            await joined(consumer)
            with PeakRss() as rss:
                started, cpu = time.perf_counter(), pids.read()
                run = await service.runner(entity).run(RunRequest(full=True))
                assert run.status == "COMPLETED", run.error
                await sunk(run.nodes)
                elapsed, used = time.perf_counter() - started, [b - a for a, b in zip(cpu, pids.read(), strict=True)]
        finally:
            await consumer.stop()
    _line(entity, fmt, "both", run.nodes, elapsed, used, rss.peak)


def _line(entity: str, fmt: str, half: str, nodes: int, elapsed: float, cpu: list[float], peak: float) -> None:
    ours, sandbox, broker = cpu
    print(f"{entity:22}{fmt:9}{half:9}{nodes:>9,}{elapsed:>9.2f}{nodes / elapsed:>10,.0f}"
          f"{ours / nodes * 1e6:>13.1f}{nodes / ours:>13,.0f}{ours:>8.1f}{sandbox:>8.1f}{broker:>8.1f}"
          f"{ours / sandbox if sandbox >= 0.05 else float('nan'):>11.2f}{peak:>13.0f}", flush=True)


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
        print(f"{'entity':22}{'format':9}{'half':9}{'nodes':>9}{'seconds':>9}{'nodes/s':>10}{'CPU us/node':>13}"
              f"{'nodes/CPU-s':>13}{'CPU s: ours':>12}{'sandbox':>8}{'broker':>8}{'ours/sbx':>11}{'peak RSS MB':>13}")
        n = 0
        async with (httpx.AsyncClient(base_url=fluent["base_url"] + "/_sandbox", timeout=600) as admin,
                    EmbeddedBroker() as broker, FluentClient(FluentSettings(**fluent)) as client):
            for entity, seed in plan:
                await admin.post("/seed", json=seed)
                for fmt in args.formats:
                    for _ in range(args.repeat):
                        with tempfile.TemporaryDirectory() as root:
                            await one(broker.bootstrap, client, entity, fmt, Path(root), n,
                                      Pids(sandbox.pid, broker.pid), args.split)
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
    parser.add_argument("--split", action="store_true",
                        help="run the extraction alone (the topic fills), then the sink alone: each half's CPU")
    parser.add_argument("--repeat", type=int, default=1, help="measure each entity and format this many times")
    asyncio.run(main(parser.parse_args()))
