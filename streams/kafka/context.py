"""Writing Faust tables from outside a stream iteration, on the partition the write belongs to.

Faust derives a table write's changelog partition (and, with RocksDB, the store partition) from the
*current event*, a context variable set while an agent iterates. Outcomes of record batches arrive
later, in the Fluent sink's tasks, where the current event is some other event or none at all. The
records agent keeps the event a batch came from and makes it current again for the writes that belong
to it, so the baseline of a record key lands in the changelog partition of that key - the partition
whose owner reads it.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust import streams as _faust_streams

__all__ = ["in_event"]


@contextmanager
def in_event(event: Any) -> Iterator[None]:
    """Make ``event`` Faust's current event for the duration of the block (the caller keeps it alive)."""
    token = _faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _faust_streams._current_event.reset(token)
