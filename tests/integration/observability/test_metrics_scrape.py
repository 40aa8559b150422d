"""``GET /metrics`` of a real worker after a real run: the counters match what went in (R65).

A worker process (``--web-port 0``), the embedded broker and the Fluent sandbox. Two files of the same
rows with four bad ones (two malformed, two with a non-integer quantity) go through one after the other,
then an extraction runs. The scrape must account for every record exactly once (accepted + rejected +
unchanged = records parsed), break the rejections down by stage, show the Fluent calls (latency
histogram, status codes), the consumer lag of the worker's partitions, the extraction's watermark age
and the process RSS.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fluentsync.streams.config import load_pipeline
from fluentsync.streams.extraction.state import ExtractionState, StateTopics
from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.tail import TopicTail
from fluentsync.streams.kafka.topics import ensure_topics
from fluentsync.streams.worker import workflow_topic_specs
from tests.fixtures.pipelines import ACTIVE_INVENTORY_MAPPING, local_inbox, local_inbox_source, write_inventory_pipeline
from tests.fixtures.processes import background_process

pytestmark = pytest.mark.integration

ROWS = 60
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def inventory_csv() -> str:
    """Rows 3 and 8 have an extra cell (PARSE), 11 and 19 a quantity that is no integer (MAP)."""
    lines = ["sku,location,qty"]
    for i in range(ROWS):
        qty = {11: "12.5", 19: "abc"}.get(i, str(i))
        lines.append(f"M-{i},L-{i % 2},{qty}" + (",EXTRA" if i in (3, 8) else ""))
    return "\n".join(lines) + "\n"


def text_of(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else ""


async def ops_port(log: Path, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"ops web: http://127\.0\.0\.1:(\d+)", text_of(log))
        if found:
            return int(found.group(1))
        await asyncio.sleep(0.2)
    raise TimeoutError("the worker did not print its ops port:\n" + text_of(log)[-3000:])


async def scrape(http: httpx.AsyncClient) -> Samples:
    reply = await http.get("/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(reply.text) for s in family.samples}


def get(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def matching(samples: Samples, name: str, **labels: str) -> dict[frozenset[tuple[str, str]], float]:
    return {key: v for (n, key), v in samples.items() if n == name and set(labels.items()) <= key}


async def scrape_until(http: httpx.AsyncClient, check: Callable[[Samples], bool], what: str, log: Path,
                       timeout: float = 60.0) -> Samples:
    deadline = time.monotonic() + timeout
    while True:
        samples = await scrape(http)
        if check(samples):
            return samples
        if time.monotonic() > deadline:
            raise AssertionError(f"/metrics never showed {what}:\n" + text_of(log)[-3000:])
        await asyncio.sleep(0.3)


def settled(events: list[dict[str, Any]], path: str) -> bool:
    return any(e["kind"] == "SETTLED" and e["file"]["path"] == path for e in events)


async def test_a_scrape_accounts_for_every_record(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, sandbox: Any
) -> None:
    wf = unique_name("metrics").replace("-", "_")
    prefix = unique_name("m") + "."
    inbox = local_inbox(tmp_path)
    config = write_inventory_pipeline(
        tmp_path, mapping=ACTIVE_INVENTORY_MAPPING, bootstrap=kafka_broker.bootstrap, partitions=2,
        app_id=unique_name("app"), kafka={"topic_prefix": prefix}, workflow=wf, fluent=sandbox.fluent_config(),
        source=local_inbox_source(inbox), target={"max_batch_size": 20},
        sections={"extractions": {"locations": {"entity": "locations"}}},
    )
    pipeline = load_pipeline(config)
    await ensure_topics(kafka_broker.bootstrap, workflow_topic_specs(pipeline))
    topics = WorkflowTopics.of(wf, prefix)
    log = tmp_path / "worker.log"
    (inbox / "incoming" / "a.csv").write_text(inventory_csv())

    async with TopicTail(kafka_broker.bootstrap, topics.files) as files:
        with background_process([sys.executable, "-m", "fluentsync", "worker", "--config", str(config),
                                 "--data-dir", str(tmp_path / "data"), "--web-port", "0", "-l", "info"], log):
            port = await ops_port(log)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                await files.until(lambda e: settled(e, "incoming/a.csv"), timeout=120)
                # The same rows again: every good record is unchanged, the bad ones are rejected again.
                (inbox / "incoming" / "b.csv").write_text(inventory_csv())
                await files.until(lambda e: settled(e, "incoming/b.csv"), timeout=60)

                def outcomes(s: Samples) -> dict[str, float]:
                    return {o: get(s, "fluentsync_records_total", workflow=wf, outcome=o)
                            for o in ("accepted", "rejected", "unchanged")}

                samples = await scrape_until(
                    http, lambda s: sum(outcomes(s).values()) >= 2 * ROWS and get(
                        s, "fluentsync_files_processed_total", workflow=wf, outcome="with_rejections") >= 2,
                    "every record's outcome and both files settled", log)
                assert outcomes(samples) == {"accepted": ROWS - 4, "rejected": 8, "unchanged": ROWS - 4}
                assert get(samples, "fluentsync_records_parsed_total", workflow=wf) == 2 * ROWS
                assert get(samples, "fluentsync_records_published_total", workflow=wf) == 2 * (ROWS - 2)
                stages = matching(samples, "fluentsync_records_rejected_total", workflow=wf)
                assert {dict(k)["stage"]: v for k, v in stages.items()} == {"parse": 4, "map": 4}
                assert get(samples, "fluentsync_files_discovered_total", workflow=wf) == 2
                assert get(samples, "fluentsync_files_processed_total", workflow=wf, outcome="clean") == 0

                # Fluent: what was acknowledged, in batches of at most 20, and every HTTP attempt timed.
                assert get(samples, "fluentsync_records_sent_total", workflow=wf) == ROWS - 4
                assert get(samples, "fluentsync_fluent_batch_size_sum", workflow=wf, api="batch") == ROWS - 4
                assert get(samples, "fluentsync_fluent_batch_size_count", workflow=wf, api="batch") >= 3
                assert get(samples, "fluentsync_fluent_request_duration_seconds_count", route="batch_create") >= 3
                created = matching(samples, "fluentsync_fluent_responses_total", route="batch_create")
                assert created and all(dict(k)["status"].startswith("2") for k in created)
                assert sum(created.values()) == get(samples, "fluentsync_fluent_request_duration_seconds_count",
                                                    route="batch_create")
                assert matching(samples, "fluentsync_fluent_responses_total", route="batch_get")  # status polled
                assert get(samples, "process_resident_memory_bytes") > 10_000_000

                # Consumer lag of this worker's partitions: known for both records partitions, and drained.
                def drained(s: Samples) -> bool:
                    lags = matching(s, "fluentsync_consumer_lag", workflow=wf, topic=topics.records)
                    return len(lags) == 2 and all(v == 0 for v in lags.values())

                await scrape_until(http, drained, f"zero lag on {topics.records}", log)

                # An extraction run on this worker: its watermark's age appears.
                outbound = pipeline.extractions["locations"].topic_name("locations", prefix)
                async with ExtractionState(kafka_broker.bootstrap, StateTopics.of(prefix)) as state:
                    await state.trigger("locations", topic=outbound)
                samples = await scrape_until(
                    http, lambda s: get(s, "fluentsync_extraction_runs_total", extraction="locations",
                                        status="completed") == 1, "a completed extraction run", log)
                assert get(samples, "fluentsync_extraction_nodes_total", extraction="locations") > 0
                age = get(samples, "fluentsync_extraction_watermark_age_seconds", extraction="locations")
                stamp = get(samples, "fluentsync_extraction_watermark_timestamp_seconds", extraction="locations")
                assert stamp > 0 and age == pytest.approx(time.time() - stamp, abs=60)
