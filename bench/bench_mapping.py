"""Mapping benchmark: records/s of the compiled UniversalMapper on generated CSV-like rows.

    python bench/bench_mapping.py            # 200k rows
    python bench/bench_mapping.py --quick    # 20k rows

Two mappings: a plain-copy mapping (5 fields, no resolvers: the per-field floor) and the sample
inventory mapping of tests/unit/mapping (9 fields, 4 resolvers incl. a date parse). Compilation is done once
and not timed; the figure is ``map()`` only, single-threaded.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from fluentsync.streams.mapping import Mapper

COPY = {"fields": {"skuRef": {"source": "sku"}, "locationRef": {"source": "location"}, "qty": {"source": "qty"},
                   "status": {"source": "status"}, "attributes.updated": {"source": "updated_at"}}}
INVENTORY = {
    "fields": {
        "skuRef": {"source": "sku", "required": True, "resolver": "sdk.trim"},
        "locationRef": {"source": "location", "required": True, "resolver": "sdk.uppercase"},
        "qty": {"source": "qty", "resolver": "sdk.parseInt", "required": True},
        "reservedQty": {"source": "reserved", "resolver": "sdk.parseInt"},
        "expectedOn": {"source": "updated_at", "resolver": "sdk.formatDate"},
        "retailerId": {"value": "1"},
        "type": {"source": "stock_type", "defaultValue": "LAST_ON_HAND"},
        "status": {"source": "status"},
        "attributes.batchNo": {"source": "batch"},
    }
}


def rows(n: int) -> list[dict[str, Any]]:
    return [{"sku": f"SKU-{i:08d}", "location": f"loc-{i % 500:04d}", "qty": str(i % 97), "reserved": "",
             "status": "AVAILABLE", "updated_at": "2024-06-01T10:00:00Z", "stock_type": "", "batch": f"B{i % 9}"}
            for i in range(n)]


def bench(name: str, config: dict[str, Any], data: list[dict[str, Any]]) -> None:
    mapper = Mapper.compile(config)
    mapper.map(data[0])
    start = time.perf_counter()
    for row in data:
        mapper.map(row)
    elapsed = time.perf_counter() - start
    per_record = elapsed / len(data) * 1e6
    fields = len(config["fields"])
    print(f"{name:10s} {len(data) / elapsed:>10,.0f} records/s  {per_record:6.2f} µs/record"
          f"  {per_record / fields:5.2f} µs/field")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    n = 20_000 if parser.parse_args().quick else 200_000
    data = rows(n)
    bench("copy", COPY, data)
    bench("inventory", INVENTORY, data)


if __name__ == "__main__":
    main()
