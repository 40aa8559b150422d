"""Spool folders of crashed sinks are swept; those of living sinks are not."""

from __future__ import annotations

import os
import time
from pathlib import Path

from fluentsync.connectors.filesinks.spool import PREFIX, SpoolDir, sweep


def test_a_new_spool_sweeps_dead_folders_and_keeps_living_ones(tmp_path: Path) -> None:
    living = SpoolDir(tmp_path)
    (living.path / "0-100.csv").write_bytes(b"in progress")
    dead = tmp_path / f"{PREFIX}dead"
    dead.mkdir()
    (dead / ".lock").write_bytes(b"")  # its process is gone: nobody holds the lock
    (dead / "0-5.csv").write_bytes(b"half a file")
    starting = tmp_path / f"{PREFIX}starting"  # no lock yet: being created right now
    starting.mkdir()
    ancient = tmp_path / f"{PREFIX}ancient"
    ancient.mkdir()
    os.utime(ancient, (time.time() - 7200, time.time() - 7200))
    unrelated = tmp_path / "other-folder"
    unrelated.mkdir()

    fresh = SpoolDir(tmp_path)
    assert sorted(p.name for p in fresh.swept) == [ancient.name, dead.name]
    assert living.path.exists() and starting.exists() and unrelated.exists()
    assert sweep(tmp_path) == []  # both living folders are locked
    fresh.close()
    living.close()
    assert not fresh.path.exists() and not living.path.exists()
    assert sweep(tmp_path, keep=None) == []  # `starting` is young
