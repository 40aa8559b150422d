"""``fluentsync demo``: the whole product on embedded defaults, bounded, so a first-time user sees it work.

It starts the embedded broker and the Fluent sandbox on loopback, writes sample partner files into a
local inbox (an inventory CSV of 100,000 rows with a few bad ones, a products JSON array), writes a
pipeline file with a mapping for each, and starts a real ``fluentsync worker`` on it. The inventory goes
to the Batch API (jobs, batches, status polling), the products to the Event API (``UPSERT_PRODUCTS``
events carrying many products each). The demo follows the topics with progress bars until both files are
settled and archived, prints a summary table (records by outcome, Fluent batches and jobs, throughput,
where the dead letters and archived files are), checks that every record has exactly one outcome, and
stops everything. Any failure exits non-zero.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from fluentsync.connectors.sandbox import SandboxConfig, SandboxServer
from fluentsync.streams.config import parse_pipeline
from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.tail import TopicTail
from fluentsync.streams.worker import prepare

__all__ = ["DemoResult", "FileSummary", "run_demo"]

PARTITIONS = 3
INVENTORY_ROWS = 100_000
MALFORMED_ROWS = (17, 4_242, 90_001)  #: one cell too many: the parser dead-letters them
BAD_QTY_ROWS = {5_000: "12.5", 60_000: "abc"}  #: not whole numbers: the mapping dead-letters them
PRODUCT_ROWS = 500

INVENTORY_MAPPING = {
    "fields": {
        "skuRef": {"source": "sku", "required": True},
        "locationRef": {"source": "store", "required": True},
        "qty": {"source": "on_hand", "resolver": "fluentsync.integer", "required": True},
        "type": {"value": "LAST_ON_HAND"},
        "status": {"source": "status", "defaultValue": "ACTIVE"},
    }
}
PRODUCT_MAPPING = {
    "fields": {
        "ref": {"source": "id", "required": True},
        "name": {"source": "title", "required": True},
        "catalogue": {"value": "2"},
        "type": {"value": "STANDARD"},
        "status": {"value": "ACTIVE"},
        "prices": {"source": "prices", "isArray": True, "fields": {
            "type": {"value": "DEFAULT"}, "currency": {"source": "currency"}, "value": {"source": "amount"}}},
    }
}


@dataclass
class FileSummary:
    workflow: str
    path: str
    records: int = 0
    accepted: int = 0
    rejected: int = 0
    unchanged: int = 0
    batches: int = 0
    jobs: list[str] = field(default_factory=list)
    seconds: float = 0.0
    processing: float = 0.0  #: seconds from the first record batch picked up to the last outcome
    archived_to: str | None = None
    first_errors: list[str] = field(default_factory=list)

    @property
    def accounted(self) -> int:
        return self.accepted + self.rejected + self.unchanged


@dataclass
class DemoResult:
    bootstrap: str
    workdir: Path
    files: list[FileSummary]
    seconds: float
    dead_letters: int = 0

    @property
    def accepted(self) -> int:
        return sum(f.accepted for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)


def write_sample_files(inbox: Path, seed: int = 7, rows: int = INVENTORY_ROWS) -> dict[str, Path]:
    """An inventory CSV (with bad rows) and a products JSON array, deterministic."""
    rng = random.Random(seed)
    inventory = inbox / "inventory" / "incoming" / "inventory-snapshot.csv"
    products = inbox / "products" / "incoming" / "products.json"
    inventory.parent.mkdir(parents=True, exist_ok=True)
    products.parent.mkdir(parents=True, exist_ok=True)
    with inventory.open("w", encoding="utf-8") as out:
        out.write("sku,store,on_hand,status\n")
        for i in range(rows):
            sku, store, qty = f"SKU-{i // 4:05d}", f"LOC-{i % 4:02d}", str(rng.randint(0, 250))
            if i in MALFORMED_ROWS:
                out.write(f"{sku},{store},{qty},ACTIVE,damaged\n")
                continue
            out.write(f"{sku},{store},{BAD_QTY_ROWS.get(i, qty)},ACTIVE\n")
    items = [{"id": f"P-{i:04d}", "title": f"Product {i}",
              "prices": [{"currency": "AUD", "amount": rng.randint(100, 9999) / 100}]} for i in range(PRODUCT_ROWS)]
    products.write_text(json.dumps(items, indent=1), encoding="utf-8")
    return {"inventory": inventory, "products": products}


def pipeline(bootstrap: str, inbox: Path, sandbox: SandboxServer) -> dict[str, Any]:
    def source(folder: str, pattern: str) -> dict[str, Any]:
        return {"type": "local", "root": str(inbox), "prefix": f"{folder}/incoming/", "patterns": [pattern],
                "poll_interval": 0.5, "stable_listings": 1}

    config = sandbox.config
    return {
        "kafka": {"bootstrap": bootstrap, "partitions": PARTITIONS, "app_id": "fluentsync-demo"},
        "fluent": {"base_url": sandbox.base_url, "client_id": config.client_id, "client_secret": config.client_secret,
                   "username": config.username, "password": config.password, "retailer_id": str(config.retailer_id)},
        "workflows": {
            "inventory": {
                "source": source("inventory", "*.csv"), "format": {"type": "csv"}, "key": ["sku", "store"],
                "mapping": "mappings/inventory.json",
                "target": {"api": "batch", "job_strategy": "per_file", "max_batch_size": 2000, "linger": 0.5,
                           "status": {"intervals": [0.5, 1.0, 2.0], "min_interval": 0.2}},
            },
            "products": {
                "source": source("products", "*.json"), "format": {"type": "json"}, "key": ["id"],
                "mapping": "mappings/products.json",
                "target": {"api": "event", "event": {
                    "name": "UPSERT_PRODUCTS", "entity_type": "PRODUCT_CATALOGUE", "entity_subtype": "MASTER",
                    "entity_ref": "PC:MASTER:{catalogue}", "root_entity_type": "PRODUCT_CATALOGUE",
                    "root_entity_ref": "PC:MASTER:{catalogue}", "batch_field": "products", "max_batch_size": 100,
                    "linger": 0.5}},
            },
        },
    }


async def run_demo(workdir: Path | None = None, console: Console | None = None,
                   rows: int = INVENTORY_ROWS) -> DemoResult:
    """Run the demo; ``rows`` shrinks the inventory file (tests). Raises when a record lacks its outcome."""
    if console is None:
        console = Console()
        if not console.is_terminal:  # logs and CI: wide enough for the summary table
            console = Console(width=120)
    started = time.monotonic()
    temporary = tempfile.TemporaryDirectory(prefix="fluentsync-demo-") if workdir is None else None
    root = Path(temporary.name) if temporary else Path(workdir)  # type: ignore[arg-type]
    root.mkdir(parents=True, exist_ok=True)
    try:
        async with EmbeddedBroker(log_file=root / "broker.log") as broker, \
                SandboxServer(SandboxConfig(port=0)) as sandbox:
            console.print(f"[bold]\\[broker][/] embedded Kafka-compatible broker on {broker.bootstrap}")
            console.print(f"[bold]\\[fluent][/] Fluent sandbox on {sandbox.base_url}")
            files = write_sample_files(root / "inbox", rows=rows)
            bad = sum(1 for i in (*MALFORMED_ROWS, *BAD_QTY_ROWS) if i < rows)
            console.print(f"[bold]\\[files][/] {rows:,} inventory rows ({bad} bad) and {PRODUCT_ROWS} products in "
                          f"{root / 'inbox'}")
            (root / "mappings").mkdir(exist_ok=True)
            (root / "mappings" / "inventory.json").write_text(json.dumps(INVENTORY_MAPPING, indent=2))
            (root / "mappings" / "products.json").write_text(json.dumps(PRODUCT_MAPPING, indent=2))
            document = pipeline(broker.bootstrap, root / "inbox", sandbox)
            config_path = root / "pipeline.yaml"
            config_path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
            config = parse_pipeline(document, str(config_path), root)
            await prepare(config, broker.bootstrap)
            console.print(f"[bold]\\[topics][/] files/records/dlq/ledger for {', '.join(config.workflows)}, "
                          f"{PARTITIONS} partitions each")
            summaries, letters = await _run_worker(broker.bootstrap, root, config_path, files, console)
            inventory = sandbox.state.store.inventory_positions
    finally:
        if temporary is not None:
            temporary.cleanup()
    result = DemoResult(broker.bootstrap, root, summaries, time.monotonic() - started, letters)
    for summary in summaries:
        if summary.accounted != summary.records:
            raise RuntimeError(f"{summary.path}: {summary.records} records but {summary.accounted} outcomes")
    _print_summary(console, result, len(inventory), temporary is None)
    return result


async def _run_worker(bootstrap: str, root: Path, config_path: Path, files: dict[str, Path],
                      console: Console) -> tuple[list[FileSummary], int]:
    log = root / "worker.log"
    with log.open("ab") as out:
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fluentsync", "worker", "--web-port", "0", "--config", str(config_path),
            "--data-dir", str(root / "worker-data"), "-l", "warning",
            stdout=out, stderr=asyncio.subprocess.STDOUT, env={**os.environ},
        )
    console.print(f"[bold]\\[worker][/] fluentsync worker started (pid {worker.pid}); its log: {log}")
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=False) as progress:
            follows = [_follow(bootstrap, workflow, path, root / "inbox", worker, progress)
                       for workflow, path in files.items()]
            summaries = list(await asyncio.gather(*follows))
        letters = 0
        for workflow in files:
            async with TopicTail(bootstrap, WorkflowTopics.of(workflow).dlq) as dlq:
                expected = sum(s.rejected for s in summaries if s.workflow == workflow)

                def arrived(items: list[dict[str, Any]], n: int = expected) -> bool:
                    return len(items) >= n

                letters += len(await dlq.until(arrived, timeout=30))
        return summaries, letters
    finally:
        if worker.returncode is None:
            worker.terminate()
        try:
            await asyncio.wait_for(worker.wait(), 30)
        except TimeoutError:
            worker.kill()
            await worker.wait()


async def _follow(bootstrap: str, workflow: str, path: Path, inbox: Path, worker: asyncio.subprocess.Process,
                  progress: Progress) -> FileSummary:
    """Follow one file: records published (from COMPLETED), outcomes (from the ledger), SETTLED, ARCHIVED."""
    topics = WorkflowTopics.of(workflow)
    relative = path.relative_to(inbox).as_posix()
    summary = FileSummary(workflow, relative)
    task: TaskID = progress.add_task(f"{workflow:<10} {path.name}", total=None)
    async with TopicTail(bootstrap, topics.files) as events, TopicTail(bootstrap, topics.ledger) as ledger:
        outcomes = 0
        started = time.monotonic()

        def update(items: list[dict[str, Any]]) -> None:
            nonlocal outcomes
            if worker.returncode is not None:
                raise RuntimeError(f"the worker exited with code {worker.returncode}; see worker.log")
            for event in items:
                if event["kind"] == "COMPLETED" and summary.records == 0:
                    summary.records = event["record_count"]
                    outcomes += event["error_count"] or 0
                    progress.update(task, total=summary.records)
                elif event["kind"] == "FAILED":
                    raise RuntimeError(f"{relative} failed: {event['reason']}")

        def settled(items: list[dict[str, Any]]) -> bool:
            update(items)
            progress.update(task, completed=outcomes + sum(o["accepted"] + o["rejected"] + o["unchanged"]
                                                           for o in ledger.items))
            return any(e["kind"] == "ARCHIVED" for e in items)

        async def poll_ledger() -> None:
            while True:
                await asyncio.sleep(0.2)
                settled(events.items)

        async def read_ledger() -> None:
            while True:
                await ledger.poll()

        poller = asyncio.create_task(read_ledger())
        ticker = asyncio.create_task(poll_ledger())
        try:
            items = await events.until(settled, timeout=600)
        finally:
            for t in (poller, ticker):
                t.cancel()
            await asyncio.gather(poller, ticker, return_exceptions=True)
        done = next(e for e in items if e["kind"] == "SETTLED")
        archived = next(e for e in items if e["kind"] == "ARCHIVED")
        summary.seconds = time.monotonic() - started
        summary.processing = (done["processing_ms"] or 0) / 1000
        summary.records = done["record_count"]
        summary.accepted, summary.rejected = done["accepted_count"], done["rejected_count"]
        summary.unchanged = done["unchanged_count"]
        summary.batches, summary.jobs = done["batch_count"] or 0, list(done["job_ids"])
        summary.archived_to, summary.first_errors = archived["archived_to"], list(done["first_errors"])
        progress.update(task, completed=summary.records, total=summary.records)
    return summary


def _print_summary(console: Console, result: DemoResult, positions: int, kept: bool) -> None:
    table = Table(title="fluentsync demo: every record has exactly one outcome")
    table.caption = "records/s: from the first record batch picked up to the last outcome"
    for column in ("workflow", "file", "records", "accepted", "rejected", "unchanged", "sent to Fluent",
                   "records/s"):
        table.add_column(column, justify="left" if column in ("workflow", "file", "sent to Fluent") else "right")
    for f in result.files:
        target = (f"{f.batches} batches in job {', '.join(f.jobs)}" if f.jobs else f"{f.batches} events")
        rate = f.records / f.processing if f.processing else 0.0
        table.add_row(f.workflow, Path(f.path).name, f"{f.records:,}", f"{f.accepted:,}", f"{f.rejected:,}",
                      f"{f.unchanged:,}", target, f"{rate:,.0f}")
    console.print(table)
    for f in result.files:
        if f.first_errors:
            console.print(f"[bold]{f.workflow}[/] first errors:")
            for error in f.first_errors[:5]:
                console.print(f"  - {error}")
        where = f"{result.workdir / 'inbox' / f.archived_to}" if kept and f.archived_to else f.archived_to
        console.print(f"[bold]{f.workflow}[/] file archived to {where}")
    console.print(f"dead letters: {result.dead_letters} on topics dlq.inventory / dlq.products; "
                  f"the sandbox now holds {positions:,} inventory positions")


def main(workdir: Path | None = None) -> DemoResult:
    return asyncio.run(run_demo(workdir))
