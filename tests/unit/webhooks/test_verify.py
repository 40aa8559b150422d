"""Webhook verification on the raw bytes (R54-R57), signed the way the sandbox signs (fluent-api.md §7)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import ValidationError

from fluentsync.connectors.sandbox.webhooks import WebhookService
from fluentsync.connectors.webhooks import (
    ApiKeyAuthConfig,
    ApiKeyEntry,
    FluentSignatureConfig,
    HmacSignatureConfig,
    Reason,
    VerificationResult,
    WebhookVerifier,
    generate_api_key,
    hash_api_key,
    key_fingerprint,
)

BODY = json.dumps(
    {"id": "4f1c", "name": "OrderCreated", "retailerId": "1", "attributes": {"total": 12.5}}, separators=(",", ":")
).encode()
NOW = 1_800_000_000.0


def _service() -> WebhookService:
    """The sandbox's signer; its signing and key export only touch the key, not the sandbox state."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return WebhookService(state=cast(Any, None), private_key_pem=pem)


@pytest.fixture(scope="module")
def signer() -> WebhookService:
    return _service()


@pytest.fixture(scope="module")
def rotated() -> WebhookService:
    return _service()


def fluent(public_key: str | None, *, legacy: bool = False) -> WebhookVerifier:
    return WebhookVerifier.from_config(FluentSignatureConfig(public_key=public_key, legacy_md5=legacy))


def _fails(result: VerificationResult, reason: Reason) -> None:
    assert not result.ok
    assert result.reason == reason
    assert result.algorithm is None and result.key_id is None


# ---------------------------------------------------------------------------------------------- Fluent RSA


def test_valid_sha512_signature_passes(signer: WebhookService) -> None:
    result = fluent(signer.public_key_b64).verify(BODY, {"fluent-signature": signer.sign(BODY, "sha512")})
    assert result.ok and result.reason is Reason.OK and str(result.reason) == "ok"
    assert result.method == "fluent" and result.algorithm == "rsa-sha512" and result.header == "fluent-signature"
    assert result.key_id == key_fingerprint(signer.public_key_b64)[:16]


@pytest.mark.parametrize("header", ["fluent-signature", "x-fluent-signature", "fluent_signature"])
@pytest.mark.parametrize("case", [str.lower, str.upper, str.title])
def test_header_aliases_match_case_insensitively(signer: WebhookService, header: str, case: Any) -> None:
    result = fluent(signer.public_key_b64).verify(BODY, {case(header): signer.sign(BODY, "sha512")})
    assert result.ok, result


def test_pem_and_bare_base64_keys_both_accepted(signer: WebhookService) -> None:
    headers = {"fluent-signature": signer.sign(BODY, "sha512")}
    escaped = signer.public_key_pem.replace("\n", "\\n")  # as pasted into an env var
    wrapped = "\n".join(signer.public_key_b64[i : i + 64] for i in range(0, len(signer.public_key_b64), 64))
    for key in (signer.public_key_pem, signer.public_key_b64, escaped, wrapped):
        assert fluent(key).verify(BODY, headers).ok
    assert key_fingerprint(signer.public_key_pem) == key_fingerprint(signer.public_key_b64)


def test_tampered_body_fails(signer: WebhookService) -> None:
    headers = {"fluent-signature": signer.sign(BODY, "sha512")}
    tampered = BODY.replace(b"{", b'{"tampered":true,', 1)
    _fails(fluent(signer.public_key_b64).verify(tampered, headers), Reason.BAD_SIGNATURE)


def test_reserialised_json_fails_original_bytes_pass(signer: WebhookService) -> None:
    """R54: same meaning, different bytes -> refused."""
    headers = {"fluent-signature": signer.sign(BODY, "sha512")}
    verifier = fluent(signer.public_key_b64)
    assert verifier.verify(BODY, headers).ok
    _fails(verifier.verify(json.dumps(json.loads(BODY)).encode(), headers), Reason.BAD_SIGNATURE)


def test_wrong_key_fails(signer: WebhookService) -> None:
    headers = {"fluent-signature": signer.sign(BODY, "sha512", wrong_key=True)}
    _fails(fluent(signer.public_key_b64).verify(BODY, headers), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize(
    "garbled",
    ["not base64 at all!!", "%%%%", "QUJD", "A" * 9000, "QUJD=QUJD", "ü"],
)
def test_garbled_signature_is_malformed(signer: WebhookService, garbled: str) -> None:
    result = fluent(signer.public_key_b64).verify(BODY, {"fluent-signature": garbled})
    _fails(result, Reason.MALFORMED_SIGNATURE)
    assert garbled not in repr(result)


def test_truncated_signature_is_malformed(signer: WebhookService) -> None:
    signature = base64.b64decode(signer.sign(BODY, "sha512"))[:-1]
    result = fluent(signer.public_key_b64).verify(BODY, {"fluent-signature": base64.b64encode(signature).decode()})
    _fails(result, Reason.MALFORMED_SIGNATURE)


@pytest.mark.parametrize("headers", [{}, {"content-type": "application/json"}, {"fluent-signature": ""}])
def test_missing_signature_fails(signer: WebhookService, headers: dict[str, str]) -> None:
    _fails(fluent(signer.public_key_b64).verify(BODY, headers), Reason.MISSING_SIGNATURE)


@pytest.mark.parametrize("key", [None, "", "   "])
def test_no_key_configured_refuses_even_valid_signatures(signer: WebhookService, key: str | None) -> None:
    headers = {"fluent-signature": signer.sign(BODY, "sha512")}
    _fails(fluent(key).verify(BODY, headers), Reason.NO_KEY_CONFIGURED)
    _fails(WebhookVerifier.from_config(None).verify(BODY, headers), Reason.NO_KEY_CONFIGURED)


def test_rotated_key_takes_effect_at_once(signer: WebhookService, rotated: WebhookService) -> None:
    old = {"fluent-signature": signer.sign(BODY, "sha512")}
    new = {"fluent-signature": rotated.sign(BODY, "sha512")}
    before = fluent(signer.public_key_b64)
    assert before.verify(BODY, old).ok
    after = fluent(rotated.public_key_pem)  # new config, new verifier; the old key was cached already
    assert after.verify(BODY, new).ok
    _fails(after.verify(BODY, old), Reason.BAD_SIGNATURE)
    assert key_fingerprint(signer.public_key_b64) != key_fingerprint(rotated.public_key_b64)
    # the reference keyed its cache on the first 20 base64 characters, which every RSA-2048 key shares
    assert signer.public_key_b64[:20] == rotated.public_key_b64[:20]


def test_md5_legacy_only_when_enabled(signer: WebhookService) -> None:
    md5 = signer.sign(BODY, "md5")
    for name in ("flex.signature", "Flex-Signature", "FLEX_SIGNATURE"):
        _fails(fluent(signer.public_key_b64).verify(BODY, {name: md5}), Reason.LEGACY_DISABLED)
        result = fluent(signer.public_key_b64, legacy=True).verify(BODY, {name: md5})
        assert result.ok and result.algorithm == "rsa-md5"


def test_md5_is_a_real_md5_digest(signer: WebhookService) -> None:
    """The reference verified "MD5withRSA" with SHA-1; a SHA-1 signature must not pass as legacy."""
    key = signer._key
    sha1 = base64.b64encode(key.sign(BODY, padding.PKCS1v15(), hashes.SHA1())).decode()
    _fails(fluent(signer.public_key_b64, legacy=True).verify(BODY, {"flex.signature": sha1}), Reason.BAD_SIGNATURE)


def test_sha512_preferred_and_md5_never_rescues_it(signer: WebhookService) -> None:
    verifier = fluent(signer.public_key_b64, legacy=True)
    both = {"fluent-signature": signer.sign(BODY, "sha512"), "flex.signature": signer.sign(BODY, "md5")}
    assert verifier.verify(BODY, both).algorithm == "rsa-sha512"
    bad_sha = {**both, "fluent-signature": signer.sign(BODY, "sha512", wrong_key=True)}
    _fails(verifier.verify(BODY, bad_sha), Reason.BAD_SIGNATURE)
    tampered = BODY + b" "
    _fails(verifier.verify(tampered, {"flex.signature": signer.sign(BODY, "md5")}), Reason.BAD_SIGNATURE)


def test_conflicting_signature_headers_are_refused(signer: WebhookService) -> None:
    good = signer.sign(BODY, "sha512")
    other = signer.sign(BODY + b"x", "sha512")
    result = fluent(signer.public_key_b64).verify(BODY, {"fluent-signature": good, "X-Fluent-Signature": other})
    _fails(result, Reason.AMBIGUOUS_SIGNATURE)
    same = fluent(signer.public_key_b64).verify(BODY, {"fluent-signature": good, "Fluent-Signature": good})
    assert same.ok


@pytest.mark.parametrize(
    "key",
    [
        "not a key",
        "-----BEGIN PUBLIC KEY-----\nQUJD\n-----END PUBLIC KEY-----",
        "-----BEGIN RSA PRIVATE KEY-----\nQUJD\n-----END RSA PRIVATE KEY-----",
        "-----BEGIN PUBLIC KEY-----\nQUJD",
    ],
)
def test_unusable_configured_key_is_a_config_error(key: str) -> None:
    with pytest.raises(ValidationError):
        FluentSignatureConfig(public_key=key)


def test_small_rsa_key_is_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    pem = small.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with pytest.raises(ValidationError):
        FluentSignatureConfig(public_key=pem)


def test_from_mapping_and_config_is_frozen(signer: WebhookService) -> None:
    verifier = WebhookVerifier.from_config({"kind": "fluent", "public_key": signer.public_key_b64})
    assert verifier.verify(BODY, {"fluent-signature": signer.sign(BODY, "sha512")}).ok
    assert isinstance(verifier.config, FluentSignatureConfig)
    with pytest.raises(ValidationError):
        cast(Any, verifier.config).legacy_md5 = True
    with pytest.raises(ValidationError):
        WebhookVerifier.from_config({"kind": "smoke-signals"})


def test_bad_input_never_raises(signer: WebhookService) -> None:
    verifier = fluent(signer.public_key_b64)
    weird: Any = {b"fluent-signature": b"\xff\xfe", "x": 3}
    _fails(verifier.verify(BODY, weird), Reason.MALFORMED_SIGNATURE)
    _fails(verifier.verify(cast(bytes, "text body"), {}), Reason.MALFORMED_BODY)
    ok = verifier.verify(bytearray(BODY), {"fluent-signature": signer.sign(BODY, "sha512")})  # type: ignore[arg-type]
    assert ok.ok


# --------------------------------------------------------------------------------------------- HMAC-SHA256

SECRET = "whsec-unit-test-secret-value"


def _mac(message: bytes, encoding: str = "hex") -> str:
    digest = hmac.new(SECRET.encode(), message, hashlib.sha256).digest()
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()


def hmac_verifier(**kwargs: Any) -> WebhookVerifier:
    return WebhookVerifier.from_config(HmacSignatureConfig(secret=SECRET, **kwargs))  # type: ignore[arg-type]


@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_hmac_valid_and_tampered(encoding: str) -> None:
    verifier = hmac_verifier(encoding=encoding)
    result = verifier.verify(BODY, {"X-Webhook-Signature": _mac(BODY, encoding)})
    assert result.ok and result.algorithm == "hmac-sha256" and result.method == "hmac"
    _fails(verifier.verify(BODY + b" ", {"x-webhook-signature": _mac(BODY, encoding)}), Reason.BAD_SIGNATURE)


def test_hmac_hex_is_case_insensitive_and_encoding_is_enforced() -> None:
    assert hmac_verifier().verify(BODY, {"x-webhook-signature": _mac(BODY).upper()}).ok
    _fails(hmac_verifier().verify(BODY, {"x-webhook-signature": _mac(BODY, "base64")}), Reason.MALFORMED_SIGNATURE)
    _fails(
        hmac_verifier(encoding="base64").verify(BODY, {"x-webhook-signature": _mac(BODY)}),
        Reason.MALFORMED_SIGNATURE,
    )


def test_hmac_wrong_secret_missing_and_no_secret() -> None:
    wrong = hmac.new(b"another-secret", BODY, hashlib.sha256).hexdigest()
    _fails(hmac_verifier().verify(BODY, {"x-webhook-signature": wrong}), Reason.BAD_SIGNATURE)
    _fails(hmac_verifier().verify(BODY, {}), Reason.MISSING_SIGNATURE)
    for config in (HmacSignatureConfig(), HmacSignatureConfig(secret="")):  # type: ignore[arg-type]
        _fails(
            WebhookVerifier.from_config(config).verify(BODY, {"x-webhook-signature": _mac(BODY)}),
            Reason.NO_KEY_CONFIGURED,
        )


def test_hmac_custom_header_and_prefix() -> None:
    verifier = hmac_verifier(header="X-Hub-Signature-256", signature_prefix="sha256=")
    assert verifier.verify(BODY, {"x-hub-signature-256": "sha256=" + _mac(BODY)}).ok
    _fails(verifier.verify(BODY, {"x-hub-signature-256": _mac(BODY)}), Reason.MALFORMED_SIGNATURE)
    _fails(verifier.verify(BODY, {"x-webhook-signature": "sha256=" + _mac(BODY)}), Reason.MISSING_SIGNATURE)


def _stamped(ts: float | str, *, sign_ts: str | None = None) -> dict[str, str]:
    stamp = str(int(ts)) if isinstance(ts, float) else ts
    signed = stamp if sign_ts is None else sign_ts
    return {"X-Webhook-Signature": _mac(signed.encode() + b"." + BODY), "X-Webhook-Timestamp": stamp}


@pytest.mark.parametrize("offset", [0.0, -299.0, 299.0])
def test_hmac_timestamp_inside_tolerance_accepted(offset: float) -> None:
    verifier = hmac_verifier(timestamp_header="x-webhook-timestamp", tolerance_seconds=300)
    assert verifier.verify(BODY, _stamped(NOW + offset), now=NOW).ok


@pytest.mark.parametrize(("offset", "reason"), [(-301.0, Reason.STALE_TIMESTAMP), (301.0, Reason.FUTURE_TIMESTAMP)])
def test_hmac_timestamp_outside_tolerance_refused(offset: float, reason: Reason) -> None:
    verifier = hmac_verifier(timestamp_header="x-webhook-timestamp", tolerance_seconds=300)
    _fails(verifier.verify(BODY, _stamped(NOW + offset), now=NOW), reason)


def test_hmac_replay_with_fresh_timestamp_fails_signature() -> None:
    """The MAC covers the timestamp, so refreshing it on a captured request breaks the signature."""
    verifier = hmac_verifier(timestamp_header="x-webhook-timestamp")
    captured = _stamped(NOW - 3600)
    replayed = {**captured, "X-Webhook-Timestamp": str(int(NOW))}
    _fails(verifier.verify(BODY, replayed, now=NOW), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, Reason.MISSING_TIMESTAMP),
        ("yesterday", Reason.MALFORMED_TIMESTAMP),
        ("nan", Reason.MALFORMED_TIMESTAMP),
        ("inf", Reason.MALFORMED_TIMESTAMP),
    ],
)
def test_hmac_bad_timestamps(value: str | None, reason: Reason) -> None:
    verifier = hmac_verifier(timestamp_header="x-webhook-timestamp")
    headers = _stamped(NOW)
    if value is None:
        del headers["X-Webhook-Timestamp"]
    else:
        headers["X-Webhook-Timestamp"] = value
    _fails(verifier.verify(BODY, headers, now=NOW), reason)


def test_hmac_millisecond_timestamps_and_default_clock() -> None:
    verifier = hmac_verifier(timestamp_header="x-webhook-timestamp", timestamp_unit="ms")
    assert verifier.verify(BODY, _stamped(str(int(NOW * 1000))), now=NOW).ok
    _fails(verifier.verify(BODY, _stamped(str(int((NOW - 600) * 1000))), now=NOW), Reason.STALE_TIMESTAMP)
    # now=None uses the wall clock
    wall = hmac_verifier(timestamp_header="x-webhook-timestamp")
    assert wall.verify(BODY, _stamped(datetime.now(UTC).timestamp())).ok
    _fails(wall.verify(BODY, _stamped(datetime.now(UTC).timestamp() - 3600)), Reason.STALE_TIMESTAMP)


def test_hmac_secret_never_shown() -> None:
    config = HmacSignatureConfig(secret=SECRET)  # type: ignore[arg-type]
    assert SECRET not in repr(config) and SECRET not in str(config.model_dump())
    result = hmac_verifier().verify(BODY, {"x-webhook-signature": _mac(b"other")})
    assert SECRET not in repr(result) and _mac(b"other") not in repr(result)


# ------------------------------------------------------------------------------------------------ API keys


@pytest.fixture(scope="module")
def api_keys() -> dict[str, str]:
    return {"live": generate_api_key("shop_1"), "old": generate_api_key("shop_1"), "bare": generate_api_key()}


def api_verifier(keys: dict[str, str], header: str = "x-api-key") -> WebhookVerifier:
    return WebhookVerifier.from_config(
        ApiKeyAuthConfig(
            header=header,
            keys=(
                ApiKeyEntry(name="live", sha256=hash_api_key(keys["live"])),
                ApiKeyEntry(name="old", sha256=hash_api_key(keys["old"]), expires_at=datetime.fromtimestamp(NOW, UTC)),
                ApiKeyEntry(name="bare", sha256=hash_api_key(keys["bare"]).upper()),
            ),
        )
    )


def test_generated_api_key_format() -> None:
    key = generate_api_key("my shop!")
    prefix, _, hexpart = key.rpartition("_")
    assert prefix == "fc_myshop" and len(hexpart) == 64 and int(hexpart, 16) >= 0
    assert len(generate_api_key()) == 64
    assert generate_api_key("x" * 40).startswith("fc_" + "x" * 20 + "_")
    with pytest.raises(ValueError):
        generate_api_key("!!!")


def test_api_key_valid(api_keys: dict[str, str]) -> None:
    verifier = api_verifier(api_keys)
    result = verifier.verify(BODY, {"X-API-Key": api_keys["live"]}, now=NOW)
    assert result.ok and result.method == "api_key" and result.key_id == "live"
    assert verifier.verify(BODY, {"x-api-key": api_keys["bare"]}, now=NOW).key_id == "bare"
    assert verifier.verify(BODY, {"x-api-key": api_keys["old"]}, now=NOW - 1).key_id == "old"


def test_api_key_invalid(api_keys: dict[str, str]) -> None:
    verifier = api_verifier(api_keys)
    _fails(verifier.verify(BODY, {"x-api-key": generate_api_key("shop_1")}, now=NOW), Reason.UNKNOWN_API_KEY)
    _fails(verifier.verify(BODY, {}, now=NOW), Reason.MISSING_API_KEY)
    for garbage in ("fc_shop_1_abc", api_keys["live"].upper(), "fc__" + "a" * 64, api_keys["live"] + "0", "x" * 500):
        _fails(verifier.verify(BODY, {"x-api-key": garbage}, now=NOW), Reason.MALFORMED_API_KEY)


def test_api_key_expired_and_revoked(api_keys: dict[str, str]) -> None:
    _fails(api_verifier(api_keys).verify(BODY, {"x-api-key": api_keys["old"]}, now=NOW), Reason.EXPIRED_KEY)
    revoked = WebhookVerifier.from_config(
        ApiKeyAuthConfig(keys=(ApiKeyEntry(name="r", sha256=hash_api_key(api_keys["live"]), revoked=True),))
    )
    _fails(revoked.verify(BODY, {"x-api-key": api_keys["live"]}, now=NOW), Reason.REVOKED_KEY)


def test_api_key_expiry_uses_wall_clock_by_default(api_keys: dict[str, str]) -> None:
    past = datetime.now(UTC) - timedelta(seconds=5)
    verifier = WebhookVerifier.from_config(
        ApiKeyAuthConfig(keys=(ApiKeyEntry(name="p", sha256=hash_api_key(api_keys["live"]), expires_at=past),))
    )
    _fails(verifier.verify(BODY, {"x-api-key": api_keys["live"]}), Reason.EXPIRED_KEY)


def test_api_key_bearer_header(api_keys: dict[str, str]) -> None:
    verifier = api_verifier(api_keys, header="Authorization")
    assert verifier.verify(BODY, {"authorization": f"Bearer {api_keys['live']}"}, now=NOW).ok
    _fails(verifier.verify(BODY, {"AUTHORIZATION": f"Basic {api_keys['live']}"}, now=NOW), Reason.MALFORMED_API_KEY)


def test_api_key_config_rules(api_keys: dict[str, str]) -> None:
    _fails(
        WebhookVerifier.from_config(ApiKeyAuthConfig()).verify(BODY, {"x-api-key": api_keys["live"]}),
        Reason.NO_KEY_CONFIGURED,
    )
    with pytest.raises(ValidationError):
        ApiKeyEntry(name="plain", sha256=api_keys["live"])  # a key, not a hash
    with pytest.raises(ValidationError):
        ApiKeyEntry(name="naive", sha256=hash_api_key(api_keys["live"]), expires_at=datetime(2030, 1, 1))
    entry = ApiKeyEntry(name="live", sha256=hash_api_key(api_keys["live"]))
    assert hash_api_key(api_keys["live"]) not in repr(entry)
