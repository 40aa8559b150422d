"""Helpers for sink tests: a pipeline on unique topics, extractions run in-process, sinks started and read back."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest_asyncio

from fluentsync.connectors.fluent import FluentClient, FluentSettings
from fluentsync.connectors.parsers import ParsedRecord, XmlOptions, parse_path
from fluentsync.streams.config import PipelineConfig, parse_pipeline
from fluentsync.streams.exports import SinkConsumer, build_consumer, sink_topic_specs
from fluentsync.streams.extraction import ExtractionService, RunRecord, RunRequest
from fluentsync.streams.extraction.service import extraction_topic_specs
from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.topics import ensure_topics
from tests.fixtures.sandbox import SandboxHandle

#: fast group joins on the embedded broker
FAST = {"session_timeout_ms": 3000, "rebalance_timeout_ms": 1000, "heartbeat_interval_ms": 300}


@dataclass
class Env:
    bootstrap: str
    prefix: str
    client: FluentClient
    sandbox: SandboxHandle

    def document(self, sinks: dict[str, Any], extractions: dict[str, Any] | None = None) -> dict[str, Any]:
        """A pipeline file's content: these sinks and extractions (default: orders) on unique topics."""
        return {
            "kafka": {"bootstrap": self.bootstrap, "topic_prefix": self.prefix, "partitions": 3,
                      "app_id": self.prefix.strip(".")},
            "fluent": self.sandbox.fluent_config(),
            "extractions": extractions if extractions is not None else {"orders": {"entity": "orders"}},
            "sinks": sinks,
        }

    def pipeline(self, sinks: dict[str, Any], extractions: dict[str, Any] | None = None) -> PipelineConfig:
        return parse_pipeline(self.document(sinks, extractions))

    async def prepare(self, config: PipelineConfig) -> None:
        kafka = config.kafka
        await ensure_topics(self.bootstrap, [*extraction_topic_specs(config.extractions, kafka.topic_prefix, 3),
                                             *sink_topic_specs(config)])

    async def extract(self, config: PipelineConfig, name: str = "orders",
                      request: RunRequest | None = None) -> RunRecord:
        kafka = config.kafka
        async with ExtractionService(config.extractions, bootstrap=self.bootstrap, client=self.client,
                                     prefix=kafka.topic_prefix, partitions=kafka.partitions) as service:
            run = await service.runner(name).run(request)
        assert run.status == "COMPLETED", run.error
        return run

    @asynccontextmanager
    async def sink(self, config: PipelineConfig, name: str, **options: Any) -> AsyncIterator[SinkConsumer]:
        consumer = build_consumer(config, name, self.bootstrap, consumer_options=FAST | options)
        await consumer.start()
        try:
            yield consumer
        finally:
            await consumer.stop()


async def eventually(check: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def files(root: Path, suffix: str = "") -> list[Path]:
    return sorted(p for p in root.rglob(f"*{suffix}") if p.is_file())


def read_records(path: Path, fmt: str) -> list[dict[str, Any]]:
    """A written file back as dicts (CSV and XML values as strings)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
        return rows
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    text = data.decode()
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(text)))
    if fmt == "json":
        loaded: list[dict[str, Any]] = json.loads(text)
        return loaded
    if fmt == "jsonl":
        return [json.loads(line) for line in text.splitlines() if line]
    if fmt == "xml":
        parsed = parse_path(path, XmlOptions(item_path="records/record"))
        return [dict(r.record) for r in parsed if isinstance(r, ParsedRecord)]
    raise AssertionError(fmt)


def all_records(root: Path, fmt: str) -> Iterator[dict[str, Any]]:
    for path in files(root, f".{fmt}"):
        yield from read_records(path, fmt)


@pytest_asyncio.fixture(loop_scope="session")
async def env(kafka_broker: EmbeddedBroker, sandbox: SandboxHandle,
              unique_name: Callable[[str], str]) -> AsyncIterator[Env]:
    await sandbox.reset()
    settings = FluentSettings(**sandbox.fluent_config(), base_retry_delay=0.1)
    async with FluentClient(settings) as client:
        yield Env(kafka_broker.bootstrap, unique_name("snk") + ".", client, sandbox)
