"""``python -m tests.chaos [--scenario NAME ...] [--records N] [--files F] [--workdir DIR] [--list]``.

Prints the conservation table and exits 1 when any scenario lost a record, counted one twice, left a
file unsettled, errored, or did not manage to land its fault (0 when all passed).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from tests.chaos.report import render
from tests.chaos.runner import run_all
from tests.chaos.scenarios import SCENARIOS

DESCRIPTION = "Drive the pipeline with real data while injecting faults, then check record conservation."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=DESCRIPTION)
    parser.add_argument("--scenario", "-s", action="append", choices=sorted(SCENARIOS), metavar="NAME",
                        help="run only this scenario (repeatable; default: all)")
    parser.add_argument("--records", "-n", type=int, default=20_000, help="records per scenario (default 20000)")
    parser.add_argument("--files", "-f", type=int, default=4, help="files they are split into (default 4)")
    parser.add_argument("--workdir", type=Path, help="keep pipeline files, inboxes and logs here "
                        "(default: a temporary folder, removed when every scenario passed)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)
    console = Console()
    if console.width < 150:  # the table has 11 columns: wrap lines rather than truncate numbers
        console = Console(width=150)
    if args.list:
        for scenario in SCENARIOS.values():
            console.print(f"{scenario.name:18} {scenario.description}", soft_wrap=True, highlight=False)
        return 0
    chosen = [SCENARIOS[name] for name in args.scenario] if args.scenario else list(SCENARIOS.values())
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fluentsync-chaos-"))
    workdir = workdir / time.strftime("%Y%m%d-%H%M%S") if args.workdir else workdir
    started = time.monotonic()
    rows = asyncio.run(run_all(chosen, workdir, records=args.records, files=args.files, console=console))
    render(rows, console, time.monotonic() - started)
    ok = all(row.passed for row in rows)
    if ok and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
