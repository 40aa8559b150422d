"""Which Fluent job a batch goes to: strategy keys, the job store and single-flight get-or-create.

Why a store at all: a job id must survive restarts and be shared by every worker of a workflow, or each
restart (and each concurrent micro-batch) would open its own job (R35). The record is written *before*
the first batch is sent, so a crash between createJob and the first batch POST still reuses the job.

Why single-flight per key: at the start of a day many batches resolve the job at once; exactly one of
them may call createJob, the rest wait for it and read the stored record. Within one process a per-key
lock does that; across processes the Faust table implementation relies on the key living on one
partition (R35 "get-or-create runs on one partition").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from fluentsync.connectors.fluent import FluentClient

from .settings import BatchSinkSettings

__all__ = ["InMemoryJobStore", "JobManager", "JobRecord", "JobStore", "strategy_key"]


@dataclass(frozen=True)
class JobRecord:
    """The stored job for one ``(workflow, strategy key)``."""

    job_id: str
    created_at: datetime
    expires_at: datetime
    batch_count: int = 0


class JobStore(Protocol):
    """Persistence of :class:`JobRecord` by ``(workflow, strategy key)``."""

    async def get(self, workflow: str, key: str) -> JobRecord | None: ...

    async def put(self, workflow: str, key: str, record: JobRecord) -> None: ...


class InMemoryJobStore:
    """A dict-backed :class:`JobStore` (tests, single-process use)."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], JobRecord] = {}

    async def get(self, workflow: str, key: str) -> JobRecord | None:
        return self.records.get((workflow, key))

    async def put(self, workflow: str, key: str, record: JobRecord) -> None:
        self.records[(workflow, key)] = record


def strategy_key(settings: BatchSinkSettings, job_key: str, now: datetime) -> str:
    """The store key: ``daily:<UTC date>``, ``file:<file id>``, ``run:<run id>`` or ``long_running``."""
    strategy = settings.job_strategy
    if strategy == "daily":
        return f"daily:{now.date().isoformat()}"
    if strategy == "long_running":
        return "long_running"
    if not job_key:
        raise ValueError(f"job strategy {strategy!r} needs a job key (file id or run id)")
    return f"{'file' if strategy == 'per_file' else 'run'}:{job_key}"


class JobManager:
    """Get-or-create of the job for a strategy key, with reuse rules and replacement of closed jobs."""

    def __init__(
        self,
        client: FluentClient,
        settings: BatchSinkSettings,
        store: JobStore,
        workflow: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._client = client
        self._settings = settings
        self._store = store
        self._workflow = workflow
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def key_for(self, job_key: str) -> str:
        return strategy_key(self._settings, job_key, self._clock())

    def _usable(self, record: JobRecord, now: datetime) -> bool:
        if now >= record.expires_at or now - record.created_at >= self._settings.job_max_age:
            return False
        return self._settings.job_strategy != "daily" or record.created_at.date() == now.date()

    async def get_or_create(self, key: str, job_key: str) -> str:
        """The job id for ``key``: the stored one while usable, else a new job (stored before use)."""
        async with self._lock(key):
            record = await self._store.get(self._workflow, key)
            if record is not None and self._usable(record, self._clock()):
                return record.job_id
            return await self._create(key, job_key)

    async def replace_closed(self, key: str, job_key: str, closed_job_id: str) -> str:
        """Fluent said ``closed_job_id`` is closed: open a new job unless another sender already did."""
        async with self._lock(key):
            record = await self._store.get(self._workflow, key)
            if record is not None and record.job_id != closed_job_id and self._usable(record, self._clock()):
                return record.job_id
            return await self._create(key, job_key)

    async def acknowledged(self, key: str, job_id: str) -> None:
        """Count one acknowledged batch on the stored record (R35 ``batch_count``)."""
        async with self._lock(key):
            record = await self._store.get(self._workflow, key)
            if record is not None and record.job_id == job_id:
                await self._store.put(self._workflow, key, replace(record, batch_count=record.batch_count + 1))

    def _job_name(self, job_key: str, now: datetime) -> str:
        s = self._settings
        template = {
            "daily": s.daily_job_name,
            "per_file": s.per_file_job_name,
            "per_run": s.per_run_job_name,
            "long_running": s.long_running_job_name,
        }[s.job_strategy]
        return template.format(
            date=now.date().isoformat(), file=job_key, run=job_key, workflow=self._workflow, key=job_key
        )

    async def _create(self, key: str, job_key: str) -> str:
        now = self._clock()
        meta = {"source": self._settings.source_for(self._workflow), **self._settings.job_meta}
        job = await self._client.jobs.create_job(self._job_name(job_key, now), meta=meta)
        record = JobRecord(job_id=job.id, created_at=now, expires_at=now + self._settings.job_max_age)
        await self._store.put(self._workflow, key, record)
        return job.id
