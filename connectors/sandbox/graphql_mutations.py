"""GraphQL mutation resolvers (fluent-api.md §4.7).

Mutations write to the same store the queries read, so a client can create a location and then find
it with ``locations(ref: …)``. Every executed mutation field, successful or not, is appended to
``state.mutations`` (name, alias, input, outcome) so tests can assert what arrived. Domain errors carry
Fluent codes: ``C0120E`` referenced entity not found, ``C0121E`` already exists, ``C0122E`` invalid
number, ``C0140E`` missing required input. One failing alias leaves the others intact (partial data).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, GraphQLResolveInfo

from .store import Collection, Record

if TYPE_CHECKING:
    from .state import SandboxState

    Info = GraphQLResolveInfo[dict[str, Any]]

__all__ = ["MUTATION_RESOLVERS"]

Resolver = Callable[["SandboxState", dict[str, Any]], Record]


def _error(code: str, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


def _logged(name: str, resolver: Resolver) -> Callable[..., Record | None]:
    def resolve(_root: Any, info: Info, input: dict[str, Any]) -> Record | None:
        state: SandboxState = info.context["state"]
        entry: dict[str, Any] = {"mutation": name, "alias": info.path.key, "input": input, "at": time.time()}
        state.mutations.append(entry)
        try:
            record = resolver(state, input)
        except GraphQLError as exc:
            entry.update(ok=False, error=exc.message, code=(exc.extensions or {}).get("code"))
            raise
        entry.update(ok=True, id=record.get("id"), ref=record.get("ref"))
        return record

    return resolve


def _unique(collection: Collection, ref: str, what: str) -> None:
    if collection.first_by_ref(ref) is not None:
        raise _error("C0121E", f"{what} with ref '{ref}' already exists")


def _find(collection: Collection, data: dict[str, Any], what: str) -> Record:
    if data.get("id") is not None:
        record = collection.get(data["id"])
        if record is None:
            raise _error("C0120E", f"{what} with id '{data['id']}' not found")
        return record
    if data.get("ref") is not None:
        record = collection.first_by_ref(str(data["ref"]))
        if record is None:
            raise _error("C0120E", f"{what} with ref '{data['ref']}' not found")
        return record
    raise _error("C0140E", f"{what} id or ref is required")


def _merge_attributes(existing: list[Record] | None, new: list[Record] | None) -> list[Record]:
    merged = {a["name"]: a for a in existing or []}
    for attribute in new or []:
        merged[attribute["name"]] = {
            "name": attribute["name"],
            "type": attribute.get("type") or "STRING",
            "value": attribute.get("value"),
        }
    return list(merged.values())


def _address(data: dict[str, Any] | None) -> Record | None:
    if data is None:
        return None
    fields = (
        "ref",
        "name",
        "companyName",
        "street",
        "street1",
        "street2",
        "city",
        "state",
        "postcode",
        "region",
        "country",
        "latitude",
        "longitude",
        "timeZone",
    )
    address = {f: data.get(f) for f in fields}
    address["street1"] = address["street1"] or address["street"]
    address["street"] = address["street"] or address["street1"]
    return address


def _check_schedule(schedule: dict[str, Any] | None) -> None:
    for name, value in (schedule or {}).items():
        if name != "allHours" and value is not None and not (0 <= value <= 2359 and value % 100 < 60):
            raise _error("C0122E", f"openingSchedule.{name} must be hhmm between 0 and 2359 (got {value})")


def create_order(state: SandboxState, data: dict[str, Any]) -> Record:
    store = state.store
    now = state.clock.now()
    _unique(store.orders, data["ref"], "Order")
    if str(data["retailer"]["id"]) != state.config.retailer_id:
        raise _error("C0120E", f"Retailer with id '{data['retailer']['id']}' not found")
    customer_key = data["customer"]
    if customer_key.get("id") is not None:
        customer = store.customers.get(customer_key["id"])
        if customer is None:
            raise _error("C0120E", f"Customer with id '{customer_key['id']}' not found")
    else:
        found = store.customers.first_by_ref(str(customer_key["ref"])) if customer_key.get("ref") else None
        customer = found or create_customer(
            state, {k: customer_key.get(k) for k in ("ref", "email", "firstName", "lastName")}
        )
    if not data["items"]:
        raise _error("C0140E", "An order needs at least one item")
    for index, item in enumerate(data["items"]):
        if item["quantity"] <= 0:
            raise _error("C0122E", f"items[{index}].quantity must be positive")
        if item["price"] < 0 or item["totalPrice"] < 0:
            raise _error("C0122E", f"items[{index}] prices must not be negative")
    choices = data.get("fulfilmentChoices") or []
    delivery = _address(choices[0].get("deliveryAddress")) if choices else None
    order = store.orders.add(
        {
            "ref": data["ref"],
            "type": data["type"],
            "status": "CREATED",
            "retailerId": state.config.retailer_id,
            "totalPrice": data["totalPrice"],
            "totalTaxPrice": data.get("totalTaxPrice"),
            "currency": data["currency"],
            "customerId": customer["id"],
            "deliveryAddress": delivery,
            "billingAddress": _address(data.get("billingAddress")),
            "items": [],
            "fulfilmentIds": [],
            "attributes": _merge_attributes(None, data.get("attributes")),
            "fulfilmentChoices": choices,
            "financialTransactions": data.get("financialTransactions") or [],
        },
        now,
    )
    for index, item in enumerate(data["items"]):
        record = {
            "id": store.new_item_id(),
            "orderId": order["id"],
            "status": "ACTIVE",
            "createdOn": order["createdOn"],
            "updatedOn": order["updatedOn"],
            **{
                k: item.get(k)
                for k in (
                    "ref",
                    "productRef",
                    "productCatalogueRef",
                    "quantity",
                    "price",
                    "paidPrice",
                    "totalPrice",
                    "taxPrice",
                    "totalTaxPrice",
                    "currency",
                )
            },
            "attributes": _merge_attributes(None, item.get("attributes")),
        }
        order["items"].append(record)
        store.order_item_index[int(record["id"])] = (int(order["id"]), index)
    return order


def update_order(state: SandboxState, data: dict[str, Any]) -> Record:
    order = _find(state.store.orders, {"id": data["id"]}, "Order")
    if data.get("status"):
        order["status"] = data["status"]
    if data.get("attributes") is not None:
        order["attributes"] = _merge_attributes(order.get("attributes"), data["attributes"])
    state.store.orders.touch(order, state.clock.now())
    return order


def create_location(state: SandboxState, data: dict[str, Any]) -> Record:
    locations = state.store.locations
    _unique(locations, data["ref"], "Location")
    _check_schedule(data.get("openingSchedule"))
    return locations.add(
        {
            "ref": data["ref"],
            "name": data.get("name"),
            "type": data.get("type"),
            "status": data.get("status") or "ACTIVE",
            "retailerId": state.config.retailer_id,
            "primaryAddress": _address(data.get("primaryAddress")),
            "openingSchedule": data.get("openingSchedule"),
            "attributes": _merge_attributes(None, data.get("attributes")),
        },
        state.clock.now(),
    )


def update_location(state: SandboxState, data: dict[str, Any]) -> Record:
    location = _find(state.store.locations, data, "Location")
    _check_schedule(data.get("openingSchedule"))
    for name in ("name", "type", "status", "openingSchedule"):
        if data.get(name) is not None:
            location[name] = data[name]
    if data.get("primaryAddress") is not None:
        location["primaryAddress"] = _address(data["primaryAddress"])
    if data.get("attributes") is not None:
        location["attributes"] = _merge_attributes(location.get("attributes"), data["attributes"])
    state.store.locations.touch(location, state.clock.now())
    return location


def _check_execution_order(value: int | None) -> None:
    if value is not None and not 1 <= value <= 999:
        raise _error("C0122E", f"executionOrder must be between 1 and 999 (got {value})")


def create_control(state: SandboxState, data: dict[str, Any]) -> Record:
    store = state.store
    _unique(store.controls, data["ref"], "Control")
    _check_execution_order(data.get("executionOrder"))
    group = None
    if data.get("controlGroup"):
        group = store.control_groups.first_by_ref(data["controlGroup"]["ref"])
        if group is None:
            raise _error("C0120E", f"Control group with ref '{data['controlGroup']['ref']}' not found")
    virtual_ref = (data.get("virtualCatalogue") or {}).get("ref")
    if virtual_ref and virtual_ref not in store.catalogues["virtual"]:
        raise _error("C0120E", f"Virtual catalogue with ref '{virtual_ref}' not found")
    control = store.controls.add(
        {
            "ref": data["ref"],
            "name": data.get("name"),
            "type": data["type"],
            "status": data.get("status") or "ACTIVE",
            "executionOrder": data.get("executionOrder"),
            "values": data.get("values") or [],
            "controlGroupRef": group["ref"] if group else None,
            "virtualCatalogueRef": virtual_ref,
        },
        state.clock.now(),
    )
    if group is not None:
        group["controlIds"].append(control["id"])
    return control


def update_control(state: SandboxState, data: dict[str, Any]) -> Record:
    control = _find(state.store.controls, data, "Control")
    _check_execution_order(data.get("executionOrder"))
    for name in ("name", "type", "status", "executionOrder", "values"):
        if data.get(name) is not None:
            control[name] = data[name]
    state.store.controls.touch(control, state.clock.now())
    return control


def update_product(state: SandboxState, data: dict[str, Any]) -> Record:
    products = state.store.products
    catalogue = (data.get("catalogue") or {}).get("ref")
    if data.get("id") is None and data.get("ref") is not None and catalogue:
        product = products.first_by_ref(str(data["ref"]), lambda r: r["catalogue"]["ref"] == catalogue)
        if product is None:
            raise _error("C0120E", f"Product with ref '{data['ref']}' not found in catalogue '{catalogue}'")
    else:
        product = _find(products, data, "Product")
    for index, price in enumerate(data.get("prices") or []):
        if price["value"] < 0:
            raise _error("C0122E", f"prices[{index}].value must not be negative")
    for name in ("name", "summary", "gtin", "status"):
        if data.get(name) is not None:
            product[name] = data[name]
    if data.get("prices") is not None:
        product["prices"] = [
            {
                "type": p["type"],
                "value": p["value"],
                "currency": p.get("currency"),
                "effectiveFrom": p.get("effectiveFrom"),
                "effectiveTo": p.get("effectiveTo"),
                "minQuantity": p.get("minQuantity"),
                "maxQuantity": p.get("maxQuantity"),
            }
            for p in data["prices"]
        ]
        default = next((p for p in product["prices"] if p["type"] == "DEFAULT"), None)
        if default is not None:
            product["price"] = default["value"]
    if data.get("attributes") is not None:
        product["attributes"] = _merge_attributes(product.get("attributes"), data["attributes"])
    products.touch(product, state.clock.now())
    return product


def create_customer(state: SandboxState, data: dict[str, Any]) -> Record:
    customers = state.store.customers
    ref = data.get("ref") or data.get("email") or f"CUST-NEW-{len(customers) + 1:05d}"
    _unique(customers, ref, "Customer")
    return customers.add(
        {
            "ref": ref,
            "email": data.get("email"),
            "firstName": data.get("firstName"),
            "lastName": data.get("lastName"),
            "username": data.get("username"),
            "retailerId": state.config.retailer_id,
        },
        state.clock.now(),
    )


MUTATION_RESOLVERS: dict[str, Callable[..., Record | None]] = {
    name: _logged(name, resolver)
    for name, resolver in {
        "createOrder": create_order,
        "updateOrder": update_order,
        "createLocation": create_location,
        "updateLocation": update_location,
        "createControl": create_control,
        "updateControl": update_control,
        "updateProduct": update_product,
        "createCustomer": create_customer,
    }.items()
}
