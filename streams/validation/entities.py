"""Pydantic models of the payloads fluentsync sends to Fluent (fluent-api.md §5.4, §6.2).

They are strict on purpose: Fluent rejects a batch entity whose ``qty`` is ``"12.5"`` per entity, days
later, in a batch status; rejecting it here puts the record in the dead-letter topic at once with a
precise reason (R18). Types are exact (``StrictInt`` for quantities: no ``"12"`` -> 12 coercion; the
mapping's resolvers do conversions explicitly), and unknown fields are refused unless a workflow allows
them, so a mapping that emits ``productRef`` instead of ``skuRef`` fails loudly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationInfo, field_validator

__all__ = ["ENTITY_MODELS", "EventPayload", "InventoryEntity"]

NonEmpty = Annotated[StrictStr, Field(min_length=1)]


class InventoryEntity(BaseModel):
    """One entity of a Batch API ``INVENTORY`` ``UPSERT`` (fluent-api.md §5.4)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    skuRef: NonEmpty
    locationRef: NonEmpty
    type: StrictStr | None = None  #: LAST_ON_HAND (snapshot) or DELTA
    qty: StrictInt
    status: StrictStr | None = None  #: ACTIVE / INACTIVE
    correctedQty: StrictInt | None = None
    reservedQty: StrictInt | None = None
    retailerId: StrictInt | StrictStr | None = None
    ref: StrictStr | None = None
    expectedOn: StrictStr | None = None  #: ISO-8601
    attributes: dict[StrictStr, StrictStr] | None = None
    uom: StrictStr | None = None
    lot: StrictStr | None = None
    expiry: StrictStr | None = None
    effectiveFrom: StrictStr | None = None
    inventoryId: StrictStr | None = None

    @field_validator("expectedOn", "expiry", "effectiveFrom")
    @classmethod
    def _iso_8601(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"not an ISO-8601 date-time: {value!r}") from None
        return value

    @field_validator("qty")
    @classmethod
    def _absolute_qty(cls, value: int, info: ValidationInfo) -> int:
        # ``type`` is declared before ``qty`` so that it is known here.
        if value < 0 and info.data.get("type") in (None, "LAST_ON_HAND"):
            raise ValueError("qty must be >= 0 for an absolute (LAST_ON_HAND) quantity")
        return value


class EventPayload(BaseModel):
    """An Event API payload (fluent-api.md §6.2); ``attributes`` is an object map, never ``data``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: NonEmpty
    entityType: NonEmpty
    entityRef: StrictStr | None = None
    entityId: StrictStr | StrictInt | None = None
    entitySubtype: StrictStr | None = None
    rootEntityType: StrictStr | None = None
    rootEntityRef: StrictStr | None = None
    rootEntityId: StrictStr | StrictInt | None = None
    retailerId: NonEmpty
    attributes: dict[StrictStr, Any] | None = None
    type: StrictStr | None = None
    source: StrictStr | None = None

    def model_post_init(self, context: Any) -> None:
        if not self.entityRef and self.entityId is None:
            raise ValueError("an event needs entityRef or entityId")


#: entity type name (as configured on a workflow target) -> model
ENTITY_MODELS: dict[str, type[BaseModel]] = {"INVENTORY": InventoryEntity, "EVENT": EventPayload}
