"""The source connector as Faust agents: discover files, publish their records, archive them when settled.

Per workflow:

- a **discovery timer** (``on_leader=True``: one worker in the group lists the source, never several)
  lists the inbox, keeps settled files that match (:mod:`~fluentsync.connectors.ingest.selection`) and
  announces each new version with ``FileEvent DISCOVERED`` on ``files.<wf>``, keyed by the file's path;
  an S3 source with ``notifications`` also runs it when the bucket's event notifications (an SQS queue,
  consumed by the same leader) announce a file (:mod:`~fluentsync.connectors.sources.notifications`);
- a **files agent** on ``files.<wf>``: for COMPLETED it tells the ledger the file's record count (the
  ledger agent announces SETTLED when every record has an outcome); for DISCOVERED it checks the
  ``processed-files-<wf>`` table (changelog-backed, co-partitioned with the topic, so the worker that
  owns a path owns its state), then streams the file through the parser into the records topic (:class:`FilePublisher`);
  for SETTLED (sent when every record has an outcome) it moves the file to the archive or error folder
  with a JSON report and announces ARCHIVED.

Guarantees: a version that was published is never published again on re-listing, restart or replay of
``files.<wf>`` (the table says so); a new version under the same name is new work (policy
``on_changed_content``); a crash mid-file leaves the version ``in_progress`` and the redelivered
DISCOVERED event publishes it again from the start - identical batches, which downstream dedupe
recognises. The Kafka offset of a DISCOVERED event is committed only after the agent returns, i.e.
after the broker acknowledged every record of the file.

Retries: a transient source failure (S3 5xx, a download dropped half way, an SFTP drop) leaves the
version ``error`` and the worker that owns the file's partition re-announces it itself after a backoff
(``poll_interval`` doubling per attempt, capped at ``reannounce_after``). Only the group leader lists
the inbox, so waiting for discovery would mean ``reannounce_after`` on every other worker. The
re-announcement travels through ``files.<wf>`` like any other, so if the partition has moved meanwhile
its new owner handles it, and a version already done is skipped there (``DONE``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import posixpath
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import faust

from fluentsync.connectors.ingest.keys import RecordKeyBuilder
from fluentsync.connectors.ingest.publisher import FileCounts, FilePublisher, PublishSettings, file_event_key
from fluentsync.connectors.ingest.selection import Selection, Selector
from fluentsync.connectors.parsers.records import FileParseError
from fluentsync.connectors.parsers.stream import parse_chunks
from fluentsync.connectors.sources import FileRef, FileSource, SourceError, SourceFileNotFound
from fluentsync.connectors.webhooks.settings import WebhookSourceConfig
from fluentsync.schemas.faust_codec import avro_schema
from fluentsync.streams.agents.ledger import LedgerRuntime
from fluentsync.streams.agents.sources import build_notification_trigger, build_source
from fluentsync.streams.app import table_options
from fluentsync.streams.config import KafkaConfig, S3SourceConfig, WorkflowConfig
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.partitioning import Strategy
from fluentsync.streams.observability.logs import batch_ids, bind, correlate
from fluentsync.streams.observability.metrics import metrics_of

__all__ = ["FilesRuntime", "archive_name", "register"]

log = logging.getLogger(__name__)

DONE = {"published", "archived", "failed", "skipped"}
MAX_VERSIONS = 20  #: versions remembered per path (oldest forgotten first)


def archive_name(ref: FileRef, prefix: str, date_folders: bool) -> str:
    """Deterministic archive path of a version: re-running a move after a crash targets the same path,
    and two versions of one name never overwrite each other (the version's modification time leads)."""
    stamp = ref.last_modified.astimezone(UTC)
    folder = prefix + (stamp.strftime("%Y-%m-%d") + "/" if date_folders else "")
    return folder + stamp.strftime("%Y%m%dT%H%M%SZ") + "_" + posixpath.basename(ref.path)


class _FaustSender:
    """Gives Faust's producer the aiokafka ``send`` signature the publisher uses."""

    def __init__(self, app: faust.App) -> None:
        self.app = app

    async def send(self, topic: str, value: bytes, key: bytes | None = None, partition: int | None = None) -> Any:
        return await self.app.producer.send(topic, key, value, partition, None, None)


def ref_from_event(event: dict[str, Any]) -> FileRef:
    identity = event["file"]
    return FileRef(
        source=identity["source"], location=identity["location"], path=identity["path"],
        version=identity["version"], size=event.get("size") or 0,
        last_modified=event.get("last_modified") or datetime.fromtimestamp(0, UTC),
        etag=event.get("etag"), version_id=event.get("version_id"),
    )


@dataclass
class FilesRuntime:
    """The connector of one workflow inside one worker."""

    name: str
    config: WorkflowConfig
    topics: WorkflowTopics
    partitions: int
    app: faust.App
    table: Any = None
    source: FileSource | None = None
    announced: dict[str, float] = field(default_factory=dict)
    reannounce_after: float = 600.0
    ledger: LedgerRuntime | None = None  #: told about COMPLETED events (they carry the record count)
    partitioning: Strategy = "crc32"  #: how record keys map to partitions (the pipeline's kafka.partitioning)

    def __post_init__(self) -> None:
        # Fluent-event webhook workflows have no record key; every file workflow has one (validated).
        self.keys = RecordKeyBuilder(self.config.key) if self.config.key else None
        source = self.config.source
        self.selector: Selector | None = None
        if not isinstance(source, WebhookSourceConfig):  # webhooks are pushed, never listed
            self.selector = Selector(Selection(
                patterns=tuple(source.patterns), ignore=tuple(source.ignore),
                case_sensitive=source.case_sensitive, min_age=source.min_age,
                stable_listings=self.config.stable_listings(), order=source.order,
                max_files=source.max_files_per_poll,
            ))
        publish = self.config.publish
        #: retryable failures in a row per file version (identity key); cleared when the version is done
        self.retry_attempts: dict[str, int] = {}
        self._waiting: set[str] = set()  #: identity keys whose re-announcement is waiting out its delay
        self._retries: set[asyncio.Task[None]] = set()  #: strong references: the loop keeps only weak ones
        self._discovering = asyncio.Lock()  #: see discover()
        self.publisher = FilePublisher(
            _FaustSender(self.app), self.topics, self.partitions,
            settings=PublishSettings(batch_records=publish.batch_records, batch_bytes=publish.batch_bytes,
                                     max_in_flight=publish.max_in_flight, chunk_size=publish.chunk_size,
                                     partitioning=self.partitioning),
        )
        # File events sent outside the agent (discovery timer, retries) get their own in-flight queue:
        # draining the agent's would await (and take the errors of) the record sends of a file in progress.
        self.announcer = FilePublisher(_FaustSender(self.app), self.topics, self.partitions)

    def _source(self) -> FileSource:
        if self.source is None:
            config = self.config.source
            if isinstance(config, WebhookSourceConfig):
                raise TypeError(f"workflow {self.name}: a webhook workflow has no file source")
            self.source = build_source(config)
        return self.source

    # -- discovery (leader only) -----------------------------------------------------------------
    async def discover(self, *, strict: bool = False) -> int:
        """List the inbox once and announce new settled versions; returns how many were announced.

        One listing at a time: the poll timer and the S3 notification trigger both call this, and two
        interleaved runs would each forget what the other announced. ``strict``: a failed listing raises
        (the trigger then leaves its messages in the queue) instead of only being logged."""
        async with self._discovering:
            return await self._discover(strict)

    async def _discover(self, strict: bool) -> int:
        config = self.config.source
        if isinstance(config, WebhookSourceConfig) or self.selector is None:
            return 0
        try:
            listing = [ref async for ref in self._source().list(config.prefix)]
        except SourceError as exc:
            if strict:
                raise
            log.warning("workflow %s: listing %s failed: %s", self.name, config.prefix, exc)
            return 0
        now = time.monotonic()
        announced = 0
        for ref in self.selector.select(listing):
            key = ref.identity.key
            if now - self.announced.get(key, -1e18) < self.reannounce_after:
                continue
            self.announced[key] = now
            await self.announcer.file_event("DISCOVERED", ref, wait=False)
            announced += 1
        await self.announcer.drain()
        metrics_of(self.app).file_discovered(self.name, announced)
        live = {ref.identity.key for ref in listing}
        self.announced = {k: t for k, t in self.announced.items() if k in live}
        return announced

    # -- the files agent --------------------------------------------------------------------------
    def _state(self, key: bytes) -> dict[str, Any]:
        state = self.table.get(key)
        return dict(state) if state else {"versions": {}}

    def _record(self, key: bytes, version: str, **status: Any) -> None:
        state = self._state(key)
        versions = dict(state["versions"])
        entry = {**versions.pop(version, {}), **status, "updated_at": datetime.now(UTC).isoformat()}
        versions[version] = entry
        while len(versions) > MAX_VERSIONS:
            versions.pop(next(iter(versions)))
        self.table[key] = {"versions": versions, "last_version": version}

    async def on_event(self, key: bytes, event: dict[str, Any]) -> None:
        kind = event["kind"]
        if kind == "DISCOVERED":
            await self.on_discovered(key, event)
        elif kind == "COMPLETED" and self.ledger is not None:
            await self.ledger.on_completed(key, event)
        elif kind == "SETTLED":
            await self.on_settled(key, event)

    async def on_discovered(self, key: bytes, event: dict[str, Any]) -> None:
        ref = ref_from_event(event)
        key = file_event_key(self.name, ref)  # state is keyed by the file, whatever key the event came with
        versions = self._state(key)["versions"]
        status = versions.get(ref.version, {}).get("status")
        if status in DONE:
            await self.publisher.file_event("SKIPPED", ref, reason=f"already {status}")
            metrics_of(self.app).file_skipped(self.name, "already_processed")
            return
        others = [v for v, entry in versions.items() if v != ref.version and entry.get("status") in DONE]
        policy = self.config.files.on_changed_content
        if others and policy != "reprocess":
            reason = f"a new version of a file already processed (policy {policy})"
            self._record(key, ref.version, status="skipped", reason=reason)
            if policy == "alert":
                metrics_of(self.app).file_failed(self.name, "changed_content")
                log.error("workflow %s: %s: %s", self.name, ref.uri, reason)
                await self.publisher.file_event("FAILED", ref, reason=reason)
            else:
                metrics_of(self.app).file_skipped(self.name, "changed_content")
                await self.publisher.file_event("SKIPPED", ref, reason=reason)
            return
        await self.process(key, ref)

    async def process(self, key: bytes, ref: FileRef) -> FileCounts | None:
        run_id = uuid.uuid4().hex[:12]
        bind(run_id=run_id)  # inside the agent's per-event block, which undoes it
        assert self.keys is not None, "file workflows always name their key fields"
        self._record(key, ref.version, status="in_progress", run_id=run_id)
        source = self._source()
        chunks = source.open(ref)
        try:
            counts = await self.publisher.publish(
                ref, parse_chunks(chunks, self.config.format), self.keys, run_id=run_id,
                item_path=getattr(self.config.format, "item_path", None),
            )
        except SourceFileNotFound as exc:
            self.retry_attempts.pop(ref.identity.key, None)
            self._record(key, ref.version, status="skipped", reason=str(exc))
            metrics_of(self.app).file_skipped(self.name, "not_found")
            return None
        except (FileParseError, SourceError) as exc:
            retryable = isinstance(exc, SourceError) and exc.retryable
            if retryable:  # this worker owns the partition: it re-announces, whether it leads or not
                self._record(key, ref.version, status="error", reason=str(exc))
                self._retry_later(ref, exc)
                return None
            self.retry_attempts.pop(ref.identity.key, None)
            self._record(key, ref.version, status="failed", reason=str(exc))
            metrics_of(self.app).file_failed(self.name, "parse" if isinstance(exc, FileParseError) else "source")
            await self._archive(ref, "errors", {"error": str(exc), "stage": "PARSE"})
            return None
        except Exception as exc:  # an error nobody classified (a library's own exception type, a broker
            # hiccup): crashing the agent would leave the file in progress until re-announced 10 min later;
            # retry it like a transient source error (republishing a file gives identical batches)
            log.exception("workflow %s: %s failed unexpectedly", self.name, ref.uri)
            self._record(key, ref.version, status="error", reason=f"{type(exc).__name__}: {exc}")
            self._retry_later(ref, exc)
            return None
        finally:
            await _aclose(chunks)
        self.retry_attempts.pop(ref.identity.key, None)
        self._record(key, ref.version, status="published", records=counts.records,
                     dead_lettered=counts.dead_lettered, run_id=run_id)
        metrics_of(self.app).file_published(self.name, counts)
        return counts

    def _retry_later(self, ref: FileRef, error: Exception) -> None:
        """Announce ``ref`` again after a backoff. ``announced`` (the leader's) is left alone on purpose:
        discovery re-announces only after ``reannounce_after``, so a leader that owns the file does not
        announce it twice; should both meet anyway, the second is skipped as done or is one more attempt."""
        key = ref.identity.key
        if key in self._waiting:  # one re-announcement waits already (this failure came from another one)
            return
        attempt = self.retry_attempts[key] = self.retry_attempts.get(key, 0) + 1
        source = self.config.source
        first = 1.0 if isinstance(source, WebhookSourceConfig) else source.poll_interval
        delay = min(first * 2 ** (attempt - 1), self.reannounce_after)
        log.warning("workflow %s: %s; retrying in %.1f s (failure %d in a row)", self.name, error, delay, attempt)
        self._waiting.add(key)
        task = asyncio.create_task(self._reannounce(ref, delay), name=f"retry-{self.name}")
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _reannounce(self, ref: FileRef, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
        finally:
            self._waiting.discard(ref.identity.key)
        try:
            await self.announcer.file_event("DISCOVERED", ref)
        except Exception as exc:  # a background task: nobody awaits it, so say it here
            log.warning("workflow %s: re-announcing %s failed (%s); discovery announces it again within %.0f s",
                        self.name, ref.uri, exc, self.reannounce_after)

    async def aclose(self) -> None:
        """Drop the pending re-announcements (on worker shutdown). Partition revocation keeps them: a
        re-announcement reaches whoever owns the partition then, and the table makes it harmless."""
        tasks = list(self._retries)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def on_settled(self, key: bytes, event: dict[str, Any]) -> None:
        ref = ref_from_event(event)
        key = file_event_key(self.name, ref)
        if isinstance(self.config.source, WebhookSourceConfig):  # nothing to archive: the report is the record
            return
        versions = self._state(key)["versions"]
        if versions.get(ref.version, {}).get("status") == "archived":
            return
        rejected = event.get("rejected_count") or 0
        metrics_of(self.app).file_settled(self.name, rejected)
        report = {
            "accepted": event.get("accepted_count") or 0, "rejected": rejected,
            "unchanged": event.get("unchanged_count") or 0, "records": event.get("record_count"),
            "first_errors": event.get("first_errors") or [],
        }
        await self._archive(ref, "errors" if rejected else "processed", report)

    async def _archive(self, ref: FileRef, outcome: str, report: dict[str, Any]) -> None:
        files = self.config.files
        source = self._source()
        policy = files.on_success if outcome == "processed" else files.on_failure
        dest = None
        try:
            if policy == "move":
                dest = archive_name(ref, self.config.archive_prefix(outcome), files.date_folders)  # type: ignore[arg-type]
                if outcome == "errors":
                    sidecar = {"file": ref.uri, "version": ref.version, "timestamp": datetime.now(UTC).isoformat(),
                               **report}
                    await source.write(dest + ".error.log", json.dumps(sidecar, indent=2).encode())
                await source.move(ref, dest)
            elif policy == "delete":
                await source.delete(ref)
        except SourceError as exc:
            log.warning("workflow %s: archiving %s failed: %s", self.name, ref.uri, exc)
            return
        key = file_event_key(self.name, ref)
        status = self._state(key)["versions"].get(ref.version, {}).get("status")
        self._record(key, ref.version, status="archived" if status != "failed" else "failed", archived_to=dest)
        await self.publisher.file_event("ARCHIVED", ref, archived_to=dest, reason=outcome)


async def _aclose(iterator: AsyncIterator[bytes]) -> None:
    close = getattr(iterator, "aclose", None)
    if close is not None:
        with contextlib.suppress(RuntimeError):  # already closed
            await close()


def register(app: faust.App, name: str, config: WorkflowConfig, kafka: KafkaConfig) -> FilesRuntime:
    """Attach the discovery timer, the processed-files table and the files agent of one workflow."""
    topics = WorkflowTopics.of(name, kafka.topic_prefix)
    runtime = FilesRuntime(name, config, topics, kafka.partitions, app, partitioning=kafka.partitioning)
    files_topic = app.topic(topics.files, schema=avro_schema("fluentsync.files.FileEvent"),
                            partitions=kafka.partitions)
    runtime.table = app.Table(f"processed-files-{name}", key_type=bytes, partitions=kafka.partitions,
                              options=table_options())

    async def files_agent(stream: Any) -> None:
        async for key, event in stream.items():
            with correlate(**batch_ids(name, event)):  # per event: the agent outlives every file
                await runtime.on_event(key, event)

    files_agent.__name__ = files_agent.__qualname__ = f"files_{name.replace('-', '_')}"
    app.agent(files_topic, name=f"files-{name}")(files_agent)

    async def discover() -> None:
        with correlate(workflow=name):
            await runtime.discover()

    discover.__name__ = discover.__qualname__ = f"discover_{name.replace('-', '_')}"
    if not isinstance(config.source, WebhookSourceConfig):
        app.timer(config.source.poll_interval, on_leader=True)(discover)
    if isinstance(config.source, S3SourceConfig) and config.source.notifications is not None:
        _notifications(app, name, config.source, runtime)

    async def _stop(sender: Any, *args: Any, **kwargs: Any) -> None:
        await runtime.aclose()

    app.on_before_shutdown.connect(_stop)  # type: ignore[arg-type]  # faust types a bound signature
    return runtime


def _notifications(app: faust.App, name: str, source: S3SourceConfig, runtime: FilesRuntime) -> None:
    """Consume the S3 source's notification queue on the discovery owner (the leader, like the timer)."""
    assert runtime.selector is not None
    trigger = build_notification_trigger(name, source, runtime.selector.selection.matches,
                                         lambda: runtime.discover(strict=True), app.is_leader)

    async def notifications() -> None:
        with correlate(workflow=name):
            await trigger.run()

    notifications.__name__ = notifications.__qualname__ = f"notifications_{name.replace('-', '_')}"
    app.task(notifications, traced=False)

    async def _close(sender: Any, *args: Any, **kwargs: Any) -> None:
        await trigger.aclose()

    app.on_before_shutdown.connect(_close)  # type: ignore[arg-type]  # faust types a bound signature
