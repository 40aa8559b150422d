"""How this process's Kafka clients connect (TLS, SASL) and how the topics it creates are replicated.

A real cluster (Confluent Cloud, MSK, three brokers on-prem) needs what the embedded broker does not:
TLS, SASL credentials, and topics replicated on several brokers. The pipeline file declares them once
(``kafka.security``, ``kafka.replication_factor``, ``kafka.min_insync_replicas``) and they must reach
every client fluentsync opens: some twenty-five aiokafka producers, consumers and admin clients in the
worker, its services and the operations commands, plus Faust's own.

Why a process-wide setting rather than an argument: most of those clients are built deep inside helpers
that receive only a bootstrap string (offset probes, group inspection, tails, the webhook publisher).
Threading a security object through every signature would touch dozens of call chains for a value that
is, by nature, one per process - a process talks to one cluster. So every entry point that loads a
pipeline calls :func:`configure_kafka` once, next to ``configure_codec`` (the worker's ``prepare`` and
``build_app``, the CLI commands), and every client construction spreads ``**client_options()``; a unit
test fails when a construction without it appears in ``streams/`` or ``connectors/``. Faust gets the same
settings through :func:`faust_settings` in :func:`fluentsync.streams.app.create_app`, and
:func:`~fluentsync.streams.kafka.topics.ensure_topics` gives topics without an explicit replication factor
the configured one. Nothing configured means PLAINTEXT and replication 1: the embedded broker, as before.

Secrets: ``sasl_password`` and ``ssl_password`` are :class:`~pydantic.SecretStr` (masked in reprs and
validation errors; the worker redacts their values from every log line). The dict :func:`client_options`
returns holds the plain password because aiokafka needs it: hand it to a client, never log it.
"""

from __future__ import annotations

import logging
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from aiokafka.helpers import create_ssl_context
from pydantic import BaseModel, ConfigDict, SecretStr, field_validator, model_validator

__all__ = [
    "ClusterSettings",
    "KafkaSecurity",
    "SaslMechanism",
    "SecurityProtocol",
    "check_cluster",
    "client_options",
    "cluster_settings",
    "configure_kafka",
    "faust_settings",
    "resolve_security_paths",
]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
_SSL_FILES = ("ssl_cafile", "ssl_certfile", "ssl_keyfile")


class KafkaSecurity(BaseModel):
    """``kafka.security`` in the pipeline file: how clients encrypt (TLS) and authenticate (SASL, mTLS).

    Confluent Cloud: ``SASL_SSL`` + ``PLAIN`` with an API key and secret. MSK: ``SASL_SSL`` +
    ``SCRAM-SHA-512`` (port 9096), or ``SSL`` with a client certificate (mTLS, port 9094). Relative file
    paths are relative to the pipeline file. Files are checked (and loaded) when the file is validated,
    so a wrong path or key fails ``fluentsync config check``, not the first connection.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "PLAIN"  #: Confluent Cloud: PLAIN; MSK and most on-prem: SCRAM-SHA-512
    sasl_username: str | None = None  #: Confluent Cloud: the API key
    sasl_password: SecretStr | None = None  #: Confluent Cloud: the API secret; write ``${VAR}``
    ssl_cafile: Path | None = None  #: PEM CAs that signed the brokers' certificates; None: the system's CAs
    ssl_certfile: Path | None = None  #: client certificate (PEM) for mutual TLS; may also hold its key
    ssl_keyfile: Path | None = None  #: the client certificate's private key (PEM) when not in ``ssl_certfile``
    ssl_password: SecretStr | None = None  #: passphrase of an encrypted private key
    ssl_check_hostname: bool = True
    """False: accept a broker certificate (still verified against the CAs) that names another host -
    listeners reached by an IP address or through a tunnel."""

    @property
    def uses_ssl(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def describe(self) -> str:
        """One line for humans (``config check``, errors): protocol, mechanism, user - never a secret."""
        if not self.uses_sasl:
            return f"{self.protocol}{' with a client certificate' if self.ssl_certfile else ''}"
        return f"{self.protocol} {self.sasl_mechanism} as {self.sasl_username!r}"

    @field_validator("sasl_username", "sasl_password", "ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_password",
                     mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """``${VAR:-}`` left empty means "not set", not a file named ``.`` or an empty password."""
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSecurity:
        given = {name for name in self.model_fields_set if getattr(self, name) is not None}
        if self.uses_sasl:
            missing = [name for name in ("sasl_username", "sasl_password") if not _text(getattr(self, name))]
            if missing:
                raise ValueError(f"protocol {self.protocol} needs {' and '.join(missing)}"
                                 " (write ${VAR} to take them from the environment)")
        elif stray := sorted(name for name in given if name.startswith("sasl_")):
            raise ValueError(f"{', '.join(stray)}: only used with protocol SASL_PLAINTEXT or SASL_SSL"
                             f" (protocol is {self.protocol})")
        if not self.uses_ssl:
            if stray := sorted(name for name in given if name.startswith("ssl_")):
                raise ValueError(f"{', '.join(stray)}: only used with protocol SSL or SASL_SSL"
                                 f" (protocol is {self.protocol})")
            return self
        if self.ssl_certfile is None and (self.ssl_keyfile is not None or self.ssl_password is not None):
            raise ValueError("ssl_keyfile and ssl_password need ssl_certfile (the client certificate)")
        for name in _SSL_FILES:
            path: Path | None = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name}: {'not a file' if path.exists() else 'no such file'}: {path}")
        self.ssl_context()  # a CA or key that cannot be loaded is a config error, not a failure at first connect
        return self

    def ssl_context(self) -> ssl.SSLContext | None:
        """A new TLS context from the configured files (None without TLS).

        Raises :class:`ValueError` naming the file that could not be loaded. An encrypted key without
        ``ssl_password`` is an error too - OpenSSL would otherwise prompt on the terminal and hang."""
        if not self.uses_ssl:
            return None
        try:
            context: ssl.SSLContext = create_ssl_context(cafile=self.ssl_cafile)
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"ssl_cafile: cannot load CA certificates from {self.ssl_cafile}: {_reason(exc)}"
                             " (a PEM file is expected)") from None
        if self.ssl_certfile is not None:
            try:
                context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile, self._key_password)
            except (ssl.SSLError, OSError) as exc:
                raise ValueError(f"ssl_certfile/ssl_keyfile: cannot load the client certificate and key:"
                                 f" {_reason(exc)} (PEM files; does the key belong to the certificate;"
                                 " is ssl_password right?)") from None
        context.check_hostname = self.ssl_check_hostname
        return context

    def _key_password(self) -> str:
        """OpenSSL asks for it only when the key is encrypted."""
        if self.ssl_password is None:
            raise ValueError("ssl_keyfile: the private key is encrypted: set ssl_password")
        return self.ssl_password.get_secret_value()


def _text(value: object) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value or "")


def _reason(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError) and exc.strerror
            else str(exc))


def check_cluster(bootstrap: str, replication_factor: int, min_insync_replicas: int | None,
                  security: KafkaSecurity) -> None:
    """The ``kafka`` section's settings agree with each other (raises :class:`ValueError` otherwise)."""
    if min_insync_replicas is not None and min_insync_replicas > replication_factor:
        raise ValueError(f"min_insync_replicas ({min_insync_replicas}) cannot exceed replication_factor"
                         f" ({replication_factor}): every write with acks=all would fail")
    if bootstrap == "embedded" and replication_factor > 1:
        raise ValueError("the embedded broker is a single broker: replication_factor must be 1")
    if bootstrap == "embedded" and security.protocol != "PLAINTEXT":
        raise ValueError("the embedded broker speaks PLAINTEXT only: remove kafka.security or set kafka.bootstrap")


def resolve_security_paths(document: dict[str, Any], base_dir: Path) -> None:
    """Make ``kafka.security``'s relative file paths relative to the pipeline file (like mappings)."""
    kafka = document.get("kafka")
    security = kafka.get("security") if isinstance(kafka, dict) else None
    if isinstance(security, dict):
        for name in _SSL_FILES:
            if isinstance(security.get(name), str) and security[name]:
                security[name] = str(base_dir / Path(security[name]).expanduser())


class _ClusterConfig(Protocol):
    """What :func:`configure_kafka` reads: the pipeline's ``KafkaConfig`` (not imported: it imports us)."""

    @property
    def security(self) -> KafkaSecurity: ...

    @property
    def replication_factor(self) -> int: ...

    @property
    def min_insync_replicas(self) -> int | None: ...


@dataclass(frozen=True)
class ClusterSettings:
    """The cluster settings of this process; the TLS context is built once and shared by every client."""

    security: KafkaSecurity = field(default_factory=KafkaSecurity)
    replication_factor: int = 1
    min_insync_replicas: int | None = None
    _context: ssl.SSLContext | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_context", self.security.ssl_context())

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for ``AIOKafkaProducer``/``AIOKafkaConsumer``/``AIOKafkaAdminClient``."""
        security = self.security
        if security.protocol == "PLAINTEXT":
            return {}
        options: dict[str, Any] = {"security_protocol": security.protocol}
        if security.uses_ssl:
            options["ssl_context"] = self._context
        if security.uses_sasl:
            assert security.sasl_password is not None  # validated
            options.update(sasl_mechanism=security.sasl_mechanism, sasl_plain_username=security.sasl_username,
                           sasl_plain_password=security.sasl_password.get_secret_value())
        return options

    def faust_settings(self) -> dict[str, Any]:
        """Faust app settings: ``broker_credentials`` (when not PLAINTEXT) and ``topic_replication_factor``."""
        settings: dict[str, Any] = {"topic_replication_factor": self.replication_factor}
        security = self.security
        if security.uses_sasl:
            import faust

            assert security.sasl_password is not None  # validated
            settings["broker_credentials"] = faust.SASLCredentials(
                username=security.sasl_username, password=security.sasl_password.get_secret_value(),
                ssl_context=self._context, mechanism=security.sasl_mechanism)
        elif security.uses_ssl:
            import faust

            settings["broker_credentials"] = faust.SSLCredentials(self._context)
        return settings

    def topic_config(self) -> dict[str, str]:
        """Topic configs every created topic gets (``min.insync.replicas`` when configured)."""
        if self.min_insync_replicas is None:
            return {}
        return {"min.insync.replicas": str(self.min_insync_replicas)}


class _HideSaslTokens(logging.Filter):
    """aiokafka logs every request at DEBUG, and a SASL PLAIN token *is* the password: show its type only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(_is_sasl_token(arg) for arg in record.args):
            record.args = tuple(f"{type(arg).__name__}(<redacted>)" if _is_sasl_token(arg) else arg
                                for arg in record.args)
        return True


def _is_sasl_token(value: object) -> bool:
    return type(value).__name__.startswith("SaslAuthenticateRequest")


_lock = threading.Lock()
_current = ClusterSettings()
_sasl_filter = _HideSaslTokens()


def configure_kafka(kafka: _ClusterConfig | None) -> ClusterSettings:
    """Make the pipeline's ``kafka`` security and replication this process's (None: PLAINTEXT, 1 replica).

    Idempotent: the same settings keep the current TLS context, so every entry point may call it."""
    global _current
    wanted = (KafkaSecurity(), 1, None) if kafka is None else (
        kafka.security, kafka.replication_factor, kafka.min_insync_replicas)
    with _lock:
        if (_current.security, _current.replication_factor, _current.min_insync_replicas) != wanted:
            _current = ClusterSettings(*wanted)
        if _current.security.uses_sasl and _sasl_filter not in logging.getLogger("aiokafka.conn").filters:
            logging.getLogger("aiokafka.conn").addFilter(_sasl_filter)
        return _current


def cluster_settings() -> ClusterSettings:
    """This process's settings (see :func:`configure_kafka`)."""
    return _current


def client_options() -> dict[str, Any]:
    """``**client_options()`` in every aiokafka client construction: this process's TLS/SASL keywords."""
    return _current.client_options()


def faust_settings() -> dict[str, Any]:
    """This process's Faust settings (credentials, replication factor of changelogs and internal topics)."""
    return _current.faust_settings()
