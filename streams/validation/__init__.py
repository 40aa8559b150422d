"""Validation of target payloads before they are batched: typed models plus configurable rules.

- :mod:`~fluentsync.streams.validation.entities` — pydantic models of what Fluent accepts (the INVENTORY
  batch entity, Event API payloads).
- :mod:`~fluentsync.streams.validation.rules` — per-workflow rules: required fields (``0`` is a value),
  ranges, patterns, allowed values.
- :class:`EntityValidator` runs both and returns the cleaned payload or the list of problems.
"""

from fluentsync.streams.validation.entities import ENTITY_MODELS, EventPayload, InventoryEntity
from fluentsync.streams.validation.rules import RuleSet
from fluentsync.streams.validation.validator import EntityValidator, ValidationOutcome

__all__ = ["ENTITY_MODELS", "EntityValidator", "EventPayload", "InventoryEntity", "RuleSet", "ValidationOutcome"]
