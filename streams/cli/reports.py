"""``fluentsync reports``: what each run of a workflow did, read from its ``reports.<wf>`` topic.

The reports topic is the record: one ``RunReport`` per settled file, written by the ledger agent.
Reading it needs only the broker, not a running worker, and any consumer can do the same.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from fluentsync.streams.cli.common import broker_or_exit, pipeline_or_exit

__all__ = ["read_reports", "reports"]


async def read_reports(bootstrap: str, topics: list[str], timeout: float = 2.0) -> list[dict[str, Any]]:
    """Every report on ``topics`` (read from the beginning until nothing new arrives for a moment)."""
    from fluentsync.streams.kafka.tail import TopicTail

    found: list[dict[str, Any]] = []
    for topic in topics:
        async with TopicTail(bootstrap, topic) as tail:
            idle = 0.0
            while idle < timeout:
                idle = 0.0 if await tail.poll(0.5) else idle + 0.5
            found.extend(tail.items)
    return sorted(found, key=lambda r: r["settled_at"])


@click.command("reports")
@click.option("--config", "-c", "config_path", required=True, help="Pipeline YAML file.",
              type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--bootstrap", "-b", default=None,
              help="Broker to read from (default: the pipeline's; required when it says 'embedded').")
@click.option("--workflow", "-w", "workflows", multiple=True, help="Only these workflows (repeatable).")
@click.option("--last", "last", type=int, default=20, show_default=True, help="Show the newest N reports.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
def reports(config_path: Path, bootstrap: str | None, workflows: tuple[str, ...], last: int, as_json: bool) -> None:
    """Show run reports: records by outcome, Fluent jobs and batches, throughput and first errors."""
    config = pipeline_or_exit(config_path)
    from fluentsync.streams.kafka.names import WorkflowTopics

    bootstrap = broker_or_exit(config, bootstrap)
    names = list(workflows) or list(config.workflows)
    unknown = [w for w in names if w not in config.workflows]
    if unknown:
        raise click.ClickException(f"unknown workflow(s): {', '.join(unknown)}")
    topics = [WorkflowTopics.of(w, config.kafka.topic_prefix).reports for w in names]
    found = asyncio.run(read_reports(bootstrap, topics))[-last:]
    if as_json:
        for report in found:
            click.echo(json.dumps(report, default=_json_default))
        return
    _table(found)


def _json_default(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _table(found: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(found)} run report(s)")
    for column in ("settled (UTC)", "workflow", "source", "records", "accepted", "rejected", "unchanged",
                   "Fluent", "records/s"):
        table.add_column(column, justify="right" if column in ("records", "accepted", "rejected", "unchanged",
                                                               "records/s") else "left")
    for r in found:
        fluent = f"{r['fluent_batches']} in job(s) {', '.join(r['job_ids'])}" if r["job_ids"] else \
            f"{r['fluent_batches']}"
        rate = f"{r['records_per_second']:,.0f}" if r.get("records_per_second") else "-"
        table.add_row(r["settled_at"].strftime("%Y-%m-%d %H:%M:%S"), r["workflow"], r.get("source_uri") or "-",
                      f"{r['record_count']:,}", f"{r['accepted']:,}", f"{r['rejected']:,}", f"{r['unchanged']:,}",
                      fluent, rate)
    console = Console()
    console.print(table)
    for r in found:
        for error in r["first_errors"][:3]:
            console.print(f"  {r['workflow']} {r.get('source_uri')}: {error}")
