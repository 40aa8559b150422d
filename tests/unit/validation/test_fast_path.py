"""The validator's fast path answers exactly as pydantic does: same payloads accepted, same result."""

from __future__ import annotations

import random
from typing import Any

import pytest

from fluentsync.streams.validation import ENTITY_MODELS, EntityValidator, RuleSet
from fluentsync.streams.validation.fast import FAST_CHECKS


class Text(str):
    """A str subclass: pydantic's business, never the fast path's."""


#: values tried for every field: valid for some fields, invalid for others, and the awkward ones
POOL: list[Any] = [None, "", "x", "ACTIVE", "LAST_ON_HAND", "DELTA", "2024-06-01T10:00:00Z", "2024-06-01",
                   "next tuesday", 0, 7, -3, 10**30, True, False, 1.5, 12.0, "12", {"a": "b"}, {"a": 1}, {}, [],
                   Text("t")]


def payloads(model_fields: list[str], count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    good = {"skuRef": "SKU-1", "locationRef": "LOC-1", "qty": 3}
    made = []
    for _ in range(count):
        payload = {k: v for k, v in good.items() if rng.random() < 0.9}
        for name in rng.sample(model_fields, rng.randint(0, 5)):
            payload[name] = rng.choice(POOL)
        if rng.random() < 0.05:
            payload["productRef"] = "P-1"
        items = list(payload.items())
        rng.shuffle(items)
        made.append(dict(items))
    return made


@pytest.mark.parametrize("entity_type", sorted(FAST_CHECKS))
def test_a_fast_check_lists_its_models_fields_in_order(entity_type: str) -> None:
    assert list(FAST_CHECKS[entity_type].fields) == list(ENTITY_MODELS[entity_type].model_fields)


@pytest.mark.parametrize("entity_type", sorted(FAST_CHECKS))
def test_the_fast_path_accepts_only_what_the_model_accepts_and_dumps_the_same(entity_type: str) -> None:
    check, model = FAST_CHECKS[entity_type], ENTITY_MODELS[entity_type]
    accepted = 0
    for payload in payloads(list(model.model_fields), 5000, seed=5):
        fast = check(payload)
        if fast is None:
            continue
        accepted += 1
        dumped = model.model_validate(payload).model_dump(exclude_unset=True)
        assert fast == dumped and list(fast) == list(dumped), payload
        assert all(fast[k] is not payload[k] for k, v in payload.items() if isinstance(v, dict))
    assert accepted > 500  # the fast path is taken for ordinary payloads


def test_validator_outcomes_are_the_same_with_and_without_the_fast_path() -> None:
    rules = RuleSet(ranges={"qty": {"min": 0, "max": 100}}, allowed={"status": ["ACTIVE", "INACTIVE", None]})
    fast = EntityValidator("INVENTORY", rules)
    slow = EntityValidator("INVENTORY", rules)
    slow.fast = None
    assert fast.fast is not None
    for payload in payloads(list(ENTITY_MODELS["INVENTORY"].model_fields), 3000, seed=11):
        a, b = fast.validate(payload), slow.validate(payload)
        assert a.payload == b.payload and (a.payload is None or list(a.payload) == list(b.payload)), payload
        assert a.problems == b.problems, payload


def test_extra_fields_always_go_through_pydantic() -> None:
    assert EntityValidator("INVENTORY", allow_extra_fields=True).fast is None
    assert EntityValidator("EVENT").fast is None
