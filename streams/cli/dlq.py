"""``fluentsync dlq list|show|redrive``: inspect a workflow's dead letters and send them back in.

The rules (what can be redriven, where it re-enters, what a second failure looks like) are in
:mod:`fluentsync.streams.operations.dlq`; this module parses options and prints.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from fluentsync.streams.cli.common import broker_or_exit, pipeline_or_exit
from fluentsync.streams.config import PipelineConfig

__all__ = ["dlq"]

F = TypeVar("F", bound=Callable[..., Any])
STAGES = ("PARSE", "MAP", "VALIDATE", "FLUENT")


def _connection(command: F) -> F:
    command = click.option("--bootstrap", "-b", default=None,
                           help="Broker (default: the pipeline's; required when it says 'embedded').")(command)
    return click.option("--config", "-c", "config_path", required=True, help="Pipeline YAML file.",
                        type=click.Path(exists=True, dir_okay=False, path_type=Path))(command)


def _filters(command: F) -> F:
    command = click.option("--since", default=None, help="Only letters since an ISO 8601 time or an age (2h, 7d).")(
        command)
    command = click.option("--reason", default=None, help="Only letters whose reason contains this text.")(command)
    return click.option("--stage", "stages", multiple=True, type=click.Choice(STAGES, case_sensitive=False),
                        help="Only letters of this stage (repeatable).")(command)


@click.group("dlq")
def dlq() -> None:
    """Inspect dead letters and redrive them into the pipeline after a fix."""


def _load(config_path: Path, bootstrap: str | None, workflow: str) -> tuple[PipelineConfig, str]:
    config = pipeline_or_exit(config_path)
    address = broker_or_exit(config, bootstrap)
    if workflow not in config.workflows:
        raise click.ClickException(f"unknown workflow {workflow!r} (the pipeline has: {', '.join(config.workflows)})")
    return config, address


def _select(config: PipelineConfig, address: str, workflow: str, stages: tuple[str, ...], reason: str | None,
            since: str | None, ids: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    from fluentsync.streams.operations.dlq import LetterFilter, parse_since, read_letters

    try:
        when = parse_since(since) if since else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    keep = LetterFilter(stages, reason, when, ids)
    return [letter for letter in asyncio.run(read_letters(address, config, workflow)) if keep(letter)]


def _jsonable(letter: dict[str, Any]) -> dict[str, Any]:
    def default(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
        return str(value)

    clean = {k: v for k, v in letter.items() if not k.startswith("_")}
    if clean.get("record") is not None:
        clean["record"] = json.loads(clean["record"])
    loaded: dict[str, Any] = json.loads(json.dumps(clean, default=default))
    return loaded


def _where(letter: dict[str, Any]) -> str:
    provenance = letter.get("provenance") or {}
    file = provenance.get("file") or {}
    name = file.get("path") or provenance.get("source_uri") or "-"
    line = provenance.get("line")
    return f"{name}:{line}" if line is not None else f"{name} #{provenance.get('record_index', '?')}"


@dlq.command("list")
@click.argument("workflow")
@_connection
@_filters
@click.option("--last", type=int, default=None, help="Only the newest N letters.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per letter and line.")
def list_letters(workflow: str, config_path: Path, bootstrap: str | None, stages: tuple[str, ...], reason: str | None,
                 since: str | None, last: int | None, as_json: bool) -> None:
    """List WORKFLOW's dead letters, oldest first: time, id, stage, reason, record key, file, attempt."""
    config, address = _load(config_path, bootstrap, workflow)
    letters = _select(config, address, workflow, stages, reason, since)
    if last is not None:
        letters = letters[-last:] if last > 0 else []
    if as_json:
        for letter in letters:
            click.echo(json.dumps(_jsonable(letter)))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(letters)} dead letter(s) of {workflow}")
    for column in ("time (UTC)", "id", "stage", "reason", "record key", "file", "attempt"):
        table.add_column(column, justify="right" if column == "attempt" else "left", overflow="fold")
    for letter in letters:
        table.add_row(letter["occurred_at"].strftime("%Y-%m-%d %H:%M:%S"), letter["dead_letter_id"][:12],
                      letter["stage"], letter["reason"][:80], letter.get("record_key") or "-", _where(letter),
                      str(letter["attempt"]))
    Console().print(table)


@dlq.command("show")
@click.argument("workflow")
@click.argument("letter_id")
@_connection
def show(workflow: str, letter_id: str, config_path: Path, bootstrap: str | None) -> None:
    """Show one dead letter in full (LETTER_ID or a unique prefix): errors, original record, history."""
    from fluentsync.streams.operations.dlq import find_letter

    config, address = _load(config_path, bootstrap, workflow)
    try:
        letter = find_letter(_select(config, address, workflow, (), None, None), letter_id)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(_jsonable(letter), indent=2, ensure_ascii=False))


@dlq.command("redrive")
@click.argument("workflow")
@_connection
@_filters
@click.option("--id", "ids", multiple=True, help="Only this dead letter (id or unique prefix; repeatable).")
@click.option("--dry-run", is_flag=True, help="Say what would be redriven; publish nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def redrive(workflow: str, config_path: Path, bootstrap: str | None, stages: tuple[str, ...], reason: str | None,
            since: str | None, ids: tuple[str, ...], dry_run: bool, as_json: bool) -> None:
    """Send the records of WORKFLOW's chosen dead letters back into the pipeline (records.<workflow>), where
    the current mapping, rules and baseline apply. A record that fails again returns with its history."""
    from fluentsync.streams.operations.dlq import plan_redrive, publish_redrive

    config, address = _load(config_path, bootstrap, workflow)
    letters = _select(config, address, workflow, stages, reason, since, ids)
    if not letters:
        raise click.ClickException("no dead letter matches")
    plan = plan_redrive(config, workflow, letters)
    if plan.batches and not dry_run:
        asyncio.run(publish_redrive(address, config, workflow, plan))
    if as_json:
        click.echo(json.dumps({
            "redrive_id": plan.redrive_id, "dry_run": dry_run, "records": plan.records,
            "batches": len(plan.batches), "redriven": [letter["dead_letter_id"] for letter in plan.redriven],
            "superseded": [letter["dead_letter_id"] for letter in plan.superseded],
            "refused": [{"dead_letter_id": letter["dead_letter_id"], "why": why} for letter, why in plan.refused],
        }))
        return
    verb = "would redrive" if dry_run else "redrove"
    click.echo(f"{verb} {plan.records} record(s) in {len(plan.batches)} batch(es) onto records.{workflow}"
               f" (redrive {plan.redrive_id})")
    if plan.superseded:
        click.echo(f"{len(plan.superseded)} older attempt(s) of the same records were left out")
    for letter, why in plan.refused:
        click.echo(f"not redrivable: {letter['dead_letter_id'][:12]} ({_where(letter)}): {why}")
    if plan.records and not dry_run:
        click.echo(f"records that fail again return to the dead letters with their history: "
                   f"fluentsync dlq list {workflow} -c {config_path} --since 10m")
