"""The recovery procedures of docs/recovery.md, run as an operator would: CLI commands against a real
worker process, the embedded broker and the Fluent sandbox.

1. Replay: moving the group is refused while the worker runs (and the worker works on); a dry run counts
   batches and records and changes nothing; a replay of unchanged data sends nothing; ``--force`` from a
   time (the second file's arrival) re-sends exactly that file's records with the worker running; no
   file settles twice.
2. Dead letters: list and show; a redrive that fails again comes back with its history; a redrive after
   Fluent recovered and one after a mapping fix land the records; PARSE letters are refused; the file's
   ledger (outcomes, SETTLED, report) is not touched by redrives.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from click.testing import CliRunner, Result

from fluentsync.streams.cli import main
from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.offsets import exact_end_offsets
from fluentsync.streams.kafka.tail import TopicTail
from fluentsync.streams.operations.group import committed_offsets
from tests.fixtures.kafka import wait_committed
from tests.fixtures.pipelines import INVENTORY_MAPPING
from tests.fixtures.sandbox_admin import Admin
from tests.integration.pipeline.test_end_to_end import inventory_csv, settled
from tests.integration.pipeline.test_recovery import Pipeline, batches_light, drain, entity_counts, one_settled

pytestmark = pytest.mark.integration

ROWS = 200
VALID = ROWS - 4  #: inventory_csv: 2 malformed rows (PARSE) and 2 bad quantities (MAP)


async def cli(*args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, main, list(args))  # the CLI runs its own event loop


async def wait_entities(admin: Admin, total: int, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (sent := entity_counts(await batches_light(admin))) < total:
        assert asyncio.get_running_loop().time() < deadline, f"{sent} of {total} entities reached Fluent"
        await asyncio.sleep(0.2)


async def wait_position(sandbox: Any, i: int, on_hand: int, timeout: float = 60) -> None:
    retailer = str(sandbox.retailer_id)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = sandbox.state.store.position_for(f"DEFAULT:{retailer}", f"L-{i % 3}", f"S-{i}", retailer)
        if found is not None and dict(found)["onHand"] == on_hand:
            return
        assert asyncio.get_running_loop().time() < deadline, f"S-{i}: {found and dict(found)} after {timeout}s"
        await asyncio.sleep(0.2)


async def wait_settled(pipe: Pipeline) -> None:
    """Every record batch on the records topic acked and committed: a worker stopped now redelivers nothing."""
    ends = await exact_end_offsets(pipe.bootstrap, [TopicPartition(pipe.topics.records, p) for p in range(3)])
    await wait_committed(pipe.bootstrap, pipe.app_id, pipe.topics.records, 3, sum(ends.values()))


async def test_replay_sends_changes_only_and_force_sends_everything(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, sandbox: Any, admin: Admin
) -> None:
    pipe = Pipeline(tmp_path, kafka_broker, sandbox, unique_name, "replay")
    await pipe.create_topics()
    pipe.drop("a.csv", inventory_csv(ROWS))
    connect = ("-c", str(pipe.config), "-b", pipe.bootstrap)

    def firsts(outcomes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The first outcome of each record batch: a rebalance may redeliver a batch (at least once), and
        the ledger counts a batch id once, so tests do too."""
        found: dict[str, dict[str, Any]] = {}
        for outcome in outcomes:
            found.setdefault(outcome["batch_id"], outcome)
        return found

    def totals(outcomes: list[dict[str, Any]]) -> list[int]:
        once = firsts(outcomes).values()
        return [sum(o[k] for o in once) for k in ("accepted", "rejected", "unchanged")]

    async with TopicTail(pipe.bootstrap, pipe.topics.files) as files, \
            TopicTail(pipe.bootstrap, pipe.topics.ledger) as ledger:
        with pipe.worker() as proc:
            await one_settled(files, "incoming/a.csv", timeout=60)
            await wait_entities(admin, VALID)
            # Moving the group under a running worker is refused, and the worker works on.
            refused = await cli("replay", pipe.workflow, *connect, "--from", "earliest")
            assert refused.exit_code == 1 and "live member" in refused.output, refused.output
            second_file_at = datetime.now(UTC)
            pipe.drop("b.csv", inventory_csv(ROWS))  # the same content again: all unchanged
            b = await one_settled(files, "incoming/b.csv", timeout=60)
            assert (b["accepted_count"], b["rejected_count"], b["unchanged_count"]) == (0, 4, VALID)
            assert proc.poll() is None
            outcomes = len(await drain(ledger))
        assert totals(ledger.items) == [VALID, 4, VALID] and entity_counts(await batches_light(admin)) == VALID
        batches = set(firsts(ledger.items))
        second = {i for i, o in firsts(ledger.items).items() if o["file"]["path"] == "incoming/b.csv"}

        before = await committed_offsets(pipe.bootstrap, pipe.app_id, pipe.topics.records, 3)
        dry = await cli("replay", pipe.workflow, *connect, "--from", "earliest", "--dry-run", "--json")
        assert dry.exit_code == 0, dry.output
        plan = json.loads(dry.output)
        assert (plan["mode"], plan["messages"], plan["records"], plan["forced"]) == (
            "offsets", len(batches), 2 * (ROWS - 2), 0)
        assert await committed_offsets(pipe.bootstrap, pipe.app_id, pipe.topics.records, 3) == before
        table = await cli("replay", pipe.workflow, *connect, "--from", "earliest", "--dry-run")
        assert f"({2 * (ROWS - 2)} records) would be processed again" in table.output, table.output

        moved = await cli("replay", pipe.workflow, *connect, "--from", "earliest")
        assert moved.exit_code == 0 and "will be processed again" in moved.output, moved.output
        assert set((await committed_offsets(pipe.bootstrap, pipe.app_id, pipe.topics.records, 3)).values()) == {0}
        with pipe.worker():
            await ledger.until(lambda items: set(firsts(items[outcomes:])) >= batches, timeout=60)
            assert totals(ledger.items[outcomes:]) == [0, 4, 2 * VALID]  # unchanged data: nothing sent
            replayed = len(ledger.items)
            assert entity_counts(await batches_light(admin)) == VALID

            # Fluent lost the data of the second file: --force from the time it arrived re-publishes its
            # batches (found by their timestamps), the worker keeps running and sends every valid record.
            forced = await cli("replay", pipe.workflow, *connect, "--from", second_file_at.isoformat(), "--force",
                               "--json")
            assert forced.exit_code == 0, forced.output
            done = json.loads(forced.output)
            assert (done["mode"], done["republished"], done["republished_records"]) == (
                "republish", len(second), ROWS - 2)
            await wait_entities(admin, 2 * VALID)
            await ledger.until(lambda items: set(firsts(items[replayed:])) >= second, timeout=60)
            await drain(ledger)
            await drain(files)
        assert entity_counts(await batches_light(admin)) == 2 * VALID
        assert totals(ledger.items[replayed:]) == [VALID, 2, 0]
        # Replays never settle a file again: the ledger counts each record batch once.
        assert [len(settled(files.items, f"incoming/{name}")) for name in ("a.csv", "b.csv")] == [1, 1]

        later = json.loads((await cli("replay", pipe.workflow, *connect, "--from", "earliest", "--dry-run",
                                      "--json")).output)
        assert (later["messages"], later["forced"]) == (len(batches) + len(second), len(second))


async def test_dead_letters_are_redriven_after_fixes_with_their_history(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, sandbox: Any, admin: Admin
) -> None:
    pipe = Pipeline(tmp_path, kafka_broker, sandbox, unique_name, "dlq")
    await pipe.create_topics()
    await sandbox.add_fault("batch_create", "entity_error", ref="S-77", code="C0160E", message="Bad location")
    pipe.drop("a.csv", inventory_csv(ROWS))
    connect = ("-c", str(pipe.config), "-b", pipe.bootstrap)

    async with TopicTail(pipe.bootstrap, pipe.topics.files) as files, \
            TopicTail(pipe.bootstrap, pipe.topics.ledger) as ledger, \
            TopicTail(pipe.bootstrap, pipe.topics.reports) as reports, \
            TopicTail(pipe.bootstrap, pipe.topics.dlq) as dlq:
        with pipe.worker():
            event = await one_settled(files, "incoming/a.csv", timeout=60)
            assert (event["accepted_count"], event["rejected_count"]) == (VALID - 1, 5)
            await dlq.until(lambda items: len(items) >= 5, timeout=30)
            outcomes = len(await drain(ledger))
            await sandbox.clear_faults()

            listed = await cli("dlq", "list", pipe.workflow, *connect, "--json")
            letters = [json.loads(line) for line in listed.output.splitlines()]
            assert sorted(x["stage"] for x in letters) == ["FLUENT", "MAP", "MAP", "PARSE", "PARSE"]
            table = await cli("dlq", "list", pipe.workflow, *connect, "--stage", "MAP")
            assert "2 dead letter(s)" in table.output and "a.csv:15" in table.output, table.output
            abc = next(x for x in letters if x["stage"] == "MAP" and "abc" in x["reason"])
            shown = json.loads((await cli("dlq", "show", pipe.workflow, abc["dead_letter_id"][:10], *connect)).output)
            assert shown["record"] == {"sku": "S-17", "location": "L-2", "qty": "abc", "status": "ACTIVE"}

            # The mapping is not fixed yet: the record fails again, and says so.
            again = await cli("dlq", "redrive", pipe.workflow, *connect, "--stage", "MAP", "--reason", "abc")
            assert again.exit_code == 0 and "redrove 1 record(s)" in again.output, again.output
            await dlq.until(lambda items: any(x["attempt"] == 2 for x in items), timeout=30)
            second = next(x for x in dlq.items if x["attempt"] == 2)
            assert second["dead_letter_id"] != abc["dead_letter_id"] and second["stage"] == "MAP"
            assert [(h["stage"], h["reason"]) for h in second["history"]] == [("MAP", abc["reason"])]
            assert second["provenance"]["line"] == abc["provenance"]["line"] == 19

            # Fluent is fine again: the FLUENT letter's record lands.
            fluent = await cli("dlq", "redrive", pipe.workflow, *connect, "--stage", "FLUENT")
            assert "redrove 1 record(s)" in fluent.output, fluent.output
            await wait_position(sandbox, 77, 77)
            await wait_settled(pipe)

        # The mapping fix (JavaScript parseInt: "12.5" -> 12, "abc" -> 0), then a redrive of every MAP letter.
        fixed = {"fields": {**INVENTORY_MAPPING["fields"], "qty": {"source": "qty", "resolver": "sdk.parseInt"}}}
        (tmp_path / "inventory.json").write_text(json.dumps(fixed))
        with pipe.worker():
            parse = await cli("dlq", "redrive", pipe.workflow, *connect, "--stage", "PARSE")
            assert "redrove 0 record(s)" in parse.output and parse.output.count("not redrivable") == 2
            redriven = await cli("dlq", "redrive", pipe.workflow, *connect, "--stage", "MAP", "--json")
            plan = json.loads(redriven.output)
            assert (plan["records"], len(plan["superseded"])) == (2, 1)  # S-17: only its latest attempt
            await wait_position(sandbox, 13, 12)
            await wait_position(sandbox, 17, 0)
            await wait_settled(pipe)
            await drain(dlq)
            await drain(files)
            await drain(ledger)
            await drain(reports)

    assert entity_counts(await batches_light(admin)) == VALID + 3  # S-77, S-13 and S-17 once more each
    assert len(dlq.items) == 6  # 5 first failures and the one failed redrive: the fixed ones did not come back
    assert len(ledger.items) == outcomes  # redrives leave the file's ledger alone ...
    assert len(settled(files.items, "incoming/a.csv")) == 1  # ... so it does not settle again
    assert len(reports.items) == 1 and reports.items[0]["rejected"] == 5
