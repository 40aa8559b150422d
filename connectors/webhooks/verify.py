"""Webhook verification on the raw request bytes, before any parsing (requirements R54-R57).

Three methods, one per workflow:

* **Fluent signatures** (fluent-api.md §7.2, R55): ``fluent-signature`` / ``x-fluent-signature`` /
  ``fluent_signature`` carry RSA PKCS#1 v1.5 with SHA-512 over the exact body bytes, base64-encoded.
  ``flex.signature`` / ``flex-signature`` / ``flex_signature`` carry the legacy MD5withRSA (a *real* MD5
  digest), accepted only when ``legacy_md5`` is on and only when no SHA-512 header was sent: a weaker
  algorithm never rescues a failing SHA-512 signature. The public key is X.509 SubjectPublicKeyInfo,
  PEM-armoured or bare base64 DER.
* **Third-party HMAC-SHA256** (fluent-api.md §7.3): a configurable header, hex or base64, and an optional
  timestamp header. With a timestamp header the MAC covers ``<timestamp>.<body>`` (so the timestamp
  cannot be swapped) and a timestamp outside ``tolerance_seconds`` of now is refused (replays).
* **API keys** (sdk-parity.md §17): ``fc_<prefix>_<64 hex>`` (or bare 64 hex), configured only as SHA-256
  hex hashes, compared in constant time against every configured hash, optional expiry and revocation.

Everything **fails closed** (R56): a missing, garbled or wrong signature, a missing key, or a verifier
without a key gives ``VerificationResult(ok=False, reason=...)``; bad request input never raises. Reasons
are short codes (:class:`Reason`) safe to use as metric labels; nothing here logs or echoes a secret, a
key or a signature.

Parsed RSA public keys are cached by the SHA-256 fingerprint of the whole DER key plus the algorithm
(R57), so a new key is used as soon as a new configuration is built, and the old one stops verifying.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeAlias

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, field_validator

__all__ = [
    "DEFAULT_MD5_HEADERS",
    "DEFAULT_SHA512_HEADERS",
    "ApiKeyAuthConfig",
    "ApiKeyEntry",
    "FluentSignatureConfig",
    "HmacSignatureConfig",
    "Reason",
    "VerificationResult",
    "VerifierConfig",
    "WebhookVerifier",
    "generate_api_key",
    "hash_api_key",
    "key_fingerprint",
    "load_public_key",
]

DEFAULT_SHA512_HEADERS: tuple[str, ...] = ("fluent-signature", "x-fluent-signature", "fluent_signature")
DEFAULT_MD5_HEADERS: tuple[str, ...] = ("flex.signature", "flex-signature", "flex_signature")

#: Longest header value we look at; anything longer is garbage, refused before decoding.
MAX_HEADER_VALUE = 8192
MIN_RSA_BITS = 2048
_KEY_CACHE_SIZE = 64

_API_KEY = re.compile(r"^(?:fc_[A-Za-z0-9_-]{1,20}_)?[0-9a-f]{64}$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_HEX = re.compile(r"^[0-9A-Fa-f]+$")
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
_PREFIX_CHARS = re.compile(r"[^A-Za-z0-9_-]")


class Reason(StrEnum):
    """Why a request passed or failed; short, stable, safe as a metric label."""

    OK = "ok"
    NO_KEY_CONFIGURED = "no_key_configured"
    MISSING_SIGNATURE = "missing_signature"
    MALFORMED_SIGNATURE = "malformed_signature"
    AMBIGUOUS_SIGNATURE = "ambiguous_signature"
    BAD_SIGNATURE = "bad_signature"
    LEGACY_DISABLED = "legacy_disabled"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    MISSING_TIMESTAMP = "missing_timestamp"
    MALFORMED_TIMESTAMP = "malformed_timestamp"
    STALE_TIMESTAMP = "stale_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    MISSING_API_KEY = "missing_api_key"
    MALFORMED_API_KEY = "malformed_api_key"
    UNKNOWN_API_KEY = "unknown_api_key"
    EXPIRED_KEY = "expired_key"
    REVOKED_KEY = "revoked_key"
    MALFORMED_BODY = "malformed_body"
    INTERNAL_ERROR = "internal_error"


Method = Literal["fluent", "hmac", "api_key"]


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """Outcome of :meth:`WebhookVerifier.verify`; never carries a secret or a signature.

    ``algorithm`` is the verified algorithm for the published record (R54): ``rsa-sha512``, ``rsa-md5``,
    ``hmac-sha256`` or ``api-key``. ``key_id`` names the key that verified: the first 16 hex characters of
    an RSA key's fingerprint, or an API key's configured name.
    """

    ok: bool
    reason: Reason
    method: Method | None = None
    algorithm: str | None = None
    header: str | None = None
    key_id: str | None = None

    @classmethod
    def fail(cls, reason: Reason, method: Method | None = None, *, header: str | None = None) -> VerificationResult:
        return cls(ok=False, reason=reason, method=method, header=header)


# --------------------------------------------------------------------------------------------- keys


@dataclass(frozen=True, slots=True)
class _PublicKey:
    key: rsa.RSAPublicKey
    fingerprint: str  # SHA-256 hex of the DER SubjectPublicKeyInfo

    @property
    def size_bytes(self) -> int:
        return (self.key.key_size + 7) // 8


_cache: OrderedDict[tuple[str, str], rsa.RSAPublicKey] = OrderedDict()
_cache_lock = threading.Lock()


def _spki_der(text: str) -> bytes:
    """DER bytes of an SPKI public key given as PEM or bare base64 (whitespace and ``\\n`` escapes ok)."""
    text = text.replace("\\n", "\n").strip()
    if not text:
        raise ValueError("public key is empty")
    match = _PEM.search(text)
    if match:
        if match.group(1) != "PUBLIC KEY":
            raise ValueError("public key PEM must be 'PUBLIC KEY' (X.509 SubjectPublicKeyInfo)")
        text = match.group(2)
    elif "-----" in text:
        raise ValueError("public key PEM armour is incomplete")
    compact = "".join(text.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("public key is not valid base64") from None


def key_fingerprint(public_key: str) -> str:
    """SHA-256 hex fingerprint of the whole DER key (PEM and bare base64 of one key agree)."""
    return hashlib.sha256(_spki_der(public_key)).hexdigest()


def load_public_key(public_key: str, algorithm: str = "sha512") -> rsa.RSAPublicKey:
    """Parse (through the fingerprint cache) an RSA SPKI key; ``ValueError`` if unusable."""
    return _load(public_key, algorithm).key


def _load(public_key: str, algorithm: str) -> _PublicKey:
    der = _spki_der(public_key)
    fingerprint = hashlib.sha256(der).hexdigest()
    cache_key = (fingerprint, algorithm)
    with _cache_lock:
        cached = _cache.get(cache_key)
        if cached is not None:
            _cache.move_to_end(cache_key)
            return _PublicKey(cached, fingerprint)
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("public key is not a DER SubjectPublicKeyInfo") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("public key must be an RSA key")
    if key.key_size < MIN_RSA_BITS:
        raise ValueError(f"RSA public key must have at least {MIN_RSA_BITS} bits")
    with _cache_lock:
        _cache[cache_key] = key
        _cache.move_to_end(cache_key)
        while len(_cache) > _KEY_CACHE_SIZE:
            _cache.popitem(last=False)
    return _PublicKey(key, fingerprint)


def hash_api_key(key: str) -> str:
    """SHA-256 hex of an API key: the only form an API key is stored in."""
    return hashlib.sha256(key.encode()).hexdigest()


def generate_api_key(prefix: str | None = None) -> str:
    """32 random bytes as 64 hex characters, as ``fc_<prefix>_<hex>`` when a prefix is given."""
    body = secrets.token_hex(32)
    if prefix is None:
        return body
    clean = _PREFIX_CHARS.sub("", prefix)[:20]
    if not clean:
        raise ValueError("API key prefix needs at least one of [A-Za-z0-9_-]")
    return f"fc_{clean}_{body}"


# ------------------------------------------------------------------------------------------- config


def _lower_names(names: Iterable[str]) -> tuple[str, ...]:
    out = tuple(n.strip().lower() for n in names)
    if not out or any(not n for n in out):
        raise ValueError("header names must be non-empty")
    return out


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FluentSignatureConfig(_Frozen):
    """Fluent's RSA signatures. ``public_key=None`` means every request fails with ``no_key_configured``."""

    kind: Literal["fluent"] = "fluent"
    public_key: str | None = Field(default=None, description="SPKI public key, PEM or bare base64 DER.")
    legacy_md5: bool = Field(default=False, description="Also accept flex.signature (MD5withRSA).")
    sha512_headers: tuple[str, ...] = DEFAULT_SHA512_HEADERS
    md5_headers: tuple[str, ...] = DEFAULT_MD5_HEADERS

    @field_validator("public_key")
    @classmethod
    def _check_key(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        _load(value, "sha512")
        return value

    @field_validator("sha512_headers", "md5_headers")
    @classmethod
    def _names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _lower_names(value)


class HmacSignatureConfig(_Frozen):
    """Third-party HMAC-SHA256 over the raw body (or ``<timestamp>.<body>`` with a timestamp header)."""

    kind: Literal["hmac"] = "hmac"
    secret: SecretStr | None = None
    header: str = "x-webhook-signature"
    encoding: Literal["hex", "base64"] = "hex"
    signature_prefix: str = Field(default="", description="e.g. 'sha256=': required and stripped when set.")
    timestamp_header: str | None = None
    timestamp_unit: Literal["s", "ms"] = "s"
    tolerance_seconds: float = Field(default=300.0, gt=0, le=86_400)
    sign_timestamp: bool = Field(default=True, description="With a timestamp header, MAC '<timestamp>.<body>'.")

    @field_validator("header", "timestamp_header")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else _lower_names([value])[0]

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is None or not value.get_secret_value() else value


class ApiKeyEntry(_Frozen):
    """One accepted API key, by its SHA-256 hex hash (never the key itself)."""

    name: str = Field(min_length=1, max_length=100)
    sha256: str = Field(repr=False, description="hash_api_key(key): 64 lower-case hex characters.")
    expires_at: AwareDatetime | None = None
    revoked: bool = False

    @field_validator("sha256")
    @classmethod
    def _hash(cls, value: str) -> str:
        value = value.strip().lower()
        if not _SHA256_HEX.match(value):
            raise ValueError("sha256 must be 64 hex characters (store the hash, not the key)")
        return value


class ApiKeyAuthConfig(_Frozen):
    """API keys in ``header`` (``authorization`` takes ``Bearer <key>``); no keys means all fail."""

    kind: Literal["api_key"] = "api_key"
    header: str = "x-api-key"
    keys: tuple[ApiKeyEntry, ...] = ()

    @field_validator("header")
    @classmethod
    def _name(cls, value: str) -> str:
        return _lower_names([value])[0]


VerifierConfig: TypeAlias = Annotated[
    FluentSignatureConfig | HmacSignatureConfig | ApiKeyAuthConfig, Field(discriminator="kind")
]
_CONFIG_ADAPTER: TypeAdapter[FluentSignatureConfig | HmacSignatureConfig | ApiKeyAuthConfig] = TypeAdapter(
    VerifierConfig
)


# ----------------------------------------------------------------------------------------- verifier


class _Headers:
    """Case-insensitive view of request headers that remembers repeated names."""

    def __init__(self, headers: Mapping[str, Any]) -> None:
        values: dict[str, list[str]] = {}
        items: Iterable[tuple[Any, Any]] = headers.items()
        for name, value in items:
            key = name.decode("latin-1") if isinstance(name, bytes) else str(name)
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            values.setdefault(key.strip().lower(), []).append(text.strip())
        self._values = values

    def get(self, name: str) -> list[str] | None:
        found = self._values.get(name)
        return None if not found else list(dict.fromkeys(found))

    def first_of(self, names: Iterable[str]) -> tuple[str, str] | Reason | None:
        """``(name, value)`` of the first present header; ambiguity or garbage is a :class:`Reason`."""
        chosen: tuple[str, str] | None = None
        for name in names:
            found = self.get(name)
            if found is None:
                continue
            if len(found) > 1 or (chosen is not None and found[0] != chosen[1]):
                return Reason.AMBIGUOUS_SIGNATURE
            if chosen is None:
                chosen = (name, found[0])
        return chosen


def _b64(value: str) -> bytes | None:
    if len(value) > MAX_HEADER_VALUE:
        return None
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


class WebhookVerifier:
    """Verifies one workflow's requests; build with :meth:`from_config`, then call :meth:`verify`."""

    def __init__(self, config: FluentSignatureConfig | HmacSignatureConfig | ApiKeyAuthConfig | None) -> None:
        self.config = config
        self._sha512: _PublicKey | None = None
        self._md5: _PublicKey | None = None
        if isinstance(config, FluentSignatureConfig) and config.public_key is not None:
            self._sha512 = _load(config.public_key, "sha512")
            if config.legacy_md5:
                self._md5 = _load(config.public_key, "md5")

    @classmethod
    def from_config(
        cls, config: FluentSignatureConfig | HmacSignatureConfig | ApiKeyAuthConfig | Mapping[str, Any] | None
    ) -> WebhookVerifier:
        """Build from a config model or a mapping with ``kind`` (pydantic ``ValidationError`` if invalid).

        ``None`` gives a verifier that refuses everything with ``no_key_configured`` (fail closed).
        """
        if isinstance(config, Mapping):
            config = _CONFIG_ADAPTER.validate_python(dict(config))
        return cls(config)

    @property
    def method(self) -> Method | None:
        return None if self.config is None else self.config.kind

    def verify(self, body: bytes, headers: Mapping[str, str], now: float | None = None) -> VerificationResult:
        """Check ``body`` (the exact received bytes) against ``headers``; never raises for bad input."""
        method = self.method
        try:
            if isinstance(body, bytearray | memoryview):
                body = bytes(body)
            if not isinstance(body, bytes):
                return VerificationResult.fail(Reason.MALFORMED_BODY, method)
            view = _Headers(headers)
            moment = time.time() if now is None else float(now)
            config = self.config
            if isinstance(config, FluentSignatureConfig):
                return self._verify_fluent(config, body, view)
            if isinstance(config, HmacSignatureConfig):
                return self._verify_hmac(config, body, view, moment)
            if isinstance(config, ApiKeyAuthConfig):
                return self._verify_api_key(config, view, moment)
            return VerificationResult.fail(Reason.NO_KEY_CONFIGURED)
        except Exception:  # fail closed on anything unforeseen; the exception may quote input, so drop it
            return VerificationResult.fail(Reason.INTERNAL_ERROR, method)

    # -- Fluent RSA

    def _verify_fluent(self, config: FluentSignatureConfig, body: bytes, headers: _Headers) -> VerificationResult:
        if self._sha512 is None:
            return VerificationResult.fail(Reason.NO_KEY_CONFIGURED, "fluent")
        found = headers.first_of(config.sha512_headers)
        if isinstance(found, Reason):
            return VerificationResult.fail(found, "fluent")
        if found is not None:
            return self._rsa(self._sha512, hashes.SHA512(), "rsa-sha512", found, body)
        legacy = headers.first_of(config.md5_headers)
        if isinstance(legacy, Reason):
            return VerificationResult.fail(legacy, "fluent")
        if legacy is None:
            return VerificationResult.fail(Reason.MISSING_SIGNATURE, "fluent")
        if self._md5 is None:
            return VerificationResult.fail(Reason.LEGACY_DISABLED, "fluent", header=legacy[0])
        return self._rsa(self._md5, hashes.MD5(), "rsa-md5", legacy, body)

    @staticmethod
    def _rsa(
        key: _PublicKey, digest: hashes.HashAlgorithm, algorithm: str, found: tuple[str, str], body: bytes
    ) -> VerificationResult:
        header, value = found
        if not value:
            return VerificationResult.fail(Reason.MISSING_SIGNATURE, "fluent", header=header)
        signature = _b64(value)
        if signature is None or len(signature) != key.size_bytes:
            return VerificationResult.fail(Reason.MALFORMED_SIGNATURE, "fluent", header=header)
        try:
            key.key.verify(signature, body, padding.PKCS1v15(), digest)
        except InvalidSignature:
            return VerificationResult.fail(Reason.BAD_SIGNATURE, "fluent", header=header)
        except UnsupportedAlgorithm:
            return VerificationResult.fail(Reason.UNSUPPORTED_ALGORITHM, "fluent", header=header)
        return VerificationResult(True, Reason.OK, "fluent", algorithm, header, key.fingerprint[:16])

    # -- third-party HMAC

    @staticmethod
    def _verify_hmac(config: HmacSignatureConfig, body: bytes, headers: _Headers, now: float) -> VerificationResult:
        if config.secret is None:
            return VerificationResult.fail(Reason.NO_KEY_CONFIGURED, "hmac")
        found = headers.first_of([config.header])
        if isinstance(found, Reason):
            return VerificationResult.fail(found, "hmac")
        if found is None or not found[1]:
            return VerificationResult.fail(Reason.MISSING_SIGNATURE, "hmac", header=config.header)
        value = found[1]
        if config.signature_prefix:
            if not value.lower().startswith(config.signature_prefix.lower()):
                return VerificationResult.fail(Reason.MALFORMED_SIGNATURE, "hmac", header=config.header)
            value = value[len(config.signature_prefix) :].strip()
        signature: bytes | None
        if config.encoding == "hex":
            signature = bytes.fromhex(value) if len(value) == 64 and _HEX.match(value) else None
        else:
            signature = _b64(value)
        if signature is None or len(signature) != hashlib.sha256().digest_size:
            return VerificationResult.fail(Reason.MALFORMED_SIGNATURE, "hmac", header=config.header)

        message = body
        if config.timestamp_header is not None:
            stamp = headers.first_of([config.timestamp_header])
            if stamp is None or isinstance(stamp, Reason) or not stamp[1]:
                reason = Reason.MISSING_TIMESTAMP if stamp is None else Reason.MALFORMED_TIMESTAMP
                return VerificationResult.fail(reason, "hmac", header=config.header)
            raw = stamp[1]
            try:
                when = float(raw) if len(raw) <= 32 else math.nan
            except ValueError:
                when = math.nan
            if not math.isfinite(when):
                return VerificationResult.fail(Reason.MALFORMED_TIMESTAMP, "hmac", header=config.header)
            if config.timestamp_unit == "ms":
                when /= 1000.0
            if now - when > config.tolerance_seconds:
                return VerificationResult.fail(Reason.STALE_TIMESTAMP, "hmac", header=config.header)
            if when - now > config.tolerance_seconds:
                return VerificationResult.fail(Reason.FUTURE_TIMESTAMP, "hmac", header=config.header)
            if config.sign_timestamp:
                message = raw.encode("latin-1", "replace") + b"." + body

        expected = hmac.new(config.secret.get_secret_value().encode(), message, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, signature):
            return VerificationResult.fail(Reason.BAD_SIGNATURE, "hmac", header=config.header)
        return VerificationResult(True, Reason.OK, "hmac", "hmac-sha256", config.header)

    # -- API keys

    @staticmethod
    def _verify_api_key(config: ApiKeyAuthConfig, headers: _Headers, now: float) -> VerificationResult:
        if not config.keys:
            return VerificationResult.fail(Reason.NO_KEY_CONFIGURED, "api_key")
        found = headers.first_of([config.header])
        if isinstance(found, Reason):
            return VerificationResult.fail(Reason.MALFORMED_API_KEY, "api_key", header=config.header)
        if found is None or not found[1]:
            return VerificationResult.fail(Reason.MISSING_API_KEY, "api_key", header=config.header)
        presented = found[1]
        if config.header == "authorization":
            scheme, _, rest = presented.partition(" ")
            if scheme.lower() != "bearer":
                return VerificationResult.fail(Reason.MALFORMED_API_KEY, "api_key", header=config.header)
            presented = rest.strip()
        if len(presented) > 128 or not _API_KEY.match(presented):
            return VerificationResult.fail(Reason.MALFORMED_API_KEY, "api_key", header=config.header)
        digest = hash_api_key(presented).encode()
        match: ApiKeyEntry | None = None
        for entry in config.keys:  # compare with every key: timing does not depend on which one matches
            if hmac.compare_digest(digest, entry.sha256.encode()) and match is None:
                match = entry
        if match is None:
            return VerificationResult.fail(Reason.UNKNOWN_API_KEY, "api_key", header=config.header)
        if match.revoked:
            return VerificationResult.fail(Reason.REVOKED_KEY, "api_key", header=config.header)
        if match.expires_at is not None and match.expires_at.timestamp() <= now:
            return VerificationResult.fail(Reason.EXPIRED_KEY, "api_key", header=config.header)
        return VerificationResult(True, Reason.OK, "api_key", "api-key", config.header, match.name)
