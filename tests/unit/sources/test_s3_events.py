"""Reading S3 event notifications: decoding keys, unwrapping SNS, what is ignored, what is malformed, and
which keys belong to a workflow's inbox; plus the ``notifications`` option of the pipeline file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from fluentsync.connectors.ingest.selection import Selection
from fluentsync.connectors.sources.notifications import queue_region
from fluentsync.connectors.sources.s3_events import (
    InboxFilter,
    MalformedNotification,
    ObjectCreated,
    parse_notification,
)
from fluentsync.streams.cli import main
from fluentsync.streams.config import ConfigError, S3SourceConfig, parse_pipeline


def record(key: str, name: str = "ObjectCreated:Put", bucket: str = "wms", **obj: Any) -> dict[str, Any]:
    return {"eventVersion": "2.1", "eventSource": "aws:s3", "eventTime": "2026-05-01T10:00:00.123Z",
            "eventName": name, "s3": {"bucket": {"name": bucket}, "object": {"key": key, **obj}}}


def body(*records: dict[str, Any]) -> str:
    return json.dumps({"Records": list(records)})


def sns(message: str) -> str:
    return json.dumps({"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:us-east-1:1:t",
                       "Subject": "Amazon S3 Notification", "Message": message})


def test_created_records_with_url_decoded_keys() -> None:
    events = parse_notification(body(record("in%2Fa+b%2Bc.csv", size=12, eTag="abc", versionId="v1"),
                                     record("in/%C3%A9t%C3%A9.csv", name="ObjectCreated:CompleteMultipartUpload")))
    assert events == [
        ObjectCreated("wms", "in/a b+c.csv", datetime(2026, 5, 1, 10, 0, 0, 123000, UTC), 12, "abc", "v1"),
        ObjectCreated("wms", "in/été.csv", datetime(2026, 5, 1, 10, 0, 0, 123000, UTC)),
    ]


def test_sns_envelope_is_unwrapped() -> None:
    assert [e.key for e in parse_notification(sns(body(record("in%2Fa.csv"))))] == ["in/a.csv"]
    assert parse_notification(sns(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"}))) == []


def test_test_events_and_other_kinds_are_ignored() -> None:
    assert parse_notification(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "wms"})) == []
    ignored = body(record("in/a.csv", name="ObjectRemoved:Delete"), record("in/b.csv", name="ObjectRestore:Post"),
                   {**record("in/c.csv"), "eventSource": "aws:other"})
    assert parse_notification(ignored) == []
    assert [e.key for e in parse_notification(body(record("in/d.csv", name="s3:ObjectCreated:Copy")))] == ["in/d.csv"]


def test_odd_event_time_keeps_the_record() -> None:
    assert parse_notification(body({**record("a.csv"), "eventTime": "yesterday"}))[0].event_time is None


@pytest.mark.parametrize("text, reason", [
    ("not json at all", "not JSON"),
    ("[1, 2]", "a JSON list"),
    (json.dumps({"hello": "world"}), "neither S3 event Records"),
    (json.dumps({"Records": ["x"]}), "record 0 is not an object"),
    (json.dumps({"Records": [{"eventSource": "aws:s3"}]}), "no eventName"),
    (body({**record("a.csv"), "s3": {"bucket": {"name": "wms"}, "object": {}}}), "names no bucket and key"),
    (sns("{broken"), "the SNS notification's Message is not JSON"),
    (json.dumps({"Type": "Notification", "Message": {"Records": []}}), "Message is not a string"),
])
def test_malformed_messages_say_why_without_quoting_the_body(text: str, reason: str) -> None:
    with pytest.raises(MalformedNotification, match=reason) as caught:
        parse_notification(text)
    assert "world" not in str(caught.value) and "broken" not in str(caught.value)


def test_inbox_filter_takes_the_inbox_level_and_the_patterns() -> None:
    selection = Selection(patterns=("*.csv", "*.csv.gz"), ignore=("tmp_*",))
    inbox = InboxFilter("wms", "inventory/in/", selection.matches)

    def wants(key: str, bucket: str = "wms") -> bool:
        return inbox.wants(ObjectCreated(bucket, key))

    assert wants("inventory/in/a.csv") and wants("inventory/in/B.CSV") and wants("inventory/in/b c.csv.gz")
    assert not wants("inventory/in/a.csv", bucket="other")
    assert not wants("inventory/processed/a.csv") and not wants("a.csv") and not wants("inventory/in.csv")
    assert not wants("inventory/in/sub/a.csv")  # discovery lists one level
    assert not wants("inventory/in/") and not wants("inventory/in/a.txt") and not wants("inventory/in/tmp_a.csv")
    assert InboxFilter("wms", "", selection.matches).wants(ObjectCreated("wms", "a.csv"))


def test_queue_region_comes_from_aws_queue_urls_only() -> None:
    assert queue_region("https://sqs.eu-west-1.amazonaws.com/123456789012/inbox") == "eu-west-1"
    assert queue_region("https://eu-central-1.queue.amazonaws.com/123456789012/inbox") == "eu-central-1"
    assert queue_region("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/inbox") == "cn-north-1"
    assert queue_region("http://127.0.0.1:5000/123456789012/inbox") is None


def pipeline(source: dict[str, Any]) -> dict[str, Any]:
    return {"workflows": {"inv": {"source": source, "format": {"type": "csv"}, "key": ["sku"]}}}


def test_notifications_option_of_an_s3_source() -> None:
    config = parse_pipeline(pipeline({"type": "s3", "bucket": "wms", "prefix": "in", "poll_interval": 300,
                                      "notifications": {"queue_url": "https://sqs.eu-west-1.amazonaws.com/1/q"}}))
    source = config.workflows["inv"].source
    assert isinstance(source, S3SourceConfig) and source.notifications is not None
    assert (source.notifications.wait_seconds, source.notifications.max_messages) == (20, 10)
    with pytest.raises(ConfigError, match=r"notifications\.wait_seconds: Input should be less than or equal to 20"):
        parse_pipeline(pipeline({"type": "s3", "bucket": "wms",
                                 "notifications": {"queue_url": "q", "wait_seconds": 30}}))


@pytest.mark.parametrize("source", [
    {"type": "local", "root": "/tmp/inbox"},
    {"type": "sftp", "host": "h", "username": "u", "host_key_checking": False},
])
def test_notifications_on_a_non_s3_source_is_an_error(source: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"workflows\.inv\.source\.\w+: .*`notifications` .* needs an S3 source"):
        parse_pipeline(pipeline({**source, "notifications": {"queue_url": "https://sqs.eu-west-1.amazonaws.com/1/q"}}))


def test_config_check_reports_notifications_on_a_local_source(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    queue = "https://sqs.eu-west-1.amazonaws.com/123456789012/inbox"
    notifications = {"queue_url": queue}
    path.write_text(yaml.safe_dump(pipeline({"type": "local", "root": str(tmp_path), "notifications": notifications})))
    result = CliRunner().invoke(main, ["config", "check", str(path)])
    assert result.exit_code == 1 and "workflows.inv.source.local" in result.output
    assert "needs an S3 source" in result.output
    path.write_text(yaml.safe_dump(pipeline({"type": "s3", "bucket": "wms", "notifications": notifications})))
    result = CliRunner().invoke(main, ["config", "check", str(path)])
    assert result.exit_code == 0 and f"S3 notifications from queue {queue}" in result.output
