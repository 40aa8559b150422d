"""Signed outbound webhooks (fluent-api.md §7).

Fluent signs every webhook with its environment's RSA key: ``fluent-signature`` is SHA512withRSA
(PKCS#1 v1.5) over the exact body bytes, base64-encoded; ``flex.signature`` is the legacy MD5withRSA.
The service's receiver must verify the raw bytes before parsing, so the sandbox signs the bytes it
actually sends and can deliberately break that contract: tamper with the body after signing, sign with
the wrong key, omit the header, or send a workflow "HTTP call" body without ``id``/``name``.

The key pair is generated at start (RSA-2048) unless a PEM private key is configured; the public key is
served as base64 DER SubjectPublicKeyInfo on ``GET /_sandbox/webhook-key``.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import BaseModel, ConfigDict, Field

from .clock import format_datetime

if TYPE_CHECKING:
    from .state import SandboxState

__all__ = ["DeliveryRequest", "Subscription", "WebhookService"]

SignMode = Literal["sha512", "md5", "both", "none"]


class DeliveryRequest(BaseModel):
    """Body of ``POST /_sandbox/webhooks/deliver``."""

    model_config = ConfigDict(extra="forbid")

    url: str
    event: dict[str, Any] = Field(default_factory=dict)
    sign: SignMode = "sha512"
    tamper: bool = Field(default=False, description="Change the body after signing.")
    wrong_key: bool = Field(default=False, description="Sign with a different key than the published one.")
    fill_defaults: bool = Field(
        default=True,
        description="Complete the standard event body (id, accountId, type...); false sends it as is.",
    )
    repeat: int = Field(default=1, ge=1, le=100, description="Deliver the same bytes this many times.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra headers.")
    timeout: float = Field(default=10.0, gt=0)


class Subscription(BaseModel):
    """Deliver a webhook for every event that lands in the log (optionally only some names)."""

    model_config = ConfigDict(extra="forbid")

    url: str
    names: list[str] | None = None
    sign: SignMode = "sha512"


@dataclass
class WebhookService:
    """Signing keys, on-demand delivery and event subscriptions."""

    state: SandboxState
    private_key_pem: str | None = None
    subscriptions: list[Subscription] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.private_key_pem:
            key = serialization.load_pem_private_key(self.private_key_pem.encode(), password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError("webhook key must be an RSA private key")
            self._key = key
        else:
            self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._wrong_key: rsa.RSAPrivateKey | None = None

    def reset(self) -> None:
        self.subscriptions.clear()
        self.deliveries.clear()

    @property
    def public_key_b64(self) -> str:
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    @property
    def public_key_pem(self) -> str:
        return (
            self._key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def sign(self, body: bytes, algorithm: Literal["sha512", "md5"], *, wrong_key: bool = False) -> str:
        key = self._key
        if wrong_key:
            if self._wrong_key is None:
                self._wrong_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            key = self._wrong_key
        digest = hashes.SHA512() if algorithm == "sha512" else hashes.MD5()
        return base64.b64encode(key.sign(body, padding.PKCS1v15(), digest)).decode()

    def standard_body(self, event: dict[str, Any]) -> dict[str, Any]:
        """Fill in the standard Rubix event-webhook fields that ``event`` does not set."""
        defaults: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "name": "SandboxEvent",
            "accountId": self.state.config.account_id,
            "retailerId": self.state.config.retailer_id,
            "entityId": None,
            "entityRef": None,
            "entityType": None,
            "entitySubtype": None,
            "entityStatus": None,
            "rootEntityId": None,
            "rootEntityType": None,
            "rootEntityRef": None,
            "type": "NORMAL",
            "attributes": {},
            "meta": {"generatedOn": format_datetime(self.state.clock.now())},
        }
        return {**defaults, **event}

    async def deliver(self, request: DeliveryRequest) -> dict[str, Any]:
        payload = self.standard_body(request.event) if request.fill_defaults else request.event
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", **request.headers}
        if request.sign in ("sha512", "both"):
            headers["fluent-signature"] = self.sign(body, "sha512", wrong_key=request.wrong_key)
        if request.sign in ("md5", "both"):
            headers["flex.signature"] = self.sign(body, "md5", wrong_key=request.wrong_key)
        sent = body.replace(b"{", b'{"tampered":true,', 1) if request.tamper else body
        attempts: list[dict[str, Any]] = []
        timeout = aiohttp.ClientTimeout(total=request.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for _ in range(request.repeat):
                try:
                    async with session.post(request.url, data=sent, headers=headers) as response:
                        attempts.append({"status": response.status, "body": await response.text()})
                except (aiohttp.ClientError, TimeoutError) as exc:
                    attempts.append({"status": None, "error": f"{type(exc).__name__}: {exc}"})
        record = {
            "url": request.url,
            "payload": payload,
            "body": sent.decode(),
            "headers": headers,
            "attempts": attempts,
            "status": attempts[-1].get("status"),
        }
        self.deliveries.append(record)
        return record

    async def notify(self, entry: dict[str, Any]) -> None:
        """Deliver a webhook for a logged event to every matching subscription."""
        for sub in list(self.subscriptions):
            if sub.names is not None and entry["name"] not in sub.names:
                continue
            ctx = entry["context"]
            event = {
                "id": entry["id"],
                "name": entry["name"],
                "retailerId": entry["retailerId"],
                "entityId": ctx.get("entityId"),
                "entityRef": ctx.get("entityRef"),
                "entityType": ctx.get("entityType"),
                "entitySubtype": ctx.get("entitySubtype"),
                "rootEntityId": ctx.get("rootEntityId"),
                "rootEntityType": ctx.get("rootEntityType"),
                "rootEntityRef": ctx.get("rootEntityRef"),
                "entityStatus": entry["eventStatus"],
                "attributes": entry.get("attributes") if isinstance(entry.get("attributes"), dict) else {},
            }
            await self.deliver(DeliveryRequest(url=sub.url, event=event, sign=sub.sign))
