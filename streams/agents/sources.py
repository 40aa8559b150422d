"""Build a :class:`~fluentsync.connectors.sources.FileSource` from a workflow's source configuration."""

from __future__ import annotations

from fluentsync.connectors.sources import FileSource, LocalSource
from fluentsync.streams.config import LocalSourceConfig, S3SourceConfig, SftpSourceConfig, SourceConfig

__all__ = ["build_source"]


def _secret(value: object) -> str | None:
    return None if value is None else str(value.get_secret_value())  # type: ignore[attr-defined]


def build_source(config: SourceConfig) -> FileSource:
    if isinstance(config, LocalSourceConfig):
        config.root.mkdir(parents=True, exist_ok=True)
        return LocalSource(config.root)
    if isinstance(config, S3SourceConfig):
        from fluentsync.connectors.sources.s3 import S3Source

        return S3Source(
            config.bucket, endpoint_url=config.endpoint_url, region=config.region, path_style=config.path_style,
            access_key_id=_secret(config.access_key_id), secret_access_key=_secret(config.secret_access_key),
            session_token=_secret(config.session_token), profile=config.profile,
            use_version_id=config.use_version_id,
        )
    if isinstance(config, SftpSourceConfig):
        from fluentsync.connectors.sources.sftp import SftpSource

        return SftpSource(
            config.host, port=config.port, username=config.username, password=_secret(config.password),
            client_keys=[config.private_key] if config.private_key else None,
            passphrase=_secret(config.passphrase),
            known_hosts=config.known_hosts if config.host_key_checking else None,
            max_connections=config.max_connections,
        )
    raise TypeError(f"unknown source configuration {type(config).__name__}")
