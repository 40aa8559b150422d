"""What several commands share: loading the pipeline file and finding the broker, as click errors."""

from __future__ import annotations

from pathlib import Path

import click

from fluentsync.streams.config import ConfigError, PipelineConfig, load_pipeline
from fluentsync.streams.operations.connect import BootstrapError, resolve_bootstrap

__all__ = ["broker_or_exit", "pipeline_or_exit"]


def pipeline_or_exit(config_path: Path) -> PipelineConfig:
    """The validated pipeline file; its problems end the command with their paths.

    Also switches this process's codec to the pipeline's wire format (``kafka.schema_registry``), so
    what the command reads and writes matches the workers, and its Kafka clients to the pipeline's
    security settings (``kafka.security``)."""
    try:
        config = load_pipeline(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    from fluentsync.schemas.wire import configure_codec
    from fluentsync.streams.kafka.connection import configure_kafka

    configure_codec(config.kafka.schema_registry)
    configure_kafka(config.kafka)
    return config


def broker_or_exit(config: PipelineConfig, bootstrap: str | None) -> str:
    """``--bootstrap``, else the pipeline's broker; an embedded one cannot be reached from outside."""
    try:
        return resolve_bootstrap(config, bootstrap)
    except BootstrapError as exc:
        raise click.ClickException(str(exc)) from exc
