"""What the rolling sink takes and gives back: record positions, committed files, commits.

Kept apart from :mod:`~fluentsync.connectors.filesinks.sink` (which re-exports them) so the sink module
holds the sink's logic only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

__all__ = ["NOTHING", "NOTHING_PENDING", "Commit", "CommittedFile", "Position"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Position:
    """Where a record is in Kafka, and what else its file's name may depend on."""

    partition: int
    offset: int
    timestamp: datetime = _EPOCH  #: the record's timestamp; date variables in names come from it (UTC)
    run: str | None = None  #: the extraction run it belongs to (``{run}``); None: the sink's configured run

    @classmethod
    def from_kafka(cls, partition: int, offset: int, timestamp_ms: int | None, run: str | None = None) -> Position:
        """From a consumer record's fields (Kafka timestamps are epoch milliseconds)."""
        stamp = _EPOCH if timestamp_ms is None or timestamp_ms < 0 else datetime.fromtimestamp(timestamp_ms / 1000, UTC)
        return cls(partition, offset, stamp, run)


@dataclass(frozen=True)
class CommittedFile:
    """A file that is now complete and visible at its destination."""

    name: str  #: relative name (rendered template)
    uri: str
    partition: int
    first_offset: int
    last_offset: int
    records: int  #: records written (rejected records excluded)
    size: int  #: bytes

    @property
    def next_offset(self) -> int:
        return self.last_offset + 1


@dataclass(frozen=True)
class Commit:
    """What a call committed: the files, and per partition the offset to commit to Kafka (Kafka's
    convention: the next offset to consume). Empty when nothing was committed."""

    files: tuple[CommittedFile, ...] = ()
    offsets: Mapping[int, int] = field(default_factory=dict)
    #: closed files still wait (a failed upload, or the partition's next file held back until these
    #: offsets are committed): commit ``offsets``, then call ``flush``/``tick`` again
    pending: bool = False

    def __bool__(self) -> bool:
        return bool(self.offsets)


# what most calls return (nothing committed): shared, so a record costs no Commit of its own
NOTHING = Commit(offsets=MappingProxyType({}))
NOTHING_PENDING = Commit(offsets=MappingProxyType({}), pending=True)
