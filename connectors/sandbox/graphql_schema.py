"""The sandbox's GraphQL schema (SDL), covering what the reference SDK's templates query and mutate.

Why an SDL string in a module rather than a ``.graphql`` file: it ships with the package without
package-data configuration, and the strict and lenient variants differ by a few lines.

Deliberate choices (fluent-api.md §4.2, §4.6):

* ``PageInfo`` has only ``hasNextPage`` and ``hasPreviousPage``. Selecting ``endCursor`` is a validation
  error in strict mode; the lenient schema adds ``startCursor``/``endCursor`` that always resolve to
  ``null`` (real behaviour unverified).
* Date filters use ``DateRange {from, to}``; ``{after: …}`` is rejected (lenient: accepted as ``from``).
* The UK spelling ``fulfilment(s)`` only; order and fulfilment items are connections.
* ``InventoryPosition`` exposes both ``onHand`` and ``qty``; inventory nodes use ``productRef``.
* Mutation fields are nullable so one failing alias yields partial data, as on Fluent.
"""

from __future__ import annotations

__all__ = ["build_sdl"]

_CONNECTION_ARGS = "first: Int, after: String, last: Int, before: String"


def _connection(node: str) -> str:
    return f"""
type {node}Edge {{ cursor: String! node: {node} }}
type {node}Connection {{ edges: [{node}Edge!]! pageInfo: PageInfo! }}
"""


_SDL = """
\"\"\"ISO-8601 date-time, e.g. 2025-01-31T12:00:00.000Z.\"\"\"
scalar DateTime
\"\"\"Any JSON value.\"\"\"
scalar Json

type PageInfo {
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  %(PAGEINFO_EXTRA)s
}

input DateRange {
  from: DateTime
  to: DateTime
  %(DATERANGE_EXTRA)s
}

input InventoryCatalogueKey { ref: String! }
input VirtualCatalogueKey { ref: String! }
input ProductCatalogueKey { ref: String! }

type Attribute { name: String! type: String value: Json }

type Retailer { id: ID! ref: String tradingName: String }

type Role { name: String }
type RoleContext { contextType: String contextId: String }
type UserRole { role: Role contexts: [RoleContext] }

type User {
  id: ID!
  ref: String!
  username: String
  firstName: String
  lastName: String
  type: String
  status: String
  primaryRetailer: Retailer
  roles: [UserRole]
}

type Customer {
  id: ID!
  ref: String
  email: String
  firstName: String
  lastName: String
  username: String
  createdOn: DateTime
  updatedOn: DateTime
}

type Address {
  id: ID
  ref: String
  name: String
  companyName: String
  street: String
  street1: String
  street2: String
  city: String
  state: String
  postcode: String
  region: String
  country: String
  latitude: Float
  longitude: Float
  timeZone: String
}

type OpeningSchedule {
  allHours: Boolean
  monStart: Int monEnd: Int tueStart: Int tueEnd: Int wedStart: Int wedEnd: Int
  thuStart: Int thuEnd: Int friStart: Int friEnd: Int satStart: Int satEnd: Int
  sunStart: Int sunEnd: Int
}

type Price {
  type: String
  value: Float
  currency: String
  effectiveFrom: DateTime
  effectiveTo: DateTime
  minQuantity: Int
  maxQuantity: Int
}

type Catalogue { id: ID ref: String! name: String type: String status: String }

type Product {
  id: ID!
  ref: String!
  name: String
  summary: String
  gtin: String
  type: String
  status: String
  price: Float
  prices: [Price]
  attributes: [Attribute]
  catalogue: Catalogue
  createdOn: DateTime
  updatedOn: DateTime
}

type Location {
  id: ID!
  ref: String!
  name: String
  type: String
  status: String
  primaryAddress: Address
  openingSchedule: OpeningSchedule
  retailer: Retailer
  attributes: [Attribute]
  createdOn: DateTime
  updatedOn: DateTime
}

type Order {
  id: ID!
  ref: String!
  type: String
  status: String
  createdOn: DateTime
  updatedOn: DateTime
  totalPrice: Float
  totalTaxPrice: Float
  currency: String
  retailer: Retailer
  customer: Customer
  deliveryAddress: Address
  billingAddress: Address
  items(%(CONN)s): OrderItemConnection
  fulfilments(%(CONN)s): FulfilmentConnection
  attributes: [Attribute]
}

type OrderItem {
  id: ID!
  ref: String
  productRef: String
  productCatalogueRef: String
  quantity: Int
  price: Float
  paidPrice: Float
  totalPrice: Float
  taxPrice: Float
  totalTaxPrice: Float
  currency: String
  status: String
  product: Product
  order: Order
  attributes: [Attribute]
  createdOn: DateTime
  updatedOn: DateTime
}

type Fulfilment {
  id: ID!
  ref: String
  status: String
  type: String
  deliveryType: String
  orderRef: String
  trackingNumber: String
  carrier: String
  serviceLevel: String
  shippedOn: DateTime
  deliveredOn: DateTime
  order: Order
  fromLocation: Location
  fromAddress: Address
  toAddress: Address
  items(%(CONN)s): FulfilmentItemConnection
  attributes: [Attribute]
  createdOn: DateTime
  updatedOn: DateTime
}

type FulfilmentItem {
  id: ID!
  ref: String
  status: String
  productRef: String
  requestedQuantity: Int
  filledQuantity: Int
  rejectedQuantity: Int
  orderItem: OrderItem
  createdOn: DateTime
  updatedOn: DateTime
}

type InventoryPosition {
  id: ID!
  ref: String!
  productRef: String
  locationRef: String
  onHand: Int
  qty: Int
  type: String
  status: String
  catalogue: Catalogue
  quantities(%(CONN)s): InventoryQuantityConnection
  createdOn: DateTime
  updatedOn: DateTime
}

type InventoryQuantity {
  id: ID!
  ref: String!
  productRef: String
  locationRef: String
  qty: Int
  type: String
  condition: String
  status: String
  storageAreaRef: String
  expectedOn: DateTime
  catalogue: Catalogue
  position: InventoryPosition
  createdOn: DateTime
  updatedOn: DateTime
}

type LocationLink { ref: String name: String status: String }

type VirtualPosition {
  id: ID!
  ref: String!
  productRef: String
  groupRef: String
  locationRef: String
  quantity: Int
  type: String
  status: String
  catalogue: Catalogue
  locationLink: LocationLink
  createdOn: DateTime
  updatedOn: DateTime
}

type ControlValue { name: String type: String value: Json }

type Control {
  id: ID!
  ref: String!
  name: String
  type: String
  status: String
  executionOrder: Int
  values: [ControlValue]
  controlGroup: ControlGroup
  virtualCatalogue: Catalogue
  createdOn: DateTime
  updatedOn: DateTime
}

type ControlGroup {
  id: ID!
  ref: String!
  name: String
  status: String
  controls(%(CONN)s): ControlConnection
  createdOn: DateTime
  updatedOn: DateTime
}

%(CONNECTIONS)s

type Query {
  me: User
  orders(%(CONN)s, ref: [String], type: [String], status: [String], retailerId: ID,
         createdOn: DateRange, updatedOn: DateRange): OrderConnection
  order(id: ID, ref: String): Order
  orderById(id: ID!): Order
  fulfilments(%(CONN)s, ref: [String], status: [String], deliveryType: [String], orderRef: [String],
              retailerId: ID, createdOn: DateRange, updatedOn: DateRange): FulfilmentConnection
  fulfilment(id: ID, ref: String): Fulfilment
  fulfilmentById(id: ID!): Fulfilment
  inventoryPositions(%(CONN)s, catalogues: [InventoryCatalogueKey], ref: [String], productRef: [String],
                     locationRef: [String], type: [String], status: [String], retailerId: ID,
                     createdOn: DateRange, updatedOn: DateRange): InventoryPositionConnection
  inventoryPosition(ref: String!, catalogue: InventoryCatalogueKey): InventoryPosition
  inventoryQuantities(%(CONN)s, catalogues: [InventoryCatalogueKey], ref: [String], productRef: [String],
                      locationRef: [String], type: [String], status: [String], retailerId: ID,
                      createdOn: DateRange, updatedOn: DateRange): InventoryQuantityConnection
  virtualPositions(%(CONN)s, catalogues: [VirtualCatalogueKey], ref: [String], productRef: [String],
                   groupRef: [String], locationRef: [String], type: [String], status: [String],
                   createdOn: DateRange, updatedOn: DateRange): VirtualPositionConnection
  products(%(CONN)s, ref: [String], type: [String], status: [String], retailerId: ID,
           catalogue: ProductCatalogueKey, catalogues: [ProductCatalogueKey],
           createdOn: DateRange, updatedOn: DateRange): ProductConnection
  product(ref: String!, catalogue: ProductCatalogueKey): Product
  locations(%(CONN)s, ref: [String], type: [String], status: [String], retailerId: ID,
            createdOn: DateRange, updatedOn: DateRange): LocationConnection
  location(ref: String!): Location
  locationById(id: ID!): Location
  customers(%(CONN)s, ref: [String], email: [String], createdOn: DateRange,
            updatedOn: DateRange): CustomerConnection
  customer(ref: String!): Customer
  controls(%(CONN)s, ref: [String], type: [String], status: [String],
           createdOn: DateRange, updatedOn: DateRange): ControlConnection
  controlGroup(ref: String!): ControlGroup
  controlGroups(%(CONN)s, ref: [String]): ControlGroupConnection
}

input RetailerKey { id: ID! }
input CustomerKey { id: ID ref: String email: String firstName: String lastName: String }
input AttributeInput { name: String! type: String value: Json! }

input AddressInput {
  ref: String name: String companyName: String street: String street1: String street2: String
  city: String state: String postcode: String region: String country: String
  latitude: Float longitude: Float timeZone: String
}

input OpeningScheduleInput {
  allHours: Boolean
  monStart: Int monEnd: Int tueStart: Int tueEnd: Int wedStart: Int wedEnd: Int
  thuStart: Int thuEnd: Int friStart: Int friEnd: Int satStart: Int satEnd: Int
  sunStart: Int sunEnd: Int
}

input CreateOrderItemInput {
  ref: String!
  productRef: String!
  productCatalogueRef: String
  quantity: Int!
  price: Float!
  paidPrice: Float
  totalPrice: Float!
  taxPrice: Float
  totalTaxPrice: Float
  currency: String!
  fulfilmentChoiceRef: String
  attributes: [AttributeInput]
}

input CreateFulfilmentChoiceInput {
  ref: String!
  type: String
  deliveryType: String
  pickupLocationRef: String
  deliveryAddress: AddressInput
}

input CreateFinancialTransactionInput {
  ref: String!
  type: String!
  amount: Float!
  currency: String!
  cardType: String
  paymentMethod: String!
  externalTransactionCode: String
  externalTransactionId: String
}

input CreateOrderInput {
  ref: String!
  type: String!
  retailer: RetailerKey!
  totalPrice: Float!
  totalTaxPrice: Float
  currency: String!
  customer: CustomerKey!
  billingAddress: AddressInput
  items: [CreateOrderItemInput]!
  fulfilmentChoices: [CreateFulfilmentChoiceInput]
  financialTransactions: [CreateFinancialTransactionInput]
  attributes: [AttributeInput]
}

input UpdateOrderInput { id: ID! status: String attributes: [AttributeInput] }

input CreateLocationInput {
  ref: String!
  name: String
  type: String
  status: String
  primaryAddress: AddressInput
  openingSchedule: OpeningScheduleInput
  attributes: [AttributeInput]
}

input UpdateLocationInput {
  id: ID
  ref: String
  name: String
  type: String
  status: String
  primaryAddress: AddressInput
  openingSchedule: OpeningScheduleInput
  attributes: [AttributeInput]
}

input ControlValueInput { name: String! type: String value: Json }
input ControlGroupKey { ref: String! }
input VirtualCatalogueRefKey { ref: String! }

input CreateControlInput {
  ref: String!
  type: String!
  name: String
  status: String
  executionOrder: Int
  values: [ControlValueInput]
  controlGroup: ControlGroupKey
  virtualCatalogue: VirtualCatalogueRefKey
}

input UpdateControlInput {
  id: ID
  ref: String
  type: String
  name: String
  status: String
  executionOrder: Int
  values: [ControlValueInput]
}

input PriceInput {
  type: String!
  value: Float!
  currency: String
  effectiveFrom: DateTime
  effectiveTo: DateTime
  minQuantity: Int
  maxQuantity: Int
}

input UpdateProductInput {
  id: ID
  ref: String
  catalogue: ProductCatalogueKey
  name: String
  summary: String
  gtin: String
  status: String
  prices: [PriceInput]
  attributes: [AttributeInput]
}

input CreateCustomerInput {
  ref: String
  email: String
  firstName: String
  lastName: String
  username: String
}

type Mutation {
  createOrder(input: CreateOrderInput!): Order
  updateOrder(input: UpdateOrderInput!): Order
  createLocation(input: CreateLocationInput!): Location
  updateLocation(input: UpdateLocationInput!): Location
  createControl(input: CreateControlInput!): Control
  updateControl(input: UpdateControlInput!): Control
  updateProduct(input: UpdateProductInput!): Product
  createCustomer(input: CreateCustomerInput!): Customer
}
"""

_NODES = (
    "Order",
    "OrderItem",
    "Fulfilment",
    "FulfilmentItem",
    "InventoryPosition",
    "InventoryQuantity",
    "VirtualPosition",
    "Product",
    "Location",
    "Customer",
    "Control",
    "ControlGroup",
)


def build_sdl(*, lenient: bool = False) -> str:
    """The schema text; ``lenient`` adds the fields and inputs strict mode rejects."""
    return _SDL % {
        "CONN": _CONNECTION_ARGS,
        "CONNECTIONS": "".join(_connection(n) for n in _NODES),
        "PAGEINFO_EXTRA": "startCursor: String\n  endCursor: String" if lenient else "",
        "DATERANGE_EXTRA": "after: DateTime\n  before: DateTime" if lenient else "",
    }
