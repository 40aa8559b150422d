"""What every file source offers: list file versions, stream one, move it, write next to it.

A source is a place partners drop files (an S3 bucket, an SFTP folder, a local folder). The pipeline
never holds a whole file: :meth:`FileSource.open` yields chunks of bytes that go straight into a
streaming parser. A file version is named by a :class:`FileRef`, whose :attr:`FileRef.identity` -
source + location + path + version - says whether two listings saw the same piece of work: a new upload
under the same name has a new version and is new work.

Sources raise :class:`SourceError` (with ``retryable`` set for transient trouble such as a dropped
connection) and never put credentials in messages.
"""

from __future__ import annotations

import json
import posixpath
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Self

__all__ = [
    "FileIdentity",
    "FileRef",
    "FileSource",
    "SourceError",
    "SourceFileNotFound",
    "SourceFileReplaced",
    "size_mtime_version",
]


class SourceError(Exception):
    """A source operation failed. ``retryable`` is True for transient trouble (network, throttling)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class SourceFileNotFound(SourceError):
    """The file is not (or no longer) there."""


class SourceFileReplaced(SourceFileNotFound):
    """The path now holds another version than the one asked for (a partner re-uploaded it).

    The listed version is gone; the new one is separate work, found by the next listing.
    """


def size_mtime_version(size: int, mtime: int | float, unit: str = "ns") -> str:
    """Version of a file on a filesystem without content hashes: its size and modification time."""
    return f"size={size};mtime{'' if unit == 'ns' else '_' + unit}={int(mtime)}"


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """source + location + path + version: equal exactly when two events name the same work."""

    source: str
    location: str
    path: str
    version: str

    @property
    def key(self) -> str:
        """Unambiguous string key: the four parts as a JSON array (used for Kafka keys and tables)."""
        return json.dumps([self.source, self.location, self.path, self.version], separators=(",", ":"))

    @property
    def path_key(self) -> str:
        """Key of the *path* regardless of version: where versions of one file meet."""
        return json.dumps([self.source, self.location, self.path], separators=(",", ":"))

    def to_avro(self) -> dict[str, str]:
        return {"source": self.source, "location": self.location, "path": self.path, "version": self.version}


@dataclass(frozen=True, slots=True)
class FileRef:
    """One version of one file as a listing saw it."""

    source: str  #: "s3", "sftp", "local" (or "webhook": one request, see streams/agents/webhooks.py)
    location: str  #: bucket, "host:port", or the absolute inbox folder
    path: str  #: key / remote path / path relative to the folder, always "/"-separated
    version: str  #: S3: VersionId, else ETag. SFTP/local: ``size=<bytes>;mtime=<time>`` (see each source)
    size: int
    last_modified: datetime  #: timezone-aware UTC
    etag: str | None = None
    version_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def identity(self) -> FileIdentity:
        return FileIdentity(self.source, self.location, self.path, self.version)

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    @property
    def uri(self) -> str:
        if self.source == "s3":
            return f"s3://{self.location}/{self.path}"
        if self.source == "sftp":
            return f"sftp://{self.location}/{self.path.lstrip('/')}"
        if self.source == "webhook":  # location: the workflow; path: the event id
            return f"webhook://{self.location}/{self.path}"
        return f"file://{posixpath.join(self.location, self.path)}"


class FileSource(ABC):
    """A place files are dropped. Implementations: S3, SFTP, local folder."""

    kind: str

    @abstractmethod
    def list(self, prefix: str) -> AsyncIterator[FileRef]:
        """Every regular file under ``prefix`` (recursively for S3 keys; one folder level elsewhere)."""

    @abstractmethod
    async def stat(self, path: str) -> FileRef:
        """The current version of one file; :class:`SourceFileNotFound` if it is gone."""

    @abstractmethod
    def open(self, ref: FileRef, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        """Stream the bytes of exactly this version, in chunks (never the whole file at once).

        Raises :class:`SourceFileNotFound` if the version is gone or was replaced.
        """

    @abstractmethod
    async def move(self, ref: FileRef, dest_path: str) -> None:
        """Move a file version to ``dest_path``. Idempotent: repeating a completed move is a no-op."""

    @abstractmethod
    async def write(self, path: str, data: bytes) -> None:
        """Write a small object (a sidecar report) atomically, replacing what is there."""

    @abstractmethod
    async def delete(self, ref: FileRef) -> None:
        """Delete a file version; deleting what is already gone succeeds."""

    async def exists(self, path: str) -> bool:
        try:
            await self.stat(path)
        except SourceFileNotFound:
            return False
        return True

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
