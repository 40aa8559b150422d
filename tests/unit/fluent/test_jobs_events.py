"""Job/Batch and Event payload rules and status normalisation (fluent-api.md §5-§6)."""

from __future__ import annotations

import httpx
import pytest

from fluentsync.connectors.fluent import (
    BatchStatus,
    FluentClientError,
    FluentConfigError,
    FluentError,
    FluentJobClosedError,
    FluentValidationError,
    is_terminal,
    normalise_status,
    status_kind,
)

from .fakes import FakeClock, FakeFluent, Sleeps, body_of, make_client

ENTITY = {"locationRef": "L1", "skuRef": "S1", "qty": 3, "type": "LAST_ON_HAND", "status": "ACTIVE"}


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("COMPLETE", "success"),
        ("completed", "success"),
        ("Completed With Errors", "success_with_errors"),
        ("PARTIAL", "success_with_errors"),
        ("FAILED", "failure"),
        ("expired", "failure"),
        ("RUNNING", "pending"),
        ("PROCESSING", "pending"),
        ("SOMETHING_NEW", "pending"),
        (None, "pending"),
        ("TIMED_OUT", "timed_out"),
    ],
)
def test_status_kinds(raw: str | None, kind: str) -> None:
    assert status_kind(raw) == kind
    assert is_terminal(raw) == (kind in ("success", "success_with_errors", "failure"))


def test_normalise_status() -> None:
    assert normalise_status(" completed-with errors ") == "COMPLETED_WITH_ERRORS"
    assert normalise_status("") == "UNKNOWN"


def test_batch_errors_by_index() -> None:
    status = BatchStatus.from_body(
        {
            "id": 9,
            "jobId": 3,
            "status": "COMPLETE",
            "processedEntities": 3,
            "totalEntities": 3,
            "errors": [{"code": "C1", "entityIndex": 2}, {"recordIndex": "0", "error": "x"}, {"ref": "r"}],
        },
        job_id="3",
    )
    assert status.id == "9" and status.job_id == "3" and status.kind == "success"
    assert sorted(status.errors_by_index()) == [0, 2]


async def test_create_job_and_batch_payloads() -> None:
    fake = FakeFluent()
    fake.routes["/api/v4.1/job"] = lambda r: httpx.Response(200, json={"id": 12, "status": "OPEN"})
    fake.routes["/api/v4.1/job/12/batch"] = lambda r: httpx.Response(200, json={"id": 34, "status": "PENDING"})
    async with make_client(fake) as client:
        job = await client.jobs.create_job("Daily Inventory - 2025-01-01", meta={"preprocessing": "skip"})
        batch = await client.jobs.send_batch(job.id, [ENTITY, {**ENTITY, "retailerId": 9}], source="wms")
    assert job.id == "12" and batch.id == "34" and batch.job_id == "12" and batch.status == "PENDING"
    assert body_of(fake.api_requests("/api/v4.1/job")[0]) == {
        "name": "Daily Inventory - 2025-01-01",
        "retailerId": "1",
        "meta": {"preprocessing": "skip"},
    }
    sent = body_of(fake.api_requests("/api/v4.1/job/12/batch")[0])
    assert sent["action"] == "UPSERT" and sent["entityType"] == "INVENTORY"
    assert sent["source"] == "wms" and sent["event"] == "InventoryChanged"
    assert [e["retailerId"] for e in sent["entities"]] == [1, 9]


async def test_batch_refused_before_sending() -> None:
    fake = FakeFluent()
    async with make_client(fake) as client:
        with pytest.raises(FluentValidationError, match="empty"):
            await client.jobs.send_batch("1", [])
        with pytest.raises(FluentValidationError, match="5000"):
            await client.jobs.send_batch("1", [ENTITY] * 5001)
        with pytest.raises(FluentValidationError, match="bytes"):
            await client.jobs.send_batch("1", [{**ENTITY, "attributes": {"blob": "x" * 3000}}] * 4000)
    assert fake.requests == []


async def test_retailer_required_for_jobs_and_events() -> None:
    fake = FakeFluent()
    async with make_client(fake, retailer_id=None) as client:
        with pytest.raises(FluentConfigError, match="retailer"):
            await client.jobs.create_job("x")
        with pytest.raises(FluentConfigError, match="retailer"):
            await client.events.send({"name": "E", "entityType": "ORDER", "entityRef": "O1"})
        client.retailer_id = 3
        assert client.retailer_id == "3"
    assert fake.requests == []


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, {"code": "NOT_FOUND"}),
        (400, {"code": "JOB_EXPIRED", "message": "Job 1 is closed"}),
        (409, "job has expired"),
    ],
)
async def test_closed_job_detection(status: int, body: object) -> None:
    fake = FakeFluent()
    fake.routes["/api/v4.1/job/1/batch"] = lambda r: (
        httpx.Response(status, json=body) if isinstance(body, dict) else httpx.Response(status, text=str(body))
    )
    async with make_client(fake) as client:
        with pytest.raises(FluentJobClosedError) as info:
            await client.jobs.send_batch("1", [ENTITY])
    assert info.value.status == status and info.value.job_id == "1"
    assert len(fake.api_requests("/api/v4.1/job/1/batch")) == 1


async def test_other_batch_4xx_is_plain_client_error() -> None:
    fake = FakeFluent()
    fake.routes["/api/v4.1/job/1/batch"] = lambda r: httpx.Response(400, json={"code": "BAD_ENTITY_TYPE"})
    async with make_client(fake) as client:
        with pytest.raises(FluentClientError) as info:
            await client.jobs.send_batch("1", [ENTITY])
    assert not isinstance(info.value, FluentJobClosedError)


async def test_wait_for_batch_times_out_as_timed_out() -> None:
    fake = FakeFluent()
    clock = FakeClock()
    fake.routes["/api/v4.1/job/1/batch/2"] = lambda r: httpx.Response(200, json={"id": 2, "status": "RUNNING"})

    sleeps = Sleeps()

    async def advancing_sleep(delay: float) -> None:
        clock.now += delay
        await sleeps(delay)

    async with make_client(fake, clock=clock, sleep=advancing_sleep) as client:  # type: ignore[arg-type]
        status = await client.jobs.wait_for_batch("1", "2", max_wait=10, interval=1, max_interval=4)
    assert status.status == "TIMED_OUT" and status.kind == "timed_out" and not status.is_terminal
    assert sleeps.calls[:4] == [1, 1.5, 2.25, 3.375]


async def test_events_payload_and_response() -> None:
    fake = FakeFluent()
    fake.routes["/api/v4.1/event/async"] = lambda r: httpx.Response(200, text="")
    fake.routes["/api/v4.1/event/sync"] = lambda r: httpx.Response(201, json={"id": 55, "status": "COMPLETED"})
    async with make_client(fake) as client:
        accepted = await client.events.send({"name": "OrderCancel", "entityType": "ORDER", "entityRef": "O1"})
        done = await client.send_event(
            {"name": "X", "entityType": "ORDER", "entityId": 4, "retailerId": 2, "attributes": {"a": 1}},
            mode="sync",
        )
    assert (accepted.status_code, accepted.success, accepted.id) == (200, True, None)
    assert (done.status_code, done.id, done.status) == (201, "55", "COMPLETED")
    sent = body_of(fake.api_requests("/api/v4.1/event/async")[0])
    assert sent == {"name": "OrderCancel", "entityType": "ORDER", "entityRef": "O1", "retailerId": "1"}
    assert body_of(fake.api_requests("/api/v4.1/event/sync")[0])["retailerId"] == "2"


@pytest.mark.parametrize(
    "event",
    [
        {"entityType": "ORDER", "entityRef": "O"},
        {"name": "E", "entityRef": "O"},
        {"name": "E", "entityType": "O"},
        {"name": "E", "entityType": "ORDER", "entityRef": "O", "attributes": [{"name": "a"}]},
    ],
)
async def test_event_validation(event: dict[str, object]) -> None:
    async with make_client(FakeFluent()) as client:
        with pytest.raises(FluentValidationError):
            await client.events.send(event)


async def test_event_search_params_and_get() -> None:
    fake = FakeFluent()
    fake.routes["/api/v4.1/event"] = lambda r: httpx.Response(
        200,
        json={
            "start": 0,
            "count": 1,
            "hasMore": False,
            "results": [{"id": 5, "name": "E", "context": {"entityId": 9, "entityRef": "O"}}],
        },
    )
    fake.routes["/api/v4.1/event/5"] = lambda r: httpx.Response(200, json={"id": 5, "name": "E"})
    async with make_client(fake) as client:
        page = await client.events.search({"context.entityRef": "O", "from": None, "eventType": ""}, name="E", count=10)
        one = await client.events.get(5)
        with pytest.raises(FluentValidationError):
            await client.events.search(count=5001)
    assert page.results[0]["id"] == "5" and page.results[0]["context"]["entityId"] == "9"
    assert one["id"] == "5"
    params = dict(fake.api_requests("/api/v4.1/event")[0].url.params)
    assert params == {"context.entityRef": "O", "name": "E", "count": "10"}


def test_every_error_has_status_retryable_retry_after() -> None:
    for cls in FluentError.__subclasses__():
        assert issubclass(cls, FluentError)
    err = FluentClientError("x", status=418)
    assert (err.status, err.retryable, err.retry_after) == (418, False, None)
