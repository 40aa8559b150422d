"""The GraphQL mutation sink: records → mutations, several per request with aliases, outcome per record.

Why: order creation, customers, controls and prices go through GraphQL mutations (fluent-api.md §6.5), and
sending one request per record wastes most of the time on round trips. Alias batching puts up to 20
mutations in one request (``mutation BatchCreateCustomers($input1: …) { createCustomer1: createCustomer(…) …
}``, fluent-api.md §4.5). The request shape and the per-alias attribution are
:class:`~fluentsync.streams.mapping.mutations.GraphQLMutationMapper`'s (``batch_query`` and
``parse_aliased_response``); this module only adds the delivery contract of :class:`~.sink.BatchSink`, so
the stream agent can use any of the three sinks: ``add(entity, token, job_key)``, ``flush()``, ``aclose()``,
and every token ends in exactly one of ``on_sent`` / ``on_rejected`` / ``on_failed``.

How a request's answer is split (GraphQL answers HTTP 200 with ``errors[]`` whose ``path[0]`` is the alias):

* an alias with data and no error → its token goes to ``on_sent`` (one :class:`BatchResult` per request
  with every successful token, ``job_id``/``batch_id`` empty, status ``COMPLETED``);
* an alias with an error (or null data, "likely validation error") → that token alone: ``on_failed`` when
  :func:`~fluentsync.connectors.fluent.graphql.classify_errors` calls its errors retryable (e.g. ``S0002``,
  ``C0011E`` rate limit), else ``on_rejected`` with the messages (e.g. ``C0121E`` already exists);
* a request-level error without data (no alias executed: a variable of one record failed coercion, or the
  document was refused) → retryable: ``on_failed`` for all; otherwise the request is bisected until the
  bad record is alone and rejected. Resending halves is safe here because nothing was executed;
* no HTTP answer, 5xx/429 after the client's retries, auth failure → ``on_failed`` for all its tokens.

A record the mapper cannot map (missing required field, failed transform) is rejected in ``add`` and never
sent. Records are grouped per ``job_key`` (only carried into the result) and sent when ``max_aliases`` are
buffered, after ``linger`` seconds, or on ``flush``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from fluentsync.connectors.fluent import FluentClient, FluentError, FluentGraphQLError
from fluentsync.connectors.fluent.graphql import ErrorClassification, classify_errors
from fluentsync.streams.mapping.mutations import MAX_MUTATIONS_PER_BATCH, GraphQLMutationMapper
from fluentsync.streams.problems import FieldProblem

from .batching import BatchResult, Buffer
from .dispatch import GroupingSink
from .sink import FailedCallback, RejectedCallback, SentCallback

__all__ = ["MutationSink", "MutationSinkSettings"]

T = TypeVar("T")


class MutationSinkSettings(BaseModel):
    """How many mutations share a request and how fast requests go (fluent-api.md §4.5)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_aliases: int = Field(default=MAX_MUTATIONS_PER_BATCH, ge=1, le=MAX_MUTATIONS_PER_BATCH)
    """Mutations per request. The documented maximum is 20; the mapper's ``aliasBatching.
    maxMutationsPerBatch`` may lower it further."""
    linger: float = Field(default=0.5, gt=0)
    """Seconds a partial request may wait for more records before it is sent anyway."""
    max_concurrency: int = Field(default=4, ge=1)
    """GraphQL requests in flight at once."""
    rate_limit: float | None = Field(default=None, gt=0)
    """Requests per second (token bucket, ``rate_burst`` deep); the templates pace mutations at 10/s, 5/s in
    production. None = bounded by concurrency only."""
    rate_burst: int = Field(default=1, ge=1)
    attempt_timeout: float | None = Field(default=None, gt=0)
    """Per-attempt deadline of a request; None = the client's GraphQL default (60 s)."""


def _has_path(error: Mapping[str, Any]) -> bool:
    path = error.get("path")
    return isinstance(path, list) and bool(path)


def _messages(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors:
        ext = error.get("extensions")
        code = ext.get("code") if isinstance(ext, Mapping) else None
        text = str(error.get("message") or "unknown error")
        parts.append(f"[{code}] {text}" if code else text)
    return "; ".join(parts) or "unknown error"


class _Unmappable(ValueError):
    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems or [FieldProblem("MAP", None, "mapping failed")]
        super().__init__("; ".join(p.message for p in self.problems))


class MutationSink(GroupingSink[T]):
    """Send records as alias-batched GraphQL mutations; see the module docstring for the contract.

    ``MutationSink(client, mapper, settings=None, *, on_sent=None, on_rejected=None, on_failed=None)``, where
    ``mapper`` is a :class:`GraphQLMutationMapper` built from the workflow's mapping config.
    """

    def __init__(
        self,
        client: FluentClient,
        mapper: GraphQLMutationMapper,
        settings: MutationSinkSettings | None = None,
        *,
        on_sent: SentCallback[T] | None = None,
        on_rejected: RejectedCallback[T] | None = None,
        on_failed: FailedCallback[T] | None = None,
        on_unmappable: Callable[[T, list[FieldProblem]], Awaitable[None]] | None = None,
    ) -> None:
        settings = settings or MutationSinkSettings()
        self._on_unmappable = on_unmappable
        """A record the mapping cannot map is the caller's MAP failure, not Fluent's refusal: with this
        callback it gets the mapper's field-level problems instead of ``on_rejected``."""
        self.aliases_per_request = max(1, min(settings.max_aliases, mapper.max_per_batch))
        super().__init__(
            max_concurrency=settings.max_concurrency,
            linger=settings.linger,
            max_group_size=self.aliases_per_request,
            rate_limit=settings.rate_limit,
            rate_burst=settings.rate_burst,
            on_sent=on_sent,
            on_rejected=on_rejected,
            on_failed=on_failed,
        )
        self.settings = settings
        self.mapper = mapper
        self._client = client
        self.requests_sent = 0
        """GraphQL requests made (diagnostics and tests)."""

    async def add(self, entity: Mapping[str, Any], token: T, job_key: str = "") -> None:
        """Map ``entity`` to the mutation's input and buffer it; a record that cannot be mapped is rejected
        at once. ``job_key`` is only carried into the :class:`BatchResult`. Waits when too many requests are
        queued; raises the first unexpected error of an earlier send."""
        self._check_open()
        try:
            variables = await self._map(entity)
        except _Unmappable as exc:
            if self._on_unmappable is not None:
                await self._on_unmappable(token, exc.problems)
            else:
                await self._reject([token], f"mapping to {self.mapper.mutation} failed: {exc}")
            return
        await self._enqueue(job_key, job_key, variables.get("input", variables), token, 0)

    async def _map(self, entity: Mapping[str, Any]) -> dict[str, Any]:
        # The fields pattern may use async resolvers, which only the async entry point can run.
        if not self.mapper.config.get("arguments"):
            nodes = await self.mapper.amap_with_nodes(entity)
            if not nodes.success or nodes.variables is None:
                raise _Unmappable(list(nodes.errors))
            return nodes.variables
        result = self.mapper.map_safe(entity)
        if not result.success or result.variables is None:
            raise _Unmappable(list(result.errors))
        return result.variables

    async def _send_buffer(self, batch: Buffer[T]) -> None:
        await self._execute(batch.job_key, batch.entities, batch.tokens)

    async def _execute(self, job_key: str, inputs: list[dict[str, Any]], tokens: list[T]) -> None:
        count = len(inputs)
        query = self.mapper.batch_query(count)
        variables = {f"input{i}": value for i, value in enumerate(inputs, 1)}
        try:
            async with self._request_slot():
                self.requests_sent += 1
                result = await self._client.graphql.execute(
                    query, variables, error_handling="partial", attempt_timeout=self.settings.attempt_timeout
                )
        except FluentError as exc:
            await self._fail(tokens, exc)
            return
        errors = result.errors
        if not isinstance(result.data, Mapping) and errors and not any(_has_path(e) for e in errors):
            verdict = result.classification or classify_errors(errors)
            if verdict.retryable:
                await self._fail(tokens, self._error(errors, verdict, query, variables, None))
            elif count > 1:
                mid = count // 2
                await self._execute(job_key, inputs[:mid], tokens[:mid])
                await self._execute(job_key, inputs[mid:], tokens[mid:])
            else:
                await self._reject(tokens, _messages(errors))
            return
        parsed = self.mapper.parse_aliased_response({"data": result.data, "errors": errors}, count)
        sent: list[T] = []
        for index, (outcome, token) in enumerate(zip(parsed.results, tokens, strict=False), 1):
            if outcome.success:
                sent.append(token)
                continue
            verdict = classify_errors(outcome.errors)
            if verdict.retryable:
                own = {f"input{index}": variables[f"input{index}"]}
                await self._fail([token], self._error(outcome.errors, verdict, query, own, outcome.alias))
            else:
                await self._reject([token], f"{outcome.alias}: {_messages(outcome.errors)}")
        if sent:
            await self._deliver(BatchResult("", "", sent, "COMPLETED", job_key))

    @staticmethod
    def _error(
        errors: list[dict[str, Any]],
        verdict: ErrorClassification,
        query: str,
        variables: Mapping[str, Any],
        alias: str | None,
    ) -> FluentGraphQLError:
        code = f" [{verdict.error_code}]" if verdict.error_code else ""
        where = f" on alias {alias}" if alias else ""
        return FluentGraphQLError(
            f"GraphQL error{code}{where}: {_messages(errors)[:300]}",
            errors=errors,
            classification=verdict,
            query=query,
            variables=variables,
            retryable=verdict.retryable,
            retry_after=verdict.retry_delay if verdict.retryable else None,
        )
