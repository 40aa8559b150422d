"""Running file sinks: inside the worker (a mode service) or alone (``fluentsync sink NAME``).

Both build the same :class:`~.consumer.SinkConsumer` with :func:`build_consumer`, so a sink behaves the
same wherever it runs; two processes running the same sink share its partitions through the consumer
group ``<kafka.app_id>-sink-<name>``.

Inside the worker a sink that fails (a bug, a broken schema, the broker gone for longer than the
client's retries) is stopped without committing and started again after :data:`RESTART_DELAY` seconds:
its files are rewritten under the same names from the committed offsets, and the worker's workflows
keep running. A destination that is down does not fail the sink; it pauses and retries on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fluentsync.connectors.filesinks import CommittedFile
from fluentsync.streams.extraction.state import StateTopics
from fluentsync.streams.kafka.topics import TopicSpec

from .config import SinkTopics, resolve_source
from .consumer import SinkConsumer

if TYPE_CHECKING:
    from mode import Service

    from fluentsync.streams.config import PipelineConfig

__all__ = ["RESTART_DELAY", "build_consumer", "group_id", "sink_service", "sink_topic_specs"]

log = logging.getLogger(__name__)

RESTART_DELAY = 5.0  #: seconds before a failed sink is started again inside the worker

#: consumer settings for the embedded broker: group joins wait about the rebalance timeout
EMBEDDED_CONSUMER = {"session_timeout_ms": 6000, "rebalance_timeout_ms": 6000, "heartbeat_interval_ms": 1000}


def group_id(config: PipelineConfig, name: str) -> str:
    return f"{config.kafka.app_id}-sink-{name}"


def sink_topic_specs(config: PipelineConfig) -> list[TopicSpec]:
    """The topics the sinks write (file events, dead letters); the topics they read are their producers'."""
    specs: list[TopicSpec] = []
    for name, sink in config.sinks.items():
        topics = SinkTopics.of(name, config.kafka.topic_prefix)
        if sink.file_events:
            specs.append(TopicSpec(topics.files, 1))
        specs.append(TopicSpec(topics.dlq, 1))
    return specs


def build_consumer(config: PipelineConfig, name: str, bootstrap: str, *, embedded: bool = False,
                   consumer_options: dict[str, Any] | None = None,
                   on_files: Callable[[list[CommittedFile]], None] | None = None) -> SinkConsumer:
    """The consumer of sink ``name`` (``KeyError`` when the pipeline has no such sink)."""
    sink = config.sinks[name]
    source = resolve_source(name, sink, config)
    options = (dict(EMBEDDED_CONSUMER) if embedded else {}) | (consumer_options or {})
    return SinkConsumer(name, sink, source, bootstrap=bootstrap, group_id=group_id(config, name),
                        prefix=config.kafka.topic_prefix, runs_topic=StateTopics.of(config.kafka.topic_prefix).runs,
                        consumer_options=options, on_files=on_files)


def sink_service(config: PipelineConfig, bootstrap: str, *, embedded: bool) -> type[Service]:
    """A mode service class (what ``app.service`` takes) running every sink of ``config``."""
    from mode import Service  # imported here: the pipeline loader imports this package, not the worker

    class FileSinksService(Service):
        """Starts each sink with the worker, restarts a failed one, flushes them all at stop."""

        def __post_init__(self) -> None:
            self.consumers: dict[str, SinkConsumer] = {}

        async def on_start(self) -> None:
            for name in config.sinks:
                self.add_future(self._supervise(name))

        async def _supervise(self, name: str) -> None:
            while not self.should_stop:
                consumer = build_consumer(config, name, bootstrap, embedded=embedded)
                self.consumers[name] = consumer
                try:
                    await consumer.start()
                    await consumer.wait()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("sink %s failed; restarting in %.0fs", name, RESTART_DELAY)
                with contextlib.suppress(Exception):
                    await consumer.stop(flush=False)
                await self.sleep(RESTART_DELAY)

        async def on_stop(self) -> None:
            for name, consumer in self.consumers.items():
                try:
                    await consumer.stop()
                except Exception:
                    log.exception("sink %s did not stop cleanly", name)

    return FileSinksService
