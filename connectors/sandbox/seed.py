"""Deterministic seed data.

Tests assert on counts and on ``updatedOn`` windows, so the dataset is a pure function of its
parameters: no wall-clock time and no unseeded randomness. ``updatedOn`` values of each entity type are
spread evenly over ``[updated_from, updated_to)``: entity ``i`` of ``n`` is updated at
``updated_from + i * (updated_to - updated_from) / n``, which lets a test compute how many orders fall in
any window. Refs are stable and readable (``ORD-000001``, ``SKU-0001``, ``LOC-01``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from .config import DEFAULT_UPDATED_FROM, DEFAULT_UPDATED_TO
from .store import Record, Store

__all__ = ["SeedSpec", "build_store", "location_ref", "order_ref", "product_ref"]

_ORDER_STATUSES = ("CREATED", "BOOKED", "PICK_PACK", "AWAITING_COLLECTION", "COMPLETE", "CANCELLED")
_FULFILMENT_STATUS = {
    "CREATED": "CREATED",
    "BOOKED": "AWAITING_WAVE",
    "PICK_PACK": "AWAITING_WAVE",
    "AWAITING_COLLECTION": "PICKED",
    "COMPLETE": "FULFILLED",
    "CANCELLED": "REJECTED",
}
_CITIES = (
    ("Sydney", "NSW", "2000", "AUS"),
    ("Melbourne", "VIC", "3000", "AUS"),
    ("London", "LDN", "EC1A", "GBR"),
    ("New York", "NY", "10001", "USA"),
    ("Toronto", "ON", "M5H", "CAN"),
)
_FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim")
_LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman")
_LOCATION_TYPES = ("WAREHOUSE", "STORE", "STORE", "DC")


def order_ref(i: int) -> str:
    return f"ORD-{i + 1:06d}"


def product_ref(i: int) -> str:
    return f"SKU-{i + 1:04d}"


def location_ref(i: int) -> str:
    return f"LOC-{i + 1:02d}"


@dataclass(frozen=True)
class SeedSpec:
    """Size and time spread of a seeded dataset."""

    orders: int = 300
    products: int = 50
    locations: int = 8
    updated_from: datetime = DEFAULT_UPDATED_FROM
    updated_to: datetime = DEFAULT_UPDATED_TO
    retailer_id: str = "1"
    random_seed: int = 20250101


def _spread(spec: SeedSpec, i: int, n: int) -> datetime:
    span = spec.updated_to - spec.updated_from
    return spec.updated_from + span * i / max(n, 1)


def build_store(spec: SeedSpec) -> Store:
    """A fresh :class:`Store` holding the dataset described by ``spec``."""
    rng = random.Random(spec.random_seed)
    store = Store(retailer_id=spec.retailer_id)
    retailer = spec.retailer_id
    inv_cat = store.inventory_catalogue(f"DEFAULT:{retailer}")
    store.catalogues["product"][f"PC:MASTER:{retailer}"] = {
        "id": 1,
        "ref": f"PC:MASTER:{retailer}",
        "name": "Master catalogue",
        "type": "MASTER",
        "status": "ACTIVE",
    }
    store.catalogues["virtual"][f"BASE:{retailer}"] = {
        "id": 1,
        "ref": f"BASE:{retailer}",
        "name": "Base virtual catalogue",
        "type": "BASE",
        "status": "ACTIVE",
    }
    product_cat = store.catalogues["product"][f"PC:MASTER:{retailer}"]

    for i in range(spec.locations):
        city, state, postcode, country = _CITIES[i % len(_CITIES)]
        store.locations.add(
            {
                "ref": location_ref(i),
                "name": f"{city} {_LOCATION_TYPES[i % len(_LOCATION_TYPES)].title()} {i + 1}",
                "type": _LOCATION_TYPES[i % len(_LOCATION_TYPES)],
                "status": "ACTIVE",
                "retailerId": retailer,
                "primaryAddress": {
                    "ref": f"{location_ref(i)}-ADDR",
                    "name": f"Location {i + 1}",
                    "companyName": None,
                    "street": f"{i + 1} Fulfilment Way",
                    "street2": None,
                    "city": city,
                    "state": state,
                    "postcode": postcode,
                    "region": None,
                    "country": country,
                    "latitude": -33.86 + i * 0.1,
                    "longitude": 151.2 + i * 0.1,
                    "timeZone": "UTC",
                },
                "openingSchedule": {"allHours": i % 4 == 0, **_weekday_hours(800, 1800)},
                "attributes": [],
            },
            _spread(spec, i, spec.locations),
        )

    for i in range(spec.products):
        price = round(5 + rng.random() * 195, 2)
        store.products.add(
            {
                "ref": product_ref(i),
                "name": f"Product {i + 1}",
                "summary": f"Seeded product number {i + 1}",
                "gtin": f"{9300000000000 + i:013d}",
                "type": "VARIANT" if i % 5 == 4 else "STANDARD",
                "status": "ACTIVE" if i % 17 else "INACTIVE",
                "price": price,
                "prices": [
                    {
                        "type": "DEFAULT",
                        "value": price,
                        "currency": "AUD",
                        "effectiveFrom": None,
                        "effectiveTo": None,
                        "minQuantity": None,
                        "maxQuantity": None,
                    }
                ],
                "attributes": [{"name": "colour", "type": "STRING", "value": ("red", "green", "blue")[i % 3]}],
                "catalogue": product_cat,
                "retailerId": retailer,
            },
            _spread(spec, i, spec.products),
        )

    n_positions = spec.products * spec.locations
    for p in range(spec.products):
        for loc in range(spec.locations):
            index = p * spec.locations + loc
            when = _spread(spec, index, n_positions)
            store.upsert_inventory(
                catalogue_ref=inv_cat["ref"],
                location_ref=location_ref(loc),
                sku_ref=product_ref(p),
                qty=rng.randrange(0, 200),
                status="ACTIVE",
                now=when,
            )

    n_customers = max(1, min(spec.orders, 100))
    for c in range(n_customers):
        first, last = _FIRST[c % len(_FIRST)], _LAST[c % len(_LAST)]
        store.customers.add(
            {
                "ref": f"CUST-{c + 1:05d}",
                "email": f"{first}.{last}.{c + 1}@example.com".lower(),
                "firstName": first,
                "lastName": last,
                "username": f"cust{c + 1}",
                "retailerId": retailer,
            },
            _spread(spec, c, n_customers),
        )

    for i in range(spec.orders):
        _seed_order(store, spec, i)

    group = store.control_groups.add(
        {"ref": "CG:DEFAULT", "name": "Default control group", "status": "ACTIVE", "controlIds": []},
        spec.updated_from,
    )
    for c, (ctype, value) in enumerate((("EXCLUSION", 0), ("QUANTITY_BUFFER", 2), ("QUANTITY_BUFFER", 5))):
        control = store.controls.add(
            {
                "ref": f"CTRL-{c + 1:03d}",
                "name": f"Control {c + 1}",
                "type": ctype,
                "status": "ACTIVE",
                "executionOrder": c + 1,
                "values": [{"name": "CONTROL_VALUE", "type": "INTEGER", "value": value}],
                "controlGroupRef": group["ref"],
                "virtualCatalogueRef": None,
            },
            _spread(spec, c, 3),
        )
        group["controlIds"].append(control["id"])
    return store


def _weekday_hours(start: int, end: int) -> dict[str, int]:
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    hours: dict[str, int] = {}
    for day in days:
        hours[f"{day}Start"] = start
        hours[f"{day}End"] = end
    return hours


def _seed_order(store: Store, spec: SeedSpec, i: int) -> None:
    updated = _spread(spec, i, spec.orders)
    created = updated - timedelta(hours=i % 48)
    customer = store.customers.get(1 + i % len(store.customers))
    assert customer is not None
    city, state, postcode, country = _CITIES[i % len(_CITIES)]
    status = _ORDER_STATUSES[i % len(_ORDER_STATUSES)]
    items: list[Record] = []
    for k in range(1 + i % 3):
        product = store.products.get(1 + (i * 7 + k) % len(store.products))
        assert product is not None
        quantity = 1 + (i + k) % 4
        price = float(product["price"])
        items.append(
            {
                "id": store.new_item_id(),
                "ref": f"{order_ref(i)}-{k + 1}",
                "productRef": product["ref"],
                "productCatalogueRef": product["catalogue"]["ref"],
                "quantity": quantity,
                "price": price,
                "paidPrice": price,
                "totalPrice": round(price * quantity, 2),
                "taxPrice": round(price * 0.1, 2),
                "totalTaxPrice": round(price * quantity * 0.1, 2),
                "currency": "AUD",
                "status": "ACTIVE",
                "attributes": [],
            }
        )
    total = round(sum(float(it["totalPrice"]) for it in items), 2)
    order = store.orders.add(
        {
            "ref": order_ref(i),
            "type": "HD" if i % 4 else "CC",
            "status": status,
            "retailerId": spec.retailer_id,
            "totalPrice": total,
            "totalTaxPrice": round(total * 0.1, 2),
            "currency": "AUD",
            "customerId": customer["id"],
            "deliveryAddress": {
                "ref": None,
                "name": f"{customer['firstName']} {customer['lastName']}",
                "companyName": None,
                "street": f"{i + 1} Main St",
                "street1": f"{i + 1} Main St",
                "street2": None,
                "city": city,
                "state": state,
                "postcode": postcode,
                "region": None,
                "country": country,
                "latitude": None,
                "longitude": None,
                "timeZone": None,
            },
            "billingAddress": None,
            "items": items,
            "fulfilmentIds": [],
            "attributes": [{"name": "channel", "type": "STRING", "value": "web" if i % 2 else "store"}],
        },
        updated,
        created,
    )
    for k, item in enumerate(items):
        item["orderId"] = order["id"]
        item["createdOn"] = order["createdOn"]
        item["updatedOn"] = order["updatedOn"]
        store.order_item_index[int(item["id"])] = (int(order["id"]), k)
    if i % 10 < 7:
        loc_index = i % len(store.locations)
        location = store.locations.get(1 + loc_index)
        assert location is not None
        shipped = status in ("COMPLETE", "AWAITING_COLLECTION")
        f_items = [
            {
                "id": store.new_item_id(),
                "ref": f"{item['ref']}-F",
                "orderItemId": item["id"],
                "productRef": item["productRef"],
                "requestedQuantity": item["quantity"],
                "filledQuantity": item["quantity"] if shipped else 0,
                "rejectedQuantity": 0,
                "status": "ACTIVE",
            }
            for item in items
        ]
        fulfilment = store.fulfilments.add(
            {
                "ref": f"FUL-{i + 1:06d}",
                "orderId": order["id"],
                "orderRef": order["ref"],
                "status": _FULFILMENT_STATUS[status],
                "type": "HD_WAREHOUSE" if order["type"] == "HD" else "CC_PFS",
                "deliveryType": "STANDARD" if i % 3 else "EXPRESS",
                "trackingNumber": f"TRK{i + 1:08d}" if shipped else None,
                "carrier": ("AUSPOST", "DHL", "FEDEX")[i % 3] if shipped else None,
                "serviceLevel": "STANDARD",
                "shippedOn": order["updatedOn"] if shipped else None,
                "deliveredOn": order["updatedOn"] if status == "COMPLETE" else None,
                "fromLocationRef": location["ref"],
                "fromAddress": location["primaryAddress"],
                "toAddress": order["deliveryAddress"],
                "items": f_items,
                "attributes": [],
            },
            updated + timedelta(seconds=1) if i + 1 < spec.orders else updated,
            created,
        )
        for fi in f_items:
            fi["createdOn"] = fulfilment["createdOn"]
            fi["updatedOn"] = fulfilment["updatedOn"]
        order["fulfilmentIds"].append(fulfilment["id"])
