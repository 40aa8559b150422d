"""The settings of one AWS connection (S3 bucket or SQS queue): where, which credentials, how many attempts.

The S3 source, the S3 destination and the SQS notification queue reach AWS the same way, through the
clients of :mod:`.s3`. Passing the seven settings as one value, rather than as the same seven keyword
arguments through every signature, keeps them in one place: a new setting is one field here, not five
edited signatures that could drift apart. The S3-only ``path_style`` stays with the S3 classes.

Secrets are plain strings here (they are handed to botocore as they are), so the repr hides them: a
settings object in a log line, a traceback or a debugger shows which credentials are set, never their
values. Build one from a pipeline-file block with :meth:`AwsSettings.from_connection`, the one place that
reveals the block's :class:`~pydantic.SecretStr` fields.

The constructors that took the seven keywords still do (``**options``, typed by :class:`AwsOptions`);
:func:`resolve` turns either form into an :class:`AwsSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from fluentsync.connectors.remote.settings import redacted_repr, reveal

if TYPE_CHECKING:
    from fluentsync.connectors.remote.settings import S3Connection

__all__ = ["AwsOptions", "AwsSettings", "resolve"]

_SECRETS = ("access_key_id", "secret_access_key", "session_token")


@dataclass(frozen=True, slots=True, repr=False)
class AwsSettings:
    """Endpoint, region, credentials and retry budget of an aiobotocore client.

    Credentials left at None fall back to botocore's usual chain (AWS_* environment, ``profile``, instance
    role); ``endpoint_url`` None means AWS itself.
    """

    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    profile: str | None = None
    max_attempts: int = 3  #: botocore's retries ``max_attempts`` (standard mode): retries after the first try

    @classmethod
    def from_connection(cls, connection: S3Connection, *, max_attempts: int = 3) -> AwsSettings:
        """The settings of a pipeline-file S3 block (a source's or a destination's), secrets revealed."""
        return cls(
            endpoint_url=connection.endpoint_url, region=connection.region,
            access_key_id=reveal(connection.access_key_id), secret_access_key=reveal(connection.secret_access_key),
            session_token=reveal(connection.session_token), profile=connection.profile, max_attempts=max_attempts,
        )

    def __repr__(self) -> str:
        return redacted_repr(self, _SECRETS)


class AwsOptions(TypedDict, total=False):
    """:class:`AwsSettings`' fields as keyword arguments, for constructors that still accept them one by one."""

    endpoint_url: str | None
    region: str | None
    access_key_id: str | None
    secret_access_key: str | None
    session_token: str | None
    profile: str | None
    max_attempts: int


def resolve(aws: AwsSettings | None, options: AwsOptions) -> AwsSettings:
    """``aws``, or the settings the keyword ``options`` spell out; both at once is a mistake (which should
    win?), so it raises rather than guessing."""
    if aws is None:
        return AwsSettings(**options)
    if options:
        raise TypeError(f"pass either aws or {', '.join(sorted(options))}, not both")
    return aws
