"""The faults: each breaks one part of a running pipeline mid-run and says when the breakage ended.

Every fault waits for a trigger (a share of the measured pass already in Fluent), so it lands while
files are in flight, and reports whether it really landed: a fault that fired after every file had
settled, or a Fluent fault that no call ever matched, proves nothing, and the run says so instead of
passing. ``ended`` starts the recovery clock: the restart, the SIGCONT, the last call Fluent failed,
the last connection reset.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass

from fluentsync.connectors.sandbox import FaultSpec
from tests.chaos.harness import Run
from tests.chaos.proxy import CuttingProxy

__all__ = ["FaultReport", "close_jobs", "drop_connections", "fluent_window", "freeze_broker", "kill_worker",
           "revoke_tokens"]


@dataclass
class FaultReport:
    ended: float  #: monotonic time the fault ended: recovery is measured from here
    landed: bool  #: the fault hit the run while records were in flight
    note: str


def _answered(run: Run, since: int, status: int | None = None, faults: set[str] | None = None) -> tuple[int, float]:
    """Calls since request log entry ``since`` answered with ``status`` (or by one of ``faults``): how many,
    and when the last one came (monotonic; now if none did). Recovery is timed from the last failed call:
    a fault window may outlast the failures it caused."""
    hits = [entry for entry in list(run.services.fluent.request_log)[since:]
            if (status is None or entry.get("status") == status)
            and (faults is None or entry.get("fault_id") in faults)]
    now = time.monotonic()
    if not hits:
        return 0, now
    return len(hits), now - max(0.0, time.time() - float(hits[-1]["at"]))


async def kill_worker(run: Run, at: float = 0.25) -> FaultReport:
    """SIGKILL the worker once ``at`` of the pass reached Fluent, then start it again on the same data dir."""
    landed = await run.until_sent(at)
    sent = run.sent()
    await asyncio.to_thread(run.worker.kill)
    await run.poll_files()
    landed = landed and not run.all_settled()
    run.worker.start()
    return FaultReport(time.monotonic(), landed, f"SIGKILL after {sent} entities reached Fluent; restarted")


async def freeze_broker(run: Run, at: float = 0.25, seconds: float = 20) -> FaultReport:
    """SIGSTOP the broker process for ``seconds`` (connections stay open, nothing answers), then SIGCONT."""
    landed = await run.until_sent(at)
    pid = run.broker.pid
    assert pid is not None, "broker not running"
    sent = run.sent()
    os.kill(pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)
    ended = time.monotonic()
    landed = landed and not run.all_settled()
    note = f"broker SIGSTOP for {seconds:.0f} s after {sent} entities reached Fluent, then SIGCONT"
    return FaultReport(ended, landed, note)


async def fluent_window(run: Run, specs: list[FaultSpec], *, at: float, window: float, what: str) -> FaultReport:
    """Sandbox faults (``specs``) from ``at`` of the pass for ``window`` seconds, or until all settled."""
    landed = await run.until_sent(at)
    since = len(run.services.fluent.request_log)
    faults = [run.services.fluent.faults.add(spec) for spec in specs]
    deadline = time.monotonic() + window
    while time.monotonic() < deadline and not run.all_settled():
        await run.poll_files()
    for fault in faults:
        run.services.fluent.faults.remove(fault.id)
    fired, last = _answered(run, since, faults={fault.id for fault in faults})
    return FaultReport(last, landed and fired > 0, f"{fired} calls answered {what}")


async def revoke_tokens(run: Run, at: tuple[float, ...] = (0.2, 0.5)) -> FaultReport:
    """Revoke every access and refresh token at each share in ``at`` (the client must log in again)."""
    since = len(run.services.fluent.request_log)
    landed = True
    for share in at:
        landed = await run.until_sent(share) and landed
        run.services.fluent.tokens.revoke_all()
    await asyncio.sleep(1)  # let the next calls meet the revoked token before counting 401s
    unauthorized, last = _answered(run, since, 401)
    return FaultReport(last, landed and unauthorized > 0,
                       f"tokens revoked {len(at)} times; {unauthorized} calls answered 401")


async def close_jobs(run: Run, at: tuple[float, ...] = (0.25, 0.6)) -> FaultReport:
    """Close every open Fluent job at each share in ``at``: batches in flight meet a closed job."""
    jobs = run.services.fluent.jobs
    since = len(run.services.fluent.request_log)
    landed, closed = True, 0
    for share in at:
        landed = await run.until_sent(share) and landed
        for job in list(jobs.jobs.values()):
            if job.closed_at is None and jobs.close(job.id, "chaos") is not None:
                closed += 1
    await asyncio.sleep(1)
    expired, last = _answered(run, since, 400)
    return FaultReport(last, landed and closed > 0,
                       f"{closed} open jobs closed; {expired} batches answered 400 JOB_EXPIRED")


async def drop_connections(run: Run, proxy: CuttingProxy, *, timeout: float = 60) -> FaultReport:
    """Arm the proxy in front of the file source: the next downloads are cut mid-body."""
    wanted = proxy.cuts_left
    proxy.arm()
    deadline = time.monotonic() + timeout
    while proxy.cuts_left > 0 and time.monotonic() < deadline and not run.all_settled():
        await run.poll_files()
    proxy.cuts_left = 0  # disarm: whatever did not happen by now will not
    return FaultReport(proxy.last_cut or time.monotonic(), proxy.cuts_done > 0,
                       f"{proxy.cuts_done} of {wanted} connections reset after {proxy.cut_after // 1024} KiB")
