"""Client configuration: environment variables (``FLUENT_*``), optionally completed by a CLI profile.

Why pydantic-settings: each setting is declared once, with its env var, type, bounds and docstring
(design.md §7), and secrets are ``SecretStr`` so they print as ``**********`` in reprs and validation
errors.

Precedence: explicit constructor arguments, then ``FLUENT_*`` environment variables, then the Fluent
CLI profile named by ``FLUENT_PROFILE`` (see :mod:`.profiles`) for whatever is still unset.

Checks (fluent-api.md §1, §2.1; sdk-parity.md §1): the base URL is http(s), loses one trailing ``/``
and must not already end in an API path (``/graphql``, ``/oauth/token``, ``/api/v4.1…``); the client id
matches ``[A-Za-z0-9_-]+``; the secret has ≥ 8 characters; id and secret come together, as do username
and password. Missing credentials are *not* an error here: the token manager raises a clear
:class:`~fluentsync.connectors.fluent.errors.FluentConfigError` on first use, so a settings object
can be built for tooling that never calls Fluent.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import FluentConfigError
from .profiles import load_profile
from .retry import RetryPolicy
from .timeouts import MAX_TIMEOUT, Timeouts

__all__ = ["FluentSettings", "normalise_base_url"]

_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_API_SUFFIX = re.compile(r"(?i)/(graphql|oauth(/token)?|api(/v[0-9.]+)?(/(job|event)\b.*)?)$")


def normalise_base_url(value: str) -> str:
    """Validate an account base URL and strip one trailing slash (fluent-api.md §1)."""
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FluentConfigError(f"Fluent base URL must be an absolute http(s) URL, got {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise FluentConfigError("Fluent base URL must not carry credentials, a query or a fragment")
    if url.endswith("/"):
        url = url[:-1]
    if _API_SUFFIX.search(urlsplit(url).path):
        raise FluentConfigError(
            f"Fluent base URL must be the account root, not an API path: {url!r} "
            "(drop the trailing /graphql, /oauth/token or /api/… part)"
        )
    return url


class FluentSettings(BaseSettings):
    """Everything the Fluent client needs. Durations are seconds."""

    model_config = SettingsConfigDict(env_prefix="FLUENT_", extra="ignore", validate_default=True)

    base_url: str | None = None
    """Account root, e.g. ``https://acme.api.fluentcommerce.com`` (FLUENT_BASE_URL)."""
    client_id: str | None = None
    client_secret: SecretStr | None = None
    username: str | None = None
    """With ``password``: the password grant; without: client credentials."""
    password: SecretStr | None = None
    retailer_id: str | None = None
    """Kept as a string (fluent-api.md §3.2); required before Job and Event calls."""

    profile: str | None = None
    """Fluent CLI profile name; fills whatever the fields above leave unset (FLUENT_PROFILE)."""
    profile_retailer: str | None = None
    """Retailer ref inside the profile (``retailer.<REF>.json``) (FLUENT_PROFILE_RETAILER)."""
    profile_dir: Path | None = None
    """Default ``$FLUENT_PROFILE_DIR`` or ``~/.fluentcommerce`` (FLUENT_PROFILE_DIR)."""

    connect_timeout: float = Field(default=10.0, gt=0, le=MAX_TIMEOUT)
    read_timeout: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT)
    token_timeout: float = Field(default=30.0, gt=0, le=MAX_TIMEOUT)
    graphql_timeout: float = Field(default=60.0, gt=0, le=MAX_TIMEOUT)
    event_sync_timeout: float = Field(default=30.0, gt=0, le=MAX_TIMEOUT)
    event_async_timeout: float = Field(default=15.0, gt=0, le=MAX_TIMEOUT)
    event_read_timeout: float = Field(default=30.0, gt=0, le=MAX_TIMEOUT)
    job_timeout: float = Field(default=300.0, gt=0, le=MAX_TIMEOUT)

    max_retries: int = Field(default=3, ge=0, le=10)
    rate_limit_max_retries: int = Field(default=3, ge=0, le=10)
    max_auth_retries: int = Field(default=3, ge=0, le=10)
    base_retry_delay: float = Field(default=1.0, ge=0.1, le=60)
    max_retry_delay: float = Field(default=10.0, ge=1, le=60)
    max_auth_retry_delay: float = Field(default=5.0, ge=0.5, le=30)
    retry_jitter: Literal["full", "proportional", "none"] = "full"
    max_retry_after: float = Field(default=60.0, ge=0, le=MAX_TIMEOUT)
    token_expiry_buffer: float = Field(default=60.0, ge=0, le=300)

    user_agent: str = "fluentsync-fluent-client/0.1"

    @field_validator("retailer_id", mode="before")
    @classmethod
    def _retailer_as_string(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(int(value))
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("client_id")
    @classmethod
    def _check_client_id(cls, value: str | None) -> str | None:
        if value is not None and not _CLIENT_ID.match(value):
            raise ValueError("client id must match [A-Za-z0-9_-]+")
        return value

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.profile:
            self._fill_from_profile()
        if self.base_url is not None:
            self.base_url = normalise_base_url(self.base_url)
        # Checked here, not in a field validator: pydantic's ValidationError would echo the raw input.
        if self.client_secret is not None and len(self.client_secret.get_secret_value()) < 8:
            raise FluentConfigError("Fluent client secret must have at least 8 characters")
        if (self.client_id is None) != (self.client_secret is None):
            raise FluentConfigError("Fluent client id and client secret must be given together")
        if (self.username is None) != (self.password is None):
            raise FluentConfigError("Fluent username and password must be given together")
        return self

    def _fill_from_profile(self) -> None:
        assert self.profile is not None
        prof = load_profile(self.profile, retailer=self.profile_retailer, profile_dir=self.profile_dir)
        explicit = self.model_fields_set
        fill: dict[str, Any] = {
            "base_url": prof.base_url,
            "client_id": prof.client_id,
            "client_secret": prof.client_secret,
            "username": prof.username,
            "password": prof.password,
        }
        if prof.retailer_id is not None:
            fill["retailer_id"] = prof.retailer_id
        for key, value in fill.items():
            if key not in explicit or getattr(self, key) is None:
                object.__setattr__(self, key, value)
        if not _CLIENT_ID.match(self.client_id or ""):
            raise FluentConfigError(f"Fluent profile {self.profile!r}: client id must match [A-Za-z0-9_-]+")

    def timeouts(self) -> Timeouts:
        """The :class:`Timeouts` these settings describe."""
        return Timeouts(
            connect=self.connect_timeout,
            read=self.read_timeout,
            token=self.token_timeout,
            graphql=self.graphql_timeout,
            event_sync=self.event_sync_timeout,
            event_async=self.event_async_timeout,
            event_read=self.event_read_timeout,
            job=self.job_timeout,
        )

    def retry_policy(self) -> RetryPolicy:
        """The :class:`RetryPolicy` these settings describe."""
        return RetryPolicy(
            max_retries=self.max_retries,
            rate_limit_max_retries=self.rate_limit_max_retries,
            max_auth_retries=self.max_auth_retries,
            base_delay=self.base_retry_delay,
            max_delay=max(self.max_retry_delay, self.base_retry_delay),
            max_auth_delay=self.max_auth_retry_delay,
            jitter=self.retry_jitter,
            max_retry_after=self.max_retry_after,
        )

    def require_base_url(self) -> str:
        """The validated base URL, or a :class:`FluentConfigError` naming the env var."""
        if not self.base_url:
            raise FluentConfigError("Fluent base URL is not configured (set FLUENT_BASE_URL or FLUENT_PROFILE)")
        return self.base_url
