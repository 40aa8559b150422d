"""A file whose download fails with a retryable error is re-announced by the files agent itself.

Only the group leader lists the inbox, so the worker that owns a file's partition cannot count on
discovery to try again soon; it publishes the ``DISCOVERED`` event again after a backoff. Driven
directly: a producer that records what is sent, a dict as the table, a local inbox whose reads fail the
first times (the one stand-in: real sources cannot be told to fail); parser and Avro codec are real.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fluentsync.connectors.ingest.publisher import file_event_key
from fluentsync.connectors.sources import FileRef, LocalSource, SourceError
from fluentsync.schemas.codec import default_codec
from fluentsync.streams.agents.files import FilesRuntime
from fluentsync.streams.config import WorkflowConfig
from fluentsync.streams.kafka.names import WorkflowTopics


class _Producer:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, topic: str, key: bytes | None, value: bytes, partition: int | None, *_: Any) -> Any:
        if topic == "files.wf":
            self.sent.append(default_codec().decode(value))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


class _App:
    def __init__(self) -> None:
        self.producer = _Producer()


class _FlakySource(LocalSource):
    """A local inbox whose first ``failures`` reads break the way a dropped S3 download does."""

    def __init__(self, root: Path, failures: int) -> None:
        super().__init__(root)
        self.failures = failures

    async def open(self, ref: FileRef, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        if self.failures > 0:
            self.failures -= 1
            raise SourceError(f"reading {ref.uri} failed: connection reset", retryable=True)
        async for chunk in super().open(ref, chunk_size):
            yield chunk


def runtime(root: Path, failures: int, poll_interval: float, reannounce_after: float) -> tuple[FilesRuntime, _Producer]:
    config = WorkflowConfig.model_validate({
        "source": {"type": "local", "root": str(root), "prefix": "in/", "poll_interval": poll_interval},
        "format": {"type": "csv"}, "key": ["sku"],
    })
    app = _App()
    rt = FilesRuntime("wf", config, WorkflowTopics.of("wf"), 3, app, reannounce_after=reannounce_after)  # type: ignore[arg-type]
    rt.table, rt.source = {}, _FlakySource(root, failures)
    return rt, app.producer


async def announce(rt: FilesRuntime) -> FileRef:
    """What the leader's discovery would announce, handed to the files agent."""
    ref = next(iter([r async for r in LocalSource(rt.config.source.root).list("in/")]))  # type: ignore[union-attr]
    event = {"kind": "DISCOVERED", "file": ref.identity.to_avro(), "size": ref.size,
             "last_modified": ref.last_modified, "etag": None, "version_id": None}
    await rt.on_event(file_event_key("wf", ref), event)
    return ref


async def nth_discovered(producer: _Producer, n: int, timeout: float = 5.0) -> dict[str, Any]:
    """The ``n``-th DISCOVERED event the runtime sent (1-based), once it is sent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in producer.sent if e["kind"] == "DISCOVERED"]
        if len(found) >= n:
            return found[n - 1]
        await asyncio.sleep(0.01)
    raise AssertionError(f"no re-announcement within {timeout} s: {[e['kind'] for e in producer.sent]}")


def write(root: Path) -> None:
    path = root / "in" / "a.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("sku,qty\nA,1\nB,2\n")
    os.utime(path, (1_700_000_000, 1_700_000_000))


async def test_the_owner_retries_with_backoff_until_the_file_is_published(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path)
    rt, producer = runtime(tmp_path, failures=3, poll_interval=0.1, reannounce_after=0.3)
    caplog.set_level(logging.WARNING, logger="fluentsync.streams.agents.files")
    ref = await announce(rt)
    key = file_event_key("wf", ref)
    assert rt.table[key]["versions"][ref.version]["status"] == "error"
    assert not rt.announced  # the owner retries; discovery's bookkeeping is the leader's, left alone
    for n in (1, 2, 3):  # each failure schedules one re-announcement, which the agent receives again
        event = await nth_discovered(producer, n)
        assert event["file"] == ref.identity.to_avro() and event["etag"] == ref.etag
        await rt.on_event(key, event)
    assert rt.table[key]["versions"][ref.version]["status"] == "published"
    kinds = [e["kind"] for e in producer.sent]
    assert kinds == ["STARTED", "FAILED"] + ["DISCOVERED", "STARTED", "FAILED"] * 2 + [
        "DISCOVERED", "STARTED", "COMPLETED"]
    delays = [r.getMessage().split("retrying in ")[1].split(" s")[0] for r in caplog.records
              if "retrying in" in r.getMessage()]
    assert delays == ["0.1", "0.2", "0.3"]  # poll_interval doubling, capped at reannounce_after (not 0.4)
    assert all(r.levelno == logging.WARNING for r in caplog.records)
    assert [r.getMessage().split("(failure ")[1] for r in caplog.records] == ["1 in a row)", "2 in a row)",
                                                                               "3 in a row)"]
    assert rt.retry_attempts == {}  # reset on success
    await asyncio.sleep(0.5)  # longer than any delay: nothing else is announced
    assert [e["kind"] for e in producer.sent].count("DISCOVERED") == 3
    await rt.aclose()


async def test_a_failure_while_a_retry_waits_does_not_add_another(tmp_path: Path) -> None:
    write(tmp_path)
    rt, producer = runtime(tmp_path, failures=2, poll_interval=30.0, reannounce_after=600.0)
    await announce(rt)
    await announce(rt)  # e.g. the leader's own re-announcement meets the waiting retry
    assert rt.retry_attempts == {next(iter(rt.retry_attempts)): 1} and len(rt._retries) == 1
    await rt.aclose()  # worker shutdown: the waiting re-announcement is dropped
    assert not rt._retries and not rt._waiting
    assert [e["kind"] for e in producer.sent] == ["STARTED", "FAILED", "STARTED", "FAILED"]


class _BrokenSource(LocalSource):
    """A local inbox whose first read raises an exception type nobody classified (as aiohttp's
    ClientPayloadError once escaped the S3 source)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.broken = True

    async def open(self, ref: FileRef, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        if self.broken:
            self.broken = False
            raise RuntimeError("payload stream ended unexpectedly")
        async for chunk in super().open(ref, chunk_size):
            yield chunk


async def test_an_unclassified_error_is_retried_instead_of_crashing_the_agent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path)
    rt, producer = runtime(tmp_path, failures=0, poll_interval=0.1, reannounce_after=600.0)
    rt.source = _BrokenSource(tmp_path)
    caplog.set_level(logging.WARNING, logger="fluentsync.streams.agents.files")
    ref = await announce(rt)  # must not raise: a raise would crash the files agent
    key = file_event_key("wf", ref)
    entry = rt.table[key]["versions"][ref.version]
    assert entry["status"] == "error" and "RuntimeError: payload stream ended unexpectedly" in entry["reason"]
    assert any(r.levelno == logging.ERROR and r.exc_info for r in caplog.records)  # with its traceback
    event = await nth_discovered(producer, 1)
    await rt.on_event(key, event)
    assert rt.table[key]["versions"][ref.version]["status"] == "published"
    await rt.aclose()
