"""The GraphQL mutation sink against the sandbox: alias batching, per-alias attribution, retries, accounting."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from fluentsync.connectors.fluent import FluentClient, FluentGraphQLError
from fluentsync.streams.mapping.mutations import GraphQLMutationMapper
from fluentsync.streams.sinks import MutationSink, MutationSinkSettings
from tests.fixtures.sandbox_admin import Admin
from tests.integration.sinks.outcomes import TokenOutcomes

pytestmark = pytest.mark.integration

CUSTOMER_MAPPING = {
    "version": "1.0.0",
    "mutation": "createCustomer",
    "sourceFormat": "json",
    "returnFields": ["id", "ref"],
    "arguments": {
        "input": {
            "ref": {"source": "ref", "required": True},
            "email": {"source": "email"},
            "firstName": {"source": "first"},
            "lastName": {"source": "last"},
        }
    },
}


def customer(i: int, ref: str | None = None) -> dict[str, Any]:
    return {"ref": ref or f"MS-{i:04d}", "email": f"ms{i}@example.com", "first": "Mia", "last": f"S{i}"}


class Outcomes(TokenOutcomes):
    """Token outcomes of a GraphQL mutation sink (the customer mapping)."""

    def sink(self, fluent: FluentClient, **settings: Any) -> MutationSink[int]:
        return MutationSink(
            fluent,
            GraphQLMutationMapper(CUSTOMER_MAPPING),
            MutationSinkSettings(**settings),
            on_sent=self.on_sent,
            on_rejected=self.on_rejected,
            on_failed=self.on_failed,
        )


def test_settings_bounds() -> None:
    assert MutationSinkSettings().max_aliases == 20
    with pytest.raises(ValidationError):
        MutationSinkSettings(max_aliases=21)  # fluent-api.md §4.5: at most 20 aliases per request
    with pytest.raises(ValidationError):
        MutationSinkSettings(max_aliases=0)
    with pytest.raises(ValidationError):
        MutationSinkSettings(linger=0)


@pytest.mark.parametrize(("records", "max_aliases"), [(45, 20), (7, 3), (5, 5)])
async def test_alias_batching_sends_n_records_in_ceil_requests(
    fluent: FluentClient, admin: Admin, records: int, max_aliases: int
) -> None:
    out = Outcomes()
    async with out.sink(fluent, max_aliases=max_aliases) as sink:
        for i in range(records):
            await sink.add(customer(i), i, job_key="customers.csv")

    assert len(await admin.requests("graphql")) == math.ceil(records / max_aliases)
    assert sink.requests_sent == math.ceil(records / max_aliases)
    assert out.sent_tokens() == list(range(records)) and not out.rejected and not out.failed
    assert {(r.job_id, r.batch_id, r.status, r.job_key) for r in out.sent} == {("", "", "COMPLETED", "customers.csv")}
    mutations = await admin.call("GET", "/mutations", params={"mutation": "createCustomer"})
    assert sorted(m["input"]["ref"] for m in mutations) == sorted(f"MS-{i:04d}" for i in range(records))
    assert {m["alias"] for m in mutations} == {f"createCustomer{k}" for k in range(1, min(records, max_aliases) + 1)}
    data = await fluent.query('query { customer(ref: "MS-0002") { ref email lastName } }')
    assert data["customer"] == {"ref": "MS-0002", "email": "ms2@example.com", "lastName": "S2"}


async def test_one_bad_alias_is_rejected_and_the_rest_sent(fluent: FluentClient, admin: Admin) -> None:
    out = Outcomes()
    async with out.sink(fluent, max_aliases=10) as sink:
        for i in range(10):
            await sink.add(customer(i, ref="MS-0003" if i == 7 else None), i)  # 7 duplicates 3: C0121E

    assert len(await admin.requests("graphql")) == 1
    assert out.rejected_tokens() == [7]
    assert "createCustomer8" in out.rejected[0][1] and "C0121E" in out.rejected[0][1]
    assert out.sent_tokens() == [i for i in range(10) if i != 7]
    assert len(out.sent) == 1 and not out.failed


async def test_unmappable_record_is_rejected_without_a_request(fluent: FluentClient, admin: Admin) -> None:
    out = Outcomes()
    async with out.sink(fluent) as sink:
        await sink.add({"email": "no-ref@example.com"}, 1)
        await sink.add(customer(2), 2)
    assert out.rejected_tokens() == [1] and "ref" in out.rejected[0][1]
    assert out.sent_tokens() == [2]
    assert len(await admin.requests("graphql")) == 1


async def test_request_level_validation_error_is_bisected(fluent: FluentClient, admin: Admin) -> None:
    out = Outcomes()
    async with out.sink(fluent, max_aliases=8) as sink:
        for i in range(8):
            record = customer(i)
            if i == 5:
                record["first"] = {"not": "a string"}  # fails variable coercion: nothing in the request runs
            await sink.add(record, i)
    assert out.rejected_tokens() == [5]
    assert out.sent_tokens() == [0, 1, 2, 3, 4, 6, 7] and not out.failed
    mutations = await admin.call("GET", "/mutations", params={"mutation": "createCustomer"})
    assert sorted(m["input"]["ref"] for m in mutations) == [f"MS-{i:04d}" for i in range(8) if i != 5]


async def test_5xx_burst_retried_then_sent_and_exhausted_failed(fluent: FluentClient, admin: Admin) -> None:
    await admin.fault("graphql", "status", status=503, times=2)
    out = Outcomes()
    async with out.sink(fluent, max_aliases=5) as sink:
        for i in range(5):
            await sink.add(customer(i), i)
    assert out.sent_tokens() == list(range(5))
    assert await admin.statuses("graphql") == [503, 503, 200]

    await admin.fault("graphql", "status", status=503, times=4)
    gave_up = Outcomes()
    async with gave_up.sink(fluent, max_aliases=5) as sink:
        for i in range(10, 13):
            await sink.add(customer(i), i)
    assert [(tokens, err.status, err.retryable) for tokens, err in gave_up.failed] == [([10, 11, 12], 503, True)]


async def test_retryable_graphql_error_is_failed_not_rejected(fluent: FluentClient, admin: Admin, sandbox: Any) -> None:
    await sandbox.settings(rate_limit=0.5, rate_limit_burst=1)  # the second request within 2 s gets C0011E
    out = Outcomes()
    async with out.sink(fluent, max_aliases=2, max_concurrency=1) as sink:
        for i in range(4):
            await sink.add(customer(i), i)
    assert out.sent_tokens() == [0, 1]
    assert [tokens for tokens, _ in out.failed] == [[2, 3]] and not out.rejected
    error = out.failed[0][1]
    assert isinstance(error, FluentGraphQLError) and error.retryable and error.error_code == "C0011E"
    assert error.retry_after == 60.0


async def test_concurrency_bound(fluent: FluentClient, admin: Admin) -> None:
    await admin.fault("graphql", "latency", delay=0.1)
    out = Outcomes()
    sink = out.sink(fluent, max_aliases=2, max_concurrency=2)
    for i in range(12):
        await sink.add(customer(i), i)
        assert sink.in_flight <= 2
    await sink.aclose()
    assert sink.max_in_flight_seen == 2 and sink.requests_sent == 6
    assert out.sent_tokens() == list(range(12))


async def test_every_token_gets_exactly_one_outcome(fluent: FluentClient, admin: Admin) -> None:
    await admin.fault("graphql", "status", status=502, times=2)
    await admin.fault("graphql", "status", status=500, ref="MS-DOWN")  # that request never gets through
    out = Outcomes()
    async with out.sink(fluent, max_aliases=4, linger=0.05, max_concurrency=3) as sink:
        for i in range(30):
            record = customer(i, ref={4: "MS-0001", 9: "MS-DOWN"}.get(i))
            if i == 13:
                record.pop("ref")
            if i == 21:
                record["last"] = ["bad"]
            await sink.add(record, i, job_key=f"f{i % 2}")
    out.assert_each_once(range(30))
    assert {13, 21} <= set(out.rejected_tokens())
    assert len({1, 4} & set(out.rejected_tokens())) == 1  # the duplicate ref: whichever request ran second
    assert 9 in out.failed_tokens()
