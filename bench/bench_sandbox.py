"""Benchmark the Fluent sandbox: Batch API entities/s and GraphQL nodes/s on one core.

The sandbox must never be the bottleneck of the service's own benchmarks, so this measures its
ceilings. The server runs in a child process pinned to one CPU; the load generator runs in this process
on another CPU (when there are at least two), with pre-serialised request bodies so client-side JSON
work is not counted.

Measured:

* **Batch accept**: ``POST /api/v4.1/job/{id}/batch`` with 5000 INVENTORY entities each (4 in flight);
  entities accepted per second (payload checks, parsing, storing; processing is asynchronous).
* **Batch processing**: entities validated and applied to the inventory store per second, from the
  first POST until every batch is ``COMPLETE`` (delays set to 0).
* **GraphQL**: paging through every order with ``first: 250`` and a typical extraction field set
  including the nested items connection; nodes per second (sequential, then 4 concurrent readers),
  and a flat 4-field node for comparison.
* Peak RSS of the sandbox process (``VmHWM``).

Run: ``python bench/bench_sandbox.py [--orders 20000] [--seconds 4]`` (total run time < 60 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import time
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from fluentsync.connectors.sandbox import SandboxConfig, SandboxServer, SandboxSettings

FLAT_QUERY = """query Orders($first: Int, $after: String) {
  orders(first: $first, after: $after) { edges { cursor node { id ref status updatedOn } } pageInfo { hasNextPage } }
}"""

QUERY = """query Orders($first: Int, $after: String) {
  orders(first: $first, after: $after) {
    edges { cursor node { id ref type status createdOn updatedOn totalPrice currency
      customer { ref email } items { edges { node { ref productRef quantity price } } } } }
    pageInfo { hasNextPage }
  }
}"""


def _pin(cpu: int) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        os.sched_setaffinity(0, {cpus[cpu % len(cpus)]})


def _serve(conn: Connection, orders: int) -> None:
    _pin(0)

    async def main() -> None:
        config = SandboxConfig(
            port=0,
            seed_orders=orders,
            settings=SandboxSettings(batch_pending_delay=0, batch_running_delay=0, max_batch_entities=5000),
        )
        async with SandboxServer(config) as server:
            conn.send(server.base_url)
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)

    asyncio.run(main())


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def _token(http: aiohttp.ClientSession, base: str) -> str:
    config = SandboxConfig()
    async with http.post(
        f"{base}/oauth/token",
        data={
            "grant_type": "password",
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "username": config.username,
            "password": config.password,
            "scope": "api",
        },
    ) as response:
        token: str = (await response.json())["access_token"]
        return token


async def bench_batches(http: aiohttp.ClientSession, base: str, seconds: float) -> dict[str, float]:
    async with http.post(f"{base}/api/v4.1/job", json={"name": "bench", "retailerId": "1"}) as response:
        job_id = (await response.json())["id"]
    bodies = []
    for b in range(8):
        entities = [
            {
                "skuRef": f"SKU-B{(b * 5000 + i) // 8:06d}",
                "locationRef": f"LOC-{(i % 8) + 1:02d}",
                "qty": (b + i) % 500,
                "type": "LAST_ON_HAND",
                "status": "ACTIVE",
                "retailerId": 1,
            }
            for i in range(5000)
        ]
        bodies.append(
            json.dumps(
                {
                    "action": "UPSERT",
                    "entityType": "INVENTORY",
                    "source": "bench",
                    "event": "InventoryChanged",
                    "entities": entities,
                }
            ).encode()
        )
    url = f"{base}/api/v4.1/job/{job_id}/batch"
    sent = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()

    async def worker(offset: int) -> None:
        nonlocal sent
        n = offset
        while time.perf_counter() < deadline:
            async with http.post(
                url, data=bodies[n % len(bodies)], headers={"Content-Type": "application/json"}
            ) as response:
                assert response.status == 200, await response.text()
                await response.read()
            sent += 5000
            n += 1

    await asyncio.gather(*(worker(i) for i in range(4)))
    accept_elapsed = time.perf_counter() - started
    while True:
        async with http.get(f"{base}/_sandbox/inspect") as response:
            counts = await response.json()
        if counts["batches_pending"] == 0:
            break
        await asyncio.sleep(0.05)
    total_elapsed = time.perf_counter() - started
    return {
        "entities_sent": sent,
        "accept_entities_per_s": sent / accept_elapsed,
        "processed_entities_per_s": sent / total_elapsed,
    }


async def bench_graphql(http: aiohttp.ClientSession, base: str, readers: int, query: str = QUERY) -> dict[str, float]:
    nodes = 0

    async def read_all() -> int:
        count, after = 0, None
        while True:
            variables: dict[str, Any] = {"first": 250}
            if after:
                variables["after"] = after
            async with http.post(f"{base}/graphql", json={"query": query, "variables": variables}) as response:
                body = await response.json()
            connection = body["data"]["orders"]
            count += len(connection["edges"])
            if not connection["pageInfo"]["hasNextPage"]:
                return count
            after = connection["edges"][-1]["cursor"]

    started = time.perf_counter()
    for count in await asyncio.gather(*(read_all() for _ in range(readers))):
        nodes += count
    elapsed = time.perf_counter() - started
    return {"nodes": nodes, "nodes_per_s": nodes / elapsed, "seconds": elapsed}


async def run(base: str, seconds: float) -> dict[str, Any]:
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        token = await _token(http, base)
        http.headers["Authorization"] = f"Bearer {token}"
        graphql_1 = await bench_graphql(http, base, readers=1)
        graphql_4 = await bench_graphql(http, base, readers=4)
        graphql_flat = await bench_graphql(http, base, readers=1, query=FLAT_QUERY)
        batches = await bench_batches(http, base, seconds)
    return {
        "graphql_sequential": graphql_1,
        "graphql_4_readers": graphql_4,
        "graphql_flat": graphql_flat,
        "batch": batches,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=20000, help="orders to seed and page through")
    parser.add_argument("--seconds", type=float, default=4.0, help="duration of the batch phase")
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(child, args.orders), daemon=True)
    started = time.perf_counter()
    process.start()
    base = parent.recv()
    seeded = time.perf_counter() - started
    _pin(1)
    try:
        results = asyncio.run(run(base, args.seconds))
        assert process.pid is not None
        results["peak_rss_mb"] = _peak_rss_mb(process.pid)
    finally:
        parent.send("stop")
        process.join(10)
        if process.is_alive():
            process.terminate()
    g1, g4, b = results["graphql_sequential"], results["graphql_4_readers"], results["batch"]
    print(f"sandbox on one core; {args.orders} orders seeded in {seeded:.1f} s (incl. process start)")
    print(
        f"GraphQL orders, first=250 with items: {g1['nodes_per_s']:,.0f} nodes/s sequential, "
        f"{g4['nodes_per_s']:,.0f} nodes/s with 4 readers; flat nodes (4 fields): "
        f"{results['graphql_flat']['nodes_per_s']:,.0f} nodes/s"
    )
    print(
        f"Batch API: {b['accept_entities_per_s']:,.0f} entities/s accepted, "
        f"{b['processed_entities_per_s']:,.0f} entities/s processed to COMPLETE "
        f"({b['entities_sent']:,} entities in 5000-entity batches)"
    )
    print(f"peak RSS of the sandbox: {results['peak_rss_mb']:.0f} MB")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
