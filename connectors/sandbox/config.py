"""Configuration of the Fluent sandbox.

Two layers, because they change at different times:

* :class:`SandboxConfig` is fixed for the life of a server: where it listens, which credentials it
  accepts and how big the seeded dataset is. The CLI options map onto it one to one.
* :class:`SandboxSettings` are the behaviour switches that tests flip at run time through
  ``POST /_sandbox/settings`` (strict or lenient, status dialect, processing delays, flag-driven
  faults). ``POST /_sandbox/reset`` puts them back to the values the server was started with.

Every default here is documented in ``docs/sandbox.md``; keep the two in step.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "DEFAULT_UPDATED_FROM",
    "DEFAULT_UPDATED_TO",
    "SandboxConfig",
    "SandboxSettings",
    "StatusDialect",
]

StatusDialect = Literal["fluent", "docs"]

#: The seeded ``updatedOn`` values are spread evenly over this window (fixed, so data is deterministic).
DEFAULT_UPDATED_FROM = datetime(2025, 1, 1, tzinfo=UTC)
DEFAULT_UPDATED_TO = datetime(2025, 7, 1, tzinfo=UTC)


class SandboxSettings(BaseModel):
    """Behaviour switches that can change while the server runs (``POST /_sandbox/settings``)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    strict: bool = Field(
        default=True,
        description="Reject what real Fluent is believed to reject (e.g. selecting pageInfo.endCursor, "
        "page sizes above the cap, unknown event keys). False switches on the lenient variants.",
    )
    status_dialect: StatusDialect = Field(
        default="fluent",
        description="'fluent': job OPEN/CLOSED, batch PENDING/RUNNING/COMPLETE. "
        "'docs': job PROCESSING/COMPLETED, batch PENDING/PROCESSING/COMPLETED/FAILED.",
    )
    numeric_ids: bool = Field(default=False, description="Answer job, batch and event ids as JSON numbers.")
    bpp_enabled: bool = Field(
        default=True,
        description="Account setting fc.enable.batch.preprocessing: unchanged inventory is counted "
        "as 'unchanged' and not re-applied (job meta.preprocessing='skip' turns it off per job).",
    )
    batch_pending_delay: float = Field(default=0.2, ge=0, description="Seconds a batch stays PENDING.")
    batch_running_delay: float = Field(default=0.3, ge=0, description="Seconds a batch stays RUNNING.")
    batch_stuck: bool = Field(default=False, description="Batches never leave RUNNING (poll time-out tests).")
    job_lifetime: float | None = Field(
        default=None, gt=0, description="Close jobs this many seconds after creation (besides UTC midnight)."
    )
    close_jobs_at_midnight: bool = Field(default=True, description="Close jobs at the next UTC midnight.")
    closed_job_status: int = Field(default=400, ge=400, le=499, description="HTTP status for a batch to a closed job.")
    max_batch_entities: int = Field(default=5000, ge=1, description="Entities per batch above which the POST is 400.")
    max_batch_bytes: int = Field(default=10 * 1024 * 1024, ge=1, description="Body bytes above which a batch is 400.")
    allowed_entity_types: list[str] = Field(default=["INVENTORY"], description="Batch entityType allow-list.")
    event_delay: float = Field(default=0.05, ge=0, description="Seconds before an async event leaves PENDING.")
    accept_unknown_events: bool = Field(
        default=False, description="Accept event names that no rule in the registry matches (success)."
    )
    page_size_default: int = Field(default=100, ge=1, description="GraphQL page size when first/last is absent.")
    page_size_max: int = Field(default=250, ge=1, description="GraphQL page-size cap (above: error, or clamp).")
    complexity_limit: int | None = Field(
        default=None,
        ge=1,
        description="Reject GraphQL queries whose page size x nesting depth exceeds this (C0001E).",
    )
    latency_ms: float = Field(default=0, ge=0, description="Latency added to every Fluent route.")
    error_rate: float = Field(default=0, ge=0, le=1, description="Fraction of Fluent calls answered with a 5xx.")
    error_status: int = Field(default=503, ge=500, le=599, description="Status used by error_rate.")
    rate_limit: float = Field(default=0, ge=0, description="Requests per second per token; 0 = unlimited.")
    rate_limit_burst: int = Field(default=10, ge=1, description="Token-bucket burst size for rate_limit.")
    graphql_rate_limit_mode: Literal["C0011E", "429"] = Field(
        default="C0011E", description="How GraphQL reports an exceeded rate limit: an error code or HTTP 429."
    )

    @field_validator("allowed_entity_types")
    @classmethod
    def _upper(cls, value: list[str]) -> list[str]:
        return [v.upper() for v in value]


class SandboxConfig(BaseModel):
    """Everything a sandbox server is started with. The defaults are the documented CLI defaults."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="Interface to listen on (loopback by default).")
    port: int = Field(default=8081, ge=0, le=65535, description="TCP port; 0 picks a free port.")
    client_id: str = Field(default="fluentsync-sandbox", pattern=r"^[A-Za-z0-9_-]+$")
    client_secret: str = Field(default="sandbox-secret", min_length=8)
    username: str = Field(default="sandbox-user", min_length=1)
    password: str = Field(default="sandbox-password", min_length=1)
    retailer_id: str = Field(default="1", min_length=1, description="The account's retailer id (a string).")
    account_id: str = Field(default="SANDBOX", description="accountId reported in event logs and webhooks.")
    seed_orders: int = Field(default=300, ge=0, description="Orders in the default dataset.")
    seed_products: int = Field(default=50, ge=1, description="Products in the default dataset.")
    seed_locations: int = Field(default=8, ge=1, description="Locations in the default dataset.")
    updated_from: datetime = Field(default=DEFAULT_UPDATED_FROM, description="Start of the seeded updatedOn spread.")
    updated_to: datetime = Field(default=DEFAULT_UPDATED_TO, description="End of the seeded updatedOn spread.")
    token_ttl: int = Field(default=3600, ge=1, description="Access-token lifetime in seconds (expires_in).")
    random_seed: int = Field(default=20250101, description="Seed for fraction faults and generated data.")
    webhook_key_pem: str | None = Field(
        default=None, description="PEM RSA private key for signing webhooks; generated at start when absent."
    )
    hang_max: float = Field(default=600, gt=0, description="Upper bound in seconds for a 'hang' fault.")
    settings: SandboxSettings = Field(default_factory=SandboxSettings)

    @field_validator("updated_from", "updated_to")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)
