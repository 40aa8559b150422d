"""``fluentsync webhooks``: the webhook receiver alone, without a Faust worker.

Workers process what it publishes (``webhooks.<wf>``); run receivers and workers separately when HTTP
traffic and processing need to scale apart. ``fluentsync worker`` already includes a receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import click

from fluentsync.streams.config import ConfigError, PipelineConfig, load_pipeline

if TYPE_CHECKING:
    from fluentsync.streams.observability.logs import LogFormat

__all__ = ["webhooks"]


async def serve(config: PipelineConfig, host: str, port: int) -> None:
    """Run until SIGINT/SIGTERM (topics are created if missing, with the pipeline's partitions)."""
    from fluentsync.connectors.webhooks.publishers import KafkaPublisher
    from fluentsync.connectors.webhooks.receiver import WebhookReceiver
    from fluentsync.streams.agents.receiver import build_routes, webhook_topic_specs
    from fluentsync.streams.kafka.topics import ensure_topics

    routes = build_routes(config)
    if not routes:
        raise click.ClickException("the pipeline has no workflow with source type webhook")
    await ensure_topics(config.kafka.bootstrap, webhook_topic_specs(config))
    publisher = KafkaPublisher(config.kafka.bootstrap)
    receiver = WebhookReceiver(routes, publisher, config.webhooks, partitioning=config.kafka.partitioning)
    bound = await receiver.start(host, port)
    click.echo(f"webhook receiver on http://{host}:{bound}: " + ", ".join(f"POST {r.path}" for r in routes))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await receiver.stop()
        await publisher.close()


@click.command("webhooks")
@click.option("--config", "-c", "config_path", required=True, help="Pipeline YAML file.",
              type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--host", default=None, help="Interface to listen on (default: the pipeline's webhooks.host).")
@click.option("--port", type=int, default=None, help="Port (default: the pipeline's webhooks.port).")
@click.option("--log-format", default="text", show_default=True, envvar="FLUENTSYNC_LOG_FORMAT",
              type=click.Choice(["text", "json"]), help="json: one JSON object per line (env FLUENTSYNC_LOG_FORMAT).")
def webhooks(config_path: Path, host: str | None, port: int | None, log_format: LogFormat) -> None:
    """Receive webhooks: verify, publish to webhooks.<wf>, answer 2xx only after the broker has them."""
    from fluentsync.streams.observability.logs import configure_logging, register_secrets, secret_values

    try:
        config = load_pipeline(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if config.kafka.bootstrap == "embedded":
        raise click.ClickException("a standalone receiver needs a running broker: set kafka.bootstrap")
    from fluentsync.schemas.wire import configure_codec
    from fluentsync.streams.kafka.connection import configure_kafka

    configure_codec(config.kafka.schema_registry)  # the wire format the workers read (Confluent or single-object)
    configure_kafka(config.kafka)  # TLS/SASL of the publisher, replication of the topics it creates
    configure_logging(log_format, "info")
    register_secrets(*secret_values(config))
    asyncio.run(serve(config, host or config.webhooks.host,
                      config.webhooks.port if port is None else port))
