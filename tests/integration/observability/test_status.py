"""``GET /status`` of a real worker and ``fluentsync status`` against the broker (issue #8).

A worker process (``--web-port 0``), the embedded broker and the Fluent sandbox. A CSV of 200 rows with
four bad ones (two malformed: PARSE, two with a non-integer quantity: MAP) goes through a Batch API
target. While the sandbox holds every batch RUNNING, the worker's status must show the file in flight
with its total and a percentage below 100, and batches pending; once released, the counts must match
the input exactly, the file must leave the in-flight list, and the CLI must show lag 0, the dead letters
by stage, the run report, and a table naming the workflow and its numbers.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import Popen
from typing import Any

import httpx
import pytest
import yaml
from aiokafka import AIOKafkaProducer
from click.testing import CliRunner

from fluentsync.schemas.codec import default_codec
from fluentsync.streams.cli import main
from fluentsync.streams.config import load_pipeline
from fluentsync.streams.extraction.state import ExtractionState, RunRecord, StateTopics, Watermark
from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.tail import TopicTail
from fluentsync.streams.kafka.topics import TopicSpec, ensure_topics
from fluentsync.streams.observability.status_kafka import DeadLetterTally, KafkaStatus
from fluentsync.streams.worker import workflow_topic_specs
from tests.fixtures.pipelines import local_inbox, local_inbox_source, write_inventory_pipeline
from tests.fixtures.processes import background_process
from tests.fixtures.sandbox_admin import Admin
from tests.integration.pipeline.test_end_to_end import inventory_csv, settled

pytestmark = pytest.mark.integration

ROWS = 200  #: inventory_csv: rows 5 and 9 malformed (PARSE), 13 and 17 unmappable (MAP)


def text_of(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else ""


async def ops_url(log: Path, proc: Popen[bytes], timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        found = re.search(r"ops web: (http://127\.0\.0\.1:\d+)", text_of(log))
        if found:
            return found.group(1)
        await asyncio.sleep(0.2)
    raise TimeoutError("the worker did not print its ops address:\n" + text_of(log)[-3000:])


async def poll(read: Callable[[], Awaitable[Any]], check: Callable[[Any], bool], what: str, log: Path | None = None,
               timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if check(value):
            return value
        if time.monotonic() > deadline:
            tail = text_of(log)[-3000:] if log is not None else ""
            raise AssertionError(f"{what} not seen in {timeout:.0f}s; last: {json.dumps(value)[:3000]}\n{tail}")
        await asyncio.sleep(0.3)


def invoke(args: list[str]) -> Any:
    """The CLI in this process (its own event loop), on a wide terminal so tables do not fold names."""
    return CliRunner().invoke(main, args, env={"COLUMNS": "220"})


async def test_worker_status_and_cli_status(kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str],
                                            tmp_path: Path, sandbox: Any, admin: Admin) -> None:
    workflow = unique_name("status").replace("-", "_")
    extraction = unique_name("locations")
    inbox = local_inbox(tmp_path)
    config = write_inventory_pipeline(
        tmp_path, bootstrap=kafka_broker.bootstrap, app_id=unique_name("status-app"), workflow=workflow,
        fluent=sandbox.fluent_config(), source=local_inbox_source(inbox),
        target={"max_batch_size": 50, "linger": 0.2, "job_strategy": "per_file"},
        sections={"extractions": {extraction: {"entity": "locations"}}},  # on demand
    )
    pipeline = load_pipeline(config)
    await ensure_topics(kafka_broker.bootstrap, workflow_topic_specs(pipeline))
    log = tmp_path / "worker.log"
    topics = WorkflowTopics.of(workflow)
    await sandbox.settings(batch_stuck=True)  # every batch stays RUNNING: the file is held in flight
    try:
        async with TopicTail(kafka_broker.bootstrap, topics.files) as files:
            with background_process([
                sys.executable, "-m", "fluentsync", "worker", "--config", str(config),
                "--data-dir", str(tmp_path / "data"), "--web-port", "0", "-l", "info",
            ], log) as proc:
                url = await ops_url(log, proc)
                async with httpx.AsyncClient(base_url=url, timeout=10) as http:
                    async def status() -> dict[str, Any]:
                        reply = await http.get("/status")
                        assert reply.status_code == 200, reply.text
                        body: dict[str, Any] = reply.json()
                        return body

                    first = await poll(status, lambda s: s["workflows"][workflow]["partitions"], "an assignment", log)
                    assert first["kind"] == "worker" and first["worker"]["bootstrap"] == kafka_broker.bootstrap
                    assert (first["extractions"][extraction]["state"], first["extractions"][extraction]["watermark"]) \
                        == ("NEVER_RUN", None)
                    (inbox / "incoming" / "a.csv").write_text(inventory_csv(ROWS))

                    def held(s: dict[str, Any]) -> bool:
                        view = s["workflows"][workflow]
                        flying = view["files_in_flight"]
                        return bool(flying) and flying[0]["records_expected"] == ROWS and view["batches"]["pending"] > 0

                    during = await poll(status, held, "the file in flight with its total", log)
                    view = during["workflows"][workflow]
                    entry = view["files_in_flight"][0]
                    assert (entry["path"], entry["state"], view["files_in_flight_total"]) == ("incoming/a.csv",
                                                                                               "processing", 1)
                    assert entry["records_done"] < ROWS and entry["percent"] == round(100 * entry["records_done"]
                                                                                        / ROWS, 1) < 100
                    assert view["in_flight"]["records"] > 0 and view["batches"]["complete"] == 0
                    assert view["partitions"][topics.records] == [0, 1, 2]  # the only worker owns them all
                    assert [j["state"] for j in view["jobs"]] == ["open"] and view["jobs"][0]["key"].startswith("file:")
                    assert view["jobs"][0]["fluent_status"]  # asked Fluent (the sandbox)

                    await sandbox.settings(batch_stuck=False)
                    await files.until(lambda e: settled(e, "incoming/a.csv"), timeout=60)

                    def done(s: dict[str, Any]) -> bool:
                        v = s["workflows"][workflow]
                        return v["records"]["accepted"] == ROWS - 4 and not v["files_in_flight"] \
                            and v["batches"]["pending"] == 0

                    after = (await poll(status, done, "the settled counts", log))["workflows"][workflow]
                    records = after["records"]
                    assert (records["accepted"], records["rejected"], records["unchanged"]) == (ROWS - 4, 4, 0)
                    assert (records["parse_rejected"], records["published"]) == (2, ROWS - 2)
                    batches, sent = after["batches"], await admin.batches()
                    assert sum(len(b["entities"]) for b in sent) == ROWS - 4
                    assert batches["sent"] == batches["complete"] == len(sent) and batches["failed"] == 0
                    assert after["in_flight"]["records"] == 0

                    # The whole pipeline through the CLI: lag reaches 0 once Faust committed, dead letters by stage.
                    args = ["status", "-c", str(config), "--url", url]

                    async def cli_json() -> dict[str, Any]:
                        result = await asyncio.to_thread(invoke, [*args, "--json"])
                        assert result.exit_code == 0, result.output
                        merged: dict[str, Any] = json.loads(result.stdout)
                        return merged

                    merged = await poll(cli_json, lambda m: m["workflows"][workflow]["lag"]["total"] == 0,
                                        "lag 0", log)
                    view = merged["workflows"][workflow]
                    assert set(view["lag"]["topics"]) == {topics.files, topics.records, topics.ledger}
                    assert view["dlq"]["total"] == 4 and view["dlq"]["by_stage"] == {"MAP": 2, "PARSE": 2}
                    assert {letter["where"] for letter in view["dlq"]["latest"]} == {
                        f"incoming/a.csv:{row + 2}" for row in (5, 9, 13, 17)}  # line 1 is the header
                    [report] = view["reports"]
                    assert (report["path"], report["records"], report["accepted"], report["rejected"]) == \
                        ("incoming/a.csv", ROWS, ROWS - 4, 4)
                    assert view["records"]["accepted"] == ROWS - 4 and view["files_in_flight"] == []
                    [worker] = merged["workers"]
                    assert worker["error"] is None and worker["partitions"] >= 9

                    table = await asyncio.to_thread(invoke, args)
                    assert table.exit_code == 0, table.output
                    lines = table.output.splitlines()
                    row = next(line for line in lines[lines.index(next(x for x in lines if "Workflows" in x)):]
                               if workflow in line)
                    assert "196" in row and "4 (MAP 2, PARSE 2)" in row, table.output
                    assert "Recent runs" in table.output and "incoming/a.csv" in table.output

                    cluster = (await http.get("/status", params={"cluster": "1"})).json()
                    assert cluster["kind"] == "pipeline" and cluster["workflows"][workflow]["dlq"]["total"] == 4

                    # An extraction run by this worker: state, last run and the watermark with its age.
                    settings = pipeline.extractions[extraction]
                    async with ExtractionState(kafka_broker.bootstrap, StateTopics.of()) as state:
                        run = await state.trigger(extraction, topic=settings.topic_name(extraction),
                                                  schema=settings.schema_name)

                    def extracted(s: dict[str, Any]) -> bool:
                        return (s["extractions"][extraction]["last_run_here"] or {}).get("status") == "COMPLETED" \
                            and s["extractions"][extraction]["watermark"] is not None

                    view = (await poll(status, extracted, "the extraction run", log))["extractions"][extraction]
                    assert view["state"] == "COMPLETED" and view["last_run"]["run_id"] == run.run_id
                    assert view["last_run"]["nodes"] > 0 and view["last_run_here"]["run_id"] == run.run_id
                    assert view["watermark"]["run_id"] == run.run_id and view["watermark"]["age_s"] >= 0
    finally:
        await sandbox.settings(batch_stuck=False)


async def test_cli_fails_when_a_named_worker_does_not_answer(kafka_broker: EmbeddedBroker,
                                                             unique_name: Callable[[str], str],
                                                             tmp_path: Path) -> None:
    workflow = unique_name("nobody").replace("-", "_")
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({
        "kafka": {"bootstrap": kafka_broker.bootstrap, "partitions": 2, "app_id": unique_name("nobody-app")},
        "workflows": {workflow: {"source": {"type": "local", "root": str(tmp_path)}, "format": {"type": "csv"},
                                 "key": ["sku"]}},
    }))
    await ensure_topics(kafka_broker.bootstrap, workflow_topic_specs(load_pipeline(config)))
    with socket.socket() as free:  # a port nothing listens on
        free.bind(("127.0.0.1", 0))
        url = f"127.0.0.1:{free.getsockname()[1]}"
    result = await asyncio.to_thread(invoke, ["status", "-c", str(config), "--url", url, "--json"])
    assert result.exit_code == 1
    merged = json.loads(result.stdout)
    assert merged["workers"][0]["url"] == f"http://{url}" and merged["workers"][0]["error"]
    view = merged["workflows"][workflow]
    assert view["lag"]["total"] == 0 and view["dlq"] == {"total": 0, "by_stage": {}, "latest": []}
    assert f"worker http://{url}" in result.stderr and "broker" not in result.stderr  # Kafka was read fine


async def test_dead_letters_are_tallied_incrementally(kafka_broker: EmbeddedBroker,
                                                      unique_name: Callable[[str], str]) -> None:
    topic = unique_name("dlq.tally")
    await ensure_topics(kafka_broker.bootstrap, [TopicSpec(topic, 2)])
    codec = default_codec()

    def letter(i: int, stage: str) -> bytes:
        return codec.encode("fluentsync.dlq.DeadLetter", {
            "dead_letter_id": f"id-{i}", "workflow": "w", "stage": stage, "reason": f"reason {i}", "errors": [],
            "record_key": f'["K{i}"]', "record": None, "raw": None, "provenance": None, "attempt": 1,
            "history": [], "occurred_at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=i)})

    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
    await producer.start()
    try:
        async def send(numbers: range, stage: str) -> None:
            futures = [await producer.send(topic, letter(i, stage), partition=i % 2) for i in numbers]
            await asyncio.gather(*futures)

        tally = DeadLetterTally(topic, keep=3)
        await send(range(5), "MAP")
        await tally.refresh(kafka_broker.bootstrap, 2, codec)
        assert (tally.total, dict(tally.by_stage)) == (5, {"MAP": 5})
        await tally.refresh(kafka_broker.bootstrap, 2, codec)  # nothing new: nothing counted twice
        assert tally.total == 5
        await send(range(5, 8), "FLUENT")
        await tally.refresh(kafka_broker.bootstrap, 2, codec)
        assert tally.to_json()["by_stage"] == {"FLUENT": 3, "MAP": 5}
        assert [entry["id"] for entry in tally.to_json()["latest"]] == ["id-7", "id-6", "id-5"]
    finally:
        await producer.stop()


async def test_kafka_view_shows_extraction_watermarks_and_runs(kafka_broker: EmbeddedBroker,
                                                               unique_name: Callable[[str], str],
                                                               tmp_path: Path) -> None:
    prefix = unique_name("st") + "."
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({
        "kafka": {"bootstrap": kafka_broker.bootstrap, "partitions": 1, "topic_prefix": prefix},
        "extractions": {"orders": {"entity": "orders", "schedule": "*/15 * * * *"},
                        "products": {"entity": "products"}},
    }))
    pipeline = load_pipeline(config)
    await ensure_topics(kafka_broker.bootstrap, workflow_topic_specs(pipeline))
    now = datetime.now(UTC)
    mark = (now - timedelta(minutes=10)).replace(microsecond=0)
    async with ExtractionState(kafka_broker.bootstrap, StateTopics.of(prefix)) as state:
        run = RunRecord("orders-1", "orders", "RUNNING", now, now, stage="paging", triggered_by="schedule")
        await state.put_run(RunRecord("orders-0", "orders", "COMPLETED", now - timedelta(hours=1),
                                      now - timedelta(hours=1), nodes=42, error=None))
        await state.put_run(run)
        await state.advance_watermark(Watermark("orders", mark.isoformat().replace("+00:00", "Z"), "orders-0", now))
    view = await KafkaStatus(kafka_broker.bootstrap, pipeline).collect()
    assert view["errors"] == []
    orders, products = view["extractions"]["orders"], view["extractions"]["products"]
    assert (orders["state"], orders["last_run"]["run_id"], orders["last_finished"]["nodes"]) == \
        ("RUNNING", "orders-1", 42)
    assert orders["schedule"] == "*/15 * * * *" and 590 <= orders["watermark"]["age_s"] <= 900
    assert (products["state"], products["watermark"], products["last_run"]) == ("NEVER_RUN", None, None)
