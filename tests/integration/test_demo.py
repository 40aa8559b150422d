"""``fluentsync demo`` runs end to end on embedded defaults and accounts for every record."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from fluentsync.streams.demo import BAD_QTY_ROWS, INVENTORY_ROWS, MALFORMED_ROWS, PRODUCT_ROWS, run_demo

pytestmark = pytest.mark.integration


async def test_demo_accounts_for_every_record(tmp_path: Path) -> None:
    out = io.StringIO()
    rows = 10_000  # the CLI test below runs the full-size demo
    result = await run_demo(tmp_path, console=Console(file=out, width=140), rows=rows)
    by_workflow = {summary.workflow: summary for summary in result.files}
    inventory, products = by_workflow["inventory"], by_workflow["products"]
    bad = sum(1 for i in (*MALFORMED_ROWS, *BAD_QTY_ROWS) if i < rows)
    assert bad == 3
    assert (inventory.records, inventory.accepted, inventory.rejected, inventory.unchanged) == (
        rows, rows - bad, bad, 0)
    assert (products.records, products.accepted, products.rejected) == (PRODUCT_ROWS, PRODUCT_ROWS, 0)
    assert result.dead_letters == bad
    assert inventory.archived_to is not None and inventory.archived_to.startswith("inventory/errors/")
    assert products.archived_to is not None and products.archived_to.startswith("products/processed/")
    assert (tmp_path / "inbox" / inventory.archived_to).exists()
    assert inventory.batches >= rows // 2000 and len(inventory.jobs) == 1
    text = out.getvalue()
    assert "every record has exactly one outcome" in text and "line 5002: MAP: qty" in text
    assert "line 19: expected 4 cells" in text


def test_demo_cli_on_embedded_defaults() -> None:
    done = subprocess.run([sys.executable, "-m", "fluentsync", "demo"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[broker] embedded Kafka-compatible broker" in done.stdout
    accepted = INVENTORY_ROWS - len(MALFORMED_ROWS) - len(BAD_QTY_ROWS) + PRODUCT_ROWS
    assert f"{accepted:,} records accepted by Fluent" in done.stdout
    assert "5 rejected to the dead-letter topics, none lost" in done.stdout
