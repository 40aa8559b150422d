"""Webhook receiver building blocks; :mod:`.verify` checks the raw bytes before anything is parsed."""

from .verify import (
    DEFAULT_MD5_HEADERS,
    DEFAULT_SHA512_HEADERS,
    ApiKeyAuthConfig,
    ApiKeyEntry,
    FluentSignatureConfig,
    HmacSignatureConfig,
    Reason,
    VerificationResult,
    VerifierConfig,
    WebhookVerifier,
    generate_api_key,
    hash_api_key,
    key_fingerprint,
    load_public_key,
)

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
