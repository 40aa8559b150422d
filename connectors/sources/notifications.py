"""S3 event notifications as a discovery trigger: long-poll an SQS queue, list the inbox when a file lands.

Polling finds a new file up to ``poll_interval`` after it arrived; with the bucket's event notifications
sent to an SQS queue, :class:`NotificationTrigger` runs the same discovery within a second or so. The
notification is only a hint:

- discovery still *lists* the inbox, so the listing stays the source of truth, and the file identity
  (bucket + key + ETag/VersionId) and the processed-files table still prevent double processing - a
  notification delivered twice, or racing the poll, announces nothing new;
- the completeness rules still apply: a file younger than ``min_age`` (or not yet seen in
  ``stable_listings`` listings) is skipped by that listing like by any other, and the trigger schedules
  follow-up listings for when it qualifies rather than leaving it to the next poll;
- a message is deleted only after the discovery it triggered returned, so a crash or a failed listing in
  between means a redelivery (after the queue's visibility timeout) and one more harmless listing;
- messages that cannot be read are logged (id and reason, never the body) and deleted; test events,
  removals, other buckets and keys outside the inbox or its patterns are deleted without a listing;
- the queue failing (network, permissions, a wrong URL) is logged with a growing pause and never stops
  polling discovery, which keeps running as the safety net.

Only the workflow's discovery owner consumes the queue (``is_owner``: the Faust group leader, like the
poll timer); a worker that loses ownership during a long poll hands what it received back to the queue
(visibility 0) instead of acting on it.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fluentsync.connectors.remote.aws import AwsSettings
from fluentsync.connectors.remote.s3 import AwsClient
from fluentsync.connectors.sources.s3_events import (
    InboxFilter,
    MalformedNotification,
    ObjectCreated,
    parse_notification,
)

__all__ = ["NotificationTrigger", "QueueError", "QueueMessage", "SqsQueue", "queue_region"]

log = logging.getLogger(__name__)

_AWS_QUEUE = re.compile(r"^https://(?:sqs[.-]([a-z0-9-]+)|([a-z0-9-]+)\.queue)\.amazonaws\.com(?:\.cn)?/")


def queue_region(queue_url: str) -> str | None:
    """The region an AWS queue URL names (``https://sqs.eu-west-1.amazonaws.com/...``); None for others."""
    match = _AWS_QUEUE.match(queue_url)
    return (match.group(1) or match.group(2)) if match else None


@dataclass(frozen=True, slots=True)
class QueueMessage:
    message_id: str
    receipt_handle: str
    body: str


class QueueError(Exception):
    """An SQS call failed; the message names the call, the queue, the error code and the HTTP status only."""


class SqsQueue:
    """One SQS queue through aiobotocore, the client opened at first use (credentials as for S3)."""

    def __init__(self, queue_url: str, aws: AwsSettings) -> None:
        self.url = queue_url
        # a long poll holds the request up to 20 s: the read timeout must outlast it
        self._client = AwsClient("sqs", aws, read_timeout=60)

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    async def _sqs(self) -> Any:
        return await self._client.get()

    async def receive(self, *, wait_seconds: int, max_messages: int) -> list[QueueMessage]:
        """Up to ``max_messages`` messages, waiting up to ``wait_seconds`` (0-20) for the first."""
        try:
            sqs = await self._sqs()
            response = await sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=max_messages,
                                                 WaitTimeSeconds=wait_seconds)
        except Exception as exc:
            raise _error(exc, f"receive from queue {self.name}") from None
        return [QueueMessage(m["MessageId"], m["ReceiptHandle"], m.get("Body", ""))
                for m in response.get("Messages", [])]

    async def delete(self, messages: Sequence[QueueMessage]) -> None:
        """Delete messages that were handled (batches of ten, SQS's limit)."""
        await self._batch("delete_message_batch", "delete messages in queue", messages, {})

    async def release(self, messages: Sequence[QueueMessage]) -> None:
        """Make messages visible again at once, for whoever consumes the queue next."""
        await self._batch("change_message_visibility_batch", "release messages in queue", messages,
                          {"VisibilityTimeout": 0})

    async def _batch(self, call: str, doing: str, messages: Sequence[QueueMessage], extra: dict[str, Any]) -> None:
        for start in range(0, len(messages), 10):
            entries = [{"Id": str(i), "ReceiptHandle": m.receipt_handle, **extra}
                       for i, m in enumerate(messages[start:start + 10])]
            try:
                sqs = await self._sqs()
                response = await getattr(sqs, call)(QueueUrl=self.url, Entries=entries)
            except Exception as exc:
                raise _error(exc, f"{doing} {self.name}") from None
            failed = response.get("Failed") or []
            if failed:
                codes = sorted({str(f.get("Code", "error")) for f in failed})
                raise QueueError(f"{doing} {self.name}: {len(failed)} of {len(entries)} failed ({', '.join(codes)})")

    async def close(self) -> None:
        await self._client.close()

    def __repr__(self) -> str:
        return f"SqsQueue({self.url}, open={self._client.is_open})"


def _error(exc: Exception, doing: str) -> QueueError:
    """Code and status of a botocore error, or the exception's type: never request details or keys."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code") or "error"
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return QueueError(f"{doing}: {code} (HTTP {status})")
    return QueueError(f"{doing}: {type(exc).__name__}")


MARGIN = 1.0  #: seconds added to a follow-up listing's time (S3's clock and ours, LastModified's rounding)
STABLE_SPACING = 2.0  #: seconds between follow-up listings when ``stable_listings`` asks for several
MAX_FOLLOW_UPS = 1000  #: scheduled follow-up listings kept at most (beyond: polling finds those files)


class NotificationTrigger:
    """Consumes one workflow's notification queue while ``is_owner()`` and runs ``discover`` for its files.

    ``discover`` lists the inbox and announces what is new; it raises when the listing fails, so the
    messages that asked for it stay in the queue. ``run`` loops until cancelled (worker shutdown).
    """

    def __init__(
        self,
        workflow: str,
        queue: SqsQueue,
        inbox: InboxFilter,
        discover: Callable[[], Awaitable[object]],
        is_owner: Callable[[], bool],
        *,
        wait_seconds: int = 20,
        max_messages: int = 10,
        min_age: float = 0.0,
        stable_listings: int = 1,
        poll_interval: float | None = None,
        idle_check: float = 1.0,
        max_backoff: float = 60.0,
    ) -> None:
        self.workflow = workflow
        self.queue = queue
        self.inbox = inbox
        self.discover = discover
        self.is_owner = is_owner
        self.wait_seconds = wait_seconds
        self.max_messages = max_messages
        self.min_age = min_age
        self.stable_listings = stable_listings
        self.poll_interval = poll_interval
        self.idle_check = idle_check
        self.max_backoff = max_backoff
        self.failures = 0  #: failed steps in a row (receiving, or the discovery a notification asked for)
        self.follow_ups: list[float] = []  #: sorted monotonic times of listings for files not ready yet
        self.closed = False  #: set by aclose(): a receive cut short by the shutdown is no error

    async def run(self) -> None:
        """Consume while this worker owns discovery; idle (checking every ``idle_check`` s) otherwise."""
        while not self.closed:
            if not self.is_owner():
                await asyncio.sleep(self.idle_check)
                continue
            try:
                pause = await self.step()
            except Exception as exc:  # a bug must not silently end notifications: say it, pause, go on
                log.exception("workflow %s: S3 notifications failed unexpectedly", self.workflow)
                pause = self._failed(f"{type(exc).__name__} (queue {self.queue.name})")
            if pause:
                await asyncio.sleep(pause)

    async def step(self) -> float:
        """One (long) poll of the queue and the discovery it asks for; returns the pause before the next."""
        try:
            messages = await self.queue.receive(wait_seconds=self._wait(), max_messages=self.max_messages)
        except QueueError as exc:
            return 0.0 if self.closed else self._failed(str(exc))
        if messages and not self.is_owner():  # ownership moved during the long poll: not ours to handle
            await self._settle(self.queue.release, messages)
            return 0.0
        hits: list[ObjectCreated] = []
        triggering: list[QueueMessage] = []  #: deleted only once their discovery ran
        done: list[QueueMessage] = []  #: nothing to list for (test events, other keys, unreadable)
        for message in messages:
            try:
                events = parse_notification(message.body)
            except MalformedNotification as exc:
                log.warning("workflow %s: S3 notification %s in queue %s is unreadable (%s); deleting it",
                            self.workflow, message.message_id, self.queue.name, exc)
                done.append(message)
                continue
            wanted = [event for event in events if self.inbox.wants(event)]
            (triggering if wanted else done).append(message)
            hits.extend(wanted)
        due = self._take_due()
        if hits or due:
            if hits:
                log.info("workflow %s: S3 notification for %s%s: discovering now", self.workflow, hits[0].key,
                         f" and {len(hits) - 1} more" if len(hits) > 1 else "")
            try:
                await self.discover()
            except Exception as exc:
                self.follow_ups = sorted(self.follow_ups + due)  # they still have to happen
                await self._settle(self.queue.delete, done)
                return self._failed(f"discovery failed ({exc}); its notifications stay in queue "
                                    f"{self.queue.name} for redelivery")
            self._schedule(hits)
        await self._settle(self.queue.delete, done + triggering)
        self.failures = 0
        return 0.0

    async def _settle(self, action: Callable[[Sequence[QueueMessage]], Awaitable[None]],
                      messages: Sequence[QueueMessage]) -> None:
        if not messages:
            return
        try:
            await action(messages)
        except QueueError as exc:  # a redelivery costs one more listing; nothing is lost
            log.warning("workflow %s: S3 notifications: %s", self.workflow, exc)

    def _failed(self, reason: str) -> float:
        self.failures += 1
        pause = min(2.0 ** (self.failures - 1), self.max_backoff)
        polling = f"; polling discovery goes on every {self.poll_interval:g} s" if self.poll_interval else ""
        log.error("workflow %s: S3 notifications: %s; retrying in %.0f s (failure %d in a row)%s",
                  self.workflow, reason, pause, self.failures, polling)
        return pause

    # -- follow-up listings for notified files that are not settled yet ----------------------------------
    def _wait(self) -> int:
        """The long poll's wait: ``wait_seconds``, shorter when a follow-up listing is due sooner."""
        if not self.follow_ups:
            return self.wait_seconds
        return max(0, min(self.wait_seconds, math.ceil(self.follow_ups[0] - time.monotonic())))

    def _take_due(self) -> list[float]:
        cut = bisect.bisect_right(self.follow_ups, time.monotonic())
        due, self.follow_ups = self.follow_ups[:cut], self.follow_ups[cut:]
        return due

    def _schedule(self, hits: Sequence[ObjectCreated]) -> None:
        """Listings for when notified files qualify: at ``min_age`` after their write, then every
        ``STABLE_SPACING`` s until ``stable_listings`` listings saw them (the triggered one counts)."""
        now, wall = time.monotonic(), datetime.now(UTC)
        for hit in hits:
            age = (wall - hit.event_time).total_seconds() if hit.event_time is not None else 0.0
            waiting = max(self.min_age - age, 0.0)
            if waiting > 0:  # too young for the listing it triggered: list again once it is old enough
                start, count = now + waiting + MARGIN, max(self.stable_listings - 1, 1)
            else:
                start, count = now + STABLE_SPACING, self.stable_listings - 1
            for k in range(count):
                self._add(start + k * STABLE_SPACING)

    def _add(self, when: float) -> None:
        index = bisect.bisect_left(self.follow_ups, when - 0.5)
        if index < len(self.follow_ups) and self.follow_ups[index] <= when + 0.5:
            return  # one listing that close serves both
        if len(self.follow_ups) < MAX_FOLLOW_UPS:
            bisect.insort(self.follow_ups, when)

    async def aclose(self) -> None:
        """Stop consuming and close the client (worker shutdown)."""
        self.closed = True
        await self.queue.close()
