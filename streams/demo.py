"""``fluentsync demo``: the product on embedded defaults, bounded, so a first-time user sees it work.

What it runs grows with the product. Today: it starts the embedded broker, writes sample partner files
into a local inbox (an inventory CSV with a few malformed rows, a products JSON Lines file), writes a
pipeline file for them, starts a real ``fluentsync worker`` on it, and follows the topics until both
files are published: records on ``records.<wf>``, dead letters with their line numbers on ``dlq.<wf>``,
``COMPLETED`` on ``files.<wf>``. It prints one line per step and a summary, then stops everything.
Any failure exits non-zero.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fluentsync.schemas.records import batch_records
from fluentsync.streams.config import parse_pipeline
from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.tail import TopicTail
from fluentsync.streams.worker import prepare

__all__ = ["DemoResult", "run_demo"]

PARTITIONS = 3
INVENTORY_ROWS = 10_000
MALFORMED_ROWS = (17, 4_242, 9_001)
PRODUCT_ROWS = 500


@dataclass
class FileSummary:
    workflow: str
    path: str
    records: int = 0
    published: int = 0
    dead_letters: list[str] = field(default_factory=list)


@dataclass
class DemoResult:
    bootstrap: str
    workdir: Path
    files: list[FileSummary]
    seconds: float

    @property
    def published(self) -> int:
        return sum(f.published for f in self.files)

    @property
    def dead_lettered(self) -> int:
        return sum(len(f.dead_letters) for f in self.files)


def write_sample_files(inbox: Path, seed: int = 7) -> dict[str, Path]:
    """An inventory CSV (with malformed rows) and a products JSON Lines file, deterministic."""
    rng = random.Random(seed)
    inventory = inbox / "inventory" / "incoming" / "inventory-snapshot.csv"
    products = inbox / "products" / "incoming" / "products.jsonl"
    inventory.parent.mkdir(parents=True, exist_ok=True)
    products.parent.mkdir(parents=True, exist_ok=True)
    with inventory.open("w", encoding="utf-8") as out:
        out.write("skuRef,locationRef,qty,status,expectedOn\n")
        for i in range(INVENTORY_ROWS):
            sku, loc, qty = f"SKU-{i // 4:05d}", f"LOC-{i % 4:02d}", rng.randint(0, 250)
            if i in MALFORMED_ROWS:
                out.write(f"{sku},{loc},{qty},ACTIVE,,damaged\n")  # one cell too many: a malformed row
                continue
            out.write(f"{sku},{loc},{qty},ACTIVE,\n")
    with products.open("w", encoding="utf-8") as out:
        for i in range(PRODUCT_ROWS):
            out.write(f'{{"ref": "P-{i:04d}", "name": "Product {i}", "price": {rng.randint(100, 9999) / 100}}}\n')
    return {"inventory": inventory, "products": products}


def pipeline(bootstrap: str, inbox: Path) -> dict[str, Any]:
    def source(folder: str, pattern: str) -> dict[str, Any]:
        return {"type": "local", "root": str(inbox), "prefix": f"{folder}/incoming/", "patterns": [pattern],
                "poll_interval": 0.5, "stable_listings": 1}

    return {
        "kafka": {"bootstrap": bootstrap, "partitions": PARTITIONS, "app_id": "fluentsync-demo"},
        "workflows": {
            "inventory": {"source": source("inventory", "*.csv"), "format": {"type": "csv"},
                          "key": ["skuRef", "locationRef"]},
            "products": {"source": source("products", "*.jsonl"), "format": {"type": "jsonl"}, "key": ["ref"]},
        },
    }


async def run_demo(workdir: Path | None = None, say: Callable[[str], None] = print) -> DemoResult:
    started = time.monotonic()
    temporary = tempfile.TemporaryDirectory(prefix="fluentsync-demo-") if workdir is None else None
    root = Path(temporary.name) if temporary else Path(workdir)  # type: ignore[arg-type]
    try:
        async with EmbeddedBroker(log_file=root / "broker.log") as broker:
            say(f"[broker] embedded Kafka-compatible broker on {broker.bootstrap}")
            files = write_sample_files(root / "inbox")
            say(f"[files] {INVENTORY_ROWS:,} inventory rows ({len(MALFORMED_ROWS)} malformed) and "
                f"{PRODUCT_ROWS} products in {root / 'inbox'}")
            document = pipeline(broker.bootstrap, root / "inbox")
            config_path = root / "pipeline.yaml"
            config_path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
            config = parse_pipeline(document, str(config_path))
            await prepare(config, broker.bootstrap)
            say(f"[topics] files/records/dlq/ledger for {', '.join(config.workflows)}, {PARTITIONS} partitions each")
            summaries = await _run_worker(broker.bootstrap, root, config_path, files, say)
    finally:
        if temporary is not None:
            temporary.cleanup()
    result = DemoResult(broker.bootstrap, root, summaries, time.monotonic() - started)
    for summary in summaries:
        if summary.published + len(summary.dead_letters) != summary.records:
            raise RuntimeError(f"{summary.path}: {summary.records} records but {summary.published} published "
                               f"and {len(summary.dead_letters)} dead-lettered")
    return result


async def _run_worker(bootstrap: str, root: Path, config_path: Path, files: dict[str, Path],
                      say: Callable[[str], None]) -> list[FileSummary]:
    log = root / "worker.log"
    with log.open("ab") as out:
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fluentsync", "worker", "--config", str(config_path),
            "--data-dir", str(root / "worker-data"), "-l", "warning",
            stdout=out, stderr=asyncio.subprocess.STDOUT, env={**os.environ},
        )
    say(f"[worker] fluentsync worker started (pid {worker.pid}); its log: {log}")
    try:
        summaries = []
        for workflow, path in files.items():
            summaries.append(await _follow(bootstrap, workflow, path, root / "inbox", worker))
        for summary in summaries:
            say(f"[source] {summary.path}: {summary.records:,} records -> {summary.published:,} published, "
                f"{len(summary.dead_letters)} dead-lettered")
            for reason in summary.dead_letters[:3]:
                say(f"         dead letter: {reason}")
        return summaries
    finally:
        if worker.returncode is None:
            worker.terminate()
        try:
            await asyncio.wait_for(worker.wait(), 30)
        except TimeoutError:
            worker.kill()
            await worker.wait()


async def _follow(
    bootstrap: str, workflow: str, path: Path, inbox: Path, worker: asyncio.subprocess.Process
) -> FileSummary:
    topics = WorkflowTopics.of(workflow)
    relative = path.relative_to(inbox).as_posix()
    summary = FileSummary(workflow, relative)
    async with TopicTail(bootstrap, topics.files) as events, TopicTail(bootstrap, topics.records) as records, \
            TopicTail(bootstrap, topics.dlq) as dlq:
        def completed(items: list[dict[str, Any]]) -> bool:
            if worker.returncode is not None:
                raise RuntimeError(f"the worker exited with code {worker.returncode}; see worker.log")
            return any(e["kind"] in ("COMPLETED", "FAILED") for e in items)

        done = next(e for e in await events.until(completed, timeout=120) if e["kind"] in ("COMPLETED", "FAILED"))
        if done["kind"] == "FAILED":
            raise RuntimeError(f"{relative} failed: {done['reason']}")
        summary.records = done["record_count"]
        expected_bad = done["error_count"]
        await records.until(lambda b: sum(len(x["record_keys"]) for x in b) >= summary.records - expected_bad)
        summary.published = sum(1 for batch in records.items for _ in batch_records(batch))
        await dlq.until(lambda d: len(d) >= expected_bad)
        summary.dead_letters = [f"line {d['provenance']['line']}: {d['reason']}" for d in dlq.items]
    return summary


def main(workdir: Path | None = None) -> DemoResult:
    return asyncio.run(run_demo(workdir))
