"""``fluentsync topics``: create and describe topics with explicit partition counts."""

from __future__ import annotations

import asyncio

import click

from fluentsync.streams.kafka.topics import TopicError, TopicSpec, describe_topics, ensure_topics

__all__ = ["topics"]

_bootstrap = click.option("--bootstrap", "-b", default="127.0.0.1:9092", show_default=True,
                          envvar="FLUENTSYNC_KAFKA_BOOTSTRAP", help="Kafka bootstrap servers.")


@click.group("topics")
def topics() -> None:
    """Create or describe Kafka topics (fluentsync never relies on auto-creation)."""


@topics.command("create")
@_bootstrap
@click.argument("names", nargs=-1, required=True)
@click.option("--partitions", "-p", default=1, show_default=True, type=click.IntRange(1))
@click.option("--replication-factor", default=1, show_default=True, type=click.IntRange(1))
@click.option("--compact", is_flag=True, help="cleanup.policy=compact (for tables and latest-value topics).")
@click.option("--config", "-c", "configs", multiple=True, metavar="KEY=VALUE", help="Extra topic config.")
def create(bootstrap: str, names: tuple[str, ...], partitions: int, replication_factor: int,
           compact: bool, configs: tuple[str, ...]) -> None:
    """Create topics NAMES, or check that they exist with the same partition count."""
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
def list_(bootstrap: str) -> None:
    """List topics with their partition counts."""
    for name, count in sorted(asyncio.run(describe_topics(bootstrap)).items()):
        click.echo(f"{name}\t{count}")


def _split(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--config")
    return key, value
