"""File sources: the places partners drop files (S3, SFTP, local folders), behind one interface.

:class:`FileSource` lists file *versions* (:class:`FileRef`), streams one in chunks, moves it to an
archive or error folder, and writes sidecar reports. The identity of a version
(:class:`FileIdentity`: source + location + path + version) is what makes re-listing, restarts and
replays skip finished work while a re-upload under the same name is new work.
"""

from fluentsync.connectors.sources.base import (
    FileIdentity,
    FileRef,
    FileSource,
    SourceError,
    SourceFileNotFound,
    SourceFileReplaced,
)
from fluentsync.connectors.sources.local import LocalSource

__all__ = [
    "FileIdentity",
    "FileRef",
    "FileSource",
    "LocalSource",
    "S3Source",
    "SftpSource",
    "SourceError",
    "SourceFileNotFound",
    "SourceFileReplaced",
]


def __getattr__(name: str) -> object:
    # S3 and SFTP pull in aiobotocore/asyncssh: import them only when asked for.
    if name == "S3Source":
        from fluentsync.connectors.sources.s3 import S3Source

        return S3Source
    if name == "SftpSource":
        from fluentsync.connectors.sources.sftp import SftpSource

        return SftpSource
    raise AttributeError(name)
