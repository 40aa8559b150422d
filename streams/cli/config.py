"""``fluentsync config check``: validate a pipeline file offline, with precise messages."""

from __future__ import annotations

from pathlib import Path

import click

from fluentsync.streams.config import ConfigError, load_pipeline

__all__ = ["config"]


@click.group("config")
def config() -> None:
    """Work with pipeline files."""


@config.command("check")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def check(path: Path) -> None:
    """Validate pipeline file PATH without connecting to anything.

    Checks the YAML, every section and option, the ${VAR} references against the environment, workflow
    names, source, format and key settings. Exits 1 and lists every problem with its path otherwise.
    """
    try:
        pipeline = load_pipeline(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    kafka = pipeline.kafka
    click.echo(f"{path}: OK - kafka {kafka.bootstrap} ({kafka.partitions} partitions per topic), "
               f"{len(pipeline.workflows)} workflow(s)")
    for name, workflow in pipeline.workflows.items():
        source = workflow.source
        click.echo(f"  {name}: {source.type} {source.prefix or '/'} {list(source.patterns)} -> "
                   f"{workflow.format.type}, key {workflow.key}")
