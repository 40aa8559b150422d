"""Per-record CPU of the records path's pure stages: mapping, validation, hashing, RecordBatch decoding.

    python bench/bench_mapping.py            # 200k rows
    python bench/bench_mapping.py --quick    # 20k rows

Three mappings: a plain-copy mapping (5 fields, no resolvers: the per-field floor), the sample inventory
mapping of tests/unit/mapping (9 fields, 4 resolvers incl. a date parse) and the mapping of
``bench/bench_pipeline.py`` (5 fields, ``fluentsync.integer``). Then, on that mapping's output, the other
stages of the records agent: INVENTORY validation (fast path, and pydantic alone for comparison), the
dedupe hash, and decoding a 500-record ``RecordBatch`` into records. Compilation is done once and not
timed. Figures are CPU time (``process_time``), the best of ``--repeat`` runs: the machine is shared,
and the best run is the one least disturbed by others.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fluentsync.schemas.codec import default_codec
from fluentsync.schemas.records import batch_records
from fluentsync.streams.dedupe import RecordHasher
from fluentsync.streams.mapping import Mapper
from fluentsync.streams.mapping.strict import FLUENTSYNC_RESOLVERS
from fluentsync.streams.validation import EntityValidator

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
PIPELINE = {  # bench/bench_pipeline.py's mapping
    "fields": {
        "skuRef": {"source": "sku", "required": True},
        "locationRef": {"source": "location", "required": True},
        "qty": {"source": "qty", "resolver": "fluentsync.integer", "required": True},
        "type": {"value": "LAST_ON_HAND"},
        "status": {"source": "status", "defaultValue": "ACTIVE"},
    }
}
BATCH = 500  #: records per RecordBatch (the publisher's default)


def rows(n: int) -> list[dict[str, Any]]:
    return [{"sku": f"SKU-{i:08d}", "location": f"loc-{i % 500:04d}", "qty": str(i % 97), "reserved": "",
             "status": "AVAILABLE", "updated_at": "2024-06-01T10:00:00Z", "stock_type": "", "batch": f"B{i % 9}"}
            for i in range(n)]


def measure(name: str, per_call: int, calls: int, repeat: int, run: Callable[[], Any]) -> None:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for _ in range(calls):
            run()
        best = min(best, time.process_time() - started)
    per_record = best / (per_call * calls) * 1e6
    print(f"  {name:34s} {1e6 / per_record:>12,.0f} records/s  {per_record:6.2f} µs/record", flush=True)


def mapping(name: str, config: dict[str, Any], data: list[dict[str, Any]], repeat: int) -> list[Any]:
    mapper = Mapper.compile(config, resolvers=FLUENTSYNC_RESOLVERS, fail_on_field_error=True)
    fields = len(config["fields"])
    measure(f"map: {name} ({fields} fields)", len(data), 1, repeat, lambda: [mapper.map(row) for row in data])
    return [mapper.map(row).data for row in data]


def record_batch(n: int) -> bytes:
    """A RecordBatch of ``n`` CSV rows as the publisher encodes it."""
    columns = ["sku", "location", "qty", "status"]
    table = [[f"S-{i:08d}", f"L-{i % 250:04d}", str(i % 97), "ACTIVE"] for i in range(n)]
    now = datetime.now(UTC)
    batch = {"workflow": "wf", "source_uri": "file:///in/a.csv",
             "file": {"source": "local", "location": "/in", "path": "a.csv", "version": "v1"},
             "file_id": "local|/in|a.csv|v1", "etag": None, "version_id": None, "last_modified": now, "run_id": "r",
             "item_path": None, "batch_id": "f#0", "chunk_id": "chunk-00000", "chunk_size": 100_000,
             "record_keys": [f'["{r[0]}","{r[1]}"]' for r in table], "record_indexes": list(range(n)),
             "lines": list(range(2, n + 2)), "byte_offsets": list(range(0, 30 * n, 30)),
             "row_numbers": list(range(1, n + 1)), "columns": columns, "rows": table, "documents": [],
             "published_at": now}
    return default_codec().encode("fluentsync.records.RecordBatch", batch, topic="records.wf")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n, repeat = (20_000 if args.quick else 200_000), args.repeat
    data = rows(n)
    print(f"{n:,} records, best of {repeat} runs, CPU time")
    mapping("copy", COPY, data, repeat)
    mapping("inventory", INVENTORY, data, repeat)
    payloads = mapping("pipeline", PIPELINE, data, repeat)

    validator = EntityValidator("INVENTORY")
    measure("validate INVENTORY", n, 1, repeat, lambda: [validator.validate(p) for p in payloads])
    pydantic_only = EntityValidator("INVENTORY")
    pydantic_only.fast = None
    measure("validate INVENTORY (pydantic only)", n, 1, repeat, lambda: [pydantic_only.validate(p) for p in payloads])
    hasher = RecordHasher()
    measure("dedupe hash (sha256)", n, 1, repeat, lambda: [hasher(p) for p in payloads])

    codec = default_codec()
    encoded = record_batch(BATCH)
    schema = codec.repository.get("fluentsync.records.RecordBatch")
    calls = max(1, n // BATCH)
    measure(f"decode RecordBatch ({BATCH} records)", BATCH, calls, repeat, lambda: codec.decode(encoded, reader=schema))
    decoded = codec.decode(encoded, reader=schema)
    measure("RecordBatch -> records", BATCH, calls, repeat, lambda: list(batch_records(decoded)))


if __name__ == "__main__":
    main()
