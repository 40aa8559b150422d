"""S3 (or any S3-compatible store: MinIO, moto) as a file source, through aiobotocore.

- Listing pages past 1000 keys (continuation tokens) and stays at one folder level (``Delimiter="/"``),
  so archive or error folders nested inside an inbox are never listed as new work.
- A file version is its VersionId when the bucket is versioned and ``use_version_id`` is on (one HEAD
  per listed key), else its ETag. Reads are pinned to that version (``VersionId`` or ``IfMatch``), so a
  re-upload during a read is detected instead of mixing two versions.
- Objects are streamed in chunks from the response body; nothing holds a whole object.
- Moves are copy-then-delete pinned to the version; repeating a finished move is a no-op.
- Credentials come from the :class:`~fluentsync.connectors.remote.aws.AwsSettings` (or the same fields as
  keywords) or botocore's usual chain (environment, profile); they never appear in messages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Unpack

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError

from fluentsync.connectors.remote.aws import AwsOptions, AwsSettings, resolve
from fluentsync.connectors.remote.s3 import S3Client
from fluentsync.connectors.sources.base import (
    FileRef,
    FileSource,
    SourceError,
    SourceFileNotFound,
    SourceFileReplaced,
)

__all__ = ["S3Source"]

_RETRYABLE_CODES = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling", "503", "500"}
_MISSING_CODES = {"NoSuchKey", "404", "NotFound", "NoSuchVersion"}


class S3Source(FileSource):
    """Objects in one bucket."""

    kind = "s3"

    def __init__(
        self,
        bucket: str,
        aws: AwsSettings | None = None,
        *,
        path_style: bool = False,
        use_version_id: bool = False,
        **options: Unpack[AwsOptions],
    ) -> None:
        """``aws`` says where the bucket is and how to sign in; the same fields may instead be given as
        keywords (``endpoint_url=...``), not both."""
        self.bucket = bucket
        self.use_version_id = use_version_id
        self._client = S3Client(resolve(aws, options), path_style=path_style)

    async def _s3(self) -> Any:
        return await self._client.get()

    async def close(self) -> None:
        await self._client.close()

    def _ref(self, key: str, size: int, modified: Any, etag: str | None, version_id: str | None) -> FileRef:
        etag = etag.strip('"') if etag else None
        version = version_id if (self.use_version_id and version_id and version_id != "null") else etag
        if not version:
            raise SourceError(f"s3://{self.bucket}/{key} has neither an ETag nor a VersionId")
        return FileRef(
            source=self.kind, location=self.bucket, path=key, version=version, size=int(size),
            last_modified=modified, etag=etag, version_id=version_id if version_id != "null" else None,
        )

    async def list(self, prefix: str) -> AsyncIterator[FileRef]:
        s3 = await self._s3()
        paginator = s3.get_paginator("list_objects_v2")
        try:
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
                for item in page.get("Contents", []):
                    key = item["Key"]
                    if key.endswith("/"):
                        continue  # a "folder" placeholder object
                    if self.use_version_id:
                        yield await self.stat(key)
                    else:
                        yield self._ref(key, item["Size"], item["LastModified"], item.get("ETag"), None)
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, f"list s3://{self.bucket}/{prefix}") from None

    async def stat(self, path: str) -> FileRef:
        s3 = await self._s3()
        try:
            head = await s3.head_object(Bucket=self.bucket, Key=path)
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, f"stat s3://{self.bucket}/{path}") from None
        return self._ref(path, head["ContentLength"], head["LastModified"], head.get("ETag"), head.get("VersionId"))

    def _pin(self, ref: FileRef) -> dict[str, str]:
        if self.use_version_id and ref.version_id:
            return {"VersionId": ref.version_id}
        return {"IfMatch": f'"{ref.etag}"'} if ref.etag else {}

    async def open(self, ref: FileRef, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        s3 = await self._s3()
        try:
            response = await s3.get_object(Bucket=self.bucket, Key=ref.path, **self._pin(ref))
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, f"read {ref.uri}") from None
        body = response["Body"]
        try:
            async for chunk in body.iter_chunks(chunk_size):
                yield chunk
        # aiobotocore does not wrap errors of the body stream: a connection dropped mid-body is aiohttp's
        # ClientPayloadError (neither botocore's nor an OSError), and must be retryable like the others.
        except (ClientError, BotoCoreError, OSError, aiohttp.ClientError) as exc:
            raise SourceError(f"reading {ref.uri} failed: {exc}", retryable=True) from None
        finally:
            body.close()

    async def move(self, ref: FileRef, dest_path: str) -> None:
        s3 = await self._s3()
        source: dict[str, str] = {"Bucket": self.bucket, "Key": ref.path}
        if self.use_version_id and ref.version_id:
            source["VersionId"] = ref.version_id
        extra = {} if "VersionId" in source or not ref.etag else {"CopySourceIfMatch": f'"{ref.etag}"'}
        try:
            await s3.copy_object(Bucket=self.bucket, Key=dest_path, CopySource=source, **extra)
        except (ClientError, BotoCoreError) as exc:
            error = _error(exc, f"move {ref.uri} to {dest_path}")
            if isinstance(error, SourceFileNotFound) and await self._holds(dest_path, ref):
                return  # moved before (a repeated move after a crash)
            raise error from None
        await self.delete(ref)

    async def _holds(self, path: str, ref: FileRef) -> bool:
        try:
            current = await self.stat(path)
        except SourceFileNotFound:
            return False
        return current.etag == ref.etag

    async def write(self, path: str, data: bytes) -> None:
        s3 = await self._s3()
        content_type = "application/json" if path.endswith(".json") else "application/octet-stream"
        try:
            await s3.put_object(Bucket=self.bucket, Key=path, Body=data, ContentType=content_type)
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, f"write s3://{self.bucket}/{path}") from None

    async def delete(self, ref: FileRef) -> None:
        s3 = await self._s3()
        try:
            if self.use_version_id and ref.version_id:
                await s3.delete_object(Bucket=self.bucket, Key=ref.path, VersionId=ref.version_id)
                return
            current = await self.stat(ref.path)
        except SourceFileNotFound:
            return
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, f"delete {ref.uri}") from None
        if current.etag != ref.etag:
            raise SourceFileReplaced(f"{ref.uri} was replaced by a new version; not deleted")
        try:
            await s3.delete_object(Bucket=self.bucket, Key=ref.path)
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, f"delete {ref.uri}") from None


def _error(exc: Exception, doing: str) -> SourceError:
    """A SourceError for a botocore failure: status and code only, never request details or keys."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = f"{doing}: {code or 'error'} (HTTP {status})"
        if code in _MISSING_CODES:
            return SourceFileNotFound(message)
        if code in {"PreconditionFailed", "412"}:
            return SourceFileReplaced(f"{doing}: the object was replaced by a new version")
        return SourceError(message, retryable=code in _RETRYABLE_CODES or (status or 0) >= 500)
    return SourceError(f"{doing}: {type(exc).__name__}", retryable=True)

