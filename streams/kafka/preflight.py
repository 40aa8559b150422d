"""One first connection with a short deadline and a message that says what to fix, before a worker starts.

aiokafka reports every connection problem the same way, ``KafkaConnectionError: Unable to bootstrap
from [...]``, and only after its request timeout (30-40 s): a TLS client facing a plaintext listener
waits that long for a handshake that never comes. The real cause (a certificate the CAs do not trust,
a SASL mechanism the listener does not offer, a wrong password, a TLS listener reached in plaintext) is
at best in a debug log. :func:`check_connection` connects to each bootstrap address the way every client
of the process will (``client_options()``: TLS, SASL handshake and authentication, one request), with
its own deadline, and turns a failure into one sentence naming the setting to look at.
"""

from __future__ import annotations

import asyncio
import ssl

from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError, SaslAuthenticationFailed, UnsupportedSaslMechanismError

from fluentsync.streams.kafka.connection import KafkaSecurity, client_options, cluster_settings

__all__ = ["KafkaConnectionProblem", "check_connection"]


class KafkaConnectionProblem(RuntimeError):
    """No bootstrap address accepted a connection with this process's security settings."""


async def check_connection(bootstrap: str, *, timeout: float = 10.0) -> None:
    """Return once one bootstrap address accepts a connection; else raise :class:`KafkaConnectionProblem`.

    The message names every address with its problem and never contains a secret."""
    settings = cluster_settings()
    problems: list[str] = []
    for host, port in _addresses(bootstrap):
        problem = await _probe(host, port, settings.security, timeout)
        if problem is None:
            return
        problems.append(f"{host}:{port}: {problem}")
    raise KafkaConnectionProblem(f"cannot connect to Kafka at {bootstrap} ({settings.security.describe()}): "
                                 + "; ".join(problems))


def _addresses(bootstrap: str) -> list[tuple[str, int]]:
    addresses: list[tuple[str, int]] = []
    for item in bootstrap.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise KafkaConnectionProblem(f"bootstrap address {item.strip()!r} is not host:port")
        addresses.append((host.strip("[]"), int(port)))
    return addresses


async def _probe(host: str, port: int, security: KafkaSecurity, timeout: float) -> str | None:
    """None when a connection (TLS, SASL and the ApiVersions request) succeeds, else what went wrong."""
    try:
        conn = await asyncio.wait_for(
            create_conn(host, port, client_id="fluentsync-preflight", request_timeout_ms=int(timeout * 1000),
                        **client_options()),
            timeout)
    except TimeoutError:
        if security.uses_ssl:
            return (f"no TLS handshake within {timeout:g} s: the listener does not seem to speak TLS"
                    f" (kafka.security.protocol is {security.protocol}; check the port)")
        return f"no answer within {timeout:g} s"
    except ssl.SSLCertVerificationError as exc:
        hint = ("; the certificate names another host: ssl_check_hostname: false accepts it" if "mismatch"
                in str(exc.verify_message) else "; set kafka.security.ssl_cafile to the CA that signed it")
        return f"the broker's certificate is not trusted: {exc.verify_message}{hint}"
    except ssl.SSLError as exc:
        hint = "" if security.ssl_certfile else " (does the listener require a client certificate? ssl_certfile)"
        return f"TLS handshake failed: {exc.reason or exc}{hint}"
    except UnsupportedSaslMechanismError:
        return (f"the listener does not offer SASL {security.sasl_mechanism}"
                " (check kafka.security.sasl_mechanism, and that this port is the SASL listener)")
    except SaslAuthenticationFailed as exc:
        return f"SASL authentication as {security.sasl_username!r} failed: {exc} (check sasl_username/sasl_password)"
    except ConnectionRefusedError:
        return "connection refused: nothing listens there (check kafka.bootstrap)"
    except (KafkaError, OSError, KeyError, ValueError) as exc:  # aiokafka's SCRAM client: KeyError on a refusal
        if isinstance(exc, OSError) and exc.strerror:
            return exc.strerror
        if not security.uses_ssl and await _speaks_tls(host, port, timeout):
            return "the listener speaks TLS: set kafka.security.protocol to SSL or SASL_SSL"
        if security.uses_sasl and isinstance(exc, KeyError):
            return (f"SASL {security.sasl_mechanism} authentication as {security.sasl_username!r} was refused"
                    " (check sasl_username/sasl_password)")
        if security.uses_ssl and isinstance(exc, KafkaError):  # TLS 1.3: a refused client certificate shows here
            question = ("does it trust the CA that signed kafka.security.ssl_certfile?" if security.ssl_certfile
                        else "does it require a client certificate (kafka.security.ssl_certfile)?")
            return f"the broker closed the connection after the TLS handshake: {question}"
        return f"{type(exc).__name__}: {exc}"
    conn.close()
    return None


async def _speaks_tls(host: str, port: int, timeout: float) -> bool:
    """Whether a TLS handshake succeeds (certificate not checked: this only tells the listener's kind)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context), timeout)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True
