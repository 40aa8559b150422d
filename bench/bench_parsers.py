"""Parser benchmark: records/s per format, and peak RSS of a 200 MB vs a 2 GB CSV through the async adapter.

    python bench/bench_parsers.py            # 200k records per format; RSS for 200 MB and 2 GB
    python bench/bench_parsers.py --quick    # 50k records per format; RSS for 20 MB and 200 MB

Throughput is parse only (records produced by the sync parser from an in-memory file, plus one line
through the async adapter). Peak RSS is measured in a fresh subprocess per size (``ru_maxrss`` of the
child): the CSV is generated on the fly by an async chunk source (1 MiB chunks, like the S3/SFTP
sources) and parsed with ``parse_chunks``; nothing is written to disk. The goal: peak RSS flat
(the two sizes within 20 %) and under ~150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import json
import resource
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

HEADER = b"sku,location,qty,status,updated_at,description\n"


def csv_block(rows: int, start: int = 0) -> bytes:
    return b"".join(
        b'SKU-%08d,LOC-%04d,%d,AVAILABLE,2024-06-01T10:00:00Z,"Shirt, size %d ""slim"""\n' % (i, i % 500, i % 97, i % 5)
        for i in range(start, start + rows)
    )


def sample_records(n: int) -> list[dict[str, Any]]:
    return [
        {
            "sku": f"SKU-{i:08d}",
            "location": f"LOC-{i % 500:04d}",
            "qty": i % 97,
            "status": "AVAILABLE",
            "updated_at": "2024-06-01T10:00:00Z",
            "description": f'Shirt, size {i % 5} "slim"',
        }
        for i in range(n)
    ]


def inputs(n: int) -> dict[str, tuple[bytes, dict[str, Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    recs = sample_records(n)
    csv_data = HEADER + csv_block(n)
    xml_items = b"".join(
        b'<Item id="%d"><SKU>%s</SKU><Location>%s</Location><Qty>%d</Qty><Status>AVAILABLE</Status></Item>\n'
        % (i, r["sku"].encode(), r["location"].encode(), r["qty"])
        for i, r in enumerate(recs)
    )
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(recs), sink, row_group_size=50_000)
    return {
        "csv": (csv_data, {"type": "csv"}),
        "csv.gz": (gzip.compress(csv_data, 6), {"type": "csv"}),
        "json (array)": (json.dumps(recs).encode(), {"type": "json"}),
        "jsonl": ("\n".join(json.dumps(r) for r in recs).encode(), {"type": "jsonl"}),
        "jsonl.gz": (gzip.compress("\n".join(json.dumps(r) for r in recs).encode(), 6), {"type": "jsonl"}),
        "xml": (b"<Inventory>\n" + xml_items + b"</Inventory>\n", {"type": "xml", "item_path": "Inventory/Item"}),
        "parquet": (sink.getvalue(), {"type": "parquet"}),
    }


def throughput(n: int) -> None:
    from fluentsync.connectors.parsers import parse, parse_chunks

    print(f"\nParse throughput ({n:,} records each, 6 fields; best of 2 runs)")
    print(f"{'format':<22}{'MB':>8}{'records/s':>14}{'us/record':>12}")
    for name, (data, options) in inputs(n).items():
        best = float("inf")
        count = 0
        for _ in range(2):
            t0 = time.perf_counter()
            count = sum(1 for _ in parse(io.BytesIO(data), options))
            best = min(best, time.perf_counter() - t0)
        assert count == n, (name, count)
        print(f"{name:<22}{len(data) / 1e6:>8.1f}{count / best:>14,.0f}{best / count * 1e6:>12.2f}")

    data, options = inputs(n)["csv"]

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 1 << 20):
            yield data[i : i + (1 << 20)]

    async def run() -> int:
        return sum([len(batch) async for batch in parse_chunks(chunks(), options)])

    t0 = time.perf_counter()
    count = asyncio.run(run())
    dt = time.perf_counter() - t0
    print(f"{'csv via parse_chunks':<22}{len(data) / 1e6:>8.1f}{count / dt:>14,.0f}{dt / count * 1e6:>12.2f}")


# --- peak RSS (child process per size) -----------------------------------------------------------------


def peak_rss_kb() -> int:
    """Peak RSS of this process in KiB: VmHWM (per address space, so not inherited across fork+exec as
    ``ru_maxrss`` can be), falling back to ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def rss_child(size: int) -> None:
    from fluentsync.connectors.parsers import ParsedRecord, parse_chunks

    block = csv_block(10_000)  # ~880 KB of complete lines
    rows_per_block = 10_000
    baseline_kb = peak_rss_kb()

    async def source() -> AsyncIterator[bytes]:
        sent = 0
        yield HEADER
        while sent < size:
            for i in range(0, len(block), 1 << 20):
                yield block[i : i + (1 << 20)]
            sent += len(block)

    async def run() -> tuple[int, int]:
        good = bad = 0
        async for batch in parse_chunks(source(), {"type": "csv"}):
            for item in batch:
                if type(item) is ParsedRecord:
                    good += 1
                else:
                    bad += 1
        return good, bad

    t0 = time.perf_counter()
    good, bad = asyncio.run(run())
    seconds = time.perf_counter() - t0
    blocks = -(-size // len(block))
    assert good == blocks * rows_per_block and bad == 0, (good, bad)
    peak_kb = peak_rss_kb()
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "bytes": blocks * len(block),
                "records": good,
                "seconds": seconds,
                "peak_kb": peak_kb,
                "baseline_kb": baseline_kb,
                "maxrss_kb": maxrss_kb,
            }
        )
    )


def rss(sizes: list[int]) -> None:
    results = []
    for size in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--rss-child", str(size)], check=True, capture_output=True, text=True
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("\nPeak RSS, CSV through parse_chunks (generated async 1 MiB chunks, separate process per size)")
    print(f"{'':<26}" + "".join(f"{r['bytes'] / 1e6:>14,.0f} MB" for r in results))
    print(f"{'records':<26}" + "".join(f"{r['records']:>17,}" for r in results))
    print(f"{'seconds':<26}" + "".join(f"{r['seconds']:>17.1f}" for r in results))
    print(f"{'records/s':<26}" + "".join(f"{r['records'] / r['seconds']:>17,.0f}" for r in results))
    print(f"{'RSS after imports (MB)':<26}" + "".join(f"{r['baseline_kb'] / 1024:>17.1f}" for r in results))
    print(f"{'peak RSS, VmHWM (MB)':<26}" + "".join(f"{r['peak_kb'] / 1024:>17.1f}" for r in results))
    print(f"{'ru_maxrss (MB)':<26}" + "".join(f"{r['maxrss_kb'] / 1024:>17.1f}" for r in results))
    ratio = results[-1]["peak_kb"] / results[0]["peak_kb"]
    print(f"peak RSS ratio (largest / smallest): {ratio:.3f}  (goal: within 1.20, each under ~150 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50k records; 20 MB and 200 MB for RSS")
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--skip-rss", action="store_true", help="throughput only")
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
        return
    if not args.skip_rss:  # first, while this process is small (ru_maxrss of a child can inherit ours)
        rss([20_000_000, 200_000_000] if args.quick else [200_000_000, 2_000_000_000])
    throughput(50_000 if args.quick else 200_000)


if __name__ == "__main__":
    main()
