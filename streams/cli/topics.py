"""``fluentsync topics``: create and describe topics with explicit partition counts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from fluentsync.streams.kafka.topics import TopicError, TopicSpec, describe_topics, ensure_topics

__all__ = ["topics"]

_bootstrap = click.option("--bootstrap", "-b", default="127.0.0.1:9092", show_default=True,
                          envvar="FLUENTSYNC_KAFKA_BOOTSTRAP", help="Kafka bootstrap servers.")
_pipeline = click.option("--pipeline", "pipeline_path", default=None,
                         type=click.Path(exists=True, dir_okay=False, path_type=Path),
                         help="Connect with this pipeline file's kafka.security (TLS/SASL); created topics get its "
                              "replication_factor and min_insync_replicas.")


def _secure(pipeline_path: Path | None) -> None:
    if pipeline_path is not None:
        from fluentsync.streams.cli.common import pipeline_or_exit

        pipeline_or_exit(pipeline_path)  # configures this process's Kafka security and replication


@click.group("topics")
def topics() -> None:
    """Create or describe Kafka topics (fluentsync never relies on auto-creation)."""


@topics.command("create")
@_bootstrap
@_pipeline
@click.argument("names", nargs=-1, required=True)
@click.option("--partitions", "-p", default=1, show_default=True, type=click.IntRange(1))
@click.option("--replication-factor", default=None, type=click.IntRange(1),
              help="Default: the --pipeline file's kafka.replication_factor, else 1.")
@click.option("--compact", is_flag=True, help="cleanup.policy=compact (for tables and latest-value topics).")
@click.option("--config", "-c", "configs", multiple=True, metavar="KEY=VALUE", help="Extra topic config.")
def create(bootstrap: str, pipeline_path: Path | None, names: tuple[str, ...], partitions: int,
           replication_factor: int | None, compact: bool, configs: tuple[str, ...]) -> None:
    """Create topics NAMES, or check that they exist with the same partition count."""
    _secure(pipeline_path)
    config = dict(_split(item) for item in configs)
    if compact:
        config["cleanup.policy"] = "compact"
    specs = [TopicSpec(name, partitions, replication_factor, config) for name in names]
    try:
        outcome = asyncio.run(ensure_topics(bootstrap, specs))
    except TopicError as exc:
        raise click.ClickException(str(exc)) from exc
    for name in names:
        click.echo(f"{name}: {outcome[name]} ({partitions} partitions)")


@topics.command("list")
@_bootstrap
@_pipeline
def list_(bootstrap: str, pipeline_path: Path | None) -> None:
    """List topics with their partition counts."""
    _secure(pipeline_path)
    for name, count in sorted(asyncio.run(describe_topics(bootstrap)).items()):
        click.echo(f"{name}\t{count}")


def _split(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--config")
    return key, value
