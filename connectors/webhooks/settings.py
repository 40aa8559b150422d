"""How a workflow receives webhooks: route, authentication, limits, event ids and what happens next.

A webhook workflow's ``source`` is ``{type: webhook, ...}``. The request body is the workflow's "file":
it is parsed with the workflow's ``format`` (JSON or XML), keyed with its ``key`` fields and flows
through the same map → validate → dedupe → target path as records from files. ``deliver:
fluent_events`` is the other direction: Fluent's own orchestration webhooks, verified and published as
``fluentsync.outbound.FluentEvent`` to a public outbound topic, keyed by root entity.

Authentication is required and fails closed: a Fluent signature config without a public key refuses
every request (401), so an incomplete deployment can never accept unsigned traffic.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .verify import VerifierConfig

__all__ = ["EventIdConfig", "WebhookServerConfig", "WebhookSourceConfig"]

_ROUTE = re.compile(r"^/[A-Za-z0-9._~/-]*$")
_HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventIdConfig(_Model):
    """Where a request's event id comes from, in order; the first one present wins.

    Fluent event webhooks carry ``id`` in the body; Fluent workflow "HTTP call" bodies carry none, so
    the ``x-request-id`` header comes next. With neither, the id is the SHA-256 of the body: a sender's
    retry of the same bytes is then recognised, and two different bodies never collide.
    """

    field: str | None = "id"  #: top-level field of a JSON body (dotted path for nested objects)
    header: str | None = "x-request-id"

    @field_validator("header")
    @classmethod
    def _header(cls, value: str | None) -> str | None:
        if value is not None and not _HEADER.match(value):
            raise ValueError(f"not an HTTP header name: {value!r}")
        return None if value is None else value.lower()


class WebhookSourceConfig(_Model):
    """``source: {type: webhook, ...}`` of one workflow."""

    type: Literal["webhook"] = "webhook"
    route: str | None = None  #: URL path; default ``/webhooks/<workflow>``
    auth: VerifierConfig  #: fluent (RSA signatures), hmac or api_key; see connectors/webhooks/verify.py
    max_body_bytes: int = Field(default=1024 * 1024, ge=256, le=64 * 1024 * 1024)
    event_id: EventIdConfig = EventIdConfig()
    dedupe_ttl: float = Field(default=7 * 86_400.0, gt=0)  #: seconds a delivered event id is remembered
    headers: list[str] = Field(default_factory=lambda: ["content-type", "user-agent", "x-request-id"])
    """Request headers kept on the published raw event (lower-cased); signatures and keys never are."""
    deliver: Literal["records", "fluent_events"] = "records"
    outbound_topic: str = "outbound.fluent-events"  #: ``deliver: fluent_events`` only (after the prefix)

    @field_validator("route")
    @classmethod
    def _route(cls, value: str | None) -> str | None:
        if value is not None and (not _ROUTE.match(value) or "//" in value or value.startswith("/_")):
            raise ValueError(f"route must be a plain URL path such as /webhooks/orders, got {value!r}")
        return value if value is None or value == "/" else value.rstrip("/")

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _HEADER.match(name):
                raise ValueError(f"not an HTTP header name: {name!r}")
        return [name.lower() for name in value]

    def route_for(self, workflow: str) -> str:
        return self.route or f"/webhooks/{workflow}"


class WebhookServerConfig(_Model):
    """``webhooks:`` at the top of the pipeline file: where the receiver listens.

    The receiver runs inside ``fluentsync worker`` when any workflow has a webhook source (or alone as
    ``fluentsync webhooks``). ``publish_timeout`` bounds the wait for the broker's acknowledgement: past
    it the sender gets 503 and retries, because a 2xx must never be given for an unsaved webhook.
    """

    in_worker: bool = True  #: false: workers only process webhooks; receivers run as ``fluentsync webhooks``
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    publish_timeout: float = Field(default=10.0, gt=0, le=120)
    recent_ids: int = Field(default=100_000, ge=0)
    """Event ids the receiver remembers in memory to answer a retried delivery without publishing it
    again; the worker's changelog-backed table (``dedupe_ttl``) is the authority beyond that window."""
