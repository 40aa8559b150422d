"""File sink benchmark: records/s and peak RSS per format, writing one file through the rolling sink.

    python bench/bench_filesinks.py                 # 100k and 1M records per format
    python bench/bench_filesinks.py --records 200000 --formats csv,parquet

Each run is a fresh subprocess (peak RSS is the child's VmHWM) that adds N order-like records (8 fields,
a nested customer, two order lines) to a ``RollingFileSink`` with a local destination in a temporary
folder, as one file (no roll until ``flush``), then flushes: the time includes encoding, the spool file
and the commit (copy + rename; fsync off). Memory must stay flat: the peak RSS of N/10 and N records
should be about the same.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FORMATS = ("csv", "csv-explode", "json", "jsonl", "xml", "parquet")

SCHEMA: dict[str, Any] = {
    "type": "record", "name": "Order", "fields": [
        {"name": "ref", "type": "string"},
        {"name": "status", "type": "string"},
        {"name": "type", "type": "string"},
        {"name": "total", "type": "double"},
        {"name": "created", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "customer", "type": {"type": "record", "name": "Customer", "fields": [
            {"name": "ref", "type": "string"}, {"name": "email", "type": ["null", "string"]}]}},
        {"name": "lines", "type": {"type": "array", "items": {"type": "record", "name": "Line", "fields": [
            {"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}}},
        {"name": "note", "type": ["null", "string"]},
    ],
}


def record(i: int) -> dict[str, Any]:
    return {
        "ref": f"ORD-{i:09d}", "status": "BOOKED", "type": "HD", "total": (i % 1000) / 10,
        "created": 1717243200000 + i, "customer": {"ref": f"C-{i % 5000:06d}", "email": f"c{i % 5000}@example.com"},
        "lines": [{"sku": f"SKU-{i % 97:05d}", "qty": 1}, {"sku": f"SKU-{i % 89:05d}", "qty": 2}],
        "note": None if i % 3 else 'gift, "wrap" <please> & thanks',
    }


def peak_rss_kb() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(fmt: str, records: int) -> None:
    from fluentsync.connectors.filesinks import (
        CsvFormat,
        FileSinkConfig,
        JsonFormat,
        JsonlFormat,
        LocalDestinationConfig,
        ParquetFormat,
        Position,
        RollingConfig,
        RollingFileSink,
        XmlFormat,
    )

    formats: dict[str, Any] = {
        "csv": CsvFormat(), "csv-explode": CsvFormat(arrays="explode", explode="lines"), "json": JsonFormat(),
        "jsonl": JsonlFormat(), "xml": XmlFormat(root="Orders", item="Order"), "parquet": ParquetFormat(),
    }
    baseline_kb = peak_rss_kb()
    with tempfile.TemporaryDirectory() as tmp:
        config = FileSinkConfig(
            path="{topic}/{part}.{ext}", format=formats[fmt],
            rolling=RollingConfig(max_records=records + 1, max_bytes=None, max_age=None),
            destination=LocalDestinationConfig(root=Path(tmp) / "out", fsync=False), spool_dir=Path(tmp) / "spool",
        )

        async def run() -> int:
            async with RollingFileSink.from_config(config, topic="orders", avro_schema=SCHEMA) as sink:
                for i in range(records):
                    await sink.add(record(i), Position(0, i))
                commit = await sink.flush()
                return sum(f.size for f in commit.files)

        t0 = time.perf_counter()
        size = asyncio.run(run())
        seconds = time.perf_counter() - t0
    print(json.dumps({"format": fmt, "records": records, "seconds": seconds, "bytes": size,
                      "peak_kb": peak_rss_kb(), "baseline_kb": baseline_kb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    sizes = [max(1, args.records // 10), args.records]
    print(f"File sinks: one file of N records through RollingFileSink (local destination), {sizes} records")
    print(f"{'format':<13}{'records':>11}{'MB':>9}{'records/s':>12}{'RSS base':>10}{'RSS peak':>10}{'ratio':>7}")
    for fmt in args.formats.split(","):
        results = []
        for n in sizes:
            out = subprocess.run([sys.executable, __file__, "--child", fmt, str(n)], check=True,
                                 capture_output=True, text=True)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        for r in results:
            ratio = r["peak_kb"] / results[0]["peak_kb"]
            print(f"{fmt:<13}{r['records']:>11,}{r['bytes'] / 1e6:>9.1f}{r['records'] / r['seconds']:>12,.0f}"
                  f"{r['baseline_kb'] / 1024:>9.0f}M{r['peak_kb'] / 1024:>9.0f}M{ratio:>7.2f}")
    print("ratio: peak RSS relative to the smaller run (flat memory: about 1.0)")


if __name__ == "__main__":
    main()
