"""``fluentsync extract`` and ``fluentsync runs``: run an extraction now, list extractions, show runs.

``extract NAME`` runs in this process (standalone: no worker needed, only the broker and Fluent), using
the same runner, watermark and run records as the worker, so a manual run and a scheduled one never
disagree about the watermark. ``--trigger`` instead queues the run for the worker (a QUEUED run record
plus a trigger on ``extraction.triggers``). ``--list`` shows each configured extraction with its
watermark and last run; ``runs`` shows the tracked runs, newest last.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from fluentsync.streams.cli.common import broker_or_exit, pipeline_or_exit
from fluentsync.streams.config import PipelineConfig

__all__ = ["extract", "runs"]

STALE_AFTER = 60.0  #: seconds without a progress update after which a RUNNING run is shown as stale

_CONFIG = click.option("--config", "-c", "config_path", required=True, help="Pipeline YAML file.",
                       type=click.Path(exists=True, dir_okay=False, path_type=Path))
_BOOTSTRAP = click.option("--bootstrap", "-b", default=None,
                          help="Broker (default: the pipeline's; required when it says 'embedded').")


def _load(config_path: Path, bootstrap: str | None) -> tuple[PipelineConfig, str]:
    config = pipeline_or_exit(config_path)
    return config, broker_or_exit(config, bootstrap)


def _when(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    from fluentsync.streams.extraction.state import parse_timestamp

    try:
        return parse_timestamp(text)
    except ValueError:
        raise click.BadParameter(f"not an ISO-8601 date-time: {text!r}", param_hint=option) from None


@click.command("extract")
@click.argument("name", required=False)
@_CONFIG
@_BOOTSTRAP
@click.option("--from", "window_from", default=None, help="updatedOn from (ISO-8601); default: the watermark.")
@click.option("--to", "window_to", default=None, help="updatedOn to (ISO-8601); default: open-ended.")
@click.option("--full", is_flag=True, help="Ignore the watermark: extract everything.")
@click.option("--trigger", is_flag=True, help="Queue the run for the worker instead of running it here.")
@click.option("--list", "list_", is_flag=True, help="List the configured extractions, watermarks and last runs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def extract(name: str | None, config_path: Path, bootstrap: str | None, window_from: str | None,
            window_to: str | None, full: bool, trigger: bool, list_: bool, as_json: bool) -> None:
    """Run extraction NAME now (pages Fluent GraphQL into its outbound topic), or --list extractions."""
    config, bootstrap = _load(config_path, bootstrap)
    if list_:
        asyncio.run(_list(config, bootstrap, as_json))
        return
    if name is None:
        raise click.UsageError("give an extraction NAME (or --list)")
    if name not in config.extractions:
        known = ", ".join(sorted(config.extractions)) or "none"
        raise click.ClickException(f"unknown extraction {name!r} (configured: {known})")
    if full and (window_from or window_to):
        raise click.UsageError("--full and --from/--to exclude each other")
    start, end = _when(window_from, "--from"), _when(window_to, "--to")
    if trigger:
        run = asyncio.run(_trigger(config, bootstrap, name, start, end, full))
        click.echo(json.dumps(_run_json(run)) if as_json else f"queued {run.run_id} for the worker")
        return
    run = asyncio.run(_run(config, bootstrap, name, start, end, full, quiet=as_json))
    if as_json:
        click.echo(json.dumps(_run_json(run)))
    else:
        _summary(run)
    if run.status != "COMPLETED":
        sys.exit(1)


async def _run(config: PipelineConfig, bootstrap: str, name: str, start: datetime | None, end: datetime | None,
               full: bool, *, quiet: bool) -> Any:
    from fluentsync.connectors.fluent import FluentClient, FluentSettings
    from fluentsync.streams.extraction import ExtractionService, RunRequest

    def progress(run: Any) -> None:
        if not quiet:
            click.echo(f"  ... {run.nodes:,} nodes, {run.pages:,} pages", err=True)

    async with FluentClient(FluentSettings(**config.fluent.settings_kwargs())) as client, ExtractionService(
        config.extractions, bootstrap=bootstrap, client=client, prefix=config.kafka.topic_prefix,
        partitions=config.kafka.partitions, partitioning=config.kafka.partitioning,
    ) as service:
        return await service.runner(name).run(RunRequest(window_from=start, window_to=end, full=full), progress)


async def _trigger(config: PipelineConfig, bootstrap: str, name: str, start: datetime | None,
                   end: datetime | None, full: bool) -> Any:
    from fluentsync.streams.extraction import ExtractionState, StateTopics, extraction_topic_specs
    from fluentsync.streams.extraction.state import format_timestamp
    from fluentsync.streams.kafka.topics import ensure_topics

    kafka = config.kafka
    await ensure_topics(bootstrap, extraction_topic_specs(config.extractions, kafka.topic_prefix, kafka.partitions))
    extraction = config.extractions[name]
    async with ExtractionState(bootstrap, StateTopics.of(kafka.topic_prefix)) as state:
        return await state.trigger(
            name, triggered_by="manual", window_from=format_timestamp(start) if start else None,
            window_to=format_timestamp(end) if end else None, full=full,
            topic=extraction.topic_name(name, kafka.topic_prefix), schema=extraction.schema_name)


async def _list(config: PipelineConfig, bootstrap: str, as_json: bool) -> None:
    from fluentsync.streams.extraction import ExtractionState, StateTopics

    async with ExtractionState(bootstrap, StateTopics.of(config.kafka.topic_prefix)) as state:
        watermarks = await state.watermarks()
        last = {run.extraction: run for run in await state.runs()}
    for name, extraction in sorted(config.extractions.items()):
        wm, run = watermarks.get(name), last.get(name)
        row = {"extraction": name, "entity": extraction.entity, "schema": extraction.schema_name,
               "topic": extraction.topic_name(name, config.kafka.topic_prefix), "schedule": extraction.schedule,
               "watermark": wm.watermark if wm else None, "last_run": run.run_id if run else None,
               "last_status": run.status if run else None}
        if as_json:
            click.echo(json.dumps(row))
        else:
            click.echo(f"{name:24} {extraction.schedule or 'on demand':16} watermark {row['watermark'] or '-':26} "
                       f"last run {row['last_status'] or '-'} {row['last_run'] or ''}  -> {row['topic']}")


def _run_json(run: Any) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in dataclasses.asdict(run).items()}


def _summary(run: Any) -> None:
    seconds = (run.duration_ms or 0) / 1000
    rate = f", {run.nodes / seconds:,.0f} nodes/s" if seconds > 0 else ""
    click.echo(f"{run.extraction} run {run.run_id}: {run.status} ({run.stage})")
    click.echo(f"  nodes {run.nodes:,}, pages {run.pages:,}, duplicates {run.duplicates:,}, "
               f"overlap skipped {run.overlap_skipped:,}, {seconds:.2f}s{rate}")
    click.echo(f"  window {run.window_from or '-'} .. {run.window_to or '-'} -> {run.topic}")
    click.echo(f"  watermark {run.watermark_before or '-'} -> {run.watermark_after or '(unchanged)'}")
    if run.truncated:
        click.echo(f"  stopped early: {run.truncated}")
    if run.nested_truncated:
        click.echo(f"  warning: {run.nested_truncated} nested connection(s) had more items than fetched")
    if run.error:
        click.echo(f"  error: {run.error}")


@click.command("runs")
@_CONFIG
@_BOOTSTRAP
@click.option("--extraction", "-e", "names", multiple=True, help="Only these extractions (repeatable).")
@click.option("--last", "last", type=int, default=20, show_default=True, help="Show the newest N runs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
def runs(config_path: Path, bootstrap: str | None, names: tuple[str, ...], last: int, as_json: bool) -> None:
    """Show tracked extraction runs: status, nodes, pages, duration, watermark."""
    config, bootstrap = _load(config_path, bootstrap)
    found = asyncio.run(_runs(config, bootstrap, names or None))[-last:]
    if as_json:
        for run in found:
            click.echo(json.dumps(_run_json(run)))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(found)} extraction run(s)")
    for column in ("created (UTC)", "run", "status", "stage", "by", "nodes", "pages", "seconds", "watermark after"):
        table.add_column(column, justify="right" if column in ("nodes", "pages", "seconds") else "left")
    now = datetime.now(UTC)
    for run in found:
        seconds = f"{run.duration_ms / 1000:.1f}" if run.duration_ms is not None else "-"
        status = run.status
        if status == "RUNNING" and (now - run.updated_at).total_seconds() > STALE_AFTER:
            status = "RUNNING (stale: killed?)"  # a live run writes its progress every few seconds
        table.add_row(run.created_at.strftime("%Y-%m-%d %H:%M:%S"), run.run_id, status, run.stage,
                      run.triggered_by, f"{run.nodes:,}", f"{run.pages:,}", seconds, run.watermark_after or "-")
    console = Console()
    console.print(table)
    for run in found:
        if run.error:
            console.print(f"  {run.run_id}: {run.error}")


async def _runs(config: PipelineConfig, bootstrap: str, names: tuple[str, ...] | None) -> list[Any]:
    from fluentsync.streams.extraction import ExtractionState, StateTopics

    async with ExtractionState(bootstrap, StateTopics.of(config.kafka.topic_prefix)) as state:
        return await state.runs(names)
