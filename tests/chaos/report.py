"""The suite's output: one table row per scenario, and the evidence behind any row that did not pass."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from tests.chaos.conservation import Conservation

__all__ = ["Row", "render"]


@dataclass
class Row:
    scenario: str
    description: str
    result: Conservation | None = None  #: None: the scenario could not run to the end (see ``error``)
    expected: dict[str, int] = field(default_factory=dict)  #: outcome counts of a fault-free run
    recovery: float | None = None  #: seconds from the fault's end until every file settled
    landed: bool = False
    note: str = ""
    error: str | None = None
    seconds: float = 0.0
    logs: str = ""

    @property
    def verdict(self) -> str:
        if self.error is not None:
            return "ERROR"
        if self.result is None or not self.result.ok:
            return "FAIL"
        return "PASS" if self.landed else "NO FAULT"

    @property
    def passed(self) -> bool:
        return self.verdict == "PASS"


_STYLE = {"PASS": "green", "FAIL": "bold red", "ERROR": "bold red", "NO FAULT": "yellow"}


def render(rows: list[Row], console: Console, total_seconds: float) -> None:
    table = Table(title="Chaos suite: record conservation", title_justify="left")
    for column in ("scenario", "records in", "accepted", "rejected", "unchanged", "lost", "duplicated",
                   "double", "settled", "recovery", "verdict"):
        table.add_column(column, justify="left" if column in ("scenario", "verdict") else "right", no_wrap=True)
    for row in rows:
        r = row.result
        cells = ["-"] * 8 if r is None else [
            f"{r.records_in:,}", f"{r.accepted:,}", f"{r.rejected:,}", f"{r.unchanged:,}", str(r.lost),
            str(r.duplicated), str(r.double_counted), f"{r.settled}/{r.files}"]
        recovery = f"{row.recovery:.1f} s" if row.recovery is not None else "-"
        table.add_row(row.scenario, *cells, recovery, f"[{_STYLE[row.verdict]}]{row.verdict}[/]")
    console.print(table)
    for row in rows:
        console.print(f"[bold]{row.scenario}[/] ({row.seconds:.0f} s): {row.description}; {row.note}",
                      soft_wrap=True, highlight=False)
        r = row.result
        if r is not None and row.expected and (r.accepted, r.rejected, r.unchanged) != (
                row.expected["accepted"], row.expected["rejected"], row.expected["unchanged"]):
            console.print(f"  fault-free run would give accepted {row.expected['accepted']:,}, rejected "
                          f"{row.expected['rejected']:,}, unchanged {row.expected['unchanged']:,}",
                          soft_wrap=True, highlight=False)
        if row.error:
            console.print(f"  [red]error:[/] {row.error}", soft_wrap=True, highlight=False)
        if r is not None and r.duplicated:
            console.print(f"  duplicated: {r.resent:,} records sent to Fluent again (idempotent UPSERTs), "
                          f"{r.letters_repeated:,} dead-lettered again ({r.letter_ids_differ:,} under a new id)",
                          soft_wrap=True, highlight=False)
        if r is not None:
            for problem in r.problems:
                console.print(f"  [red]problem:[/] {problem}", soft_wrap=True, highlight=False)
            if r.lost_examples:
                console.print(f"  [red]lost, e.g.:[/] {', '.join(r.lost_examples)}", soft_wrap=True, highlight=False)
        if not row.passed and row.logs:
            console.print(f"  logs: {row.logs}", soft_wrap=True, highlight=False)
    passed = sum(1 for row in rows if row.passed)
    console.print(f"{passed} of {len(rows)} scenarios passed in {total_seconds:.0f} s", soft_wrap=True)
