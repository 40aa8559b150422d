"""``fluentsync worker --log-format json``: every line the worker writes is a JSON object with its ids (R65).

A real worker process, a local inbox, the embedded broker and the Fluent sandbox. One Batch API send
fails once (503), so the worker also logs a warning from inside a Fluent batch: that line must name the
Fluent job. The sandbox's client secret and password are in the pipeline file the worker reads; no line
may contain them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.tail import TopicTail
from fluentsync.streams.kafka.topics import TopicSpec, ensure_topics
from tests.fixtures.pipelines import ACTIVE_INVENTORY_MAPPING, local_inbox, local_inbox_source, write_inventory_pipeline
from tests.fixtures.processes import background_process

pytestmark = pytest.mark.integration

def csv_text(rows: int) -> str:
    lines = ["sku,location,qty"] + [f"J-{i},L-{i % 3},{i}" for i in range(rows)]
    lines.append("J-bad,L-1,abc")  # a rejected row: a dead letter, so the file goes to errors/
    return "\n".join(lines) + "\n"


async def test_worker_logs_are_json_lines_with_correlation_ids(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, sandbox: Any
) -> None:
    workflow = unique_name("logs").replace("-", "_")
    inbox = local_inbox(tmp_path)
    fluent = {**sandbox.fluent_config(), "max_retries": 0}  # the 503 below reaches the sink at once
    config = write_inventory_pipeline(
        tmp_path, mapping=ACTIVE_INVENTORY_MAPPING, mapping_file="mapping.json", bootstrap=kafka_broker.bootstrap,
        partitions=2, app_id=unique_name("app"), workflow=workflow, fluent=fluent, source=local_inbox_source(inbox),
        target={"max_batch_size": 50, "job_strategy": "per_file"},
    )
    topics = WorkflowTopics.of(workflow)
    await ensure_topics(kafka_broker.bootstrap, [TopicSpec(name, 2) for name in topics.all()])
    (inbox / "incoming" / "a.csv").write_text(csv_text(30))
    await sandbox.add_fault("batch_create", "status", status=503, times=1)
    log = tmp_path / "worker.log"
    try:
        async with TopicTail(kafka_broker.bootstrap, topics.files) as files:
            with background_process([
                sys.executable, "-m", "fluentsync", "worker", "--config", str(config),
                "--data-dir", str(tmp_path / "data"), "--web-port", "0", "-l", "info", "--log-format", "json",
            ], log) as worker:
                def archived(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
                    return [e for e in events if e["kind"] == "ARCHIVED" and e["file"]["path"] == "incoming/a.csv"]

                def done(events: list[dict[str, Any]]) -> bool:
                    assert worker.poll() is None, f"the worker exited: {log.read_text()[-2000:]}"
                    return bool(archived(events))

                await files.until(done, timeout=90)
        assert archived(files.items)[0]["archived_to"].startswith("errors/")  # the bad row was rejected
    finally:
        await sandbox.clear_faults()

    text = log.read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "the worker wrote nothing"
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
    assert all({"ts", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["message"].startswith("ops web: http://127.0.0.1:") for r in records)  # print() is logged too

    # the file's lines carry the workflow, the file and the run
    settled = [r for r in records if "settled" in r["message"] and "a.csv" in r["message"]]
    assert settled, "no 'settled' line for the file"
    assert all(r.get("workflow_id") == workflow and r.get("file") == "incoming/a.csv" and r.get("run_id")
               for r in settled)
    [event] = [e for e in files.items if e["kind"] == "SETTLED" and e["file"]["path"] == "incoming/a.csv"]
    assert settled[0]["run_id"] == event["run_id"]  # the run that published the file
    about_file = [r for r in records if r.get("file") == "incoming/a.csv"]
    assert {r.get("workflow_id") for r in about_file} == {workflow}

    # the warning from inside the failed Fluent batch names the workflow and the job
    resend = [r for r in records if "not taken by Fluent" in r["message"]]
    assert resend and resend[0]["level"] == "WARNING"
    assert resend[0]["workflow_id"] == workflow and resend[0].get("job_id")
    assert any(r.get("job_id") == resend[0]["job_id"] and r["logger"] == "httpx" for r in records)

    for secret in (sandbox.client_secret, sandbox.password):
        assert secret not in text
