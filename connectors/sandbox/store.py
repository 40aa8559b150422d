"""The sandbox's in-memory data model.

Entities are plain dictionaries whose keys are the GraphQL field names (``ref``, ``updatedOn`` …), so
the GraphQL engine's default resolver reads them without glue code and the admin API can dump them as
JSON. Links between entities are stored as ids (``orderId``, ``customerId``) and resolved on demand,
which keeps the graph free of cycles.

Why a :class:`Collection` with its own index: every connection in Fluent is paged in a deterministic
order, and paging 250 nodes must not cost a sort of the whole dataset. Each collection keeps one list of
``(updatedOn in µs, id)`` keys sorted at all times (``bisect`` on write), so a page is a binary search
plus a short scan, and an ``updatedOn`` range filter is two binary searches. The same pair is what a
cursor encodes, so cursors stay valid when other entities are inserted or updated concurrently.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from .clock import format_datetime

__all__ = [
    "Collection",
    "Record",
    "SortKey",
    "Store",
    "inventory_key",
    "to_micros",
]

#: An entity: a JSON-compatible dict keyed by GraphQL field names, with an ``id`` (int).
Record = dict[str, Any]
#: ``(updatedOn in microseconds since the epoch, id)``: the paging order of every collection.
SortKey = tuple[int, int]


def to_micros(value: datetime) -> int:
    """Microseconds since the epoch (exact, unlike ``timestamp() * 1e6``)."""
    delta = value - datetime(1970, 1, 1, tzinfo=value.tzinfo)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _millis(value: datetime) -> datetime:
    """Timestamps are kept to the millisecond, the precision Fluent's wire format shows."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


@lru_cache(maxsize=256)
def _stamp(value: datetime) -> tuple[str, int]:
    """``(wire text, µs since the epoch)`` of ``value`` cut to the millisecond. Cached: a batch stamps
    thousands of entities with one ``now``, and formatting was a fifth of the sandbox's CPU per entity."""
    value = _millis(value)
    return format_datetime(value), to_micros(value)


def inventory_key(retailer_id: str, catalogue_ref: str, location_ref: str, sku_ref: str) -> tuple[str, ...]:
    """The identity of an inventory position, as the Batch API upserts it."""
    return (str(retailer_id), catalogue_ref, location_ref, sku_ref)


class Collection:
    """All entities of one type, indexed by id, by ref and in ``(updatedOn, id)`` order."""

    def __init__(self, name: str, index_fields: tuple[str, ...] = ()) -> None:
        self.name = name
        self._index_fields = index_fields
        self._by_field: dict[str, dict[str, list[int]]] = {f: {} for f in index_fields}
        self._by_id: dict[int, Record] = {}
        self._by_ref: dict[str, list[int]] = {}
        self._keys: list[SortKey] = []
        self._key_of: dict[int, SortKey] = {}
        self._next_id = 1

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Record]:
        return iter(self._by_id.values())

    @property
    def keys(self) -> list[SortKey]:
        """The sorted paging index (read-only by convention)."""
        return self._keys

    def new_id(self) -> int:
        nid = self._next_id
        self._next_id += 1
        return nid

    def add(self, record: Record, updated_on: datetime, created_on: datetime | None = None) -> Record:
        """Insert ``record`` (an ``id`` is assigned when missing) with the given timestamps."""
        if "id" not in record:
            record["id"] = self.new_id()
        else:
            self._next_id = max(self._next_id, int(record["id"]) + 1)
        rid = int(record["id"])
        updated, micros = _stamp(updated_on)
        record["createdOn"] = _stamp(created_on)[0] if created_on is not None else updated
        record["updatedOn"] = updated
        self._by_id[rid] = record
        ref = record.get("ref")
        if ref is not None:
            self._by_ref.setdefault(str(ref), []).append(rid)
        for name in self._index_fields:
            self._by_field[name].setdefault(str(record.get(name)), []).append(rid)
        key = (micros, rid)
        self._key_of[rid] = key
        keys = self._keys
        if not keys or key > keys[-1]:  # the common case: newest last (an insort in the middle moves the tail)
            keys.append(key)
        else:
            bisect.insort(keys, key)
        return record

    def touch(self, record: Record, updated_on: datetime) -> None:
        """Set ``updatedOn`` and move the record to its new place in the paging order."""
        rid = int(record["id"])
        updated, micros = _stamp(updated_on)
        old = self._key_of[rid]
        index = bisect.bisect_left(self._keys, old)
        if index < len(self._keys) and self._keys[index] == old:
            del self._keys[index]
        key = (micros, rid)
        self._key_of[rid] = key
        keys = self._keys
        if not keys or key > keys[-1]:
            keys.append(key)
        else:
            bisect.insort(keys, key)
        record["updatedOn"] = updated

    def reindex_ref(self, record: Record, old_ref: str | None) -> None:
        """Call after changing ``record['ref']``."""
        rid = int(record["id"])
        if old_ref is not None and old_ref in self._by_ref:
            self._by_ref[old_ref] = [i for i in self._by_ref[old_ref] if i != rid]
        self._by_ref.setdefault(str(record["ref"]), []).append(rid)

    def get(self, rid: int | str | None) -> Record | None:
        if rid is None:
            return None
        try:
            return self._by_id.get(int(rid))
        except (TypeError, ValueError):
            return None

    def by_ref(self, ref: str) -> list[Record]:
        return [self._by_id[i] for i in self._by_ref.get(ref, ())]

    def first_by_ref(self, ref: str, where: Callable[[Record], bool] | None = None) -> Record | None:
        for record in self.by_ref(ref):
            if where is None or where(record):
                return record
        return None

    def by_field(self, name: str, value: str) -> list[Record]:
        """Records whose (immutable) ``name`` field equals ``value``; ``name`` must be an index field."""
        return [self._by_id[i] for i in self._by_field[name].get(value, ())]

    def key_of(self, record: Record) -> SortKey:
        return self._key_of[int(record["id"])]

    def keys_for_refs(self, refs: Iterable[str]) -> list[SortKey]:
        """Sorted paging keys of the records with any of ``refs`` (for ref-filtered connections)."""
        found = {self._key_of[i] for ref in refs for i in self._by_ref.get(ref, ())}
        return sorted(found)

    def record_at(self, key: SortKey) -> Record:
        return self._by_id[key[1]]


@dataclass
class Store:
    """Every entity collection of one sandbox account, plus the lookup indexes the APIs need."""

    retailer_id: str
    orders: Collection = field(default_factory=lambda: Collection("orders"))
    fulfilments: Collection = field(default_factory=lambda: Collection("fulfilments"))
    products: Collection = field(default_factory=lambda: Collection("products"))
    locations: Collection = field(default_factory=lambda: Collection("locations"))
    customers: Collection = field(default_factory=lambda: Collection("customers"))
    inventory_positions: Collection = field(default_factory=lambda: Collection("inventoryPositions", ("productRef",)))
    inventory_quantities: Collection = field(default_factory=lambda: Collection("inventoryQuantities"))
    virtual_positions: Collection = field(default_factory=lambda: Collection("virtualPositions"))
    controls: Collection = field(default_factory=lambda: Collection("controls"))
    control_groups: Collection = field(default_factory=lambda: Collection("controlGroups"))
    #: catalogue ref -> catalogue record, one dict per kind ("inventory", "virtual", "product")
    catalogues: dict[str, dict[str, Record]] = field(
        default_factory=lambda: {"inventory": {}, "virtual": {}, "product": {}}
    )
    #: inventory_key(...) -> position id
    position_index: dict[tuple[str, ...], int] = field(default_factory=dict)
    #: position id -> {quantity type: quantity id}
    quantity_index: dict[int, dict[str, int]] = field(default_factory=dict)
    #: (virtual catalogue ref, product ref, group ref) -> virtual position id
    virtual_index: dict[tuple[str, str, str], int] = field(default_factory=dict)
    #: order item id -> (order id, index in the order's items)
    order_item_index: dict[int, tuple[int, int]] = field(default_factory=dict)
    next_item_id: int = 1

    def retailer(self) -> Record:
        return {
            "id": self.retailer_id,
            "ref": f"RETAILER-{self.retailer_id}",
            "tradingName": "Sandbox Retail",
        }

    def counts(self) -> dict[str, int]:
        return {
            "orders": len(self.orders),
            "fulfilments": len(self.fulfilments),
            "products": len(self.products),
            "locations": len(self.locations),
            "customers": len(self.customers),
            "inventoryPositions": len(self.inventory_positions),
            "inventoryQuantities": len(self.inventory_quantities),
            "virtualPositions": len(self.virtual_positions),
            "controls": len(self.controls),
            "controlGroups": len(self.control_groups),
        }

    def new_item_id(self) -> int:
        nid = self.next_item_id
        self.next_item_id += 1
        return nid

    # -- inventory (shared by the Batch API, the mutations and the seed) ----------------------------

    def upsert_inventory(
        self,
        *,
        catalogue_ref: str,
        location_ref: str,
        sku_ref: str,
        qty: int,
        status: str,
        now: datetime,
        ref: str | None = None,
        quantity_type: str = "LAST_ON_HAND",
        expected_on: str | None = None,
        extra_quantities: dict[str, int] | None = None,
        retailer_id: str | None = None,
    ) -> tuple[Record, bool]:
        """Create or update one inventory position and its quantities.

        Returns the position and whether anything changed. ``qty`` is the absolute on-hand value.
        """
        catalogue = self.inventory_catalogue(catalogue_ref)
        key = inventory_key(retailer_id or self.retailer_id, catalogue_ref, location_ref, sku_ref)
        pid = self.position_index.get(key)
        position = self.inventory_positions.get(pid)
        changed = False
        if position is None:
            position = {
                "ref": ref or f"{location_ref}:{sku_ref}",
                "productRef": sku_ref,
                "locationRef": location_ref,
                "onHand": qty,
                "qty": qty,
                "type": "DEFAULT",
                "status": status,
                "catalogue": catalogue,
                "retailerId": retailer_id or self.retailer_id,
            }
            self.inventory_positions.add(position, now)
            self.position_index[key] = int(position["id"])
            changed = True
        elif position["onHand"] != qty or position["status"] != status:
            position["onHand"] = qty
            position["qty"] = qty
            position["status"] = status
            self.inventory_positions.touch(position, now)
            changed = True
        quantities = {quantity_type: qty, **(extra_quantities or {})}
        for qtype, value in quantities.items():
            changed |= self._upsert_quantity(position, qtype, value, status, now, expected_on)
        if changed:
            self.refresh_virtual_positions(sku_ref, now)
        return position, changed

    def _upsert_quantity(
        self, position: Record, qtype: str, value: int, status: str, now: datetime, expected_on: str | None
    ) -> bool:
        pid = int(position["id"])
        by_type = self.quantity_index.setdefault(pid, {})
        quantity = self.inventory_quantities.get(by_type.get(qtype))
        if quantity is None:
            quantity = {
                "ref": f"{position['ref']}:{qtype}",
                "productRef": position["productRef"],
                "locationRef": position["locationRef"],
                "qty": value,
                "type": qtype,
                "condition": "NEW",
                "status": status,
                "storageAreaRef": None,
                "expectedOn": expected_on,
                "catalogue": position["catalogue"],
                "positionId": pid,
                "retailerId": position.get("retailerId", self.retailer_id),
            }
            self.inventory_quantities.add(quantity, now)
            by_type[qtype] = int(quantity["id"])
            return True
        if quantity["qty"] == value and quantity["status"] == status and quantity["expectedOn"] == expected_on:
            return False
        quantity["qty"] = value
        quantity["status"] = status
        quantity["expectedOn"] = expected_on
        self.inventory_quantities.touch(quantity, now)
        return True

    def position_for(
        self, catalogue_ref: str, location_ref: str, sku_ref: str, retailer_id: str | None = None
    ) -> Record | None:
        pid = self.position_index.get(
            inventory_key(retailer_id or self.retailer_id, catalogue_ref, location_ref, sku_ref)
        )
        return self.inventory_positions.get(pid)

    def inventory_catalogue(self, ref: str) -> Record:
        catalogues = self.catalogues["inventory"]
        if ref not in catalogues:
            catalogues[ref] = {
                "id": len(catalogues) + 1,
                "ref": ref,
                "name": f"Inventory catalogue {ref}",
                "type": ref.split(":", 1)[0],
                "status": "ACTIVE",
            }
        return catalogues[ref]

    def refresh_virtual_positions(self, product_ref: str, now: datetime) -> None:
        """Recompute the ``ALL`` virtual position of a product in every virtual catalogue."""
        if not self.catalogues["virtual"]:
            return
        total = sum(
            int(p["onHand"])
            for p in self.inventory_positions.by_field("productRef", product_ref)
            if p["status"] == "ACTIVE"
        )
        for vref, vcat in self.catalogues["virtual"].items():
            vid = self.virtual_index.get((vref, product_ref, "ALL"))
            vp = self.virtual_positions.get(vid)
            if vp is None:
                vp = {
                    "ref": f"{vref}:{product_ref}",
                    "productRef": product_ref,
                    "groupRef": "ALL",
                    "locationRef": None,
                    "quantity": total,
                    "type": "AVAILABLE_TO_SELL",
                    "status": "ACTIVE",
                    "catalogue": vcat,
                    "locationLink": None,
                    "retailerId": self.retailer_id,
                }
                self.virtual_positions.add(vp, now)
                self.virtual_index[(vref, product_ref, "ALL")] = int(vp["id"])
            elif vp["quantity"] != total:
                vp["quantity"] = total
                self.virtual_positions.touch(vp, now)
