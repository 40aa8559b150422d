"""An SFTP folder as a file source, through asyncssh.

- Password or private-key authentication, from one
  :class:`~fluentsync.connectors.remote.sftp_settings.SftpSettings` (or the host and the same fields as
  keywords). Host keys are checked against ``known_hosts`` unless checking is explicitly turned off
  (``known_hosts=None``) - off is for tests and trusted networks only.
- A small pool of connections (default 5) is reused; a caller waits FIFO up to ``acquire_timeout`` for
  one. A connection that fails is dropped and the operation is retried on a fresh one (bounded, with
  exponential back-off and full jitter); permission, authentication and missing-file errors are never
  retried.
- A file version is its size and modification time (SFTP v3 gives whole seconds:
  ``size=<bytes>;mtime_s=<seconds>``), checked again when the file is opened, moved or deleted.
- Files are read in chunks; moves are server-side renames (POSIX rename when the server supports it);
  sidecars are written under a temporary name and renamed into place.
"""

from __future__ import annotations

import asyncio
import posixpath
import random
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar, Unpack

import asyncssh

from fluentsync.connectors.remote.sftp import SftpConnectError, connect_sftp, replace
from fluentsync.connectors.remote.sftp_settings import SftpOptions, SftpSettings, resolve
from fluentsync.connectors.sources.base import (
    FileRef,
    FileSource,
    SourceError,
    SourceFileNotFound,
    SourceFileReplaced,
    size_mtime_version,
)

__all__ = ["SftpSource"]

T = TypeVar("T")

_NOT_RETRYABLE = (asyncssh.PermissionDenied, asyncssh.DisconnectError)


@dataclass
class _Conn:
    ssh: asyncssh.SSHClientConnection
    sftp: asyncssh.SFTPClient


class SftpSource(FileSource):
    """Files in folders on one SFTP server."""

    kind = "sftp"

    def __init__(
        self,
        sftp: SftpSettings | str | None = None,
        /,
        *,
        max_connections: int = 5,
        acquire_timeout: float = 30.0,
        max_attempts: int = 3,
        backoff_base: float = 1.0,
        backoff_cap: float = 8.0,
        **options: Unpack[SftpOptions],
    ) -> None:
        """``sftp`` says which server and how to sign in; it may instead be the host, with the other
        fields as keywords (``username=...``) as before, not both."""
        self.settings = resolve(sftp, options)
        self.host = self.settings.host
        self.port = self.settings.port
        self.location = f"{self.host}:{self.port}"
        self.max_connections = max_connections
        self.acquire_timeout = acquire_timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._idle: list[_Conn] = []
        self._slots = asyncio.Semaphore(max_connections)
        self._closed = False

    # -- connection pool --------------------------------------------------------------------------
    async def _connect(self) -> _Conn:
        try:
            ssh, sftp = await connect_sftp(self.settings, login=f"{self.settings.username}@{self.location}")
        except SftpConnectError as exc:
            raise SourceError(str(exc), retryable=exc.retryable) from None
        return _Conn(ssh, sftp)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[_Conn]:
        if self._closed:
            raise SourceError(f"sftp://{self.location} source is closed")
        try:
            await asyncio.wait_for(self._slots.acquire(), self.acquire_timeout)
        except TimeoutError:
            raise SourceError(f"no free SFTP connection to {self.location} within {self.acquire_timeout}s",
                              retryable=True) from None
        conn = self._idle.pop() if self._idle else None
        healthy = False
        try:
            if conn is None or conn.ssh.is_closed():
                conn = await self._connect()
            yield conn
            healthy = True
        finally:
            if conn is not None:
                if healthy and not self._closed:
                    self._idle.append(conn)
                else:
                    conn.ssh.close()
            self._slots.release()

    async def _run(self, doing: str, operation: Callable[[asyncssh.SFTPClient], Awaitable[T]]) -> T:
        """Run one SFTP operation on a pooled connection, retrying transient failures."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                async with self._connection() as conn:
                    return await operation(conn.sftp)
            except asyncssh.SFTPNoSuchFile:
                raise SourceFileNotFound(f"{doing}: no such file") from None
            except asyncssh.SFTPPermissionDenied:
                raise SourceError(f"{doing}: permission denied") from None
            except SourceError as exc:
                if not exc.retryable or attempt == self.max_attempts:
                    raise
            except asyncssh.SFTPError as exc:
                raise SourceError(f"{doing}: {exc.reason}") from None
            except (TimeoutError, OSError, asyncssh.Error) as exc:
                if isinstance(exc, _NOT_RETRYABLE) or attempt == self.max_attempts:
                    raise SourceError(f"{doing}: {type(exc).__name__}", retryable=True) from None
            delay = random.uniform(0, min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)))
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.ssh.close()
        for conn in idle:
            await conn.ssh.wait_closed()

    # -- FileSource ---------------------------------------------------------------------------------
    def _ref(self, path: str, attrs: asyncssh.SFTPAttrs) -> FileRef:
        size, mtime = int(attrs.size or 0), int(attrs.mtime or 0)
        return FileRef(
            source=self.kind, location=self.location, path=path,
            version=size_mtime_version(size, mtime, unit="s"), size=size,
            last_modified=datetime.fromtimestamp(mtime, UTC),
        )

    async def list(self, prefix: str) -> AsyncIterator[FileRef]:
        folder = prefix.rstrip("/") or "."

        async def read(sftp: asyncssh.SFTPClient) -> list[asyncssh.SFTPName]:
            try:
                return list(await sftp.readdir(folder))
            except asyncssh.SFTPNoSuchFile:
                return []

        for entry in await self._run(f"list sftp://{self.location}/{folder}", read):
            name = str(entry.filename)
            if name.startswith(".") or not _is_regular(entry.attrs):
                continue
            yield self._ref(posixpath.join(prefix.rstrip("/"), name) if prefix.strip("/") else name, entry.attrs)

    async def stat(self, path: str) -> FileRef:
        attrs = await self._run(f"stat sftp://{self.location}/{path}", lambda sftp: sftp.stat(path))
        if not _is_regular(attrs):
            raise SourceFileNotFound(f"sftp://{self.location}/{path} is not a regular file")
        return self._ref(path, attrs)

    async def open(self, ref: FileRef, chunk_size: int = 1 << 18) -> AsyncIterator[bytes]:
        async with self._connection() as conn:
            try:
                handle = await conn.sftp.open(ref.path, "rb")
            except asyncssh.SFTPNoSuchFile:
                raise SourceFileNotFound(f"{ref.uri}: no such file") from None
            async with handle:
                if self._ref(ref.path, await handle.stat()).version != ref.version:
                    raise SourceFileReplaced(f"{ref.uri} changed since it was listed")
                offset = 0
                try:
                    while chunk := await handle.read(chunk_size, offset):
                        data = chunk if isinstance(chunk, bytes) else chunk.encode()  # opened "rb": bytes
                        offset += len(data)
                        yield data
                except (OSError, asyncssh.Error) as exc:
                    raise SourceError(f"reading {ref.uri} failed at byte {offset}: {type(exc).__name__}",
                                      retryable=True) from None

    async def move(self, ref: FileRef, dest_path: str) -> None:
        async def rename(sftp: asyncssh.SFTPClient) -> None:
            try:
                current = self._ref(ref.path, await sftp.stat(ref.path))
            except asyncssh.SFTPNoSuchFile:
                if await sftp.exists(dest_path):
                    return  # moved before (a repeated move after a crash)
                raise
            if current.version != ref.version:
                raise SourceFileReplaced(f"{ref.uri} was replaced by a new version; left in place")
            await sftp.makedirs(posixpath.dirname(dest_path) or ".", exist_ok=True)
            await replace(sftp, ref.path, dest_path)

        await self._run(f"move {ref.uri} to {dest_path}", rename)

    async def write(self, path: str, data: bytes) -> None:
        async def put(sftp: asyncssh.SFTPClient) -> None:
            folder, name = posixpath.split(path)
            await sftp.makedirs(folder or ".", exist_ok=True)
            tmp = posixpath.join(folder, f".{name}.part")
            async with sftp.open(tmp, "wb") as out:
                await out.write(data)
            await replace(sftp, tmp, path)

        await self._run(f"write sftp://{self.location}/{path}", put)

    async def delete(self, ref: FileRef) -> None:
        async def remove(sftp: asyncssh.SFTPClient) -> None:
            try:
                current = self._ref(ref.path, await sftp.stat(ref.path))
            except asyncssh.SFTPNoSuchFile:
                return
            if current.version != ref.version:
                raise SourceFileReplaced(f"{ref.uri} was replaced by a new version; not deleted")
            await sftp.remove(ref.path)

        await self._run(f"delete {ref.uri}", remove)


def _is_regular(attrs: asyncssh.SFTPAttrs) -> bool:
    if attrs.type is not None and attrs.type != asyncssh.FILEXFER_TYPE_UNKNOWN:
        return attrs.type == asyncssh.FILEXFER_TYPE_REGULAR
    return attrs.permissions is not None and stat.S_ISREG(attrs.permissions)

