"""``fluentsync status``: what the pipeline is doing now, per workflow and extraction.

Two sources, merged (:mod:`fluentsync.streams.observability.status_merge`): Kafka, always (consumer lag,
dead letters by stage, recent run reports, extraction watermarks and runs: numbers no single worker
knows), and each worker's ``GET /status`` (files in flight with their percentage, records by outcome,
Fluent batches and jobs, last errors, assigned partitions: what only the worker holding them knows).
Workers are named with ``--url`` (each owns some partitions, so name them all); without it the
pipeline's ``ops`` address is tried. ``--watch`` redraws every ``--interval`` seconds and reads only new
dead letters each time.

Exit status (without ``--watch``): 1 when the broker could not be read or a worker named with ``--url``
did not answer - the view is still printed - so scripts and probes can alert on it.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from fluentsync.streams.cli.common import pipeline_or_exit
from fluentsync.streams.config import PipelineConfig

__all__ = ["Collector", "fetch_worker", "status"]

FETCH_TIMEOUT = 5.0


def normalise_url(url: str) -> str:
    url = url.strip().rstrip("/")
    return url if "://" in url else f"http://{url}"


async def fetch_worker(url: str, timeout: float = FETCH_TIMEOUT) -> dict[str, Any]:
    """``{"url", "snapshot"}``, or ``{"url", "error"}`` when the worker did not answer with a status."""
    import httpx

    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(f"{url}/status")
        response.raise_for_status()
        snapshot = response.json()
        if not isinstance(snapshot, dict) or snapshot.get("kind") != "worker":
            return {"url": url, "error": "not a fluentsync worker's /status"}
        return {"url": url, "snapshot": snapshot}
    except (httpx.HTTPError, ValueError) as exc:
        return {"url": url, "error": f"{type(exc).__name__}: {exc}"[:300] if str(exc) else type(exc).__name__}


@dataclass
class Collector:
    """One refresh = every worker's snapshot + the Kafka view, merged; keeps Kafka state across refreshes."""

    config: PipelineConfig
    bootstrap: str | None
    urls: list[str]
    implicit: bool = False  #: the URL is the pipeline's default ops address, not named by the operator
    workflows: list[str] | None = None  #: shown (default: the pipeline's)
    reports: int = 5
    kafka: Any = None
    problems: list[str] = field(default_factory=list)

    async def collect(self) -> dict[str, Any]:
        from fluentsync.streams.observability.status_kafka import KafkaStatus
        from fluentsync.streams.observability.status_merge import merge

        answers = list(await asyncio.gather(*(fetch_worker(url) for url in self.urls)))
        if self.implicit:
            for answer in answers:
                if answer.get("error"):
                    answer["error"] = f"no worker at the pipeline's ops address ({answer['error']}); name workers " \
                                      "with --url"
        bootstrap = self.bootstrap or next((a["snapshot"]["worker"].get("bootstrap") for a in answers
                                            if a.get("snapshot")), None)
        view: dict[str, Any] | None = None
        if bootstrap is not None:
            if self.kafka is None or self.kafka.bootstrap != bootstrap:
                self.kafka = KafkaStatus(bootstrap, self.config, workflows=self.workflows, reports=self.reports)
            view = await self.kafka.collect()
        merged = merge(view, answers, app_id=self.config.kafka.app_id, workflows=self.workflows)
        self.problems = [f"worker {a['url']}: {a['error']}" for a in answers if a.get("error") and not self.implicit]
        if view is None:
            self.problems.append("no broker: the pipeline uses an embedded broker and no worker said which; "
                                 "pass --bootstrap HOST:PORT")
            merged["errors"].insert(0, {"time": merged["generated_at"], "scope": "kafka", "level": "ERROR",
                                        "message": self.problems[-1]})
        elif any(e.get("scope") == "kafka" for e in view["errors"]):
            self.problems.append(f"broker {bootstrap}: could not be read")
        return merged


def _bootstrap(config: PipelineConfig, bootstrap: str | None) -> str | None:
    if bootstrap:
        return bootstrap
    return None if config.kafka.bootstrap == "embedded" else config.kafka.bootstrap


def _default_url(config: PipelineConfig) -> str | None:
    if not config.ops.port:  # None: not served; 0: a free port nobody can guess
        return None
    host = config.ops.host if config.ops.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"http://{host}:{config.ops.port}"


@click.command("status")
@click.option("--config", "-c", "config_path", required=True, help="Pipeline YAML file.",
              type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--bootstrap", "-b", default=None,
              help="Broker (default: the pipeline's; with an embedded broker, the one the workers report).")
@click.option("--url", "urls", multiple=True, metavar="http://HOST:PORT",
              help="A worker's ops address (repeatable; name every worker). Default: the pipeline's ops address.")
@click.option("--workflow", "-w", "workflows", multiple=True, help="Only these workflows (repeatable).")
@click.option("--watch", is_flag=True, help="Redraw until Ctrl-C.")
@click.option("--interval", type=click.FloatRange(min=0.2), default=2.0, show_default=True,
              help="Seconds between refreshes with --watch.")
@click.option("--count", type=click.IntRange(min=0), default=0,
              help="With --watch: stop after this many refreshes (0: until Ctrl-C).")
@click.option("--reports", "last", type=click.IntRange(min=0), default=5, show_default=True,
              help="Recent run reports shown per workflow.")
@click.option("--json", "as_json", is_flag=True, help="Print the merged status as JSON (one line per refresh "
              "with --watch).")
def status(config_path: Path, bootstrap: str | None, urls: tuple[str, ...], workflows: tuple[str, ...], watch: bool,
           interval: float, count: int, last: int, as_json: bool) -> None:
    """Show consumer lag, files in flight, records by outcome, dead letters, Fluent jobs and batches,
    watermarks and the last errors, per workflow and extraction."""
    config = pipeline_or_exit(config_path)
    unknown = [w for w in workflows if w not in config.workflows]
    if unknown:
        raise click.ClickException(f"unknown workflow(s): {', '.join(unknown)} "
                                   f"(the pipeline has: {', '.join(config.workflows) or 'none'})")
    default = _default_url(config)
    named = [normalise_url(u) for u in urls]
    collector = Collector(config, _bootstrap(config, bootstrap), named or ([default] if default else []),
                          implicit=not named and default is not None,
                          workflows=list(workflows) or list(config.workflows), reports=last)
    try:
        if watch:
            asyncio.run(_watch(collector, interval, count, as_json))
            return
        merged = asyncio.run(collector.collect())
    except KeyboardInterrupt:
        return
    if as_json:
        click.echo(json.dumps(merged, indent=2, default=str))
    else:
        _console().print(_render(merged))
    if collector.problems:
        for problem in collector.problems:
            click.echo(f"status: {problem}", err=True)
        raise SystemExit(1)


def _console() -> Any:
    from rich.console import Console

    return Console(soft_wrap=False)


def _render(merged: dict[str, Any]) -> Any:
    from fluentsync.streams.observability.status_render import render

    return render(merged)


async def _watch(collector: Collector, interval: float, count: int, as_json: bool) -> None:
    refreshes = 0
    if as_json:
        while not count or refreshes < count:
            click.echo(json.dumps(await collector.collect(), default=str))
            refreshes += 1
            if not count or refreshes < count:
                await asyncio.sleep(interval)
        return
    from rich.live import Live

    console = _console()
    with Live(console=console, auto_refresh=False, transient=False) as live:
        while not count or refreshes < count:
            live.update(_render(await collector.collect()), refresh=True)
            refreshes += 1
            if not count or refreshes < count:
                await asyncio.sleep(interval)
