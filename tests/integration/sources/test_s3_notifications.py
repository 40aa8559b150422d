"""S3 event notifications through SQS as a discovery trigger, against moto's server (S3 and SQS).

The trigger alone, with moto delivering the bucket's notifications to a real queue: only created files in
the inbox that match the patterns cause a listing; every message is deleted once handled, but a
notification whose discovery failed comes back; a worker that lost discovery ownership hands messages back;
a file too young for ``min_age`` is listed again once it is old enough; a missing queue is an error with
a growing pause.

Then real workers with ``poll_interval: 300`` (the first poll would come after five minutes): a file
dropped into the bucket is published within seconds, keys outside the inbox or its patterns never are,
a notification of the same version twice publishes it once, SNS-wrapped notifications work too, and a
queue that does not exist is logged while polling still finds the file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from fluentsync.connectors.ingest.selection import Selection, Selector
from fluentsync.connectors.sources import S3Source, SourceError
from fluentsync.connectors.sources.notifications import NotificationTrigger
from fluentsync.streams.agents.files import FilesRuntime
from fluentsync.streams.agents.sources import build_notification_trigger
from fluentsync.streams.config import S3SourceConfig, WorkflowConfig
from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.tail import TopicTail
from fluentsync.streams.kafka.topics import TopicSpec, ensure_topics
from tests.fixtures.s3 import S3Server
from tests.fixtures.workers import WorkerLog, worker_process
from tests.integration.ingest.test_worker_files import csv_text, kinds, write_pipeline

pytestmark = pytest.mark.integration

PREFIX = "inventory/in/"


@dataclass
class Bucket:
    """A bucket whose ObjectCreated notifications go to a queue (unless made with ``notify=False``)."""

    server: S3Server
    name: str
    queue_url: str
    s3: Any
    sqs: Any

    def put(self, key: str, body: bytes = b"skuRef,locationRef\nA,B\n") -> None:
        self.s3.put_object(Bucket=self.name, Key=key, Body=body)

    def pending(self) -> tuple[int, int]:
        """(visible, in flight) messages of the queue."""
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def source(self, queue_url: str | None = None, **options: Any) -> dict[str, Any]:
        """The workflow's ``source`` block: moto's endpoint, credentials from ${TEST_S3_KEY}/${TEST_S3_SECRET}."""
        return {"type": "s3", "bucket": self.name, "prefix": PREFIX, "patterns": ["*.csv"],
                "endpoint_url": self.server.endpoint_url, "region": self.server.region, "path_style": True,
                "access_key_id": "${TEST_S3_KEY}", "secret_access_key": "${TEST_S3_SECRET}",
                "notifications": {"queue_url": queue_url or self.queue_url, "wait_seconds": 1}, **options}


def make_bucket(server: S3Server, name: str, *, notify: bool = True, visibility: int = 30) -> Bucket:
    options = {"endpoint_url": server.endpoint_url, "region_name": server.region,
               "aws_access_key_id": server.access_key_id, "aws_secret_access_key": server.secret_access_key}
    s3, sqs = boto3.client("s3", **options), boto3.client("sqs", **options)
    s3.create_bucket(Bucket=name)
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": str(visibility)})["QueueUrl"]
    if notify:
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    return Bucket(server, name, url, s3, sqs)


@pytest.fixture
def bucket(s3_server: S3Server, unique_name: Callable[[str], str]) -> Bucket:
    return make_bucket(s3_server, unique_name("notified"))


@pytest.fixture
def credentials(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_S3_KEY", s3_server.access_key_id)  # the source block reads ${TEST_S3_KEY}
    monkeypatch.setenv("TEST_S3_SECRET", s3_server.secret_access_key)


@dataclass
class Discoveries:
    """What the trigger asked for: each call lists the inbox with a real source and selector."""

    bucket: Bucket
    min_age: float = 0.0
    fail: int = 0  #: calls that raise first, as a failed listing does
    selected: list[list[str]] = field(default_factory=list)

    async def __call__(self) -> None:
        if self.fail:
            self.fail -= 1
            self.selected.append([])
            raise SourceError("list s3://bucket/inventory/in/: InternalError (HTTP 500)", retryable=True)
        server = self.bucket.server
        async with S3Source(self.bucket.name, endpoint_url=server.endpoint_url, region=server.region,
                            path_style=True, access_key_id=server.access_key_id,
                            secret_access_key=server.secret_access_key) as source:
            listing = [ref async for ref in source.list(PREFIX)]
        self.selected.append([ref.path for ref in self.selector.select(listing)])

    def __post_init__(self) -> None:
        self.selector = Selector(Selection(patterns=("*.csv",), min_age=self.min_age))


def trigger(bucket: Bucket, discover: Discoveries, owner: Callable[[], bool] = lambda: True,
            queue_url: str | None = None) -> NotificationTrigger:
    source = S3SourceConfig.model_validate({**bucket.source(queue_url), "min_age": discover.min_age,
                                            "access_key_id": bucket.server.access_key_id,
                                            "secret_access_key": bucket.server.secret_access_key})
    return build_notification_trigger("inv", source, Selection(patterns=("*.csv",)).matches, discover, owner)


async def drain(step: NotificationTrigger, bucket: Bucket, timeout: float = 20.0) -> None:
    """Step the trigger until its queue is empty (nothing visible, nothing in flight)."""
    deadline = time.monotonic() + timeout
    while bucket.pending() != (0, 0):
        assert time.monotonic() < deadline, f"queue not drained: {bucket.pending()}"
        await step.step()


async def test_only_created_files_in_the_inbox_trigger_a_listing(
    bucket: Bucket, caplog: pytest.LogCaptureFixture
) -> None:
    discoveries = Discoveries(bucket)
    notified = trigger(bucket, discoveries)
    try:
        for key in ("inventory/other/a.csv", PREFIX + "sub/b.csv", PREFIX + "c.txt", PREFIX + "sub/"):
            bucket.put(key)
        bucket.sqs.send_message(QueueUrl=bucket.queue_url, MessageBody="{not json")
        bucket.sqs.send_message(QueueUrl=bucket.queue_url, MessageBody=json.dumps({"Records": [{
            "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "someone-else"}, "object": {"key": "inventory%2Fin%2Fd.csv"}}}]}))
        with caplog.at_level(logging.INFO, "fluentsync.connectors.sources.notifications"):
            await drain(notified, bucket)  # the s3:TestEvent, six notifications that ask for nothing
            assert discoveries.selected == []
            assert "is unreadable (the message body is not JSON" in caplog.text and "{not json" not in caplog.text

            bucket.put(PREFIX + "new file.csv")  # S3 sends the key as inventory%2Fin%2Fnew+file.csv
            await drain(notified, bucket)
        assert discoveries.selected == [[PREFIX + "new file.csv"]]
        assert f"S3 notification for {PREFIX}new file.csv: discovering now" in caplog.text
    finally:
        await notified.aclose()


async def test_a_failed_discovery_leaves_its_notification_for_redelivery(
    s3_server: S3Server, unique_name: Callable[[str], str]
) -> None:
    bucket = make_bucket(s3_server, unique_name("redeliver"), visibility=1)
    discoveries = Discoveries(bucket, fail=1)
    notified = trigger(bucket, discoveries)
    try:
        bucket.put(PREFIX + "a.csv")
        deadline = time.monotonic() + 20
        while not discoveries.selected:
            assert time.monotonic() < deadline
            pause = await notified.step()
        assert pause == 1.0 and notified.failures == 1
        assert bucket.pending() == (0, 1)  # received, not deleted: back after the visibility timeout
        await drain(notified, bucket)
        assert discoveries.selected == [[], [PREFIX + "a.csv"]] and notified.failures == 0
    finally:
        await notified.aclose()


async def test_a_worker_that_no_longer_owns_discovery_hands_messages_back(bucket: Bucket) -> None:
    owner = [False]
    discoveries = Discoveries(bucket)
    notified = trigger(bucket, discoveries, owner=lambda: owner[0])
    try:
        bucket.put(PREFIX + "a.csv")
        assert bucket.pending() == (2, 0)  # the s3:TestEvent and the notification
        await notified.step()
        assert bucket.pending() == (2, 0) and discoveries.selected == []  # received and released at once
        owner[0] = True
        await drain(notified, bucket)
        assert discoveries.selected == [[PREFIX + "a.csv"]]
    finally:
        await notified.aclose()


async def test_a_file_too_young_is_listed_again_once_old_enough(bucket: Bucket) -> None:
    discoveries = Discoveries(bucket, min_age=2.0)
    notified = trigger(bucket, discoveries)
    try:
        bucket.put(PREFIX + "a.csv")
        started = time.monotonic()
        deadline = started + 20
        while not any(discoveries.selected):
            assert time.monotonic() < deadline, discoveries.selected
            await notified.step()  # the long poll waits only until the follow-up listing is due
        assert discoveries.selected[0] == [] and discoveries.selected[-1] == [PREFIX + "a.csv"]
        assert 1.0 <= time.monotonic() - started < 8.0
        assert bucket.pending() == (0, 0) and not notified.follow_ups
    finally:
        await notified.aclose()


async def test_a_missing_queue_is_an_error_with_a_growing_pause(
    bucket: Bucket, caplog: pytest.LogCaptureFixture
) -> None:
    discoveries = Discoveries(bucket)
    notified = trigger(bucket, discoveries, queue_url=bucket.queue_url + "-missing")
    try:
        with caplog.at_level(logging.ERROR, "fluentsync.connectors.sources.notifications"):
            assert [await notified.step(), await notified.step()] == [1.0, 2.0]
        assert discoveries.selected == []
        assert f"receive from queue {bucket.name}-missing: AWS.SimpleQueueService.NonExistentQueue (HTTP 400)" \
            in caplog.text
        assert "retrying in 2 s (failure 2 in a row); polling discovery goes on every 10 s" in caplog.text
        assert bucket.server.secret_access_key not in caplog.text
    finally:
        await notified.aclose()


async def test_discovery_raises_for_the_trigger_when_the_listing_fails(
    s3_server: S3Server, unique_name: Callable[[str], str]
) -> None:
    source = {**make_bucket(s3_server, unique_name("gone")).source(), "bucket": unique_name("absent"),
              "access_key_id": s3_server.access_key_id, "secret_access_key": s3_server.secret_access_key}
    config = WorkflowConfig.model_validate({"source": source, "format": {"type": "csv"}, "key": ["sku"]})
    files = FilesRuntime("inv", config, WorkflowTopics.of("inv"), 3, SimpleNamespace())  # type: ignore[arg-type]
    try:
        assert await files.discover() == 0  # the poll timer's call: logged, the next poll tries again
        with pytest.raises(SourceError, match="NoSuchBucket"):  # the trigger's: keeps its messages
            await files.discover(strict=True)
    finally:
        await files.aclose()
        if files.source is not None:
            await files.source.close()


# -- real workers ----------------------------------------------------------------------------------------
async def started_worker(kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path,
                         source: dict[str, Any]) -> tuple[str, Path]:
    """The pipeline file of one S3 workflow, its topics created; returns the workflow and the file."""
    workflow = unique_name("notified").replace("-", "_")
    config = tmp_path / "pipeline.yaml"
    write_pipeline(config, kafka_broker.bootstrap, unique_name("app"), workflow, source)
    await ensure_topics(kafka_broker.bootstrap, [TopicSpec(name, 3) for name in WorkflowTopics.of(workflow).all()])
    return workflow, config


async def ready(log: WorkerLog, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not log.ready():
        assert time.monotonic() < deadline, f"worker not ready:\n{log.tail()}"
        await asyncio.sleep(0.2)


async def test_a_notified_file_is_published_without_waiting_for_the_poll(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, bucket: Bucket,
    credentials: None,
) -> None:
    workflow, config = await started_worker(kafka_broker, unique_name, tmp_path,
                                            bucket.source(poll_interval=300))
    async with TopicTail(kafka_broker.bootstrap, WorkflowTopics.of(workflow).files) as files:
        with worker_process(config, tmp_path, 1) as (_, log):
            await ready(log)
            for key in ("inventory/other/x.csv", PREFIX + "sub/y.csv", PREFIX + "z.txt"):
                bucket.put(key)
            bucket.put(PREFIX + "a.csv", csv_text(20).encode())
            await files.until(lambda e: "COMPLETED" in kinds(e, PREFIX + "a.csv"), timeout=30)

            bucket.put(PREFIX + "a.csv", csv_text(20).encode())  # the same version again: a second notification
            bucket.put(PREFIX + "b.csv", csv_text(5).encode())  # announced after the repeat was handled
            await files.until(lambda e: "COMPLETED" in kinds(e, PREFIX + "b.csv"), timeout=30)
            deadline = time.monotonic() + 30
            while bucket.pending() != (0, 0):  # every notification handled (deleted after its discovery)
                assert time.monotonic() < deadline, bucket.pending()
                await asyncio.sleep(0.2)
            await files.poll(1.0)
            assert kinds(files.items, PREFIX + "a.csv") == ["DISCOVERED", "STARTED", "COMPLETED"]
            assert {e["file"]["path"] for e in files.items} == {PREFIX + "a.csv", PREFIX + "b.csv"}
            completed = next(e for e in files.items if e["kind"] == "COMPLETED")
            assert completed["record_count"] == 20
            assert bucket.server.secret_access_key not in log.text()


async def test_sns_wrapped_notifications_trigger_discovery(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, s3_server: S3Server,
    credentials: None,
) -> None:
    bucket = make_bucket(s3_server, unique_name("sns"), notify=False)  # the test plays SNS
    workflow, config = await started_worker(kafka_broker, unique_name, tmp_path, bucket.source(poll_interval=300))
    async with TopicTail(kafka_broker.bootstrap, WorkflowTopics.of(workflow).files) as files:
        with worker_process(config, tmp_path, 1) as (_, log):
            await ready(log)
            bucket.put(PREFIX + "from sns.csv", csv_text(7).encode())
            event = {"Records": [{
                "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                "eventTime": "2026-01-01T00:00:00.000Z",
                "s3": {"bucket": {"name": bucket.name}, "object": {"key": "inventory/in/from+sns.csv"}}}]}
            bucket.sqs.send_message(QueueUrl=bucket.queue_url, MessageBody=json.dumps({
                "Type": "Notification", "MessageId": "6a1b", "TopicArn": "arn:aws:sns:us-east-1:123456789012:drops",
                "Subject": "Amazon S3 Notification", "Message": json.dumps(event)}))
            events = await files.until(lambda e: "COMPLETED" in kinds(e, PREFIX + "from sns.csv"), timeout=30)
            assert next(e for e in events if e["kind"] == "COMPLETED")["record_count"] == 7


async def test_a_missing_queue_is_logged_and_polling_still_discovers(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, bucket: Bucket,
    credentials: None,
) -> None:
    workflow, config = await started_worker(kafka_broker, unique_name, tmp_path, bucket.source(
        queue_url=bucket.queue_url + "-missing", poll_interval=1))
    async with TopicTail(kafka_broker.bootstrap, WorkflowTopics.of(workflow).files) as files:
        with worker_process(config, tmp_path, 1) as (_, log):
            bucket.put(PREFIX + "a.csv", csv_text(3).encode())
            await files.until(lambda e: "COMPLETED" in kinds(e, PREFIX + "a.csv"), timeout=60)
            deadline = time.monotonic() + 30
            while "NonExistentQueue" not in log.text():
                assert time.monotonic() < deadline, log.tail()
                await asyncio.sleep(0.2)
            assert f"S3 notifications: receive from queue {bucket.name}-missing: AWS.SimpleQueueService." \
                "NonExistentQueue (HTTP 400); retrying in" in log.text()
            assert "polling discovery goes on every 1 s" in log.text()
            assert bucket.server.secret_access_key not in log.text()
