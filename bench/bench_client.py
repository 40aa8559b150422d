"""Paginator throughput against a local sandbox: pages/s and records/s through the Fluent client.

Measures the client's own overhead (auth, request core, JSON parsing, dedupe) plus the sandbox's
GraphQL execution, both in one process on loopback, so the numbers are a floor for a real tenant's
latency-bound throughput, not a prediction of it.

    python bench/bench_client.py --orders 5000 --page-size 250 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import time

from fluentsync.connectors.fluent import FluentClient, FluentSettings
from fluentsync.connectors.sandbox import SandboxConfig, SandboxServer, SandboxSettings

QUERY = """
query Bench($pageSize: Int, $cursor: String) {
  orders(first: $pageSize, after: $cursor) {
    edges { cursor node { id ref status type updatedOn } }
    pageInfo { hasNextPage }
  }
}
"""


async def run(orders: int, page_size: int, rounds: int) -> None:
    config = SandboxConfig(port=0, seed_orders=orders, settings=SandboxSettings())
    async with SandboxServer(config) as server:
        settings = FluentSettings(
            base_url=server.base_url,
            client_id=config.client_id,
            client_secret=config.client_secret,
            username=config.username,
            password=config.password,
            retailer_id=config.retailer_id,
        )
        async with FluentClient(settings) as client:
            await client.check_connection()
            for n in range(1, rounds + 1):
                paginator = client.paginate(QUERY, page_size=page_size)
                started = time.perf_counter()
                async for _page in paginator:
                    pass
                elapsed = time.perf_counter() - started
                stats = paginator.stats
                print(
                    f"round {n}: {stats.total_records} records in {stats.total_pages} pages, "
                    f"{elapsed:.2f}s -> {stats.total_pages / elapsed:.1f} pages/s, "
                    f"{stats.total_records / elapsed:.0f} records/s"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--page-size", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.orders, args.page_size, args.rounds))


if __name__ == "__main__":
    main()
