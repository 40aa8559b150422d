"""Connecting to an SFTP server through asyncssh, the same way for the SFTP source and destination.

- :func:`normalize_host` accepts ``sftp://host/`` or ``ssh://host`` where a bare host name is meant.
- :func:`connect_options` turns an :class:`~.sftp_settings.SftpSettings` into asyncssh options: host keys
  are checked against ``known_hosts`` unless it is ``None`` (checking explicitly off: tests and trusted
  networks only), and a password-only login uses password (or keyboard-interactive) authentication
  instead of first offering the local user's default SSH keys to the server.
- :func:`connect_sftp` opens a connection and its SFTP session and names what went wrong
  (:class:`SftpConnectError`: authentication, unknown host key, unreachable) without credentials;
  callers turn it into their own error type.
- :func:`replace` renames a finished temporary file over its name.

asyncssh is imported only when it is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncssh

    from fluentsync.connectors.remote.sftp_settings import SftpSettings

__all__ = ["SftpConnectError", "connect_options", "connect_sftp", "normalize_host", "replace"]


class SftpConnectError(Exception):
    """No SFTP session could be opened. ``retryable`` is True for network trouble, False for a refused
    login or an unknown host key (retrying cannot help). The message never carries credentials."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def normalize_host(host: str) -> str:
    """``host`` without an ``sftp://`` or ``ssh://`` scheme and trailing slashes."""
    for scheme in ("sftp://", "ssh://"):
        host = host.removeprefix(scheme)
    return host.rstrip("/")


def connect_options(settings: SftpSettings) -> dict[str, Any]:
    """Keyword arguments for ``asyncssh.connect`` (``~`` in paths expanded)."""
    client_keys, known_hosts = settings.client_keys, settings.known_hosts
    options: dict[str, Any] = {
        "username": settings.username,
        "password": settings.password,
        "client_keys": [str(Path(k).expanduser()) for k in client_keys] if client_keys else None,
        "passphrase": settings.passphrase,
        "known_hosts": str(Path(known_hosts).expanduser()) if known_hosts is not None else None,
        "connect_timeout": settings.connect_timeout,
    }
    if settings.password is not None and not client_keys:
        options["preferred_auth"] = "password,keyboard-interactive"
    return options


async def connect_sftp(
    settings: SftpSettings, *, login: str
) -> tuple[asyncssh.SSHClientConnection, asyncssh.SFTPClient]:
    """An SSH connection and its SFTP session; ``login`` names the account in an authentication error."""
    import asyncssh

    host, port = settings.host, settings.port
    try:
        ssh = await asyncssh.connect(host, port, **connect_options(settings))
        try:
            return ssh, await ssh.start_sftp_client()
        except BaseException:
            ssh.close()  # a connection without its SFTP session is of no use: do not leak it
            raise
    except asyncssh.PermissionDenied:
        raise SftpConnectError(f"SFTP authentication failed for {login}", retryable=False) from None
    except asyncssh.HostKeyNotVerifiable:
        raise SftpConnectError(f"SFTP host key of {host}:{port} is not in known_hosts", retryable=False) from None
    except (TimeoutError, OSError, asyncssh.Error) as exc:
        raise SftpConnectError(f"cannot connect to sftp://{host}:{port}: {type(exc).__name__}",
                               retryable=True) from None


async def replace(sftp: asyncssh.SFTPClient, src: str, dest: str) -> None:
    """Rename ``src`` over ``dest``: POSIX rename when the server has it, else remove + rename."""
    import asyncssh

    try:
        await sftp.posix_rename(src, dest)
    except asyncssh.SFTPOpUnsupported:
        if await sftp.exists(dest):
            await sftp.remove(dest)
        await sftp.rename(src, dest)
