"""The terminal view of a merged status (:func:`~.status_merge.merge`): rich tables and progress bars.

One function from the merged JSON to a rich renderable, so ``fluentsync status`` prints it once and
``--watch`` hands the same renderable to ``rich.live.Live`` on every refresh; tests render it to text.
Sections appear only when they have something to say (no jobs table for a pipeline without Batch API
targets, no extraction table without extractions), so the common case fits one screen.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

__all__ = ["duration", "render"]

_RIGHT = {"lag", "files in flight", "open jobs", "accepted", "rejected", "unchanged", "records", "batches", "%",
          "nodes", "partitions", "uptime", "age", "records/s"}


def duration(seconds: float | None) -> str:
    """``42s``, ``5m 03s``, ``2h 07m``, ``3d 04h``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    value = int(max(0.0, seconds))
    if value < 60:
        return f"{value}s"
    if value < 3600:
        return f"{value // 60}m {value % 60:02d}s"
    if value < 86400:
        return f"{value // 3600}h {value % 3600 // 60:02d}m"
    return f"{value // 86400}d {value % 86400 // 3600:02d}h"


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", expand=False)
    for column in columns:
        table.add_column(column, justify="right" if column in _RIGHT else "left", overflow="fold")
    return table


def _hold(table: Table, index: int, values: list[str], cap: int = 40) -> None:
    """Keep a name column unfolded on narrow terminals: other columns give way first."""
    if values:
        table.columns[index].min_width = min(cap, max(len(v) for v in values))


def _job_key(key: str | None) -> str:
    """``file:["local","/inbox","incoming/a.csv","size=…"]`` (per_file jobs) -> ``file:incoming/a.csv``."""
    if not key:
        return "-"
    if key.startswith("file:["):
        try:
            parts = json.loads(key[5:])
            return f"file:{parts[2]}"
        except (ValueError, IndexError, TypeError):
            pass
    return key if len(key) <= 48 else key[:47] + "…"


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else ("-" if value is None else str(value))


def _time(value: str | None) -> str:
    """``2026-12-01T18:49:58.123Z`` -> ``2026-12-01 18:49:58``."""
    return value.replace("T", " ")[:19] if value else "-"


def _short_topic(topic: str, workflow: str) -> str:
    suffix = f".{workflow}"
    name = topic[: -len(suffix)] if topic.endswith(suffix) else topic
    return name.rsplit(".", 1)[-1] if "." in name else name


def _lag(view: Mapping[str, Any], workflow: str) -> str:
    lag = view.get("lag")
    if not lag:
        return "-"
    busy = [(_short_topic(t, workflow), e["lag"]) for t, e in lag["topics"].items() if e["lag"]]
    if len(busy) == 1:
        return f"{lag['total']:,} ({busy[0][0]})"
    return f"{lag['total']:,}" + (f" ({', '.join(f'{t} {n:,}' for t, n in busy)})" if busy else "")


def _dlq(view: Mapping[str, Any]) -> str:
    dlq = view.get("dlq")
    if not dlq:
        return "-"
    stages = ", ".join(f"{stage} {count:,}" for stage, count in dlq["by_stage"].items())
    return f"{dlq['total']:,}" + (f" ({stages})" if stages else "")


def _batches(view: Mapping[str, Any]) -> str:
    b = view.get("batches") or {}
    if not b:
        return "-"
    return "/".join(_n(b.get(k, 0)) for k in ("sent", "pending", "complete", "failed"))


def _workers(status: Mapping[str, Any]) -> Table | None:
    workers = status.get("workers") or []
    if not workers:
        return None
    table = _table("Workers", "worker", "url", "uptime", "leader", "partitions", "status")
    for w in workers:
        state = Text(f"error: {w['error']}", style="red") if w.get("error") else Text("ok", style="green")
        table.add_row(w.get("id") or "-", w.get("url") or "-", duration(w.get("uptime_s")),
                      "yes" if w.get("leader") else "", _n(w.get("partitions")), state)
    return table


def _workflows(status: Mapping[str, Any]) -> Table:
    table = _table("Workflows", "workflow", "lag", "files in flight", "accepted", "rejected", "unchanged",
                   "dead letters", "batches", "open jobs")
    table.caption = "records by outcome since each worker started; batches: sent/pending/complete/failed"
    table.caption_justify = "left"
    for name, view in status["workflows"].items():
        records = view.get("records") or {}
        label = Text.assemble((name, "bold"), "\n", (f"{view.get('source') or '?'} → {view.get('target') or '-'}",
                                                     "dim"))
        jobs = [j for j in view.get("jobs") or [] if j.get("state") == "open"]
        table.add_row(label, _lag(view, name), _n(view.get("files_in_flight_total")),
                      _n(records.get("accepted")), _n(records.get("rejected")), _n(records.get("unchanged")),
                      _dlq(view), _batches(view), _n(len(jobs)) if view.get("jobs") else "-")
    _hold(table, 0, list(status["workflows"]))
    return table


def _files(status: Mapping[str, Any]) -> Table | None:
    rows = [(name, f) for name, view in status["workflows"].items() for f in view.get("files_in_flight") or []]
    if not rows:
        return None
    table = _table("Files in flight", "workflow", "file", "state", "records", "progress", "%", "worker")
    for name, f in rows:
        expected, done = f.get("records_expected"), f.get("records_done") or 0
        if expected is None:
            bar: RenderableType = Text("counting…" if f.get("state") == "publishing" else "waiting for total",
                                       style="dim")
            records = f"{done:,} / ?"
        else:
            bar = ProgressBar(total=max(expected, 1), completed=min(done, max(expected, 1)), width=30)
            records = f"{done:,} / {expected:,}"
        percent = f"{f['percent']:.1f}%" if f.get("percent") is not None else "-"
        table.add_row(name, f.get("path") or "-", f.get("state") or "-", records, bar, percent, f.get("worker") or "-")
    _hold(table, 0, [name for name, _ in rows])
    return table


def _jobs(status: Mapping[str, Any]) -> Table | None:
    rows = [(name, j) for name, view in status["workflows"].items() for j in (view.get("jobs") or [])[:5]]
    if not rows:
        return None
    table = _table("Fluent jobs", "workflow", "job", "key", "state", "Fluent status", "batches", "created (UTC)")
    for name, j in rows:
        table.add_row(name, j["job_id"], _job_key(j.get("key")), j.get("state") or "-", j.get("fluent_status") or "-",
                      _n(j.get("batches")), _time(j.get("created_at")))
    return table


def _reports(status: Mapping[str, Any]) -> Table | None:
    rows = [(name, r) for name, view in status["workflows"].items() for r in view.get("reports") or []]
    if not rows:
        return None
    rows.sort(key=lambda row: row[1]["settled_at"] or "")
    table = _table("Recent runs", "settled (UTC)", "workflow", "file", "records", "accepted", "rejected",
                   "unchanged", "records/s")
    for name, r in rows:
        rate = f"{r['records_per_second']:,.0f}" if r.get("records_per_second") else "-"
        table.add_row(_time(r["settled_at"]), name, r.get("path") or "-", _n(r["records"]), _n(r["accepted"]),
                      _n(r["rejected"]), _n(r["unchanged"]), rate)
    return table


def _extractions(status: Mapping[str, Any]) -> Table | None:
    found = status.get("extractions") or {}
    if not found:
        return None
    table = _table("Extractions", "extraction", "state", "schedule", "last run", "nodes", "watermark", "age")
    styles = {"FAILED": "red", "RUNNING": "cyan", "COMPLETED": "green"}
    for name, e in found.items():
        last = e.get("last_run") or {}
        mark = e.get("watermark") or {}
        state = e.get("state") or "-"
        last_run = f"{last.get('status', '-')} {_time(last.get('ended_at') or last.get('created_at'))}" if last else "-"
        table.add_row(name, Text(state, style=styles.get(state, "")), e.get("schedule") or "on demand", last_run,
                      _n(last.get("nodes")) if last else "-", mark.get("value") or "-", duration(mark.get("age_s")))
    return table


def _errors(status: Mapping[str, Any]) -> Table | None:
    rows: list[tuple[str, str, str, str]] = []
    for e in status.get("errors") or []:
        rows.append((e.get("time") or "", e.get("scope") or "worker", e.get("level") or "", e.get("message") or ""))
    for name, view in status["workflows"].items():
        for e in view.get("errors") or []:
            rows.append((e.get("time") or "", name, e.get("level") or "", e.get("message") or ""))
        for letter in ((view.get("dlq") or {}).get("latest") or [])[:3]:
            where = f"{letter['where']}: " if letter.get("where") else ""
            rows.append((letter.get("time") or "", name, f"DLQ {letter['stage']}", f"{where}{letter['reason']}"))
    for name, e in (status.get("extractions") or {}).items():
        last = e.get("last_run") or {}
        if last.get("error"):
            rows.append((last.get("ended_at") or "", name, "FAILED", last["error"]))
    if not rows:
        return None
    rows.sort(key=lambda row: row[0], reverse=True)
    table = _table("Last errors", "time (UTC)", "where", "kind", "message")
    for when, where, kind, message in rows[:15]:
        table.add_row(_time(when), where, Text(kind, style="red" if kind in ("ERROR", "FAILED") else "yellow"),
                      message)
    return table


def render(status: Mapping[str, Any]) -> RenderableType:
    """The whole view: header, workers, workflows, files in flight, jobs, runs, extractions, errors."""
    workers = status.get("workers") or []
    answering = sum(1 for w in workers if not w.get("error"))
    header = Text.assemble(
        ("fluentsync status", "bold"), f"  app {status.get('app_id') or '?'}",
        f"  broker {status.get('bootstrap') or '-'}", f"  workers {answering}/{len(workers)}",
        f"  {_time(status.get('generated_at'))} UTC")
    parts: list[RenderableType | None] = [header, _workers(status), _workflows(status), _files(status),
                                          _jobs(status), _reports(status), _extractions(status), _errors(status)]
    if not workers:
        parts.insert(1, Text("no worker answered: files in flight, batches and jobs need a worker's /status "
                             "(--url http://HOST:PORT)", style="yellow"))
    return Group(*(p for p in parts if p is not None))
