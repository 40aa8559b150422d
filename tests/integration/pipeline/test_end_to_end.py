"""The whole pipeline: local inbox -> worker (files, records, ledger agents) -> the Fluent sandbox.

A real worker process, the embedded broker and the sandbox. Checks the accounting promise: every
record ends in exactly one outcome (accepted, rejected with a dead letter, unchanged), the file is
archived only once that is so, a second identical file sends nothing, and one changed row sends exactly
one entity.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fluentsync.streams.cli import main
from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.tail import TopicTail
from fluentsync.streams.kafka.topics import TopicSpec, ensure_topics
from tests.fixtures.pipelines import local_inbox, local_inbox_source, write_inventory_pipeline
from tests.fixtures.processes import background_process
from tests.fixtures.sandbox_admin import Admin

pytestmark = pytest.mark.integration


def inventory_csv(rows: int, *, changed: dict[int, int] | None = None) -> str:
    """Rows 5 and 9 are malformed (an extra cell), 13 has qty 12.5 and 17 has qty abc."""
    lines = ["sku,location,qty,status"]
    for i in range(rows):
        qty: Any = (changed or {}).get(i, i)
        if i in (5, 9):
            lines.append(f"S-{i},L-{i % 3},{qty},ACTIVE,EXTRA")
        elif i == 13:
            lines.append(f"S-{i},L-{i % 3},12.5,ACTIVE")
        elif i == 17:
            lines.append(f"S-{i},L-{i % 3},abc,ACTIVE")
        else:
            lines.append(f"S-{i},L-{i % 3},{qty},ACTIVE")
    return "\n".join(lines) + "\n"


def settled(events: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    return [e for e in events if e["kind"] == "SETTLED" and e["file"]["path"] == path]


async def test_files_reach_fluent_with_one_outcome_per_record(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, sandbox: Any, admin: Admin
) -> None:
    workflow = unique_name("e2e").replace("-", "_")
    inbox = local_inbox(tmp_path)
    config = write_inventory_pipeline(
        tmp_path, bootstrap=kafka_broker.bootstrap, app_id=unique_name("app"), workflow=workflow,
        fluent=sandbox.fluent_config(), source=local_inbox_source(inbox),
        target={"max_batch_size": 40, "job_strategy": "per_file"},
    )
    topics = WorkflowTopics.of(workflow)
    await ensure_topics(kafka_broker.bootstrap, [TopicSpec(name, 3) for name in topics.all()])
    (inbox / "incoming" / "a.csv").write_text(inventory_csv(200))
    # Fluent accepts the batch but later reports an error for one entity (R48).
    await sandbox.add_fault("batch_create", "entity_error", ref="S-77", code="C0160E", message="Bad location")

    async with TopicTail(kafka_broker.bootstrap, topics.files) as files, \
            TopicTail(kafka_broker.bootstrap, topics.dlq) as dlq:
        with background_process([
            sys.executable, "-m", "fluentsync", "worker", "--config", str(config), "--data-dir", str(tmp_path / "data"),
            "--web-port", "0", "-l", "info",
        ], tmp_path / "worker.log"):
            await files.until(lambda e: settled(e, "incoming/a.csv"), timeout=120)
            first = settled(files.items, "incoming/a.csv")[0]
            assert (first["record_count"], first["accepted_count"], first["rejected_count"],
                    first["unchanged_count"]) == (200, 195, 5, 0)
            assert len(first["job_ids"]) == 1  # per_file: one job
            letters = await dlq.until(lambda d: len(d) >= 5)
            stages = sorted((d["stage"], d["provenance"]["record_index"]) for d in letters)
            assert stages == [("FLUENT", 77), ("MAP", 13), ("MAP", 17), ("PARSE", 5), ("PARSE", 9)]
            fluent_letter = next(d for d in letters if d["stage"] == "FLUENT")
            assert "C0160E" in fluent_letter["reason"] and fluent_letter["record_key"] == '["S-77","L-2"]'
            await sandbox.clear_faults()
            qty_letter = next(d for d in letters if d["provenance"]["record_index"] == 13)
            assert qty_letter["errors"][0]["field"] == "qty" and "12.5" in qty_letter["reason"]
            assert json.loads(qty_letter["record"])["qty"] == "12.5"

            batches = await admin.batches()
            assert sum(len(b["entities"]) for b in batches) == 196  # S-77 was sent, then reported bad
            assert first["batch_count"] == len(batches) and all(len(b["entities"]) <= 40 for b in batches)
            assert position(sandbox, 42)["onHand"] == 42

            # Rejected records exist, so the file goes to errors/ with a report.
            await files.until(lambda e: any(x["kind"] == "ARCHIVED" for x in e), timeout=30)
            archived = next(e for e in files.items if e["kind"] == "ARCHIVED")
            assert archived["archived_to"].startswith("errors/")
            report = json.loads((inbox / (archived["archived_to"] + ".error.log")).read_text())
            assert report["accepted"] == 195 and report["rejected"] == 5

            # The same content again under another name: every accepted record is unchanged; the one Fluent
            # rejected kept its old baseline, so it alone is sent again (and is accepted this time).
            (inbox / "incoming" / "b.csv").write_text(inventory_csv(200))
            await files.until(lambda e: settled(e, "incoming/b.csv"), timeout=60)
            again = settled(files.items, "incoming/b.csv")[0]
            assert (again["accepted_count"], again["rejected_count"], again["unchanged_count"]) == (1, 4, 195)
            retried = (await admin.batches())[len(batches):]
            assert [[e["skuRef"] for e in b["entities"]] for b in retried] == [["S-77"]]
            batches = await admin.batches()

            # One changed quantity: exactly one entity goes to Fluent.
            (inbox / "incoming" / "c.csv").write_text(inventory_csv(200, changed={42: 4242}))
            await files.until(lambda e: settled(e, "incoming/c.csv"), timeout=60)
            delta = settled(files.items, "incoming/c.csv")[0]
            assert (delta["accepted_count"], delta["rejected_count"], delta["unchanged_count"]) == (1, 4, 195)
            new = (await admin.batches())[len(batches):]
            assert [len(b["entities"]) for b in new] == [1]
            assert position(sandbox, 42)["onHand"] == 4242

    # One run report per settled file, on the reports topic and through the CLI.
    cli = ["reports", "-c", str(config), "-b", kafka_broker.bootstrap]
    result = await asyncio.to_thread(CliRunner().invoke, main, [*cli, "--json"])  # the CLI runs its own loop
    assert result.exit_code == 0, result.output
    found = [json.loads(line) for line in result.output.splitlines()]
    by_file = {r["file"]["path"]: r for r in found}
    assert set(by_file) == {"incoming/a.csv", "incoming/b.csv", "incoming/c.csv"}
    assert (by_file["incoming/a.csv"]["accepted"], by_file["incoming/a.csv"]["rejected"]) == (195, 5)
    assert by_file["incoming/c.csv"]["unchanged"] == 195 and by_file["incoming/a.csv"]["job_ids"]
    assert "FLUENT: C0160E" in " ".join(by_file["incoming/a.csv"]["first_errors"])
    table = await asyncio.to_thread(CliRunner().invoke, main, cli)
    assert table.exit_code == 0 and "3 run report(s)" in table.output


def position(sandbox: Any, i: int) -> dict[str, Any]:
    retailer = str(sandbox.retailer_id)
    found = sandbox.state.store.position_for(f"DEFAULT:{retailer}", f"L-{i % 3}", f"S-{i}", retailer)
    assert found is not None, f"no inventory position for S-{i}"
    return dict(found)
