"""The settings of one SFTP connection: which server, which login, how the host key is checked.

The SFTP source and the SFTP destination reach their server the same way, through :mod:`.sftp`. Passing
the eight settings as one value, rather than as the same eight keyword arguments through every signature,
keeps them in one place: a new setting (a jump host, a cipher list) is one field here, not the same edit
to several signatures that could drift apart. What only one side needs (the source's pool size and retries, the
destination's prefix and chunk size) stays with that class.

Secrets are plain strings here (they are handed to asyncssh as they are), so the repr hides them: a
settings object in a log line, a traceback or a debugger shows whether a password or a passphrase is set,
never its value. ``client_keys`` are file names, not key material, and are shown (which key was offered
is what one needs to know when a login is refused). Build one from a pipeline-file block with
:meth:`SftpSettings.from_connection`, the one place that reveals the block's :class:`~pydantic.SecretStr`
fields.

The constructors that took the keywords still do (``**options``, typed by :class:`SftpOptions`), with the
host as their first positional argument as before; :func:`resolve` turns either form into an
:class:`SftpSettings`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from fluentsync.connectors.remote.settings import redacted_repr, reveal
from fluentsync.connectors.remote.sftp import normalize_host

if TYPE_CHECKING:
    from fluentsync.connectors.remote.settings import SftpConnection

__all__ = ["SftpOptions", "SftpSettings", "resolve"]

_SECRETS = ("password", "passphrase")


@dataclass(frozen=True, slots=True, repr=False, kw_only=True)
class SftpSettings:
    """Server, login, host-key file and connect timeout of an asyncssh connection.

    ``known_hosts`` None turns host-key checking off (asyncssh accepts any key): tests and trusted networks
    only; :meth:`from_connection` sets it only when the pipeline block says ``host_key_checking: false``.
    The host is stored without an ``sftp://``/``ssh://`` scheme and ``client_keys`` as a tuple, so two
    spellings of the same connection compare equal.
    """

    host: str
    port: int = 22
    username: str
    password: str | None = None
    client_keys: Sequence[str | Path] | None = None  #: private key files (``~`` expanded at connect)
    passphrase: str | None = None  #: of the private keys
    known_hosts: str | Path | None = "~/.ssh/known_hosts"
    connect_timeout: float = 30.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "host", normalize_host(self.host))
        if self.client_keys is not None:
            object.__setattr__(self, "client_keys", tuple(self.client_keys))

    @classmethod
    def from_connection(cls, connection: SftpConnection, *, connect_timeout: float = 30.0) -> SftpSettings:
        """The settings of a pipeline-file SFTP block (a source's or a destination's), secrets revealed."""
        return cls(
            host=connection.host, port=connection.port, username=connection.username,
            password=reveal(connection.password),
            client_keys=[connection.private_key] if connection.private_key else None,
            passphrase=reveal(connection.passphrase),
            known_hosts=connection.known_hosts if connection.host_key_checking else None,
            connect_timeout=connect_timeout,
        )

    def __repr__(self) -> str:
        return redacted_repr(self, _SECRETS)


class SftpOptions(TypedDict, total=False):
    """:class:`SftpSettings`' fields as keyword arguments, for constructors that still accept them one by one
    (``username`` is needed in that form; leaving it out is a :class:`TypeError` when the value is built)."""

    host: str
    port: int
    username: str
    password: str | None
    client_keys: Sequence[str | Path] | None
    passphrase: str | None
    known_hosts: str | Path | None
    connect_timeout: float


def resolve(sftp: SftpSettings | str | None, options: SftpOptions) -> SftpSettings:
    """``sftp`` if it is the settings, else the settings the keyword ``options`` spell out, with ``sftp`` as
    the host when it is one (the constructors' old first argument). Settings and keywords at once is a
    mistake (which should win?), so it raises rather than guessing; so does a host given twice."""
    if isinstance(sftp, SftpSettings):
        if options:
            raise TypeError(f"pass either sftp or {', '.join(sorted(options))}, not both")
        return sftp
    if sftp is not None:
        if "host" in options:
            raise TypeError("pass the host either first or as host=, not both")
        options = {**options, "host": sftp}
    return SftpSettings(**options)
