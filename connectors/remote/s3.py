"""One aiobotocore client per source, destination or queue, opened at first use and closed once.

The S3 source and the S3 destination talk to buckets the same way: explicit credentials or botocore's
usual chain (environment, profile), path-style addressing for S3-compatible stores that need it, and
botocore's *standard* retry mode with a bounded number of attempts. Building that client in one place
keeps the two directions from drifting apart.

aiobotocore is imported only when a client is built, so importing a module that merely *may* use S3
stays cheap. What to connect to comes as one :class:`~fluentsync.connectors.remote.aws.AwsSettings`;
credentials live only in it and in the client arguments, and neither repr shows them.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from fluentsync.connectors.remote.aws import AwsSettings

__all__ = ["AwsClient", "S3Client"]


class AwsClient:
    """Holds the settings of one aiobotocore client (``service``) and opens it lazily (:meth:`get`)."""

    def __init__(self, service: str, aws: AwsSettings, **config: Any) -> None:
        from aiobotocore.config import AioConfig

        self.service = service
        self._args: dict[str, Any] = {
            "endpoint_url": aws.endpoint_url,
            "region_name": aws.region,
            "aws_access_key_id": aws.access_key_id,
            "aws_secret_access_key": aws.secret_access_key,
            "aws_session_token": aws.session_token,
            "config": AioConfig(retries={"max_attempts": aws.max_attempts, "mode": "standard"}, **config),
        }
        self._profile = aws.profile
        self._stack: AsyncExitStack | None = None
        self._client: Any = None

    @property
    def is_open(self) -> bool:
        return self._client is not None

    async def get(self) -> Any:
        """The open client; the first call creates it (a session with the profile, if one is set)."""
        if self._client is None:
            from aiobotocore.session import get_session

            session = get_session()
            if self._profile:
                session.set_config_variable("profile", self._profile)
            self._stack = AsyncExitStack()
            self._client = await self._stack.enter_async_context(session.create_client(self.service, **self._args))
        return self._client

    async def close(self) -> None:
        """Close the client if it was opened; the next :meth:`get` opens a new one."""
        if self._stack is not None:
            await self._stack.aclose()
        self._stack, self._client = None, None

    def __repr__(self) -> str:
        endpoint = self._args["endpoint_url"] or "aws"
        return f"{type(self).__name__}({self.service}, {endpoint}, open={self.is_open})"


class S3Client(AwsClient):
    """An S3 client: path-style addressing on request (S3-compatible stores that need it)."""

    def __init__(self, aws: AwsSettings, *, path_style: bool = False) -> None:
        super().__init__("s3", aws, s3={"addressing_style": "path" if path_style else "auto"})

    def __repr__(self) -> str:
        endpoint = self._args["endpoint_url"] or "aws"
        return f"S3Client({endpoint}, open={self.is_open})"
