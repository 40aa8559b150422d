"""The built-in GraphQL queries of the standard entities, one per typed outbound schema.

Why built in: an extraction of a standard entity then needs no query file at all
(``extractions: {orders: {entity: orders}}``), and the query always selects exactly the fields its Avro
schema carries (``fluentsync.outbound.<Entity>``), so the two cannot drift apart. A pipeline may still
point ``query:`` at its own file for a standard entity (e.g. to add a ``status`` filter); fields the
schema does not know are dropped, fields the query does not select are null.

Conventions (fluent-api.md §4.2, §4.6): forward paging with ``$first``/``$after`` (the page size goes
into ``$first``), the cursor of the last edge, no ``endCursor``; the incremental window is the
``DateRange`` variable ``$updatedOn`` (``{from, to}``; null for a full extraction). Nested connections
(order and fulfilment items) are fetched with ``first: 100``, their edges' ``cursor`` and their
``pageInfo.hasNextPage``, so the runner fetches the rest of a node with more items than that with
follow-up queries (:mod:`.nested`); what cannot be followed is counted as ``nested_truncated``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ENTITIES", "Entity"]

_ADDRESS = (
    "id ref name companyName street street1 street2 city state postcode region country latitude longitude"
    " timeZone"
)
_ATTRS = "attributes { name type value }"


@dataclass(frozen=True)
class Entity:
    """A standard entity: its root connection, its Avro schema and its query."""

    name: str
    result_path: str
    schema: str
    query: str


def _query(operation: str, root: str, fields: str) -> str:
    return (
        f"query {operation}($first: Int, $after: String, $updatedOn: DateRange) {{\n"
        f"  {root}(first: $first, after: $after, updatedOn: $updatedOn) {{\n"
        f"    edges {{ cursor node {{ {fields} }} }}\n"
        f"    pageInfo {{ hasNextPage }}\n"
        f"  }}\n"
        f"}}\n"
    )


_ORDER = (
    "id ref type status totalPrice totalTaxPrice currency retailer { id } "
    "customer { id ref email firstName lastName } "
    f"deliveryAddress {{ {_ADDRESS} }} billingAddress {{ {_ADDRESS} }} "
    "items(first: 100) { edges { cursor node { id ref status productRef productCatalogueRef quantity price paidPrice "
    f"totalPrice taxPrice totalTaxPrice currency {_ATTRS} }} }} pageInfo {{ hasNextPage }} }} "
    f"{_ATTRS} createdOn updatedOn"
)
_FULFILMENT = (
    "id ref status type deliveryType orderRef trackingNumber carrier serviceLevel shippedOn deliveredOn "
    "order { id ref } fromLocation { id ref name } "
    f"fromAddress {{ {_ADDRESS} }} toAddress {{ {_ADDRESS} }} "
    "items(first: 100) { edges { cursor node { id ref status productRef requestedQuantity filledQuantity "
    "rejectedQuantity orderItem { id ref } } } pageInfo { hasNextPage } } "
    f"{_ATTRS} createdOn updatedOn"
)
_POSITION = "id ref productRef locationRef onHand qty type status catalogue { ref name } createdOn updatedOn"
_QUANTITY = (
    "id ref productRef locationRef qty type condition status storageAreaRef expectedOn catalogue { ref name } "
    "createdOn updatedOn"
)
_VIRTUAL = (
    "id ref productRef groupRef locationRef quantity type status catalogue { ref name } "
    "locationLink { ref name status } createdOn updatedOn"
)
_PRODUCT = (
    "id ref name summary gtin type status price "
    "prices { type value currency effectiveFrom effectiveTo minQuantity maxQuantity } "
    f"{_ATTRS} catalogue {{ ref name }} createdOn updatedOn"
)
_DAYS = " ".join(f"{d}Start {d}End" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
_LOCATION = (
    f"id ref name type status primaryAddress {{ {_ADDRESS} }} openingSchedule {{ allHours {_DAYS} }} "
    f"retailer {{ id ref }} {_ATTRS} createdOn updatedOn"
)

#: Standard entities by their name in the pipeline file (``entity:``).
ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        Entity("orders", "orders", "fluentsync.outbound.Order", _query("ExtractOrders", "orders", _ORDER)),
        Entity("fulfilments", "fulfilments", "fluentsync.outbound.Fulfilment",
               _query("ExtractFulfilments", "fulfilments", _FULFILMENT)),
        Entity("inventory_positions", "inventoryPositions", "fluentsync.outbound.InventoryPosition",
               _query("ExtractInventoryPositions", "inventoryPositions", _POSITION)),
        Entity("inventory_quantities", "inventoryQuantities", "fluentsync.outbound.InventoryQuantity",
               _query("ExtractInventoryQuantities", "inventoryQuantities", _QUANTITY)),
        Entity("virtual_positions", "virtualPositions", "fluentsync.outbound.VirtualPosition",
               _query("ExtractVirtualPositions", "virtualPositions", _VIRTUAL)),
        Entity("products", "products", "fluentsync.outbound.Product",
               _query("ExtractProducts", "products", _PRODUCT)),
        Entity("locations", "locations", "fluentsync.outbound.Location",
               _query("ExtractLocations", "locations", _LOCATION)),
    )
}
