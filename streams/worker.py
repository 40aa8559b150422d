"""``fluentsync worker``: the production service - one Faust worker running the configured workflows.

The worker (1) starts the embedded broker when the pipeline says ``bootstrap: embedded``, (2) creates
every workflow topic explicitly with the configured partition count, (3) builds one Faust app and
attaches each workflow's agents, tables and timers, and (4) runs it until SIGINT/SIGTERM. Several
workers with the same pipeline file and app id share the work through Kafka partitions.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust

from fluentsync.connectors.fluent import FluentClient, FluentSettings
from fluentsync.connectors.webhooks.receiver import WebhookReceiver
from fluentsync.connectors.webhooks.settings import WebhookSourceConfig
from fluentsync.schemas.wire import configure_codec, prepare_registry
from fluentsync.streams.agents import files, jobs, ledger, records, webhooks
from fluentsync.streams.agents.receiver import build_routes, faust_publish, receiver_service, webhook_topic_specs
from fluentsync.streams.app import FaustOptions, create_app
from fluentsync.streams.config import PipelineConfig
from fluentsync.streams.exports import sink_service, sink_topic_specs
from fluentsync.streams.extraction import agent as extraction_agent
from fluentsync.streams.extraction.service import extraction_topic_specs
from fluentsync.streams.kafka.broker import EmbeddedBroker, is_embedded_broker
from fluentsync.streams.kafka.connection import configure_kafka
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.partitioning import KeyPartitioner
from fluentsync.streams.kafka.preflight import check_connection
from fluentsync.streams.kafka.topics import TopicSpec, ensure_topics
from fluentsync.streams.observability.logs import LogFormat, configure_logging, register_secrets, secret_values
from fluentsync.streams.observability.metrics import WorkerMetrics
from fluentsync.streams.observability.metrics_web import install_metrics
from fluentsync.streams.observability.status import mount_status
from fluentsync.streams.observability.web import OpsWeb, ops_service

__all__ = ["Worker", "build_app", "prepare", "run", "tune_gc", "workflow_topic_specs"]


def workflow_topic_specs(config: PipelineConfig) -> list[TopicSpec]:
    specs: list[TopicSpec] = []
    for name in config.workflows:
        topics = WorkflowTopics.of(name, config.kafka.topic_prefix)
        specs.extend(TopicSpec(topic, config.kafka.partitions) for topic in topics.all())
    return specs + webhook_topic_specs(config) + extraction_topic_specs(
        config.extractions, config.kafka.topic_prefix, config.kafka.partitions) + sink_topic_specs(config)


@dataclass
class Worker:
    """The parts of one running worker (for tests and the demo, which drive them directly)."""

    app: faust.App
    config: PipelineConfig
    client: FluentClient | None = None
    files: dict[str, files.FilesRuntime] = field(default_factory=dict)
    ledgers: dict[str, ledger.LedgerRuntime] = field(default_factory=dict)
    records: dict[str, records.RecordsRuntime] = field(default_factory=dict)
    webhooks: dict[str, webhooks.WebhooksRuntime] = field(default_factory=dict)
    receiver: WebhookReceiver | None = None  #: serves every webhook workflow (None: there are none)
    extractions: extraction_agent.ExtractionsRuntime | None = None  #: None: no extractions configured
    ops: OpsWeb | None = None  #: health/metrics/status endpoints (None: not served)
    metrics: WorkerMetrics | None = None  #: Prometheus metrics (``/metrics`` on ``ops``), set by build_app


def fluent_client(config: PipelineConfig) -> FluentClient:
    """One Fluent client per worker, shared by every workflow (one token, one connection pool)."""
    return FluentClient(FluentSettings(**config.fluent.settings_kwargs()))


def build_app(config: PipelineConfig, bootstrap: str, *, data_dir: Path, embedded: bool,
              web_port: int | None = None, client: FluentClient | None = None,
              webhook_port: int | None = None, **overrides: Any) -> Worker:
    """The Faust app for a pipeline, its agents attached (topics must exist: see :func:`prepare`).

    With webhook workflows the receiver starts with the app on ``webhook_port`` (default: the
    pipeline's ``webhooks.port``; 0 picks a free port, see ``worker.receiver.port``). ``web_port`` serves
    the ops endpoints (:mod:`fluentsync.streams.observability`; None: not served, 0: a free port)."""
    configure_codec(config.kafka.schema_registry)  # the wire format every agent writes (Confluent or single-object)
    configure_kafka(config.kafka)  # TLS/SASL and replication of every client and topic of this process
    app = create_app(
        config.kafka.app_id,
        FaustOptions(bootstrap=bootstrap, embedded=embedded, partitions=config.kafka.partitions,
                     data_dir=data_dir,
                     session_timeout=6.0 if embedded else None, rebalance_timeout=6.0 if embedded else None,
                     heartbeat_interval=1.0 if embedded else None,
                     fetch_max_wait_ms=config.kafka.fetch_max_wait_ms),
        producer_partitioner=KeyPartitioner(config.kafka.partitioning),
        stream_processing_timeout=3600.0,  # one event can be a whole file
        **overrides,
    )
    worker = Worker(app, config, client)
    if web_port is not None:
        worker.ops = OpsWeb(config.ops.host, web_port)
    for name, workflow in config.workflows.items():
        topics = WorkflowTopics.of(name, config.kafka.topic_prefix)
        runtime = worker.files[name] = files.register(app, name, workflow, config.kafka)
        if isinstance(workflow.source, WebhookSourceConfig):
            worker.webhooks[name] = webhooks.register(app, name, workflow, config.kafka, runtime.publisher)
        if workflow.target is None:
            continue
        if worker.client is None:
            worker.client = fluent_client(config)
        runtime.ledger = worker.ledgers[name] = ledger.register(app, name, topics, config.kafka.partitions,
                                                                workflow.snapshot)
        store = jobs.TableJobStore(jobs.job_table(app, name))
        worker.records[name] = records.register(app, name, workflow, topics, config.kafka.partitions,
                                                worker.client, store, config.kafka.partitioning)
    routes = build_routes(config) if config.webhooks.in_worker else []
    if routes:
        worker.receiver = WebhookReceiver(routes, faust_publish(app), config.webhooks,
                                          partitioning=config.kafka.partitioning)
        port = config.webhooks.port if webhook_port is None else webhook_port
        app.service(receiver_service(worker.receiver, config.webhooks.host, port))
    if config.extractions:  # scheduler + trigger agent (fluentsync.streams.extraction.agent)
        worker.client = worker.client or fluent_client(config)
        worker.extractions = extraction_agent.register(app, config, bootstrap, worker.client)
    if config.sinks:  # outbound topics into files (fluentsync.streams.exports)
        app.service(sink_service(config, bootstrap, embedded=embedded))
    worker.metrics = install_metrics(worker, bootstrap)  # counts always; mounts /metrics when ops is served
    if worker.ops is not None:  # GET /status (fluentsync.streams.observability.status)
        mount_status(worker, bootstrap)
    if worker.ops is not None:  # last: every module above has mounted its routes
        app.service(ops_service(worker.ops))
    return worker


async def prepare(config: PipelineConfig, bootstrap: str) -> bool:
    """Create every workflow topic with the configured partitions (or check that it has them).

    Returns whether the broker needs the embedded-broker workarounds. A broker that cannot be reached
    with the pipeline's ``kafka.security`` stops the worker here with a precise message
    (:class:`~fluentsync.streams.kafka.preflight.KafkaConnectionProblem`) instead of a bootstrap timeout.
    """
    configure_kafka(config.kafka)
    await check_connection(bootstrap)
    await ensure_topics(bootstrap, workflow_topic_specs(config))
    if config.kafka.schema_registry is not None:  # a wrong URL, credentials or schema stop the worker here
        topics = [WorkflowTopics.of(name, config.kafka.topic_prefix) for name in config.workflows]
        await asyncio.to_thread(prepare_registry, config.kafka.schema_registry, topics)
    if config.kafka.compat == "auto":
        return config.kafka.bootstrap == "embedded" or await is_embedded_broker(bootstrap)
    return config.kafka.compat == "embedded"


def tune_gc() -> None:
    """Fewer garbage collections for a process that allocates millions of short-lived records.

    Records sit in batch buffers between allocation and send, so CPython's default gen-0 threshold (700
    allocations) triggers collections that rescan them constantly: measured ~20-30 % of ingest time.
    Objects alive after start-up (modules, the app) are frozen out of collections altogether.
    """
    gc.set_threshold(50_000, 20, 100)
    gc.freeze()


def run(config: PipelineConfig, *, data_dir: Path, loglevel: str = "info", web_port: int | None = None,
        webhook_port: int | None = None, log_format: LogFormat = "text") -> None:
    """Run a worker in the foreground until it is stopped (blocking).

    Logging (:mod:`fluentsync.streams.observability.logs`) is set up before anything else, and Faust
    re-applies the same configuration when it starts, so every line has the chosen format."""
    logging_config = configure_logging(log_format, loglevel)
    register_secrets(*secret_values(config))  # redacted wherever they would appear in a log line
    broker: EmbeddedBroker | None = None
    bootstrap = config.kafka.bootstrap
    if bootstrap == "embedded":
        broker = EmbeddedBroker()
        broker.start_sync()
        bootstrap = broker.bootstrap
        print(f"embedded broker: {bootstrap}", flush=True)
    try:
        embedded = asyncio.run(prepare(config, bootstrap))
        if web_port is None:
            web_port = config.ops.port
        worker = build_app(config, bootstrap, data_dir=data_dir, embedded=embedded, web_port=web_port,
                           webhook_port=webhook_port)
        tune_gc()
        faust_worker = faust.Worker(worker.app, loglevel=loglevel, logging_config=logging_config,
                                    stdout=sys.stdout, stderr=sys.stderr)
        if log_format == "json":
            faust_worker.spinner = None  # writes straight to the terminal; "Ready" is logged instead
        faust_worker.execute_from_commandline()
    finally:
        if broker is not None:
            broker.stop_sync()
