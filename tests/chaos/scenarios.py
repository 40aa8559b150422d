"""The scenarios: which source a run reads and which fault breaks it (see build/readme-chaos.md).

Each is a name, one line for the report and an ``inject`` coroutine run right after the measured
files are dropped. ``source`` picks the file source; S3 and SFTP scenarios read through a
:class:`~tests.chaos.proxy.CuttingProxy`, which only their own fault arms.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from fluentsync.connectors.sandbox import FaultSpec
from tests.chaos import faults
from tests.chaos.faults import FaultReport
from tests.chaos.harness import Run
from tests.chaos.proxy import CuttingProxy

__all__ = ["SCENARIOS", "Scenario"]

Inject = Callable[[Run, CuttingProxy | None], Awaitable[FaultReport]]

WINDOW = 3.0  #: seconds a Fluent fault window lasts: it should end before a 20k-record pass does


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    inject: Inject
    source: Literal["local", "s3", "sftp"] = "local"
    cut_after: int = 40 * 1024  #: proxy scenarios: bytes a connection carries before it is reset
    cuts: int = 3


async def _kill(run: Run, _proxy: CuttingProxy | None) -> FaultReport:
    return await faults.kill_worker(run)


async def _freeze(run: Run, _proxy: CuttingProxy | None) -> FaultReport:
    return await faults.freeze_broker(run, seconds=20)


async def _storm(run: Run, _proxy: CuttingProxy | None) -> FaultReport:
    specs = [
        FaultSpec(route="batch_create", kind="status", status=503, times=8),  # consecutive: beyond client retries
        FaultSpec(route="*", kind="status", status=503, fraction=0.15),
        FaultSpec(route="*", kind="status", status=502, fraction=0.1),
        FaultSpec(route="*", kind="status", status=500, fraction=0.05),
    ]
    return await faults.fluent_window(run, specs, at=0.1, window=WINDOW, what="5xx")


async def _throttle(run: Run, _proxy: CuttingProxy | None) -> FaultReport:
    specs = [
        FaultSpec(route="batch_create", kind="status", status=429, retry_after=1.0, fraction=0.5),
        FaultSpec(route="batch_get", kind="status", status=429, retry_after=0.5, fraction=0.3),
    ]
    return await faults.fluent_window(run, specs, at=0.1, window=WINDOW, what="429 with Retry-After")


async def _lost_ack(run: Run, _proxy: CuttingProxy | None) -> FaultReport:
    # Fluent stores the batch, then the answer is lost: the client sends it again (a duplicate UPSERT).
    specs = [FaultSpec(route="batch_create", kind="status", status=503, fraction=0.3, after_store=True)]
    return await faults.fluent_window(run, specs, at=0.1, window=WINDOW, what="503 after storing the batch")


async def _revoke(run: Run, _proxy: CuttingProxy | None) -> FaultReport:
    return await faults.revoke_tokens(run)


async def _close(run: Run, _proxy: CuttingProxy | None) -> FaultReport:
    return await faults.close_jobs(run)


async def _drop(run: Run, proxy: CuttingProxy | None) -> FaultReport:
    assert proxy is not None, "a connection-drop scenario needs its proxy"
    return await faults.drop_connections(run, proxy)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in [
    Scenario("worker-sigkill", "SIGKILL the worker mid-file, restart it on the same data dir", _kill),
    Scenario("broker-sigstop", "SIGSTOP the broker for 20 s, then SIGCONT", _freeze),
    Scenario("fluent-5xx-storm", "8 consecutive 503s on batch_create, then 30 % 5xx on every route for 3 s",
             _storm),
    Scenario("fluent-429", "429 + Retry-After on 50 % of batch POSTs and 30 % of status GETs for 3 s", _throttle),
    Scenario("fluent-lost-ack", "30 % of batch POSTs stored by Fluent but answered 503, for 3 s", _lost_ack),
    Scenario("tokens-revoked", "revoke every access and refresh token, twice", _revoke),
    Scenario("job-closed", "close every open Fluent job, twice", _close),
    Scenario("s3-drop", "S3 source: 3 downloads reset after 40 KiB", _drop, source="s3"),
    Scenario("sftp-drop", "SFTP source: 3 SSH connections reset after 40 KiB", _drop, source="sftp"),
]}
