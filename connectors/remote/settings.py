"""The connection blocks of the pipeline file for S3 and SFTP, shared by sources and sinks.

A workflow's ``source`` and a sink's ``destination`` both say where a bucket or an SFTP server is and
how to sign in. Declaring those fields once keeps their names, defaults and validation identical in
both directions, so a block copied from a source into a sink means the same thing. Source and sink
configs extend these models with their own fields (``type``, discovery, upload tuning).

Secrets are :class:`~pydantic.SecretStr`: they never show in reprs, logs or validation errors, and are
revealed (:func:`reveal`) only when handed to the client library.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import fields
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

__all__ = ["S3Connection", "SftpConnection", "reveal"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class S3Connection(_Model):
    """A bucket on S3 or an S3-compatible store (MinIO, moto) and the credentials to reach it."""

    bucket: str
    endpoint_url: str | None = None
    region: str | None = None
    path_style: bool = False
    profile: str | None = None
    access_key_id: SecretStr | None = None  #: default: botocore's chain (AWS_* environment, profile)
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None


class SftpConnection(_Model):
    """An SFTP server, the login and how its host key is checked."""

    host: str
    port: int = Field(default=22, ge=1, le=65535)
    username: str
    password: SecretStr | None = None
    private_key: Path | None = None
    passphrase: SecretStr | None = None
    known_hosts: Path | None = Path("~/.ssh/known_hosts")
    host_key_checking: bool = True  #: false accepts any host key: trusted networks and tests only

    @model_validator(mode="after")
    def _checking(self) -> Self:
        # asyncssh reads known_hosts=None as "accept any key": never let a missing path mean that
        if self.host_key_checking and self.known_hosts is None:
            raise ValueError("host_key_checking needs known_hosts (or set host_key_checking: false)")
        return self


def reveal(value: SecretStr | None) -> str | None:
    """The plain secret, for the client library only (never for messages)."""
    return value.get_secret_value() if value is not None else None


def redacted_repr(value: Any, secrets: Collection[str]) -> str:
    """``Name(field=..., ...)`` of a dataclass whose ``secrets`` fields show only whether they are set.

    For the connection-settings values (:mod:`.aws`, :mod:`.sftp_settings`): they carry plain secrets for
    the client libraries, and a repr is what ends up in a log line, a traceback or a debugger."""
    def show(name: str) -> str:
        field_value = getattr(value, name)
        return "<hidden>" if name in secrets and field_value is not None else repr(field_value)

    shown = ", ".join(f"{f.name}={show(f.name)}" for f in fields(value))
    return f"{type(value).__name__}({shown})"
