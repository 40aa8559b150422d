"""The C/S/T classification table (fluent-api.md §4.4 and its refinement) and execute()."""

from __future__ import annotations

import httpx
import pytest

from fluentsync.connectors.fluent import (
    FluentGraphQLError,
    classify_error,
    classify_errors,
)

from .fakes import FakeFluent, Sleeps, gql, make_client


def code(c: str) -> dict[str, object]:
    return {"message": "boom", "extensions": {"code": c}}


@pytest.mark.parametrize(
    ("error_code", "retryable", "category", "delay"),
    [
        ("C0001E", False, "client", None),
        ("C0003E", True, "client", 60.0),
        ("C0011E", True, "client", 60.0),
        ("C0020E", False, "client", None),
        ("C0105E", False, "client", None),
        ("C0120E", False, "client", None),
        ("C0121E", False, "client", None),
        ("C0128W", False, "client", None),
        ("C0135E", False, "client", None),
        ("C0140E", False, "client", None),
        ("C0150E", False, "client", None),
        ("C0165E", False, "client", None),
        ("C0999E", False, "client", None),
        ("S0001E", False, "server", None),
        ("S0002E", True, "server", 30.0),
        ("S0010E", False, "server", None),
        ("S0020E", True, "server", 30.0),
        ("S0030E", False, "server", None),
        ("S0040E", True, "server", 10.0),
        ("S0500E", True, "server", 30.0),
        ("T0001E", True, "third_party", 30.0),
    ],
)
def test_fluent_code_table(error_code: str, retryable: bool, category: str, delay: float | None) -> None:
    verdict = classify_error(code(error_code))
    assert (verdict.retryable, verdict.category, verdict.retry_delay) == (retryable, category, delay)
    assert verdict.error_code == error_code


def test_specific_actions() -> None:
    assert classify_error(code("C0020E")).action == "contact_support"
    assert classify_error(code("C0121E")).user_message.startswith("Entity already exists")
    assert classify_error(code("S0030E")).action == "contact_support"


def test_code_embedded_in_message() -> None:
    verdict = classify_error({"message": "C0121E: Order with ref O-1 already exists"})
    assert verdict.error_code == "C0121E" and not verdict.retryable


def test_refinement_non_fluent_codes_do_not_use_the_letter_rule() -> None:
    # The reference would call SERVER_ERROR a retryable server error and CUSTOM a client error.
    assert classify_error({"message": "something odd", "extensions": {"code": "SERVER_ERROR"}}).category == "unknown"
    assert classify_error({"message": "x", "extensions": {"code": "CUSTOM_THING"}}).retryable is False
    assert classify_error(code("UNAUTHENTICATED")).category == "auth"
    assert classify_error(code("GRAPHQL_VALIDATION_FAILED")).retryable is False
    assert classify_error(code("BAD_USER_INPUT")).category == "validation"
    assert classify_error(code("INTERNAL_SERVER_ERROR")).retryable is True


@pytest.mark.parametrize(
    ("message", "retryable", "category"),
    [
        ("Order already exists", False, "client"),
        ("Duplicate key", False, "client"),
        ("Location not found", False, "client"),
        ("Field ref is required", False, "client"),
        ("null value in column", False, "client"),
        ("Connection timeout to upstream", True, "server"),
        ("Internal error occurred", True, "server"),
        ("Something unexpected", False, "unknown"),
    ],
)
def test_message_fallback(message: str, retryable: bool, category: str) -> None:
    verdict = classify_error({"message": message})
    assert (verdict.retryable, verdict.category) == (retryable, category)


def test_list_one_non_retryable_poisons_the_list() -> None:
    verdict = classify_errors([code("S0002E"), code("C0121E"), code("C0001E")])
    assert not verdict.retryable and verdict.error_code == "C0121E"
    all_retryable = classify_errors([code("S0040E"), code("C0011E")])
    assert all_retryable.retryable and all_retryable.retry_delay == 60.0
    assert all_retryable.error_code == "S0040E"


async def test_execute_throw_and_partial_modes() -> None:
    fake = FakeFluent()
    errors = [{"message": "Order exists", "path": ["createOrder1"], "extensions": {"code": "C0121E"}}]
    fake.routes["/graphql"] = lambda r: gql({"createOrder1": None, "createOrder2": {"id": "2"}}, errors)
    async with make_client(fake) as client:
        with pytest.raises(FluentGraphQLError) as info:
            await client.graphql.execute("mutation M($input: X) { a }", {"input": {"password": "p4ssword!"}})
        result = await client.graphql.execute("mutation { a }", error_handling="partial")
    err = info.value
    assert err.status == 200 and not err.retryable and err.error_code == "C0121E"
    assert err.data == {"createOrder1": None, "createOrder2": {"id": "2"}}
    assert err.variables == {"input": {"password": "***"}}
    assert err.query and "mutation" in err.query
    assert result.has_partial_data and result.classification is not None
    assert result.data["createOrder2"] == {"id": "2"}


async def test_execute_retryable_error_carries_delay() -> None:
    fake = FakeFluent()
    fake.routes["/graphql"] = lambda r: gql(None, [code("S0002E")])
    async with make_client(fake) as client:
        with pytest.raises(FluentGraphQLError) as info:
            await client.graphql.query("query { a }")
    assert info.value.retryable and info.value.retry_after == 30.0
    assert len(fake.api_requests("/graphql")) == 1  # long delays are the caller's decision


async def test_unauthenticated_graphql_error_refreshes_and_replays() -> None:
    fake = FakeFluent()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return gql(None, [{"message": "no", "extensions": {"code": "UNAUTHENTICATED"}}])
        return gql({"me": {"ref": "u"}})

    fake.routes["/graphql"] = handler
    sleeps = Sleeps()
    async with make_client(fake, sleep=sleeps) as client:
        assert await client.check_connection() == "u"
    assert calls == 2 and sleeps.calls == [1.0]
    assert fake.grants() == ["password", "refresh_token"]


async def test_request_body_omits_unset_keys() -> None:
    fake = FakeFluent()
    fake.routes["/graphql"] = lambda r: gql({"a": 1})
    async with make_client(fake) as client:
        await client.graphql.execute("query { a }")
        await client.graphql.execute("query Q($x: Int) { a }", {"x": 1}, "Q")
    import json

    bodies = [json.loads(r.content) for r in fake.api_requests("/graphql")]
    assert bodies[0] == {"query": "query { a }"}
    assert bodies[1] == {"query": "query Q($x: Int) { a }", "variables": {"x": 1}, "operationName": "Q"}
