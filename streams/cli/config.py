"""``fluentsync config check``: validate a pipeline file offline, with precise messages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from fluentsync.connectors.webhooks.settings import WebhookSourceConfig
from fluentsync.streams.config import ConfigError, GraphQLTargetConfig, S3SourceConfig, WorkflowConfig, load_pipeline
from fluentsync.streams.exports.config import resolve_source

__all__ = ["config"]


@click.group("config")
def config() -> None:
    """Work with pipeline files."""


@config.command("check")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def check(path: Path) -> None:
    """Validate pipeline file PATH without connecting to anything.

    Checks the YAML, every section and option, the ${VAR} references against the environment, workflow
    names, source, format and key settings, and compiles every mapping and mutation mapping (the same
    compilation the worker does at start-up). Exits 1 and lists every problem with its path otherwise.
    """
    try:
        pipeline = load_pipeline(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    problems = [f"workflow {name}: {problem}" for name, workflow in pipeline.workflows.items()
                for problem in mapping_problems(workflow)]
    if problems:
        raise click.ClickException(f"{path}: {len(problems)} problem(s) in mappings:\n  - " + "\n  - ".join(problems))
    kafka = pipeline.kafka
    click.echo(f"{path}: OK - kafka {kafka.bootstrap} ({kafka.partitions} partitions per topic, replication "
               f"{kafka.replication_factor}, {kafka.security.describe()}), {len(pipeline.workflows)} workflow(s)")
    for name, workflow in pipeline.workflows.items():
        source = workflow.source
        target: str = workflow.target.api if workflow.target is not None else "records topic only"
        where = (f"POST {source.route_for(name)} ({source.auth.kind})" if isinstance(source, WebhookSourceConfig)
                 else f"{source.prefix or '/'} {list(source.patterns)}")
        if isinstance(source, S3SourceConfig) and source.notifications is not None:
            where += f" (+ S3 notifications from queue {source.notifications.queue_url})"
        if isinstance(source, WebhookSourceConfig) and source.deliver == "fluent_events":
            target = f"topic {pipeline.kafka.topic_prefix}{source.outbound_topic}"
        click.echo(f"  {name}: {source.type} {where} -> {workflow.format.type}, key {workflow.key} -> {target}")
    prefix = kafka.topic_prefix
    for name, extraction in pipeline.extractions.items():
        what = extraction.entity or str(extraction.query)
        when = f"schedule {extraction.schedule!r} (UTC)" if extraction.schedule else "on demand"
        click.echo(f"  extraction {name}: {what}, {when} -> topic {extraction.topic_name(name, prefix)}")
    for name, sink in pipeline.sinks.items():
        topic = resolve_source(name, sink, pipeline).topic
        click.echo(f"  sink {name}: topic {topic} -> {sink.format.type} files on {sink.destination.type} "
                   f"({sink.path})")


def mapping_problems(workflow: WorkflowConfig) -> list[str]:
    """Compile the workflow's mapping and mutation mapping; every problem as one line."""
    from fluentsync.streams.mapping import Mapper, MappingConfigError
    from fluentsync.streams.mapping.mutations import GraphQLMutationMapper
    from fluentsync.streams.mapping.strict import FLUENTSYNC_RESOLVERS

    problems: list[str] = []
    compilers: list[tuple[Path, Callable[[Path], object]]] = []
    if workflow.mapping is not None:
        compilers.append((workflow.mapping, lambda p: Mapper.compile(p, resolvers=FLUENTSYNC_RESOLVERS)))
    if isinstance(workflow.target, GraphQLTargetConfig):
        compilers.append((workflow.target.mutation,
                          lambda p: GraphQLMutationMapper(p, custom_transforms=FLUENTSYNC_RESOLVERS)))
    for file, compile_ in compilers:
        try:
            compile_(file)
        except MappingConfigError as exc:
            problems.append(f"{file}: {exc}")
        except (OSError, ValueError) as exc:
            problems.append(f"{file}: {exc}")
    return problems
