"""The Event API sink: records → Fluent events, one per record or many records in one event.

Why a sink for events next to :class:`~.sink.BatchSink`: only inventory goes to the Batch API (R29);
products, locations, order updates and anything that must trigger a workflow go to the Event API
(fluent-api.md §6.5). The stream processor must be able to swap one sink for the other, so this one keeps
the same contract: ``add(entity, token, job_key)``, ``flush()``, ``aclose()``, and every token ends in
exactly one of ``on_sent`` / ``on_rejected`` / ``on_failed`` (see :mod:`.sink`).

Two shapes (fluent-api.md §6.2, the product templates):

* one event per record: ``attributes`` is the record (e.g. ``UPSERT_PRODUCT``, ``OrderCancel``). Each
  record is sent at once; nothing lingers;
* ``batch_field`` set: many records in one event, ``attributes[batch_field]`` is the list (e.g.
  ``UPSERT_PRODUCTS`` with ``attributes.products``, 100 per event in the templates). Records are buffered
  like the Batch API sink does (``max_batch_size``, ``linger``, ``flush``).

The event envelope (``name``, ``entityType``, ``entityRef``, ``entitySubtype``, ``rootEntityType``,
``rootEntityRef``) is rendered per record from templates with ``{field}`` placeholders (``str.format``
syntax on the record, so ``{catalogue[ref]}`` reaches into a nested object). Why templates and not fixed
values: the docs and the templates disagree on the shape (``PRODUCT``/SKU vs ``PRODUCT_CATALOGUE``/catalogue
ref), so the shape is configuration. A placeholder the record lacks (or holds ``null``) rejects that record
only; in the batched form only records with the same rendered envelope share an event.

Outcomes:

* 2xx → ``on_sent(BatchResult(job_id="", batch_id=<event id or "">, tokens, status))``; ``status`` is the
  server's (sync: ``COMPLETED``…) or ``ACCEPTED`` for an async event that reported none. Async mode only
  says the event was *accepted*: the workflow outcome is not known (§6.3);
* 400/413/422 (and 404 "no rule matched" in sync mode), or a payload the client refuses to send → the
  records are bad: ``on_rejected``. A batched event is bisected first (as ``BatchSink`` does) so one bad
  product does not reject its 99 neighbours; a 404 is not bisected, no record can change which rule matches;
* 5xx/429/network after the client's own retries, auth, 403 and anything else → ``on_failed``: retrying
  later may help.
* a 2xx whose body says ``success: false`` → ``on_rejected`` with the body (Fluent refused it explicitly).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fluentsync.connectors.fluent import (
    FluentClient,
    FluentClientError,
    FluentError,
    FluentValidationError,
)

from .batching import BatchResult, Buffer, entity_bytes
from .dispatch import GroupingSink
from .sink import FailedCallback, RejectedCallback, SentCallback

__all__ = ["EventSink", "EventSinkSettings"]

T = TypeVar("T")

_BISECT_STATUSES = frozenset({400, 413, 422})
_TEMPLATE_FIELDS = ("name", "entity_type", "entity_ref", "entity_subtype", "root_entity_type", "root_entity_ref")
_ENVELOPE_KEYS = {
    "name": "name",
    "entity_type": "entityType",
    "entity_ref": "entityRef",
    "entity_subtype": "entitySubtype",
    "root_entity_type": "rootEntityType",
    "root_entity_ref": "rootEntityRef",
}
_REQUIRED = frozenset({"name", "entity_type", "entity_ref"})


class _TemplateError(Exception):
    """A template could not be rendered for one record."""


class _Formatter(string.Formatter):
    """``str.format_map`` semantics, except that a ``null`` value counts as missing (not the text "None")."""

    def get_value(self, key: int | str, args: Any, kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, int):
            raise _TemplateError(f"positional placeholder {{{key}}} is not supported; name a record field")
        if key not in kwargs:
            raise _TemplateError(f"record has no field {key!r}")
        value = kwargs[key]
        if value is None:
            raise _TemplateError(f"record field {key!r} is null")
        return value


_FORMATTER = _Formatter()


def _check_template(template: str) -> str:
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ValueError(f"invalid template {template!r}: {exc}") from exc
    for _literal, field_name, _spec, _conv in parsed:
        if field_name is not None and (field_name == "" or field_name[0].isdigit()):
            raise ValueError(f"template {template!r}: use named placeholders such as {{ref}}, not {{}} or {{0}}")
    return template


def _render(template: str, entity: Mapping[str, Any]) -> str:
    try:
        return _FORMATTER.vformat(template, (), entity)
    except _TemplateError:
        raise
    except (KeyError, IndexError, AttributeError, TypeError, ValueError) as exc:
        raise _TemplateError(f"{type(exc).__name__}: {exc}") from exc


class EventSinkSettings(BaseModel):
    """How records become Fluent events (fluent-api.md §6.2) and how fast they are sent (§6.5).

    The six envelope fields are templates rendered per record (``"{ref}"``, ``"PC:MASTER:{catalogue}"``, or
    plain text without placeholders); literal braces are written ``{{``/``}}``. Templates are parsed when the
    settings load so a typo fails at config time, not on the first record.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    """Event name, e.g. ``UPSERT_PRODUCTS``; must match a workflow rule."""
    entity_type: str = Field(min_length=1)
    entity_ref: str = Field(min_length=1)
    entity_subtype: str | None = None
    root_entity_type: str | None = None
    root_entity_ref: str | None = None
    retailer_id: str | None = None
    """``retailerId`` of every event; None means the client's configured retailer (fluent-api.md §3.2)."""
    mode: Literal["async", "sync"] = "async"
    """``async`` (default) is accepted at once; ``sync`` waits for the workflow and reports its failure."""
    max_concurrency: int = Field(default=8, ge=1)
    """Event POSTs in flight at once (templates: concurrency 10 ≈ 10 events/s)."""
    rate_limit: float | None = Field(default=None, gt=0)
    """Events per second (a token bucket, ``rate_burst`` deep); None = bounded by concurrency only."""
    rate_burst: int = Field(default=1, ge=1)
    batch_field: str | None = Field(default=None, min_length=1)
    """Send many records in one event as ``attributes[batch_field]`` (e.g. ``products``); None = one each."""
    max_batch_size: int = Field(default=100, ge=1, le=1000)
    """Records per batched event (the product templates use 100). Ignored without ``batch_field``."""
    linger: float = Field(default=1.0, gt=0)
    """Seconds a partial batched event may wait for more records before it is sent anyway."""

    @field_validator(*_TEMPLATE_FIELDS)
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        return None if value is None else _check_template(value)

    @field_validator("retailer_id", mode="before")
    @classmethod
    def _retailer(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _is_rejection(exc: FluentError, mode: str) -> bool:
    if isinstance(exc, FluentValidationError):
        return True  # the client refused the payload before sending it
    if isinstance(exc, FluentClientError):
        return exc.status in _BISECT_STATUSES or (mode == "sync" and exc.status == 404)
    return False


class EventSink(GroupingSink[T]):
    """Send records to the Fluent Event API; see the module docstring for the contract.

    ``EventSink(client, settings, *, on_sent=None, on_rejected=None, on_failed=None)``; use ``add``,
    ``flush`` and ``aclose`` (or ``async with``) exactly like :class:`~.sink.BatchSink`.
    """

    def __init__(
        self,
        client: FluentClient,
        settings: EventSinkSettings,
        *,
        on_sent: SentCallback[T] | None = None,
        on_rejected: RejectedCallback[T] | None = None,
        on_failed: FailedCallback[T] | None = None,
    ) -> None:
        super().__init__(
            max_concurrency=settings.max_concurrency,
            linger=settings.linger,
            max_group_size=settings.max_batch_size,
            rate_limit=settings.rate_limit,
            rate_burst=settings.rate_burst,
            on_sent=on_sent,
            on_rejected=on_rejected,
            on_failed=on_failed,
        )
        self.settings = settings
        self._client = client

    def envelope(self, entity: Mapping[str, Any]) -> dict[str, str]:
        """The rendered event envelope for ``entity`` (without ``attributes``); raises ``ValueError`` with the
        reason when a template cannot be rendered."""
        out: dict[str, str] = {}
        for name in _TEMPLATE_FIELDS:
            template = getattr(self.settings, name)
            if template is None:
                continue
            try:
                value = _render(template, entity)
            except _TemplateError as exc:
                raise ValueError(f"event template {name}={template!r}: {exc}") from exc
            if value:
                out[_ENVELOPE_KEYS[name]] = value
            elif name in _REQUIRED:
                raise ValueError(f"event template {name}={template!r} rendered an empty string")
        return out

    async def add(self, entity: Mapping[str, Any], token: T, job_key: str = "") -> None:
        """Send ``entity`` as an event (or buffer it for a batched event). ``job_key`` is only carried into
        the :class:`BatchResult` (and groups the batched form), so callers can treat every sink alike. Waits
        when too many sends are queued; raises the first unexpected error of an earlier send."""
        self._check_open()
        body = dict(entity)
        try:
            envelope = self.envelope(body)
        except ValueError as exc:
            await self._reject([token], str(exc))
            return
        try:
            size = entity_bytes(body)
        except (TypeError, ValueError) as exc:
            await self._reject([token], f"record is not JSON-serialisable: {exc}")
            return
        if self.settings.batch_field is None:
            await self._send_now(job_key, body, token, size)
        else:
            group = (job_key, tuple(sorted(envelope.items())))
            await self._enqueue(group, job_key, body, token, size)

    async def _send_buffer(self, batch: Buffer[T]) -> None:
        # Rendering succeeded in add() and every record of a group renders the same envelope.
        envelope = self.envelope(batch.entities[0])
        await self._post(envelope, batch.job_key, batch.entities, batch.tokens)

    async def _post(
        self, envelope: dict[str, str], job_key: str, entities: list[dict[str, Any]], tokens: list[T]
    ) -> None:
        s = self.settings
        attributes = entities[0] if s.batch_field is None else {s.batch_field: entities}
        event = {**envelope, "attributes": attributes}
        try:
            async with self._request_slot():
                response = await self._client.events.send(event, mode=s.mode, retailer_id=s.retailer_id)
        except FluentError as exc:
            if not _is_rejection(exc, s.mode):
                await self._fail(tokens, exc)
            elif len(entities) > 1 and exc.status in _BISECT_STATUSES:
                mid = len(entities) // 2
                await self._post(envelope, job_key, entities[:mid], tokens[:mid])
                await self._post(envelope, job_key, entities[mid:], tokens[mid:])
            else:
                await self._reject(tokens, str(exc))
            return
        if not response.success:
            reason = f"Fluent answered HTTP {response.status_code} with success=false: {response.body!r}"
            await self._reject(tokens, reason)
            return
        status = response.status or ("ACCEPTED" if s.mode == "async" else "COMPLETED")
        await self._deliver(BatchResult("", response.id or "", list(tokens), status, job_key))
