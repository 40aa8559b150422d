"""``fluentsync replay``: process a workflow's records again from a point of its records topic.

The mechanics (which topic, offsets versus re-publishing, why ``--force`` re-publishes) are in
:mod:`fluentsync.streams.operations.replay`; this module parses options and prints the plan.
"""

from __future__ import annotations

import asyncio
import functools
import json
from pathlib import Path
from typing import Any

import click

from fluentsync.streams.config import ConfigError, load_pipeline

__all__ = ["replay"]


@click.command("replay")
@click.argument("workflow")
@click.option("--config", "-c", "config_path", required=True, help="Pipeline YAML file.",
              type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--bootstrap", "-b", default=None,
              help="Broker (default: the pipeline's; required when it says 'embedded').")
@click.option("--from", "start", required=True,
              help="earliest, an offset (1200), offsets per partition (0:120,1:98) or an ISO 8601 time.")
@click.option("--to", "stop", default=None,
              help="Stop before this position (same forms as --from); implies --republish.")
@click.option("--dry-run", is_flag=True, help="Say what would be processed again; change nothing.")
@click.option("--force", is_flag=True,
              help="Send every record to Fluent again, even unchanged ones (re-publishes; workers may run).")
@click.option("--republish", is_flag=True,
              help="Copy the range to the end of the topic instead of moving the group (workers may run).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan (and result) as JSON.")
def replay(workflow: str, config_path: Path, bootstrap: str | None, start: str, stop: str | None, dry_run: bool,
           force: bool, republish: bool, as_json: bool) -> None:
    """Process WORKFLOW's records again from --from: map, validate, dedupe and send what changed.

    By default the workers' consumer group is moved back on records.<workflow> (stop the workers first;
    the command refuses while they run). --force, --to and --republish copy the range instead.
    """
    from fluentsync.streams.operations.connect import BootstrapError, broker_is_embedded, resolve_bootstrap
    from fluentsync.streams.operations.group import GroupActiveError
    from fluentsync.streams.operations.positions import PositionError, parse_position
    from fluentsync.streams.operations.replay import execute, plan_replay

    try:
        config = load_pipeline(config_path)
        address = resolve_bootstrap(config, bootstrap)
        first, last = parse_position(start), parse_position(stop) if stop is not None else None
    except (ConfigError, BootstrapError, PositionError) as exc:
        raise click.ClickException(str(exc)) from exc
    if workflow not in config.workflows:
        raise click.ClickException(f"unknown workflow {workflow!r} (the pipeline has: {', '.join(config.workflows)})")
    from fluentsync.schemas.wire import configure_codec
    from fluentsync.streams.kafka.connection import configure_kafka

    configure_codec(config.kafka.schema_registry)  # re-published batches use the workers' wire format
    configure_kafka(config.kafka)  # TLS/SASL of every client this command opens

    async def run() -> dict[str, Any]:
        embedded = await broker_is_embedded(config, address)
        plan = await plan_replay(config, workflow, address, first, last, force=force, republish=republish,
                                 embedded=embedded)
        if dry_run:
            return {"plan": plan, "result": None}
        return {"plan": plan, "result": await execute(plan, address, embedded=embedded)}

    try:
        outcome = asyncio.run(run())
    except (PositionError, GroupActiveError) as exc:
        raise click.ClickException(str(exc)) from exc
    plan, result = outcome["plan"], outcome["result"]
    if as_json:
        document = {"dry_run": dry_run, **plan.to_json()}
        if result is not None:
            document.update(moved=result.moved, republished=result.republished,
                            republished_records=result.republished_records)
        click.echo(json.dumps(document))
        return
    _print(plan, result, dry_run)


def _print(plan: Any, result: Any, dry_run: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    say = functools.partial(console.print, soft_wrap=True)  # messages stay one line when piped (scripts, logs)
    how = "move the consumer group" if plan.mode == "offsets" else "re-publish" + (" with --force" if plan.force
                                                                                   else "")
    span = f"from {plan.start}" + (f" to {plan.stop}" if plan.stop else "")
    table = Table(title=f"replay {plan.workflow}: {plan.topic} {span} ({how})")
    for column in ("partition", "committed", "from", "to", "end", "batches", "records"):
        table.add_column(column, justify="right")
    for p in plan.partitions:
        committed = "-" if p.committed is None else f"{p.committed:,}"
        table.add_row(str(p.partition), committed, f"{p.start:,}", f"{p.stop:,}", f"{p.end:,}", f"{p.messages:,}",
                      f"{p.records:,}")
    console.print(table)
    skipped = sum(p.skipped for p in plan.partitions) if plan.mode == "offsets" else 0
    if skipped:
        say(f"[yellow]warning: the start is past the group's committed offsets: {skipped:,} "
                      "offsets not yet processed would be skipped[/yellow]")
    if plan.forced and not plan.force:
        say(f"[yellow]note: {plan.forced:,} record batches in the range were copied by an earlier "
                      "'replay --force': their records are sent to Fluent again, changed or not[/yellow]")
    totals = f"{plan.messages:,} record batches ({plan.records:,} records)"
    if dry_run:
        say(f"dry run: {totals} would be processed again; nothing was changed")
    elif plan.mode == "offsets":
        say(f"moved consumer group {plan.group} on {plan.topic}: {totals} will be processed again "
                      "when the workers start")
    else:
        say(f"re-published {result.republished:,} record batches ({result.republished_records:,} "
                      f"records) to {plan.topic}" + (" with force" if plan.force else ""))
