"""How fluentsync connects to remote file stores (S3 and SFTP), shared by file sources and file sinks.

Sources (:mod:`fluentsync.connectors.sources`) read partners' files and sinks
(:mod:`fluentsync.connectors.filesinks`) write exports, but both reach the same kinds of server the same
way. Keeping that in one place means one set of connection settings in the pipeline file (same field
names, same defaults, secrets as :class:`~pydantic.SecretStr`) and one client set-up (retries,
addressing style, host-key checking), so a fix to either reaches both directions.

- :mod:`.settings` — the pydantic connection blocks :class:`S3Connection` and :class:`SftpConnection`
  that source and sink configs extend.
- :mod:`.aws` — :class:`AwsSettings`, one AWS connection (endpoint, region, credentials, attempts) as a
  value, shared by the S3 source, the S3 destination and the SQS notification queue.
- :mod:`.s3` — :class:`S3Client`, an aiobotocore client opened at first use and closed once.
- :mod:`.sftp_settings` — :class:`SftpSettings`, one SFTP connection (server, login, host-key file) as a
  value, shared by the SFTP source and the SFTP destination.
- :mod:`.sftp` — asyncssh connect options, connecting with failures named, and replacing a file.

Nothing here imports aiobotocore or asyncssh until a connection is actually made.
"""

from fluentsync.connectors.remote.aws import AwsSettings
from fluentsync.connectors.remote.s3 import S3Client
from fluentsync.connectors.remote.settings import S3Connection, SftpConnection, redacted_repr, reveal
from fluentsync.connectors.remote.sftp import (
    SftpConnectError,
    connect_options,
    connect_sftp,
    normalize_host,
    replace,
)
from fluentsync.connectors.remote.sftp_settings import SftpSettings

__all__ = [
    "AwsSettings",
    "S3Client",
    "S3Connection",
    "SftpConnectError",
    "SftpConnection",
    "SftpSettings",
    "connect_options",
    "connect_sftp",
    "normalize_host",
    "redacted_repr",
    "replace",
    "reveal",
]
