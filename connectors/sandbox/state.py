"""Everything one sandbox server remembers, in one object.

Tests assert directly on this object (``sandbox.state.store.orders`` …) and the admin API reads and
resets it, so all mutable pieces hang off :class:`SandboxState` rather than module globals: two servers
in one process never share data.
"""

from __future__ import annotations

import gc
import random
from datetime import datetime
from typing import Any

from .auth import TokenStore
from .clock import Clock
from .config import SandboxConfig, SandboxSettings
from .events import EventService
from .faults import FaultRegistry, RateLimiter
from .jobs import JobService
from .seed import SeedSpec, build_store
from .store import Record, Store
from .webhooks import WebhookService

__all__ = ["SandboxState"]


class SandboxState:
    """The live state of one sandbox: data, tokens, jobs, events, faults, logs and settings."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.settings: SandboxSettings = config.settings.model_copy(deep=True)
        self.clock = Clock()
        self.tokens = TokenStore(config.token_ttl)
        self.faults = FaultRegistry(config.random_seed)
        self.rng = random.Random(config.random_seed)
        self.rate_limiter = RateLimiter()
        #: one entry per Fluent-route call: {route, method, path, status, at, fault_id?}
        self.request_log: list[dict[str, Any]] = []
        #: one entry per executed GraphQL mutation field: {mutation, alias, input, at, ok, id?, error?}
        self.mutations: list[dict[str, Any]] = []
        self.seed_spec = self.default_seed_spec()
        self.store: Store = _build(self.seed_spec)
        self.jobs = JobService(self)
        self.events = EventService(self)
        self.webhooks = WebhookService(self, config.webhook_key_pem)
        self.graphql_requests = 0

    def default_seed_spec(self, orders: int | None = None) -> SeedSpec:
        c = self.config
        return SeedSpec(
            orders=c.seed_orders if orders is None else orders,
            products=c.seed_products,
            locations=c.seed_locations,
            updated_from=c.updated_from,
            updated_to=c.updated_to,
            retailer_id=c.retailer_id,
            random_seed=c.random_seed,
        )

    def fmt_id(self, value: int) -> str | int:
        """How job and batch ids go on the wire (strings unless ``numeric_ids``)."""
        return value if self.settings.numeric_ids else str(value)

    def reset(self, orders: int | None = None) -> None:
        """Forget everything (tokens, jobs, events, faults, logs, settings, clock) and re-seed."""
        self.settings = self.config.settings.model_copy(deep=True)
        self.clock.reset()
        self.tokens = TokenStore(self.config.token_ttl)
        self.faults = FaultRegistry(self.config.random_seed)
        self.rng = random.Random(self.config.random_seed)
        self.rate_limiter.clear()
        self.request_log.clear()
        self.mutations.clear()
        self.jobs.reset()
        self.events.reset()
        self.webhooks.reset()
        self.graphql_requests = 0
        self.reseed(self.default_seed_spec(orders))

    def reseed(self, spec: SeedSpec) -> None:
        """Replace the dataset (jobs, events and tokens are kept)."""
        self.seed_spec = spec
        self.store = _build(spec)

    def stop(self) -> None:
        self.jobs.stop()
        self.events.reset()

    def inspect(self) -> dict[str, Any]:
        batches = self.jobs.batches.values()
        return {
            "jobs": len(self.jobs.jobs),
            "batches": len(self.jobs.batches),
            "batches_pending": sum(1 for b in batches if b.status not in ("COMPLETE", "FAILED")),
            "entities": sum(len(b.entities) for b in batches),
            "entities_applied": self.jobs.entities_applied,
            "entity_errors": sum(b.failed for b in batches),
            "events": len(self.events.log),
            "mutations": len(self.mutations),
            "graphql_requests": self.graphql_requests,
            "requests": len(self.request_log),
            "faults": len(self.faults.snapshot()),
            "webhooks_delivered": len(self.webhooks.deliveries),
            **self.tokens.stats(),
            "clock": self.clock.now().isoformat(),
            "store": self.store.counts(),
        }

    def upsert_product(self, product: dict[str, Any], now: datetime) -> Record:
        """Create or update a product from an event or mutation payload (by ref)."""
        products = self.store.products
        existing = products.first_by_ref(str(product["ref"]))
        fields = {k: v for k, v in product.items() if k in _PRODUCT_FIELDS}
        if "prices" in fields and isinstance(fields["prices"], list) and fields["prices"]:
            first = fields["prices"][0]
            if isinstance(first, dict) and first.get("value") is not None:
                fields["price"] = first["value"]
        if existing is None:
            catalogue = next(iter(self.store.catalogues["product"].values()), None)
            record: Record = {
                "name": None,
                "summary": None,
                "gtin": None,
                "type": "STANDARD",
                "status": "ACTIVE",
                "price": None,
                "prices": [],
                "attributes": [],
                "catalogue": catalogue,
                "retailerId": self.config.retailer_id,
                **fields,
            }
            return products.add(record, now)
        existing.update(fields)
        products.touch(existing, now)
        return existing


_PRODUCT_FIELDS = frozenset({"ref", "name", "summary", "gtin", "type", "status", "prices", "attributes"})


def _build(spec: SeedSpec) -> Store:
    # Seeding creates many small dicts; the cyclic GC has nothing to find in them and slows it down.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return build_store(spec)
    finally:
        if enabled:
            gc.enable()
