"""``fluentsync worker``: run the configured workflows."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from fluentsync.streams.config import ConfigError, load_pipeline

if TYPE_CHECKING:
    from fluentsync.streams.observability.logs import LogFormat

__all__ = ["worker"]


@click.command("worker")
@click.option("--config", "-c", "config_path", required=True, help="Pipeline YAML file.",
              type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--data-dir", default=Path("var/worker"), show_default=True, type=click.Path(path_type=Path),
              help="Local table state (RocksDB); can be rebuilt from Kafka changelogs.")
@click.option("--loglevel", "-l", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--log-format", default="text", show_default=True, envvar="FLUENTSYNC_LOG_FORMAT",
              type=click.Choice(["text", "json"]), help="json: one JSON object per line with workflow, file, run "
              "and job ids (env FLUENTSYNC_LOG_FORMAT).")
@click.option("--web-port", type=int, default=None, help="Port of the ops endpoints /health, /metrics, /status "
              "(default: the pipeline's ops.port, 6066; 0: a free port).")
@click.option("--webhook-port", type=int, default=None,
              help="Port of the webhook receiver (default: the pipeline's webhooks.port); only with webhook workflows.")
def worker(config_path: Path, data_dir: Path, loglevel: str, log_format: LogFormat, web_port: int | None,
           webhook_port: int | None) -> None:
    """Run a worker: discover files, publish their records, and run every agent of the pipeline.

    Several workers with the same pipeline file share the work through Kafka partitions. Stop with
    Ctrl-C or SIGTERM.
    """
    try:
        config = load_pipeline(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    from fluentsync.streams import worker as service
    from fluentsync.streams.kafka.preflight import KafkaConnectionProblem

    try:
        service.run(config, data_dir=data_dir, loglevel=loglevel, web_port=web_port, webhook_port=webhook_port,
                    log_format=log_format)
    except KafkaConnectionProblem as exc:  # the broker refused our kafka.security: one line, not a traceback
        raise click.ClickException(str(exc)) from exc
