"""Where finished files go: a local folder, an S3 bucket or an SFTP folder.

One rule for all three: **a file is visible under its name only once it is complete**, and putting a
name that exists replaces it. Readers never see half a file, and a restarted sink that rewrites a file
under its deterministic name (see ``naming``) simply replaces what a crashed attempt left.

- **local**: copied to ``.<name>.tmp`` in the target folder, fsynced, then ``os.replace``-d over the
  name (atomic on POSIX within one folder) and the folder fsynced.
- **S3**: one ``PutObject`` streamed from the spool file up to ``multipart_threshold``, else a multipart
  upload of ``part_size`` parts (S3 needs at least 5 MiB per part but the last) read one at a time from
  the spool file (so at most one part is in memory). S3 makes
  the object visible only when the upload completes; any failure aborts the upload so no parts linger
  (billed, invisible).
- **SFTP**: uploaded (pipelined writes) to ``.<name>.tmp`` in the target folder (created as needed), then
  renamed over the name (``posix-rename@openssh.com`` when the server has it, else remove + rename). A failed upload
  removes its temporary file when the connection still allows it; otherwise the next attempt at the
  same name overwrites it (dot-files are ignored by fluentsync's own SFTP source).

Files are streamed from the local spool file; no destination holds a whole file in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import posixpath
import shutil
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import Any, Unpack

from fluentsync.connectors.filesinks.settings import (
    MIN_PART_SIZE,
    DestinationConfig,
    LocalDestinationConfig,
    S3DestinationConfig,
    SftpDestinationConfig,
)
from fluentsync.connectors.remote.aws import AwsOptions, AwsSettings, resolve
from fluentsync.connectors.remote.s3 import S3Client
from fluentsync.connectors.remote.sftp import SftpConnectError, connect_sftp, replace
from fluentsync.connectors.remote.sftp_settings import SftpOptions, SftpSettings
from fluentsync.connectors.remote.sftp_settings import resolve as resolve_sftp

__all__ = [
    "Destination",
    "DestinationError",
    "LocalDestination",
    "S3Destination",
    "SftpDestination",
    "open_destination",
]

_CONTENT_TYPES = {
    ".csv": "text/csv", ".json": "application/json", ".jsonl": "application/x-ndjson",
    ".xml": "application/xml", ".parquet": "application/vnd.apache.parquet",
}
_MAX_PARTS = 10_000  # S3's limit per multipart upload


class DestinationError(Exception):
    """A file could not be committed; nothing is visible under its name (the old version, if any, stays)."""


class Destination(ABC):
    """Commits complete local files under relative names, atomically, replacing existing ones."""

    kind: str = ""

    @abstractmethod
    async def put(self, local: Path, name: str) -> str:
        """Make ``local``'s content visible as ``name`` (relative, ``/``-separated); return its URI."""

    @abstractmethod
    def uri(self, name: str) -> str:
        """Where ``name`` is (for logs and reports; never carries credentials)."""

    async def close(self) -> None:  # noqa: B027 - optional hook: a local folder holds nothing open
        """Release connections."""

    async def __aenter__(self) -> Destination:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


def _content_type(name: str) -> str:
    if name.endswith(".gz"):
        return "application/gzip"
    return _CONTENT_TYPES.get(posixpath.splitext(name)[1], "application/octet-stream")


# -- local ------------------------------------------------------------------------------------------


class LocalDestination(Destination):
    kind = "local"

    def __init__(self, root: str | Path, *, prefix: str = "", fsync: bool = True) -> None:
        self.root = Path(root).expanduser()
        self.prefix = prefix
        self.fsync = fsync

    def _target(self, name: str) -> Path:
        return self.root / (self.prefix + name)

    def uri(self, name: str) -> str:
        return str(self._target(name))

    async def put(self, local: Path, name: str) -> str:
        target = self._target(name)
        try:
            await asyncio.to_thread(self._put, local, target)
        except OSError as exc:
            raise DestinationError(f"write {target}: {exc.strerror or type(exc).__name__}") from None
        return str(target)

    def _put(self, local: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            with open(local, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
                dst.flush()
                if self.fsync:
                    os.fsync(dst.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        if self.fsync:  # the rename itself must survive a power cut before offsets are committed
            fd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


# -- S3 ---------------------------------------------------------------------------------------------


class S3Destination(Destination):
    kind = "s3"

    def __init__(
        self,
        bucket: str,
        aws: AwsSettings | None = None,
        *,
        prefix: str = "",
        path_style: bool = False,
        multipart_threshold: int = 16 * 1024 * 1024,
        part_size: int = 8 * 1024 * 1024,
        **options: Unpack[AwsOptions],
    ) -> None:
        """``aws`` says where the bucket is and how to sign in; the same fields may instead be given as
        keywords (``endpoint_url=...``), not both."""
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        self.bucket = bucket
        self.prefix = prefix
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self._client = S3Client(resolve(aws, options), path_style=path_style)

    def uri(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{name}"

    async def _s3(self) -> Any:
        return await self._client.get()

    async def close(self) -> None:
        await self._client.close()

    async def put(self, local: Path, name: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.prefix + name
        s3 = await self._s3()
        size = (await asyncio.to_thread(local.stat)).st_size
        try:
            if size <= self.multipart_threshold:
                # the open file is the body: streamed (and re-read on a retry), never loaded whole
                with await asyncio.to_thread(open, local, "rb") as body:
                    await s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=_content_type(name))
            else:
                await self._multipart(s3, local, key, size, _content_type(name))
        except (ClientError, BotoCoreError) as exc:
            raise DestinationError(f"upload {self.uri(name)}: {_describe(exc)}") from None
        return self.uri(name)

    async def _multipart(self, s3: Any, local: Path, key: str, size: int, content_type: str) -> None:
        part_size = max(self.part_size, math.ceil(size / _MAX_PARTS))
        upload = await s3.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=content_type)
        upload_id = upload["UploadId"]
        try:
            parts: list[dict[str, Any]] = []
            with await asyncio.to_thread(open, local, "rb") as src:
                number = 1
                while chunk := await asyncio.to_thread(src.read, part_size):
                    etag = await self._upload_part(s3, key, upload_id, number, chunk)
                    parts.append({"ETag": etag, "PartNumber": number})
                    number += 1
            await s3.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                               MultipartUpload={"Parts": parts})
        except BaseException:
            # shielded: a cancelled put must still not leave billed, invisible parts behind
            with contextlib.suppress(Exception):
                await asyncio.shield(s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id))
            raise

    async def _upload_part(self, s3: Any, key: str, upload_id: str, number: int, chunk: bytes) -> str:
        response = await s3.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                        Body=chunk)
        return str(response["ETag"])


def _describe(exc: Exception) -> str:
    """Status and code only: never request details or keys."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code", "error")
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{code} (HTTP {status})"
    return type(exc).__name__


# -- SFTP -------------------------------------------------------------------------------------------


class SftpDestination(Destination):
    kind = "sftp"

    def __init__(
        self,
        sftp: SftpSettings | str | None = None,
        /,
        *,
        prefix: str = "",
        chunk_size: int = 256 * 1024,
        **options: Unpack[SftpOptions],
    ) -> None:
        """``sftp`` says which server and how to sign in; it may instead be the host, with the other
        fields as keywords (``username=...``) as before, not both."""
        self.settings = resolve_sftp(sftp, options)
        self.host = self.settings.host
        self.port = self.settings.port
        self.prefix = prefix
        self.chunk_size = chunk_size
        self._ssh: Any = None
        self._sftp: Any = None
        self._lock = asyncio.Lock()

    def uri(self, name: str) -> str:
        return f"sftp://{self.host}:{self.port}/{self.prefix}{name}"

    async def _client(self) -> Any:
        if self._sftp is None or self._ssh is None or self._ssh.is_closed():
            try:
                self._ssh, self._sftp = await connect_sftp(self.settings, login=f"{self.host}:{self.port}")
            except SftpConnectError as exc:
                raise DestinationError(str(exc)) from None
        return self._sftp

    async def close(self) -> None:
        ssh, self._ssh, self._sftp = self._ssh, None, None
        if ssh is not None:
            ssh.close()
            with contextlib.suppress(Exception):
                await ssh.wait_closed()

    async def put(self, local: Path, name: str) -> str:
        import asyncssh

        path = self.prefix + name
        folder, base = posixpath.split(path)
        tmp = posixpath.join(folder, f".{base}.tmp")
        async with self._lock:  # one SFTP session; uploads are sequential per destination
            sftp = await self._client()
            try:
                if folder:
                    await sftp.makedirs(folder, exist_ok=True)
                await self._upload(sftp, local, tmp)
                await replace(sftp, tmp, path)
            except BaseException as exc:
                with contextlib.suppress(Exception):
                    await asyncio.shield(sftp.remove(tmp))
                if isinstance(exc, asyncssh.SFTPError):
                    raise DestinationError(f"upload {self.uri(name)}: {exc.reason}") from None
                if isinstance(exc, OSError | asyncssh.Error):
                    await self.close()  # the session may be broken: reconnect next time
                    raise DestinationError(f"upload {self.uri(name)}: {type(exc).__name__}") from None
                raise
        return self.uri(name)

    async def _upload(self, sftp: Any, local: Path, remote: str) -> None:
        """Stream ``local`` into ``remote``: asyncssh pipelines up to 16 writes of ``chunk_size`` (a
        high-latency link is not one round trip per chunk) and never reads more than that ahead."""
        await sftp.put(str(local), remote, block_size=self.chunk_size, max_requests=16)


# -- factory ----------------------------------------------------------------------------------------


def open_destination(config: DestinationConfig) -> Destination:
    """The destination a config describes (connections are opened lazily, at the first put)."""
    if isinstance(config, LocalDestinationConfig):
        return LocalDestination(config.root, prefix=config.prefix, fsync=config.fsync)
    if isinstance(config, S3DestinationConfig):
        return S3Destination(
            config.bucket, AwsSettings.from_connection(config, max_attempts=config.max_attempts),
            prefix=config.prefix, path_style=config.path_style, multipart_threshold=config.multipart_threshold,
            part_size=config.part_size,
        )
    if isinstance(config, SftpDestinationConfig):
        return SftpDestination(
            SftpSettings.from_connection(config, connect_timeout=config.connect_timeout),
            prefix=config.prefix, chunk_size=config.chunk_size,
        )
    raise TypeError(f"unknown destination {config!r}")
