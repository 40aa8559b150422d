"""Spool folders: where files are written before they are complete, one folder per sink instance.

A crashed process leaves its spool folder behind (that is the point of a crash), and a service that
restarts many times would slowly fill its disk. So each folder holds a ``.lock`` file with an exclusive
``flock`` for as long as its sink lives, and every new sink sweeps the folders next to its own whose lock
it can take: the kernel releases a lock when its process dies, so a lockable folder has no owner. A
folder without a lock file is either being created this instant or predates locking; it is removed only
once it is an hour old.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

__all__ = ["PREFIX", "SpoolDir", "sweep"]

PREFIX = "fluentsync-sink-"
_UNLOCKED_GRACE = 3600.0


class SpoolDir:
    """A fresh, locked spool folder under ``parent`` (default: the system temporary folder)."""

    def __init__(self, parent: Path | None = None) -> None:
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
        self._lock: BinaryIO | None = open(self.path / ".lock", "wb")  # noqa: SIM115 - held until close
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.swept = sweep(self.path.parent, keep=self.path)

    def close(self) -> None:
        """Remove the folder and everything in it."""
        shutil.rmtree(self.path, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def sweep(parent: Path, *, keep: Path | None = None) -> list[Path]:
    """Remove the spool folders in ``parent`` that no living sink owns; return them."""
    removed = []
    for candidate in parent.glob(PREFIX + "*"):
        if candidate == keep or not candidate.is_dir():
            continue
        try:
            with open(candidate / ".lock", "rb") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(candidate, ignore_errors=True)  # still holding the lock: no one can adopt it
                removed.append(candidate)
        except FileNotFoundError:
            with contextlib.suppress(OSError):
                if time.time() - candidate.stat().st_mtime > _UNLOCKED_GRACE:
                    shutil.rmtree(candidate, ignore_errors=True)
                    removed.append(candidate)
        except OSError:
            continue  # locked: a living sink's folder
    return removed
