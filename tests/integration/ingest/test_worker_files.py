"""The source connector end to end: a real worker process, a local inbox, the embedded broker.

Dropping files yields one record per valid row, a dead letter per malformed row, one completion per
file, nothing again on re-listing or restart, new work for a new version, and archive/error moves once
the file is settled.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import AIOKafkaProducer

from fluentsync.connectors.ingest.publisher import file_event_key
from fluentsync.schemas.codec import default_codec
from fluentsync.schemas.records import batch_records
from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.tail import TopicTail
from fluentsync.streams.kafka.topics import TopicSpec, ensure_topics
from tests.fixtures.processes import background_process

pytestmark = pytest.mark.integration
CODEC = default_codec()


def csv_text(rows: int, bad: tuple[int, ...] = (), qty_offset: int = 0) -> str:
    lines = ["skuRef,locationRef,qty,status"]
    for i in range(rows):
        lines.append(f"SKU-{i},LOC-{i % 5},{i + qty_offset},ACTIVE,EXTRA" if i in bad else
                     f"SKU-{i},LOC-{i % 5},{i + qty_offset},ACTIVE")
    return "\n".join(lines) + "\n"


@contextmanager
def worker_process(config: Path, data_dir: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "fluentsync", "worker", "--config", str(config), "--data-dir", str(data_dir),
               "--web-port", "0", "-l", "info"]
    with background_process(command, log) as proc:
        yield proc


def kinds(events: list[dict[str, Any]], path: str) -> list[str]:
    return [e["kind"] for e in events if e["file"]["path"] == path]


async def test_files_flow_through_the_connector(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    workflow = unique_name("inv").replace("-", "_")
    inbox = tmp_path / "inbox"
    (inbox / "incoming").mkdir(parents=True)
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({
        "kafka": {"bootstrap": kafka_broker.bootstrap, "partitions": 3, "app_id": unique_name("app")},
        "workflows": {workflow: {
            "source": {"type": "local", "root": str(inbox), "prefix": "incoming/", "patterns": ["*.csv"],
                       "poll_interval": 0.5, "stable_listings": 1},
            "format": {"type": "csv"},
            "key": ["skuRef", "locationRef"],
        }},
    }))
    topics = WorkflowTopics.of(workflow)
    # Create the topics before anything subscribes: subscribing to a missing topic auto-creates it with
    # the broker's default partition count, which the worker then (rightly) refuses.
    await ensure_topics(kafka_broker.bootstrap, [TopicSpec(name, 3) for name in topics.all()])
    (inbox / "incoming" / "a.csv").write_text(csv_text(100, bad=(7, 42)))
    (inbox / "incoming" / "ignored.txt").write_text("not a csv")
    log = tmp_path / "worker.log"

    bootstrap = kafka_broker.bootstrap
    async with TopicTail(bootstrap, topics.files) as files, TopicTail(bootstrap, topics.records) as records, \
            TopicTail(bootstrap, topics.dlq) as dlq:
        with worker_process(config, tmp_path / "data", log):
            events = await files.until(lambda e: "COMPLETED" in kinds(e, "incoming/a.csv"), timeout=90)
            completed = next(e for e in events if e["kind"] == "COMPLETED")
            assert completed["record_count"] == 100 and completed["error_count"] == 2
            batches = await records.until(lambda b: sum(len(x["record_keys"]) for x in b) >= 98)
            rows = [r for b in batches for r in batch_records(b)]
            assert len(rows) == 98 and len({r.record_key for r in rows}) == 98
            assert sorted(r.record_index for r in rows) == [i for i in range(100) if i not in (7, 42)]
            letters = await dlq.until(lambda d: len(d) >= 2)
            assert sorted(d["provenance"]["line"] for d in letters) == [9, 44]
            await asyncio.sleep(2)  # several polls: listing again announces nothing new
            assert kinds(files.items, "incoming/a.csv").count("STARTED") == 1

        # A restarted worker re-announces the file; the table says it is done.
        with worker_process(config, tmp_path / "data-restarted", log):
            await files.until(lambda e: "SKIPPED" in kinds(e, "incoming/a.csv"), timeout=90)
            assert kinds(files.items, "incoming/a.csv").count("STARTED") == 1

            # A new version under the same name is new work.
            (inbox / "incoming" / "a.csv").write_text(csv_text(100, qty_offset=1000))
            await files.until(lambda e: kinds(e, "incoming/a.csv").count("COMPLETED") == 2, timeout=60)
            second = [e for e in files.items if e["kind"] == "COMPLETED"][-1]
            assert second["record_count"] == 100 and second["error_count"] == 0
            assert second["file"]["version"] != completed["file"]["version"]

            # The ledger's completion signal (driven by the test here) archives the file.
            producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
            await producer.start()
            settled = {**second, "kind": "SETTLED", "event_id": "settle-1", "accepted_count": 100,
                       "rejected_count": 0, "unchanged_count": 0, "occurred_at": datetime.now(UTC)}
            from fluentsync.connectors.sources.base import FileRef
            ref = FileRef("local", second["file"]["location"], "incoming/a.csv", second["file"]["version"], 0,
                          datetime.now(UTC))
            await producer.send_and_wait(topics.files, CODEC.encode("fluentsync.files.FileEvent", settled),
                                         key=file_event_key(workflow, ref))
            await producer.stop()
            await files.until(lambda e: "ARCHIVED" in kinds(e, "incoming/a.csv"), timeout=30)
            archived = next(e for e in files.items if e["kind"] == "ARCHIVED")
            assert archived["archived_to"].startswith("processed/")
            assert not (inbox / "incoming" / "a.csv").exists()
            assert (inbox / archived["archived_to"]).read_text() == csv_text(100, qty_offset=1000)
            assert "ignored.txt" not in {e["file"]["path"] for e in files.items}


async def test_s3_inbox_with_gzip_and_a_corrupt_file(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, s3_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gzip

    import boto3

    workflow = unique_name("s3inv").replace("-", "_")
    bucket = unique_name("wms")
    s3 = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name=s3_server.region,
                      aws_access_key_id=s3_server.access_key_id, aws_secret_access_key=s3_server.secret_access_key)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="inventory/incoming/good.csv.gz", Body=gzip.compress(csv_text(50).encode()))
    s3.put_object(Bucket=bucket, Key="inventory/incoming/corrupt.csv.gz", Body=b"\x1f\x8b\x08\x00garbage")
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({
        "kafka": {"bootstrap": kafka_broker.bootstrap, "partitions": 3, "app_id": unique_name("app")},
        "workflows": {workflow: {
            "source": {"type": "s3", "bucket": bucket, "prefix": "inventory/incoming/", "patterns": ["*.csv.gz"],
                       "endpoint_url": s3_server.endpoint_url, "region": s3_server.region, "path_style": True,
                       "access_key_id": "${TEST_S3_KEY}", "secret_access_key": "${TEST_S3_SECRET}",
                       "poll_interval": 0.5},
            "format": {"type": "csv"},
            "key": ["skuRef", "locationRef"],
        }},
    }))
    monkeypatch.setenv("TEST_S3_KEY", s3_server.access_key_id)  # the worker reads ${TEST_S3_KEY}
    monkeypatch.setenv("TEST_S3_SECRET", s3_server.secret_access_key)
    topics = WorkflowTopics.of(workflow)
    await ensure_topics(kafka_broker.bootstrap, [TopicSpec(name, 3) for name in topics.all()])
    async with TopicTail(kafka_broker.bootstrap, topics.files) as files:
        with worker_process(config, tmp_path / "data", tmp_path / "worker.log"):
            await files.until(lambda e: "COMPLETED" in kinds(e, "inventory/incoming/good.csv.gz")
                              and "ARCHIVED" in kinds(e, "inventory/incoming/corrupt.csv.gz"), timeout=90)
    good = next(e for e in files.items if e["kind"] == "COMPLETED")
    assert good["record_count"] == 50 and good["error_count"] == 0
    failed = next(e for e in files.items if e["kind"] == "FAILED")
    assert failed["file"]["path"] == "inventory/incoming/corrupt.csv.gz" and "gzip" in failed["reason"].lower()
    archived = next(e for e in files.items if e["kind"] == "ARCHIVED")
    assert archived["archived_to"].startswith("inventory/errors/")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert "inventory/incoming/corrupt.csv.gz" not in keys
    assert archived["archived_to"] in keys
    sidecar = s3.get_object(Bucket=bucket, Key=archived["archived_to"] + ".error.log")["Body"].read()
    report = yaml.safe_load(sidecar)  # JSON is YAML
    assert report["file"] == f"s3://{bucket}/inventory/incoming/corrupt.csv.gz" and "gzip" in report["error"].lower()
    assert "inventory/incoming/good.csv.gz" in keys  # waits for its records' outcomes before moving


def write_pipeline(path: Path, bootstrap: str, app_id: str, workflow: str, source: dict[str, Any],
                   files: dict[str, Any] | None = None, publish: dict[str, Any] | None = None) -> None:
    spec: dict[str, Any] = {"source": source, "format": {"type": "csv"}, "key": ["skuRef", "locationRef"]}
    if files:
        spec["files"] = files
    if publish:
        spec["publish"] = publish
    path.write_text(yaml.safe_dump({"kafka": {"bootstrap": bootstrap, "partitions": 3, "app_id": app_id},
                                    "workflows": {workflow: spec}}))


async def test_sftp_inbox_with_date_folders(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, sftp_server: Any
) -> None:
    workflow = unique_name("sftp").replace("-", "_")
    folder = sftp_server.root / workflow / "incoming"
    folder.mkdir(parents=True)
    (folder / "stock.csv").write_text(csv_text(40, bad=(3,)))
    config = tmp_path / "pipeline.yaml"
    write_pipeline(config, kafka_broker.bootstrap, unique_name("app"), workflow, {
        "type": "sftp", "host": sftp_server.host, "port": sftp_server.port, "username": sftp_server.username,
        "password": sftp_server.password, "known_hosts": str(sftp_server.known_hosts),
        "prefix": f"{workflow}/incoming/", "poll_interval": 0.5, "stable_listings": 2,
    }, files={"date_folders": True})
    topics = WorkflowTopics.of(workflow)
    await ensure_topics(kafka_broker.bootstrap, [TopicSpec(name, 3) for name in topics.all()])
    async with TopicTail(kafka_broker.bootstrap, topics.files) as files:
        with worker_process(config, tmp_path / "data", tmp_path / "worker.log"):
            await files.until(lambda e: "COMPLETED" in kinds(e, f"{workflow}/incoming/stock.csv"), timeout=90)
            done = next(e for e in files.items if e["kind"] == "COMPLETED")
            assert done["record_count"] == 40 and done["error_count"] == 1
            assert done["file"]["version"].startswith("size=") and done["file"]["source"] == "sftp"
            settled = {**done, "kind": "SETTLED", "event_id": "s", "accepted_count": 38, "rejected_count": 1,
                       "unchanged_count": 0, "first_errors": ["line 5: expected 4 cells"],
                       "occurred_at": datetime.now(UTC)}
            producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
            await producer.start()
            key = json_key(workflow, done["file"])
            await producer.send_and_wait(topics.files, CODEC.encode("fluentsync.files.FileEvent", settled), key=key)
            await producer.stop()
            await files.until(lambda e: "ARCHIVED" in kinds(e, f"{workflow}/incoming/stock.csv"), timeout=30)
    archived = next(e for e in files.items if e["kind"] == "ARCHIVED")
    day = done["last_modified"].strftime("%Y-%m-%d")
    assert archived["archived_to"].startswith(f"{workflow}/errors/{day}/")  # a rejected record: errors/
    assert not (folder / "stock.csv").exists()
    report = yaml.safe_load((sftp_server.root / (archived["archived_to"] + ".error.log")).read_text())
    assert report["rejected"] == 1 and report["first_errors"] == ["line 5: expected 4 cells"]


def json_key(workflow: str, identity: dict[str, str]) -> bytes:
    from fluentsync.connectors.sources.base import FileRef

    ref = FileRef(identity["source"], identity["location"], identity["path"], identity["version"], 0,
                  datetime.now(UTC))
    return file_event_key(workflow, ref)


async def test_a_killed_worker_republishes_the_file_identically(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    workflow = unique_name("crash").replace("-", "_")
    inbox = tmp_path / "inbox"
    (inbox / "in").mkdir(parents=True)
    rows = 200_000
    (inbox / "in" / "big.csv").write_text(csv_text(rows))
    config = tmp_path / "pipeline.yaml"
    # small record batches: 2,000 of them, so the kill after 20 lands early in the file however fast
    # publishing is (with the default 2,000 records a batch the whole file was out within a second)
    write_pipeline(config, kafka_broker.bootstrap, unique_name("app"), workflow, {
        "type": "local", "root": str(inbox), "prefix": "in/", "poll_interval": 0.5, "stable_listings": 1},
        publish={"batch_records": 100})
    topics = WorkflowTopics.of(workflow)
    await ensure_topics(kafka_broker.bootstrap, [TopicSpec(name, 3) for name in topics.all()])
    async with TopicTail(kafka_broker.bootstrap, topics.files) as files, \
            TopicTail(kafka_broker.bootstrap, topics.records) as records:
        with worker_process(config, tmp_path / "data", tmp_path / "worker.log") as proc:
            await files.until(lambda e: "STARTED" in kinds(e, "in/big.csv"), timeout=90)
            await records.until(lambda b: len(b) >= 20, timeout=60)  # part of the file is out
            proc.kill()  # SIGKILL mid-file: no clean shutdown, no offset commit
            proc.wait(10)
        assert "COMPLETED" not in kinds(files.items, "in/big.csv")
        with worker_process(config, tmp_path / "data", tmp_path / "worker.log"):
            await files.until(lambda e: "COMPLETED" in kinds(e, "in/big.csv"), timeout=120)
        done = next(e for e in files.items if e["kind"] == "COMPLETED")
        assert done["record_count"] == rows
        await records.until(lambda b: len({x["batch_id"] for x in b}) >= 1 and
                            sum(len(x["record_keys"]) for x in {x["batch_id"]: x for x in b}.values()) >= rows)
    by_id: dict[str, list[dict[str, Any]]] = {}
    for batch in records.items:
        by_id.setdefault(batch["batch_id"], []).append(batch)
    assert any(len(copies) > 1 for copies in by_id.values())  # the restart republished batches...
    for copies in by_id.values():  # ...and every copy of a batch is identical
        assert all(c["record_keys"] == copies[0]["record_keys"] and c["rows"] == copies[0]["rows"] for c in copies)
    indexes = sorted(i for copies in by_id.values() for i in copies[0]["record_indexes"])
    assert indexes == list(range(rows))  # every record at least once, none lost
