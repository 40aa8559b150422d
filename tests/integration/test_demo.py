"""``fluentsync demo`` runs end to end on embedded defaults and accounts for every record."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fluentsync.streams.demo import INVENTORY_ROWS, MALFORMED_ROWS, PRODUCT_ROWS, run_demo

pytestmark = pytest.mark.integration


async def test_demo_accounts_for_every_record(tmp_path: Path) -> None:
    lines: list[str] = []
    result = await run_demo(tmp_path, say=lines.append)
    by_workflow = {summary.workflow: summary for summary in result.files}
    inventory, products = by_workflow["inventory"], by_workflow["products"]
    assert inventory.records == INVENTORY_ROWS
    assert inventory.published == INVENTORY_ROWS - len(MALFORMED_ROWS)
    assert sorted(int(reason.split()[1].rstrip(":")) for reason in inventory.dead_letters) == [
        row + 2 for row in MALFORMED_ROWS]  # header on line 1, row i on line i + 2
    assert products.records == products.published == PRODUCT_ROWS
    assert (tmp_path / "pipeline.yaml").exists() and (tmp_path / "worker.log").exists()
    assert any(line.startswith("[source] inventory/incoming/inventory-snapshot.csv") for line in lines)


def test_demo_cli_on_embedded_defaults() -> None:
    done = subprocess.run([sys.executable, "-m", "fluentsync", "demo"], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[broker] embedded Kafka-compatible broker" in done.stdout
    assert "10,497 records published, 3 dead-lettered, none lost" in done.stdout
