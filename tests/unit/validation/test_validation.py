"""Payload validation: strict INVENTORY entities, event payloads, and workflow rules (R18, R19)."""

from __future__ import annotations

import pytest

from fluentsync.streams.validation import EntityValidator, RuleSet

GOOD = {"skuRef": "SKU-1", "locationRef": "LOC-1", "qty": 0, "type": "LAST_ON_HAND", "status": "ACTIVE",
        "retailerId": 1}


def test_a_good_entity_passes_and_zero_is_a_quantity() -> None:
    outcome = EntityValidator("INVENTORY").validate(GOOD)
    assert outcome.ok and outcome.payload == GOOD and outcome.problems == []


@pytest.mark.parametrize("qty", ["12.5", "abc", "12", 12.5, None, True])
def test_a_non_integer_qty_is_rejected(qty: object) -> None:
    outcome = EntityValidator("INVENTORY").validate({**GOOD, "qty": qty})
    assert not outcome.ok
    assert [p.field for p in outcome.problems] == ["qty"]
    assert outcome.problems[0].stage == "VALIDATE"


def test_missing_and_empty_required_fields() -> None:
    outcome = EntityValidator("INVENTORY").validate({"skuRef": "", "qty": 1})
    assert {p.field for p in outcome.problems} == {"skuRef", "locationRef"}


def test_unknown_fields_need_explicit_permission() -> None:
    shaped = {**GOOD, "productRef": "P-1"}
    refused = EntityValidator("INVENTORY").validate(shaped)
    assert not refused.ok and refused.problems[0].field == "productRef"
    allowed = EntityValidator("INVENTORY", allow_extra_fields=True).validate(shaped)
    assert allowed.ok and allowed.payload is not None and allowed.payload["productRef"] == "P-1"


def test_negative_absolute_qty_and_bad_dates() -> None:
    outcome = EntityValidator("INVENTORY").validate({**GOOD, "qty": -1, "expectedOn": "next tuesday"})
    assert {p.field for p in outcome.problems} == {"qty", "expectedOn"}
    assert EntityValidator("INVENTORY").validate({**GOOD, "type": "DELTA", "qty": -3}).ok


def test_rules_required_ranges_patterns_allowed() -> None:
    rules = RuleSet(required=["status"], ranges={"qty": {"min": 0, "max": 1000}},
                    patterns={"skuRef": "^[A-Z0-9-]+$"}, allowed={"status": ["ACTIVE", "INACTIVE"]})
    validator = EntityValidator("INVENTORY", rules)
    assert validator.validate(GOOD).ok
    outcome = validator.validate({**GOOD, "qty": 5000, "skuRef": "sku 1", "status": "MAYBE"})
    assert {(p.field, p.code) for p in outcome.problems} == {("qty", "range"), ("skuRef", "pattern"),
                                                           ("status", "allowed")}
    missing = validator.validate({k: v for k, v in GOOD.items() if k != "status"})
    assert [(p.field, p.code) for p in missing.problems] == [("status", "required")]


def test_bad_rule_configuration() -> None:
    with pytest.raises(ValueError, match="invalid regular expression"):
        RuleSet(patterns={"ref": "("})
    with pytest.raises(ValueError, match="no payload model"):
        EntityValidator("PRODUCT")


def test_event_payloads() -> None:
    validator = EntityValidator("EVENT")
    good = {"name": "OrderCancel", "entityType": "ORDER", "entityRef": "O-1", "retailerId": "1"}
    assert validator.validate(good).ok
    assert not validator.validate({**good, "data": {"x": 1}}).ok  # attributes, never data
    no_entity = validator.validate({"name": "X", "entityType": "ORDER", "retailerId": "1"})
    assert not no_entity.ok and "entityRef or entityId" in no_entity.problems[0].message
