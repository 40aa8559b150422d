"""Batch API sink: inventory entities → Fluent jobs and batches (requirements.md R30-R36, R41-R43).

Pure asyncio and independent of Faust, so the stream agent, file loaders and tests drive the same
component. Use :class:`BatchSink` with :class:`BatchSinkSettings` and a :class:`JobStore`
(:class:`InMemoryJobStore` here; a Faust-table store belongs to the agent layer). The delivery contract
is in :mod:`.sink`: tokens come back through ``on_sent`` only after Fluent acknowledged their batch.
"""

from .batching import BatchResult
from .jobs import InMemoryJobStore, JobRecord, JobStore, strategy_key
from .settings import BatchSinkSettings, JobStrategy
from .sink import BatchSink, FailedCallback, RejectedCallback, SentCallback

__all__ = [
    "BatchResult",
    "BatchSink",
    "BatchSinkSettings",
    "FailedCallback",
    "InMemoryJobStore",
    "JobRecord",
    "JobStore",
    "JobStrategy",
    "RejectedCallback",
    "SentCallback",
    "strategy_key",
]
