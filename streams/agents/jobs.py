"""The Fluent job store of a workflow as a changelog-backed Faust table (R35).

Why a global table keyed by the producer's partitioner: job ids are needed by every partition's
records (a ``daily`` job is one per workflow and UTC day), and they are written from the sink's sender
tasks, outside any stream iteration, so a partition cannot come from the current event. A global table
gives each worker every record after a restart; the record is written before the first batch goes to a
new job, so a crash in between reuses the job. Two workers that create the same key's job in the same
instant each keep using their own (two jobs that day, both valid); the next lookup converges on the
last one written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import faust

from fluentsync.streams.sinks import JobRecord

__all__ = ["TableJobStore", "job_table"]


def job_table(app: faust.App, workflow: str) -> Any:
    """A memory-backed global table. The store URL needs a host part: Faust treats a bare ``memory://`` as
    unset (an empty yarl URL is falsy) and would fall back to RocksDB, whose writes need a current event -
    which the sink's sender tasks do not have."""
    return app.GlobalTable(f"jobs-{workflow}", key_type=str, partitions=1, recovery_buffer_size=1,
                           use_partitioner=True, store="memory://jobs")


class TableJobStore:
    """:class:`~fluentsync.streams.sinks.JobStore` over a Faust table of JSON values."""

    def __init__(self, table: Any) -> None:
        self.table = table

    async def get(self, workflow: str, key: str) -> JobRecord | None:
        value = self.table.get(f"{workflow}|{key}")
        if not value:
            return None
        return JobRecord(job_id=value["job_id"], created_at=datetime.fromisoformat(value["created_at"]),
                         expires_at=datetime.fromisoformat(value["expires_at"]),
                         batch_count=int(value.get("batch_count", 0)))

    async def put(self, workflow: str, key: str, record: JobRecord) -> None:
        self.table[f"{workflow}|{key}"] = {
            "job_id": record.job_id, "created_at": record.created_at.isoformat(),
            "expires_at": record.expires_at.isoformat(), "batch_count": record.batch_count,
        }
