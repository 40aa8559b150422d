"""The files agent's decisions, driven directly: change policies and archive policies.

The Faust app is replaced by the narrowest stand-in (a producer that records what is sent, a dict as
the table); files, parsers and the Avro codec are real.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from fluentsync.connectors.ingest.publisher import file_event_key
from fluentsync.connectors.sources import LocalSource
from fluentsync.schemas.codec import default_codec
from fluentsync.streams.agents.files import FilesRuntime, archive_name
from fluentsync.streams.config import WorkflowConfig
from fluentsync.streams.kafka.names import WorkflowTopics


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def send(self, topic: str, key: bytes | None, value: bytes, partition: int | None, *_: Any) -> Any:
        self.sent.append((topic, default_codec().decode(value)))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


class _App:
    def __init__(self) -> None:
        self.producer = _Producer()


def runtime(root: Path, **files: Any) -> tuple[FilesRuntime, _Producer]:
    config = WorkflowConfig.model_validate({
        "source": {"type": "local", "root": str(root), "prefix": "in/"},
        "format": {"type": "csv"}, "key": ["sku"], "files": files,
    })
    app = _App()
    rt = FilesRuntime("wf", config, WorkflowTopics.of("wf"), 3, app)  # type: ignore[arg-type]
    rt.table = {}
    return rt, app.producer


def kinds(producer: _Producer) -> list[str]:
    return [event["kind"] for topic, event in producer.sent if topic == "files.wf"]


async def discover_all(rt: FilesRuntime) -> None:
    for ref in [r async for r in LocalSource(rt.config.source.root).list("in/")]:  # type: ignore[union-attr]
        event = {"kind": "DISCOVERED", "file": ref.identity.to_avro(), "size": ref.size,
                 "last_modified": ref.last_modified, "etag": None, "version_id": None}
        await rt.on_event(file_event_key("wf", ref), event)


def write(path: Path, text: str, mtime: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (mtime, mtime))


@pytest.mark.parametrize(("policy", "second"), [("reprocess", "COMPLETED"), ("skip", "SKIPPED"), ("alert", "FAILED")])
async def test_new_version_of_a_done_file_follows_the_policy(tmp_path: Path, policy: str, second: str) -> None:
    rt, producer = runtime(tmp_path, on_changed_content=policy)
    write(tmp_path / "in" / "a.csv", "sku,qty\nA,1\n", 1_700_000_000)
    await discover_all(rt)
    assert kinds(producer) == ["STARTED", "COMPLETED"]
    await discover_all(rt)  # the same version again: skipped as done
    assert kinds(producer)[-1] == "SKIPPED"
    write(tmp_path / "in" / "a.csv", "sku,qty\nA,2\nB,3\n", 1_700_000_100)
    await discover_all(rt)
    assert kinds(producer)[-1] == second
    assert kinds(producer).count("STARTED") == (2 if policy == "reprocess" else 1)


@pytest.mark.parametrize("policy", ["move", "delete", "leave"])
async def test_success_policy(tmp_path: Path, policy: str) -> None:
    rt, producer = runtime(tmp_path, on_success=policy, processed="archive/")
    write(tmp_path / "in" / "a.csv", "sku,qty\nA,1\n", 1_700_000_000)
    await discover_all(rt)
    completed = next(event for _, event in producer.sent if event.get("kind") == "COMPLETED")
    await rt.on_event(b"k", {**completed, "kind": "SETTLED", "accepted_count": 1, "rejected_count": 0})
    archived = [event for _, event in producer.sent if event.get("kind") == "ARCHIVED"]
    assert len(archived) == 1
    present = (tmp_path / "in" / "a.csv").exists()
    if policy == "move":
        assert not present and archived[0]["archived_to"].startswith("archive/")
        assert (tmp_path / archived[0]["archived_to"]).read_text() == "sku,qty\nA,1\n"
    else:
        assert present == (policy == "leave") and archived[0]["archived_to"] is None
    await rt.on_event(b"k", {**completed, "kind": "SETTLED", "accepted_count": 1, "rejected_count": 0})
    assert len([e for _, e in producer.sent if e.get("kind") == "ARCHIVED"]) == 1  # settling twice: once


async def test_a_file_that_cannot_be_parsed_goes_to_errors_with_a_report(tmp_path: Path) -> None:
    rt, producer = runtime(tmp_path)
    write(tmp_path / "in" / "dup.csv", "sku,sku\nA,B\n", 1_700_000_000)  # duplicate header names
    await discover_all(rt)
    assert kinds(producer) == ["STARTED", "FAILED", "ARCHIVED"]
    archived = producer.sent[-1][1]["archived_to"]
    assert archived.startswith("errors/") and (tmp_path / archived).exists()
    assert "duplicate" in (tmp_path / (archived + ".error.log")).read_text().lower()


def test_archive_names_are_deterministic_and_version_specific(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from fluentsync.connectors.sources import FileRef

    ref = FileRef("s3", "b", "in/a.csv", "etag", 1, datetime(2026, 11, 22, 1, 2, 3, tzinfo=UTC))
    assert archive_name(ref, "processed/", False) == "processed/20261122T010203Z_a.csv"
    assert archive_name(ref, "processed/", True) == "processed/2026-11-22/20261122T010203Z_a.csv"
