"""Which listed files to process now: patterns, completeness checks and order.

Partners write files in place over seconds or minutes (SFTP uploads, local copies). Reading one that is
still being written would publish half a file, so a file is only selected once it is *settled*: older
than ``min_age`` and, with ``stable_listings`` (the default for SFTP and local folders), seen unchanged
in consecutive listings. S3 objects appear atomically when their upload completes, so S3 needs neither.

Patterns are shell globs matched against the file *name* (``*.csv``, ``inventory_*.csv.gz``); ``.`` is a
plain dot (the reference SDK's glob turned it into a regex wildcard). Matching is case-insensitive by
default. Order is oldest first by default, so a partner's corrections land after the originals.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from fluentsync.connectors.sources.base import FileRef

__all__ = ["Selection", "Selector"]

Order = Literal["oldest", "newest", "name"]


@dataclass(frozen=True)
class Selection:
    patterns: tuple[str, ...] = ("*",)
    ignore: tuple[str, ...] = ()
    case_sensitive: bool = False
    min_age: float = 0.0  #: seconds since last modification
    stable_listings: int = 1  #: consecutive identical listings required (1 = none beyond this one)
    order: Order = "oldest"
    max_files: int | None = None  #: per poll
    _compiled: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)
    _ignored: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        flags = 0 if self.case_sensitive else re.IGNORECASE
        object.__setattr__(self, "_compiled", tuple(re.compile(fnmatch.translate(p), flags) for p in self.patterns))
        object.__setattr__(self, "_ignored", tuple(re.compile(fnmatch.translate(p), flags) for p in self.ignore))
        if self.stable_listings < 1:
            raise ValueError("stable_listings must be >= 1")

    def matches(self, name: str) -> bool:
        return any(p.match(name) for p in self._compiled) and not any(p.match(name) for p in self._ignored)


class Selector:
    """Applies a :class:`Selection` to successive listings of one folder (it remembers the last ones)."""

    def __init__(self, selection: Selection, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.selection = selection
        self._now = now
        self._seen: dict[str, tuple[str, int]] = {}  # path -> (version, consecutive listings unchanged)

    def select(self, listing: Iterable[FileRef]) -> list[FileRef]:
        """The settled, matching files of this listing, in the configured order."""
        now = self._now()
        seen: dict[str, tuple[str, int]] = {}
        ready: list[FileRef] = []
        for ref in listing:
            if not self.selection.matches(ref.name):
                continue
            previous = self._seen.get(ref.path)
            streak = previous[1] + 1 if previous and previous[0] == ref.version else 1
            seen[ref.path] = (ref.version, streak)
            if streak < self.selection.stable_listings:
                continue
            if (now - ref.last_modified).total_seconds() < self.selection.min_age:
                continue
            ready.append(ref)
        self._seen = seen  # files that vanished are forgotten
        if self.selection.order == "name":
            ready.sort(key=lambda ref: ref.path)
        else:
            ready.sort(key=lambda ref: (ref.last_modified, ref.path), reverse=self.selection.order == "newest")
        return ready[: self.selection.max_files] if self.selection.max_files else ready
