"""S3 event notifications, as they arrive in an SQS queue: which new objects they announce.

A bucket can tell an SQS queue about every object written to it, directly (the body is S3's event JSON)
or through an SNS topic (the body is SNS's envelope, with S3's JSON as a string in ``Message``; raw
message delivery makes it the direct form again). The S3 source uses these messages only as a *hint* to
list its inbox now rather than at the next poll: the listing stays the source of truth. So parsing is
lenient about what it ignores (the ``s3:TestEvent`` S3 sends when the configuration is saved, removals,
other buckets) and strict about what it cannot read (:class:`MalformedNotification`), which the caller
logs and deletes: a message that cannot be read now never becomes readable by being delivered again.

Object keys in S3 events are URL-encoded the form way (``in%2Fa+b.csv`` is ``in/a b.csv``), unlike keys
in the S3 API itself; :func:`parse_notification` decodes them.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

__all__ = ["InboxFilter", "MalformedNotification", "ObjectCreated", "parse_notification"]


class MalformedNotification(ValueError):
    """The message is neither an S3 event nor an SNS envelope of one. The message says why, never the body."""


@dataclass(frozen=True, slots=True)
class ObjectCreated:
    """One ``ObjectCreated:*`` record: an object was written (Put, Post, Copy, multipart upload)."""

    bucket: str
    key: str  #: decoded
    event_time: datetime | None = None  #: when S3 recorded the write (timezone-aware), if the record says
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None


def parse_notification(body: str) -> list[ObjectCreated]:
    """The objects a message says were created; ``[]`` for test events and records of other kinds.

    Accepts S3's event JSON (``{"Records": [...]}``), S3's ``s3:TestEvent``, and either of them wrapped
    in an SNS notification (``{"Type": "Notification", "Message": "<S3 JSON>"}``).
    """
    document = _json(body, "the message body")
    if isinstance(document, dict) and document.get("Type") == "Notification" and "Message" in document:
        message = document["Message"]
        if not isinstance(message, str):
            raise MalformedNotification("an SNS notification whose Message is not a string")
        document = _json(message, "the SNS notification's Message")
    if not isinstance(document, dict):
        raise MalformedNotification(f"a JSON {type(document).__name__}, not an S3 event")
    if document.get("Event") == "s3:TestEvent":
        return []
    records = document.get("Records")
    if not isinstance(records, list):
        raise MalformedNotification("neither S3 event Records nor an s3:TestEvent")
    return [event for index, record in enumerate(records) if (event := _record(record, index)) is not None]


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:  # JSONDecodeError is one; its message quotes no input, only a position
        raise MalformedNotification(f"{what} is not JSON ({exc})") from None


def _record(record: Any, index: int) -> ObjectCreated | None:
    if not isinstance(record, dict):
        raise MalformedNotification(f"record {index} is not an object")
    name = record.get("eventName")
    if not isinstance(name, str):
        raise MalformedNotification(f"record {index} has no eventName")
    if record.get("eventSource", "aws:s3") != "aws:s3":
        return None  # another service's record in the same queue: not ours to judge
    if not name.removeprefix("s3:").startswith("ObjectCreated:"):
        return None  # ObjectRemoved, ObjectRestore, Replication, LifecycleExpiration...: nothing to process
    s3 = record.get("s3")
    bucket = s3.get("bucket") if isinstance(s3, dict) else None
    obj = s3.get("object") if isinstance(s3, dict) else None
    bucket_name = bucket.get("name") if isinstance(bucket, dict) else None
    key = obj.get("key") if isinstance(obj, dict) else None
    if not isinstance(bucket_name, str) or not isinstance(key, str) or not bucket_name or not key:
        raise MalformedNotification(f"record {index} ({name}) names no bucket and key")
    assert isinstance(obj, dict)
    return ObjectCreated(
        bucket=bucket_name, key=unquote_plus(key), event_time=_time(record.get("eventTime")),
        size=obj["size"] if isinstance(obj.get("size"), int) else None,
        etag=obj["eTag"] if isinstance(obj.get("eTag"), str) else None,
        version_id=obj["versionId"] if isinstance(obj.get("versionId"), str) else None,
    )


def _time(value: Any) -> datetime | None:
    """``2024-05-01T10:00:00.123Z`` as an aware datetime; None when absent or unreadable (it only schedules
    a follow-up listing, so an odd clock format is no reason to drop the record)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


@dataclass(frozen=True)
class InboxFilter:
    """Whether a created object is a file the workflow's discovery would pick: same bucket, directly in
    the inbox folder (discovery lists one level, so ``in/sub/a.csv`` is not in ``in/``), and a name that
    passes the workflow's patterns and ignore list (``matches``, the discovery selection's own test)."""

    bucket: str
    prefix: str
    matches: Callable[[str], bool]

    def wants(self, event: ObjectCreated) -> bool:
        if event.bucket != self.bucket or not event.key.startswith(self.prefix):
            return False
        rest = event.key[len(self.prefix):]
        return bool(rest) and "/" not in rest and self.matches(posixpath.basename(rest))
