"""Build a :class:`~fluentsync.connectors.sources.FileSource` (and an S3 source's notification queue) from a
workflow's source configuration."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from fluentsync.connectors.remote.aws import AwsSettings
from fluentsync.connectors.remote.sftp_settings import SftpSettings
from fluentsync.connectors.sources import FileSource, LocalSource
from fluentsync.streams.config import LocalSourceConfig, S3SourceConfig, SftpSourceConfig, SourceConfig

if TYPE_CHECKING:
    from fluentsync.connectors.sources.notifications import NotificationTrigger, SqsQueue

__all__ = ["build_notification_queue", "build_notification_trigger", "build_source"]


def build_source(config: SourceConfig) -> FileSource:
    if isinstance(config, LocalSourceConfig):
        config.root.mkdir(parents=True, exist_ok=True)
        return LocalSource(config.root)
    if isinstance(config, S3SourceConfig):
        from fluentsync.connectors.sources.s3 import S3Source

        return S3Source(config.bucket, AwsSettings.from_connection(config), path_style=config.path_style,
                        use_version_id=config.use_version_id)
    if isinstance(config, SftpSourceConfig):
        from fluentsync.connectors.sources.sftp import SftpSource

        return SftpSource(SftpSettings.from_connection(config), max_connections=config.max_connections)
    raise TypeError(f"unknown source configuration {type(config).__name__}")


def build_notification_queue(config: S3SourceConfig) -> SqsQueue:
    """The SQS queue of an S3 source's ``notifications``, reached with the source's own credentials; the
    endpoint and region default to the source's (an AWS queue URL's region comes first)."""
    from fluentsync.connectors.sources.notifications import SqsQueue, queue_region

    notifications = config.notifications
    if notifications is None:
        raise ValueError(f"the source of bucket {config.bucket} has no notifications")
    aws = replace(
        AwsSettings.from_connection(config), endpoint_url=notifications.endpoint_url or config.endpoint_url,
        region=notifications.region or queue_region(notifications.queue_url) or config.region,
    )
    return SqsQueue(notifications.queue_url, aws)


def build_notification_trigger(
    workflow: str, config: S3SourceConfig, matches: Callable[[str], bool], discover: Callable[[], Awaitable[object]],
    is_owner: Callable[[], bool],
) -> NotificationTrigger:
    """The trigger that runs ``discover`` when the queue announces a file ``matches`` (the workflow's
    patterns) would accept in the source's inbox, while ``is_owner()``."""
    from fluentsync.connectors.sources.notifications import NotificationTrigger
    from fluentsync.connectors.sources.s3_events import InboxFilter

    assert config.notifications is not None
    return NotificationTrigger(
        workflow, build_notification_queue(config), InboxFilter(config.bucket, config.prefix, matches),
        discover, is_owner, wait_seconds=config.notifications.wait_seconds,
        max_messages=config.notifications.max_messages, min_age=config.min_age,
        stable_listings=config.stable_listings or 1, poll_interval=config.poll_interval,
    )
