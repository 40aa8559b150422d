"""Batch API sink: inventory entities → Fluent jobs and batches (requirements.md R30-R36, R41-R43).

Pure asyncio and independent of Faust, so the stream agent, file loaders and tests drive the same
component. Use :class:`BatchSink` with :class:`BatchSinkSettings` and a :class:`JobStore`
(:class:`InMemoryJobStore` here; a Faust-table store belongs to the agent layer). The delivery contract
is in :mod:`.sink`: tokens come back through ``on_sent`` only after Fluent acknowledged their batch.
:class:`BatchStatusPoller` (:mod:`.status`) then watches each acknowledged batch until Fluent reports
it terminal and splits its tokens into accepted, entity errors and timed out (R38, R39, R48).

The real-time paths keep the same token contract so the stream agent can swap sinks per workflow:
:class:`EventSink` (:class:`EventSinkSettings`, :mod:`.events`) sends records as Fluent events, one each or
many in one event, and :class:`MutationSink` (:class:`MutationSinkSettings`, :mod:`.mutations`) sends them as
alias-batched GraphQL mutations built by a ``GraphQLMutationMapper``. :class:`TokenBucket` paces both.
"""

from .batching import BatchResult
from .dispatch import TokenBucket
from .events import EventSink, EventSinkSettings
from .jobs import InMemoryJobStore, JobRecord, JobStore, strategy_key
from .mutations import MutationSink, MutationSinkSettings
from .settings import BatchSinkSettings, JobStrategy
from .sink import BatchSink, FailedCallback, RejectedCallback, SentCallback
from .status import (
    BatchCompletion,
    BatchStatusPoller,
    BatchStatusSource,
    DoneCallback,
    EntityError,
    StatusPollSettings,
    map_batch_errors,
)

__all__ = [
    "BatchCompletion",
    "BatchResult",
    "BatchSink",
    "BatchSinkSettings",
    "BatchStatusPoller",
    "BatchStatusSource",
    "DoneCallback",
    "EntityError",
    "EventSink",
    "EventSinkSettings",
    "FailedCallback",
    "InMemoryJobStore",
    "JobRecord",
    "JobStore",
    "JobStrategy",
    "MutationSink",
    "MutationSinkSettings",
    "RejectedCallback",
    "SentCallback",
    "StatusPollSettings",
    "TokenBucket",
    "map_batch_errors",
    "strategy_key",
]
