"""How ``send_batch`` puts the caller's entities into the Batch API body (fluent-api.md §5.4).

Pinned: an entity's own ``retailerId`` wins over the stamp (whatever its value), an entity without one
gets the job's (a number when all digits), the caller's entities are never changed, and the body is
byte for byte what the earlier copy-every-entity code sent (``legacy_body`` spells that code out).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import httpx
import pytest

from fluentsync import jsonbytes

from .fakes import FakeFluent, make_client

BASE = {"locationRef": "L1", "skuRef": "S1", "qty": 3, "attributes": {"bin": "A-1"}}


def legacy_body(entities: Sequence[Mapping[str, Any]], stamped: int | str | None) -> bytes:
    """The body as send_batch built it before entities stopped being copied one by one."""
    payload: dict[str, Any] = {"action": "UPSERT", "entityType": "INVENTORY", "source": "fluentsync",
                               "event": "InventoryChanged"}
    if stamped is not None:
        payload["entities"] = [dict(e) if "retailerId" in e else {**e, "retailerId": stamped} for e in entities]
    else:
        payload["entities"] = [dict(e) for e in entities]
    return jsonbytes.dumps_strict(payload)


def entities() -> list[Mapping[str, Any]]:
    return [
        dict(BASE),                                            # none: stamped
        {**BASE, "retailerId": 1},                             # the same one (our mapper's common case)
        {**BASE, "retailerId": "9"},                           # another one: kept, as a string
        {"retailerId": None, **BASE},                          # present but null: kept, in its place
        MappingProxyType({**BASE, "skuRef": "S2"}),            # not a dict, none: stamped
        MappingProxyType({**BASE, "retailerId": 4}),           # not a dict, its own: kept
    ]


async def sent_body(batch: Sequence[Mapping[str, Any]], *, retailer_id: str = "1", stamp: bool = True) -> bytes:
    fake = FakeFluent()
    fake.routes["/api/v4.1/job/7/batch"] = lambda r: httpx.Response(200, json={"id": 1, "status": "PENDING"})
    async with make_client(fake, retailer_id=retailer_id) as client:
        await client.jobs.send_batch("7", batch, stamp_retailer_id=stamp)
    (request,) = fake.api_requests("/api/v4.1/job/7/batch")
    return request.content


@pytest.mark.parametrize(("retailer_id", "stamp", "stamped"), [("1", True, 1), ("acme-eu", True, "acme-eu"),
                                                               ("1", False, None)])
async def test_body_is_what_the_copying_code_sent(retailer_id: str, stamp: bool, stamped: int | str | None) -> None:
    batch = entities()
    assert await sent_body(batch, retailer_id=retailer_id, stamp=stamp) == legacy_body(batch, stamped)


async def test_own_retailer_id_wins_and_missing_ones_are_stamped() -> None:
    sent = jsonbytes.loads(await sent_body(entities()))["entities"]
    assert [e.get("retailerId", "absent") for e in sent] == [1, 1, "9", None, 1, 4]
    assert list(sent[0]) == [*BASE, "retailerId"]  # appended after the entity's own fields
    assert next(iter(sent[3])) == "retailerId"  # an entity's own field keeps its place


async def test_the_callers_entities_are_not_changed() -> None:
    batch = entities()
    before = copy.deepcopy([dict(e) for e in batch])
    await sent_body(batch)
    await sent_body(batch, stamp=False)
    assert [dict(e) for e in batch] == before
    assert "retailerId" not in batch[0] and "retailerId" not in batch[4]
