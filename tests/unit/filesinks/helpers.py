"""Test helpers shared by the unit and integration tests of the file sinks."""

from __future__ import annotations

from fluentsync.connectors.filesinks import RollingFileSink


async def crash(sink: RollingFileSink) -> None:
    """What a killed process leaves behind: its spool files on disk (uncommitted), its file locks and
    connections released by the kernel. Nothing is flushed or cleaned up."""
    for open_file in [*sink._open.values(), *sink._pending]:
        open_file.writer.abort()
    if sink._spool._lock is not None:
        sink._spool._lock.close()
    await sink.destination.close()
