"""Local folder destination: temporary name, atomic replace, no leftovers on failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from fluentsync.connectors.filesinks import DestinationError, LocalDestination


async def test_put_creates_folders_replaces_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    dest = LocalDestination(tmp_path / "out", prefix="exports/")
    src = tmp_path / "spool"
    src.write_bytes(b"v1")
    assert await dest.put(src, "a/b/c.csv") == str(tmp_path / "out/exports/a/b/c.csv")
    src.write_bytes(b"v2")
    await dest.put(src, "a/b/c.csv")
    assert (tmp_path / "out/exports/a/b/c.csv").read_bytes() == b"v2"
    assert [p.name for p in (tmp_path / "out/exports/a/b").iterdir()] == ["c.csv"]
    assert src.exists(), "the spool file belongs to the sink"


async def test_failure_leaves_the_old_version_and_no_temporary_file(tmp_path: Path) -> None:
    dest = LocalDestination(tmp_path / "out", fsync=False)
    (tmp_path / "out").mkdir()
    (tmp_path / "out/c.csv").write_bytes(b"old")
    with pytest.raises(DestinationError):
        await dest.put(tmp_path / "missing-spool", "c.csv")
    (tmp_path / "out/d.csv").mkdir()  # a folder in the way of the rename
    src = tmp_path / "spool"
    src.write_bytes(b"new")
    with pytest.raises(DestinationError):
        await dest.put(src, "d.csv")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["c.csv", "d.csv"]
    assert (tmp_path / "out/c.csv").read_bytes() == b"old"
