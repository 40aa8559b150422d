"""A local folder as a file source: the embedded default for the demo and first-time users.

Paths are relative to ``root`` and "/"-separated. The version of a file is its size and modification
time in nanoseconds, so rewriting a file in place is a new version. Moves and sidecar writes use
``os.replace`` (atomic within one filesystem).
"""

from __future__ import annotations

import asyncio
import os
import stat
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from fluentsync.connectors.sources.base import (
    FileRef,
    FileSource,
    SourceError,
    SourceFileNotFound,
    SourceFileReplaced,
    size_mtime_version,
)

__all__ = ["LocalSource"]


class LocalSource(FileSource):
    """Files in folders below ``root``."""

    kind = "local"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def _abs(self, path: str) -> Path:
        full = (self.root / path.lstrip("/")).resolve()
        if full != self.root and self.root not in full.parents:
            raise SourceError(f"path {path!r} escapes the source folder {self.root}")
        return full

    def _ref(self, path: str, st: os.stat_result) -> FileRef:
        return FileRef(
            source=self.kind,
            location=str(self.root),
            path=path,
            version=size_mtime_version(st.st_size, st.st_mtime_ns),
            size=st.st_size,
            last_modified=datetime.fromtimestamp(st.st_mtime_ns / 1e9, UTC),
        )

    async def list(self, prefix: str) -> AsyncIterator[FileRef]:
        folder = self._abs(prefix)
        entries = await asyncio.to_thread(_scan, folder)
        base = prefix.strip("/")
        for name, st in entries:
            yield self._ref(f"{base}/{name}" if base else name, st)

    async def stat(self, path: str) -> FileRef:
        try:
            st = await asyncio.to_thread(os.stat, self._abs(path))
        except FileNotFoundError:
            raise SourceFileNotFound(f"no file {path!r} in {self.root}") from None
        if not stat.S_ISREG(st.st_mode):
            raise SourceFileNotFound(f"{path!r} in {self.root} is not a regular file")
        return self._ref(path.strip("/"), st)

    async def open(self, ref: FileRef, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        try:
            handle = await asyncio.to_thread(open, self._abs(ref.path), "rb")
        except FileNotFoundError:
            raise SourceFileNotFound(f"no file {ref.path!r} in {self.root}") from None
        try:
            st = os.fstat(handle.fileno())
            if size_mtime_version(st.st_size, st.st_mtime_ns) != ref.version:
                raise SourceFileReplaced(f"{ref.path!r} changed since it was listed")
            while chunk := await asyncio.to_thread(handle.read, chunk_size):
                yield chunk
        finally:
            handle.close()

    async def move(self, ref: FileRef, dest_path: str) -> None:
        src, dest = self._abs(ref.path), self._abs(dest_path)
        await asyncio.to_thread(_move, src, dest, ref.version, ref.path)

    async def write(self, path: str, data: bytes) -> None:
        await asyncio.to_thread(_atomic_write, self._abs(path), data)

    async def delete(self, ref: FileRef) -> None:
        target = self._abs(ref.path)
        try:
            st = os.stat(target)
        except FileNotFoundError:
            return
        if size_mtime_version(st.st_size, st.st_mtime_ns) != ref.version:
            raise SourceFileReplaced(f"{ref.path!r} was replaced by a new version; not deleted")
        target.unlink(missing_ok=True)


def _scan(folder: Path) -> list[tuple[str, os.stat_result]]:
    try:
        with os.scandir(folder) as entries:
            return [
                (entry.name, entry.stat())
                for entry in entries
                if entry.is_file(follow_symlinks=False) and not entry.name.startswith(".")
            ]
    except FileNotFoundError:
        return []


def _move(src: Path, dest: Path, version: str, label: str) -> None:
    try:
        st = os.stat(src)
    except FileNotFoundError:
        if dest.exists():
            return  # already moved (a repeated move after a crash)
        raise SourceFileNotFound(f"cannot move {label!r}: it is gone and {dest} does not exist") from None
    if size_mtime_version(st.st_size, st.st_mtime_ns) != version:
        raise SourceFileReplaced(f"{label!r} was replaced by a new version; left in place")
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dest)


def _atomic_write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
