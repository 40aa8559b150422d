"""Batch status verdicts decoupled from intake: the records agent acknowledges its messages once Fluent
acknowledged their batches, and the verdicts settle the records later, from the ``submitted-batches``
table - after a SIGKILL too.

A real worker process, the embedded broker and the sandbox. The sandbox's ``batch_stuck`` keeps every
batch ``RUNNING`` (the default 10/30/60 s status intervals, compressed): the promise under test is that
intake goes on meanwhile (past ``max_pending_records``, which used to hold records until their verdict),
and that the verdict still decides every record's one outcome: accepted, rejected with a FLUENT dead
letter (per-entity errors, ``TIMED_OUT``), or unchanged - and that only accepted keys move their baseline.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.tail import TopicTail
from tests.fixtures.kafka import wait_committed
from tests.fixtures.sandbox_admin import Admin
from tests.integration.observability.test_status import ops_url, poll
from tests.integration.pipeline.test_end_to_end import inventory_csv, settled
from tests.integration.pipeline.test_recovery import Pipeline, batches_light, drain, entity_counts, one_settled

pytestmark = pytest.mark.integration

ROWS = 400  #: inventory_csv: rows 5, 9 unparseable (PARSE), 13, 17 unmappable (MAP); 396 valid
VALID = ROWS - 4
PENDING_LIMIT = 30  #: max_pending_records: with verdicts held in memory, intake stopped after ~1 record batch


class Flow(Pipeline):
    """One workflow (3 partitions, record batches of 20 records, Fluent batches of 40) and its worker."""

    def __init__(self, tmp_path: Path, broker: EmbeddedBroker, sandbox: Any, unique_name: Callable[[str], str],
                 prefix: str, status: dict[str, Any] | None = None) -> None:
        super().__init__(tmp_path, broker, sandbox, unique_name, prefix,
                         target={"max_pending_records": PENDING_LIMIT,
                                 "status": status or {"intervals": [0.3, 0.3, 0.3], "min_interval": 0.1}},
                         options={"publish": {"batch_records": 20}})

    async def all_records_acked(self, files: TopicTail, records: TopicTail, path: str) -> int:
        """Wait until the file is published and the worker committed every record batch of it (acked only
        after hand-over); returns how many record batches there were."""
        await files.until(lambda e: any(x["kind"] == "COMPLETED" and x["file"]["path"] == path for x in e),
                          timeout=60)
        count = len([b for b in await drain(records, 0.5) if b["file"]["path"] == path])
        await wait_committed(self.bootstrap, self.app_id, self.topics.records, 3, count, timeout=60)
        return count


async def sent_while_stuck(admin: Admin) -> list[dict[str, Any]]:
    batches = await batches_light(admin)
    assert batches and all(b["status"] != "COMPLETE" for b in batches), [b["status"] for b in batches]
    return batches


def fluent_letters(letters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((d for d in letters if d["stage"] == "FLUENT"), key=lambda d: d["provenance"]["record_index"])


# -- 1. intake goes on while verdicts are pending ---------------------------------------------------------

async def test_intake_continues_while_earlier_batches_await_their_verdict(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, sandbox: Any, admin: Admin
) -> None:
    flow = Flow(tmp_path, kafka_broker, sandbox, unique_name, "intake")
    await flow.create_topics()
    await sandbox.settings(batch_stuck=True)  # every batch stays RUNNING: no verdict at all
    flow.drop("a.csv", inventory_csv(ROWS))

    async with TopicTail(kafka_broker.bootstrap, flow.topics.files) as files, \
            TopicTail(kafka_broker.bootstrap, flow.topics.records) as records:
        with flow.worker() as proc:
            record_batches = await flow.all_records_acked(files, records, "incoming/a.csv")
            # every record batch was acknowledged (its offset committed) while no Fluent batch had a verdict:
            # 20x more records than max_pending_records let in when records waited in memory for theirs
            assert record_batches * 20 >= VALID > 10 * PENDING_LIMIT
            stuck = await sent_while_stuck(admin)
            assert entity_counts(stuck) == VALID
            assert not settled(files.items, "incoming/a.csv")
            url = await ops_url(flow.log, proc)
            async with httpx.AsyncClient(base_url=url, timeout=10) as http:
                async def view() -> dict[str, Any]:
                    body: dict[str, Any] = (await http.get("/status")).json()
                    return body["workflows"][flow.workflow]["in_flight"]

                flying = await poll(view, lambda v: v["awaiting_records"] == VALID, "records awaiting a verdict",
                                    flow.log)
            assert flying["records"] == VALID and flying["awaiting_status"] == len(stuck)

            await sandbox.settings(batch_stuck=False)
            event = await one_settled(files, "incoming/a.csv", timeout=60)
            await drain(files)

    assert len(settled(files.items, "incoming/a.csv")) == 1
    assert (event["accepted_count"], event["rejected_count"], event["unchanged_count"]) == (VALID, 4, 0)
    assert entity_counts(await batches_light(admin)) == VALID  # nothing sent twice


# -- 2. per-entity errors found by the later verdict ------------------------------------------------------

async def test_entity_errors_reported_after_hand_over_become_fluent_dead_letters(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, sandbox: Any, admin: Admin
) -> None:
    flow = Flow(tmp_path, kafka_broker, sandbox, unique_name, "verdict")
    await flow.create_topics()
    for ref in ("S-77", "S-300"):
        await admin.fault("batch_create", "entity_error", ref=ref, code="C0160E", message="Bad location")
    await sandbox.settings(batch_stuck=True)
    flow.drop("a.csv", inventory_csv(ROWS))

    async with TopicTail(kafka_broker.bootstrap, flow.topics.files) as files, \
            TopicTail(kafka_broker.bootstrap, flow.topics.records) as records, \
            TopicTail(kafka_broker.bootstrap, flow.topics.dlq) as dlq:
        with flow.worker():
            await flow.all_records_acked(files, records, "incoming/a.csv")
            await drain(dlq, 0.5)
            assert not fluent_letters(dlq.items)  # handed over, but Fluent has not spoken yet
            await sandbox.settings(batch_stuck=False)
            event = await one_settled(files, "incoming/a.csv", timeout=60)
            await dlq.until(lambda d: len(fluent_letters(d)) >= 2, timeout=30)
            await admin.call("DELETE", "/faults")

            # R23: the two records Fluent refused kept their old baseline; only they go again
            before = len(await batches_light(admin))
            flow.drop("b.csv", inventory_csv(ROWS))
            again = await one_settled(files, "incoming/b.csv", timeout=60)
            await drain(dlq, 0.5)

    assert (event["accepted_count"], event["rejected_count"], event["unchanged_count"]) == (VALID - 2, 6, 0)
    assert "FLUENT: C0160E: Bad location" in " ".join(event["first_errors"])
    letters = fluent_letters([d for d in dlq.items if d["provenance"]["file"]["path"] == "incoming/a.csv"])
    assert [(d["provenance"]["record_index"], d["record_key"]) for d in letters] == [
        (77, '["S-77","L-2"]'), (300, '["S-300","L-0"]')]
    assert letters[0]["errors"][0]["code"] == "C0160E" and letters[0]["provenance"]["line"] == 79
    sent = json.loads(letters[0]["record"])  # the record as parsed (a redrive maps it again) and what was sent
    assert sent["record"] == {"sku": "S-77", "location": "L-2", "qty": "77", "status": "ACTIVE"}
    assert (sent["payload"]["skuRef"], sent["payload"]["qty"]) == ("S-77", 77)
    assert (again["accepted_count"], again["rejected_count"], again["unchanged_count"]) == (2, 4, VALID - 2)
    resent = [e["skuRef"] for b in (await admin.batches())[before:] for e in b["entities"]]
    assert sorted(resent) == ["S-300", "S-77"]


# -- 3. SIGKILL with verdicts pending ---------------------------------------------------------------------

async def test_verdicts_pending_at_a_kill_are_resumed_from_the_table(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, sandbox: Any, admin: Admin
) -> None:
    flow = Flow(tmp_path, kafka_broker, sandbox, unique_name, "resume")
    await flow.create_topics()
    await admin.fault("batch_create", "entity_error", ref="S-77", code="C0160E", message="Bad location")
    await sandbox.settings(batch_stuck=True)
    flow.drop("a.csv", inventory_csv(ROWS))

    async with TopicTail(kafka_broker.bootstrap, flow.topics.files) as files, \
            TopicTail(kafka_broker.bootstrap, flow.topics.records) as records, \
            TopicTail(kafka_broker.bootstrap, flow.topics.dlq) as dlq:
        with flow.worker() as proc:
            await flow.all_records_acked(files, records, "incoming/a.csv")
            sent = entity_counts(await sent_while_stuck(admin))
            proc.kill()  # SIGKILL: the pending verdicts exist only in the table's changelog now
            proc.wait(10)
        assert sent == VALID and not settled(await drain(files, 0.5), "incoming/a.csv")

        await sandbox.settings(batch_stuck=False)
        with flow.worker():
            event = await one_settled(files, "incoming/a.csv", timeout=90)
            await dlq.until(lambda d: len(fluent_letters(d)) >= 1, timeout=30)
            await drain(files)
            await drain(dlq, 0.5)

    assert len(settled(files.items, "incoming/a.csv")) == 1
    assert event["record_count"] == ROWS
    assert (event["accepted_count"], event["rejected_count"], event["unchanged_count"]) == (VALID - 1, 5, 0)
    assert [d["provenance"]["record_index"] for d in fluent_letters(dlq.items)] == [77]  # exactly one letter
    assert sorted(d["stage"] for d in dlq.items if d["stage"] != "FLUENT") == ["MAP", "MAP", "PARSE", "PARSE"]
    # no record batch was redelivered: the outcomes came from the table, not from sending anything again
    assert entity_counts(await batches_light(admin)) == VALID
    log = flow.log.read_text(errors="replace")
    assert re.search(r"resuming the status of \d+ Fluent batches \(\d+ records\)", log), log[-3000:]


# -- 4. TIMED_OUT ------------------------------------------------------------------------------------------

async def test_batches_without_a_final_status_dead_letter_their_records(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, sandbox: Any, admin: Admin
) -> None:
    flow = Flow(tmp_path, kafka_broker, sandbox, unique_name, "timeout",
                status={"intervals": [0.2, 0.2, 0.2], "min_interval": 0.1, "max_poll_attempts": 3})
    await flow.create_topics()
    await sandbox.settings(batch_stuck=True)
    flow.drop("a.csv", inventory_csv(ROWS))

    async with TopicTail(kafka_broker.bootstrap, flow.topics.files) as files, \
            TopicTail(kafka_broker.bootstrap, flow.topics.dlq) as dlq:
        with flow.worker():
            event = await one_settled(files, "incoming/a.csv", timeout=60)
            await dlq.until(lambda d: len(fluent_letters(d)) >= VALID, timeout=30)
            await sandbox.settings(batch_stuck=False)
            # nothing was accepted: no baseline moved, so the same content is sent again in full
            flow.drop("b.csv", inventory_csv(ROWS))
            again = await one_settled(files, "incoming/b.csv", timeout=60)

    assert (event["accepted_count"], event["rejected_count"], event["unchanged_count"]) == (0, ROWS, 0)
    letters = fluent_letters([d for d in dlq.items if d["provenance"]["file"]["path"] == "incoming/a.csv"])
    assert len(letters) == VALID and {d["errors"][0]["code"] for d in letters} == {"TIMED_OUT"}
    assert re.search(r"reported no final status in time \(last: (RUNNING|PENDING)\)", letters[0]["reason"])
    assert (again["accepted_count"], again["rejected_count"], again["unchanged_count"]) == (VALID, 4, 0)


# -- 5. per-key order ----------------------------------------------------------------------------------

async def test_a_later_version_of_a_key_waits_for_the_verdict_on_the_earlier_one(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, sandbox: Any, admin: Admin
) -> None:
    flow = Flow(tmp_path, kafka_broker, sandbox, unique_name, "order")
    await flow.create_topics()
    await sandbox.settings(batch_stuck=True)
    rows = 100
    flow.drop("a.csv", inventory_csv(rows) + "S-42,L-0,4242,ACTIVE\n")  # S-42 again, at the end

    def versions(batches: list[dict[str, Any]]) -> list[int]:
        return [e["qty"] for b in sorted(batches, key=lambda b: int(b["id"])) for e in b["entities"]
                if e["skuRef"] == "S-42"]

    async with TopicTail(kafka_broker.bootstrap, flow.topics.files) as files:
        with flow.worker():
            deadline = time.monotonic() + 60
            while not versions(await admin.batches()):
                assert time.monotonic() < deadline, "the first S-42 was not sent"
                await drain(files, 0.2)
            await drain(files, 1.5)  # time enough for a second version to be sent, were it not held back
            assert versions(await admin.batches()) == [42]  # the first one's batch is RUNNING: no verdict
            await sandbox.settings(batch_stuck=False)
            event = await one_settled(files, "incoming/a.csv", timeout=60)

    assert (event["record_count"], event["accepted_count"], event["rejected_count"]) == (rows + 1, rows - 3, 4)
    assert versions(await admin.batches()) == [42, 4242]
    found = sandbox.state.store.position_for(f"DEFAULT:{sandbox.retailer_id}", "L-0", "S-42", str(sandbox.retailer_id))
    assert found is not None and dict(found)["onHand"] == 4242
