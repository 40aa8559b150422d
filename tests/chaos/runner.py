"""Runs one scenario from a fresh broker to its accounting, and the chosen scenarios one after another."""

from __future__ import annotations

import asyncio
import time
import traceback
from contextlib import AsyncExitStack
from pathlib import Path

from rich.console import Console

from tests.chaos.conservation import account
from tests.chaos.data import build
from tests.chaos.harness import Run, SourceSpec, local_source, s3_source, sftp_source
from tests.chaos.proxy import CuttingProxy
from tests.chaos.report import Row
from tests.chaos.scenarios import Scenario
from tests.chaos.services import Services, services

__all__ = ["run_all", "run_scenario"]

SETTLE_TIMEOUT = 150.0  #: seconds after the fault ended for every file to settle; later counts as stuck


async def run_scenario(scenario: Scenario, env: Services, workdir: Path, *, records: int, files: int,
                       console: Console) -> Row:
    await asyncio.to_thread(workdir.mkdir, parents=True)
    row = Row(scenario.name, scenario.description, logs=str(workdir))
    started = time.monotonic()
    prefix = f"{scenario.name}/incoming/" if scenario.source == "sftp" else "incoming/"
    data = build(records, files, prefix)
    row.expected = data.expected()
    async with AsyncExitStack() as stack:
        proxy: CuttingProxy | None = None
        source: SourceSpec
        if scenario.source == "local":
            source = local_source(workdir / "inbox")
        elif scenario.source == "s3":
            moto_port = int(env.s3.endpoint_url.rsplit(":", 1)[1])
            proxy = await stack.enter_async_context(
                CuttingProxy("127.0.0.1", moto_port, cut_after=scenario.cut_after, cuts=scenario.cuts))
            source = s3_source(env, scenario.name, f"http://127.0.0.1:{proxy.port}")
        else:
            proxy = await stack.enter_async_context(
                CuttingProxy(env.sftp.host, env.sftp.port, cut_after=scenario.cut_after, cuts=scenario.cuts))
            source = sftp_source(env, scenario.name, proxy.port, workdir / "known_hosts")
        run = Run(scenario.name, env, data, workdir, source)
        try:
            console.print(f"[bold]{scenario.name}[/]: warm-up", soft_wrap=True)
            await run.start()
            console.print(f"[bold]{scenario.name}[/]: {records:,} records in {files} files; {scenario.description}",
                          soft_wrap=True, highlight=False)
            run.drop_files()
            fault = await scenario.inject(run, proxy)
            row.landed, row.note = fault.landed, fault.note
            if await run.wait_settled(list(data.files), SETTLE_TIMEOUT):
                row.recovery = max(run.settled[p] for p in data.files) - fault.ended
                if row.recovery < 0:
                    row.recovery, row.note = 0.0, row.note + "; every file settled before the fault ended"
            if not run.worker.alive:
                row.note += f"; the worker exited with code {run.worker.proc.returncode if run.worker.proc else '?'}"
            observed = await run.collect()
            row.result = account(data.records, data.baseline, observed)
        except Exception as exc:  # one broken scenario must not hide the others' results
            row.error = f"{type(exc).__name__}: {exc}"
            (workdir / "error.txt").write_text(traceback.format_exc())
        finally:
            await run.close()
    row.seconds = time.monotonic() - started
    return row


async def run_all(chosen: list[Scenario], workdir: Path, *, records: int, files: int, console: Console) -> list[Row]:
    rows: list[Row] = []
    async with services(workdir) as env:
        for scenario in chosen:
            row = await run_scenario(scenario, env, workdir / scenario.name, records=records, files=files,
                                     console=console)
            console.print(f"[bold]{scenario.name}[/]: {row.verdict} in {row.seconds:.0f} s", soft_wrap=True)
            rows.append(row)
    return rows
