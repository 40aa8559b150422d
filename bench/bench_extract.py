"""Extraction throughput: nodes/s from the sandbox's GraphQL to the outbound topic, and peak RSS.

The sandbox runs in its own process (as a real Fluent tenant would be elsewhere), the embedded broker in
its own; this process runs the extraction runner exactly as ``fluentsync extract`` does: page, convert,
Avro-encode, publish keyed by ref with ``acks=all``, store the watermark. Baseline in the same run: the
client's paginator alone (no encoding, no Kafka), which is the ceiling the sandbox sets.

Figures per entity: nodes, seconds, nodes/s, the baseline's nodes/s, this process's CPU per node (and
so the nodes/s one process could sustain if the source kept up: on a 2-core machine the sandbox, the
broker and this process share the cores, and the sandbox is the bottleneck) and this process's peak RSS
during the run (sampled every 20 ms). Memory is flat when the peak does not grow with the number of nodes
(``--sizes`` runs the flat entity at two sizes).

    python bench/bench_extract.py                 # inventory positions 50k and 200k, orders 20k
    python bench/bench_extract.py --quick         # 20k positions, 5k orders
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from fluentsync.connectors.fluent import FluentClient, FluentSettings
from fluentsync.streams.extraction import ENTITIES, ExtractionConfig, ExtractionService, RunRequest
from fluentsync.streams.kafka.broker import EmbeddedBroker

REPO = Path(__file__).resolve().parents[1]


def serve_sandbox() -> None:
    """Child process: a sandbox without artificial delays; prints its connection details as JSON."""
    from fluentsync.connectors.sandbox import SandboxConfig, SandboxServer, SandboxSettings

    async def main() -> None:
        settings = SandboxSettings(latency_ms=0, error_rate=0, rate_limit=0)
        config = SandboxConfig(port=0, seed_orders=0, settings=settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        async with SandboxServer(config) as server:
            print(json.dumps({"base_url": server.base_url, "client_id": config.client_id,
                              "client_secret": config.client_secret, "username": config.username,
                              "password": config.password, "retailer_id": str(config.retailer_id)}), flush=True)
            await stop.wait()

    asyncio.run(main())


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of process ``pid`` so far (its threads included), from /proc."""
    if pid is None:
        return float("nan")
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PeakRss:
    def __init__(self) -> None:
        self.peak = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mb())
            await asyncio.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self.peak = rss_mb()
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def baseline(client: FluentClient, entity: str) -> float:
    paginator = client.paginate(ENTITIES[entity].query, page_size=250)
    started = time.perf_counter()
    async for _page in paginator:
        pass
    return float(paginator.stats.total_records) / (time.perf_counter() - started)


async def measure(fluent: dict[str, str], admin: httpx.AsyncClient, plan: list[tuple[str, dict[str, int]]]) -> None:
    settings = FluentSettings(**fluent)
    print(f"{'entity':22}{'nodes':>9}{'seconds':>9}{'nodes/s':>10}{'paginator only':>16}{'CPU us/node':>13}"
          f"{'nodes/CPU-s':>13}{'peak RSS MB':>13}")
    async with EmbeddedBroker() as broker, FluentClient(settings) as client:
        for n, (entity, seed) in enumerate(plan):
            await admin.post("/seed", json=seed)
            ceiling = await baseline(client, entity)
            extractions = {entity: ExtractionConfig.model_validate({"entity": entity, "page_size": 250})}
            async with ExtractionService(extractions, bootstrap=broker.bootstrap, client=client,
                                         prefix=f"bench{n}.", partitions=3) as service:
                with PeakRss() as rss:
                    started, cpu = time.perf_counter(), time.process_time()
                    run = await service.runner(entity).run(RunRequest(full=True))
                    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            assert run.status == "COMPLETED", run.error
            print(f"{entity:22}{run.nodes:>9,}{elapsed:>9.2f}{run.nodes / elapsed:>10,.0f}{ceiling:>16,.0f}"
                  f"{cpu / run.nodes * 1e6:>13.1f}{run.nodes / cpu:>13,.0f}{rss.peak:>13.0f}", flush=True)


async def main(args: argparse.Namespace) -> None:
    sandbox = subprocess.Popen([sys.executable, __file__, "--serve-sandbox"], cwd=REPO,  # noqa: ASYNC220
                               stdout=subprocess.PIPE, text=True)
    try:
        assert sandbox.stdout is not None
        fluent = json.loads(await asyncio.get_running_loop().run_in_executor(None, sandbox.stdout.readline))
        async with httpx.AsyncClient(base_url=fluent["base_url"] + "/_sandbox", timeout=600) as admin:
            if args.quick:
                plan = [("inventory_positions", {"orders": 0, "products": 400, "locations": 50}),
                        ("orders", {"orders": 5000})]
            else:
                plan = [("inventory_positions", {"orders": 0, "products": 1000, "locations": 50}),
                        ("inventory_positions", {"orders": 0, "products": 2000, "locations": 100}),
                        ("orders", {"orders": 20000})]
            print(f"{os.cpu_count()} CPUs shared by this process, the sandbox and the broker; page size 250")
            await measure(fluent, admin, plan)
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(30)


if __name__ == "__main__":
    if "--serve-sandbox" in sys.argv:
        serve_sandbox()
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller datasets")
    asyncio.run(main(parser.parse_args()))
