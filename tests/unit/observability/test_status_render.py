"""The terminal view of a merged status: tables, progress bars, sections only when they have content."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from fluentsync.streams.observability.status_merge import merge
from fluentsync.streams.observability.status_render import duration, render
from tests.unit.observability.status_samples import in_flight, kafka_view, worker_snapshot


def text(status: dict[str, Any], width: int = 220) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(render(status))
    return console.export_text()


def test_duration() -> None:
    assert [duration(s) for s in (None, 4.9, 303, 7620, 273600)] == ["-", "4s", "5m 03s", "2h 07m", "3d 04h"]


def test_workflow_row_files_in_flight_runs_extractions_and_errors() -> None:
    snapshot = worker_snapshot(
        "host-a:41", accepted=1196, rejected=4, partitions=[0, 1, 2],
        files=[in_flight("incoming/big.csv", 150, 200), in_flight("incoming/new.csv", 0, None)],
        jobs=[{"job_id": "J77", "key": 'file:["local","/inbox","incoming/big.csv","size=9;mtime=1"]',
               "created_at": "2026-12-01T09:00:00Z", "state": "open", "batches": 4, "fluent_status": "OPEN"}],
        errors=[{"time": "2026-12-01T09:59:30Z", "level": "WARNING",
                 "message": "workflow inventory: 3 records not taken by Fluent (503); resending in 2 s"}])
    out = text(merge(kafka_view(lag=12, dlq={"MAP": 2, "PARSE": 2}), [{"url": "http://a:6066", "snapshot": snapshot}]))
    row = next(line for line in out.splitlines() if "│ inventory" in line)  # the Workflows table comes first
    for expected in ("12 (records)", "1,196", "4 (MAP 2, PARSE 2)", "3/2/1/0"):
        assert expected in row, (expected, row)
    big = next(line for line in out.splitlines() if "incoming/big.csv" in line)
    assert "150 / 200" in big and "75.0%" in big and "━" in big  # a bar, three quarters full
    assert "0 / ?" in next(line for line in out.splitlines() if "incoming/new.csv" in line)
    assert "Recent runs" in out and "incoming/old.csv" in out
    assert "Extractions" in out and "orders" in out and "16m 00s" in out  # watermark age
    job = next(line for line in out.splitlines() if "J77" in line)
    assert "file:incoming/big.csv" in job and "OPEN" in job and "size=" not in job
    assert "not taken by Fluent" in out and "DLQ MAP" in out and "incoming/a.csv:15: qty: not an integer" in out
    assert "host-a:41" in out and "workers 1/1" in out


def test_only_kafka_says_how_to_add_workers() -> None:
    out = text(merge(kafka_view(), []))
    assert "no worker answered" in out and "Files in flight" not in out and "Fluent jobs" not in out


def test_a_worker_that_did_not_answer_is_shown() -> None:
    out = text(merge(kafka_view(), [{"url": "http://down:6066", "error": "ConnectError: refused"}]))
    assert "http://down:6066" in out and "error: ConnectError: refused" in out and "workers 0/1" in out


def test_narrow_terminals_still_render() -> None:
    snapshot = worker_snapshot("h:1", files=[in_flight("incoming/" + "x" * 80 + ".csv", 1, 2)])
    out = text(merge(kafka_view(), [{"url": "u", "snapshot": snapshot}]), width=60)
    assert "│ inventory" in out and "Files in flight" in out and "50.0%" in out


def test_lag_names_the_topics_behind() -> None:
    kafka = kafka_view(lag=10)
    kafka["workflows"]["inventory"]["lag"]["topics"]["files.inventory"]["lag"] = 2
    kafka["workflows"]["inventory"]["lag"]["total"] = 12
    out = text(merge(kafka, []))
    assert "12 (records 10, files 2)" in out
