"""The batch status poller with a fake clock and a fake Job/Batch API (R38, R39, R48).

The fake clock makes hours of polling run in milliseconds: ``sleep`` advances it instead of waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from fluentsync.connectors.fluent import BatchStatus, FluentServerError, FluentTimeoutError
from fluentsync.connectors.fluent.jobs import is_terminal, normalise_status, status_kind
from fluentsync.streams.sinks import (
    BatchCompletion,
    BatchResult,
    BatchStatusPoller,
    EntityError,
    StatusPollSettings,
    map_batch_errors,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay
        await asyncio.sleep(0)


StatusFn = Callable[[float, str], dict[str, Any]]


class FakeJobs:
    """``get_batch`` answers from ``script(now, batch_id)``; records each call's time."""

    def __init__(self, clock: FakeClock, script: StatusFn) -> None:
        self.clock = clock
        self.script = script
        self.calls: list[tuple[float, str]] = []
        self.fail_at: set[int] = set()
        """1-based call numbers that raise a (post-retry) 503."""

    async def get_batch(self, job_id: str, batch_id: str) -> BatchStatus:
        self.calls.append((self.clock.now, batch_id))
        if len(self.calls) in self.fail_at:
            raise FluentServerError("Fluent answered 503 after 3 retries", status=503)
        return BatchStatus.from_body(self.script(self.clock.now, batch_id), job_id=job_id, batch_id=batch_id)

    def polls(self, batch_id: str) -> int:
        return sum(1 for _, b in self.calls if b == batch_id)


def finishing_at(done_at: float, errors: list[dict[str, Any]] | None = None, final: str = "COMPLETE") -> StatusFn:
    def script(now: float, batch_id: str) -> dict[str, Any]:
        if now >= done_at:
            return {"id": batch_id, "status": final, "errors": errors or []}
        return {"id": batch_id, "status": "RUNNING" if now > 0 else "PENDING"}

    return script


def result(batch_id: str, n: int, job_id: str = "J1") -> BatchResult[int]:
    return BatchResult(job_id=job_id, batch_id=batch_id, tokens=list(range(n)), status="PENDING", job_key="f")


def make(
    script: StatusFn, settings: StatusPollSettings | None = None
) -> tuple[FakeClock, FakeJobs, BatchStatusPoller[int]]:
    clock = FakeClock()
    jobs = FakeJobs(clock, script)
    poller: BatchStatusPoller[int] = BatchStatusPoller(jobs, settings, clock=clock, sleep=clock.sleep)
    return clock, jobs, poller


async def run_until_done(poller: BatchStatusPoller[int]) -> list[BatchCompletion[int]]:
    await poller.start()
    await asyncio.wait_for(poller.drain(), 5)
    await poller.aclose()
    return poller.completed


# -- R38: adaptive interval and bounds ---------------------------------------------------------------


def test_interval_is_adaptive() -> None:
    s = StatusPollSettings()
    assert (s.poll_timeout, s.max_poll_attempts, s.max_concurrency) == (3600.0, None, 4)
    assert [s.interval_for(n) for n in (1, 9, 10, 99, 100, 5000)] == [10, 10, 30, 30, 60, 60]
    fast = StatusPollSettings(intervals=(0.05, 0.1, 0.2), min_interval=0.01)
    assert fast.interval_for(1) == 0.05
    assert StatusPollSettings(intervals=(0.05, 0.1, 0.2)).interval_for(1) == 1.0  # the default floor
    with pytest.raises(ValidationError):
        StatusPollSettings(intervals=(0, 1, 2))
    with pytest.raises(ValidationError):
        StatusPollSettings(max_poll_attempts=0)
    with pytest.raises(ValidationError):
        StatusPollSettings(thresholds=(100, 10))


async def test_five_batch_job_finishing_in_60s_is_polled_about_6_times() -> None:
    _clock, jobs, poller = make(finishing_at(60.0))
    for i in range(5):
        poller.submit(result(f"B{i}", 10))
    assert poller.pending == 5
    done = await run_until_done(poller)

    assert sorted(c.batch_id for c in done) == [f"B{i}" for i in range(5)]
    assert all(c.status == "COMPLETE" and c.accepted == list(range(10)) and c.succeeded for c in done)
    assert [jobs.polls(f"B{i}") for i in range(5)] == [6] * 5  # at 10, 20, ... 60 s
    assert sorted({t for t, _ in jobs.calls}) == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    assert all(c.polls == 6 for c in done)
    assert poller.pending == 0


async def test_many_batches_are_polled_less_often() -> None:
    _clock, jobs, poller = make(finishing_at(60.0))
    for i in range(20):  # 10 <= n < 100: every 30 s
        poller.submit(result(f"B{i}", 1))
    await run_until_done(poller)
    assert sorted({t for t, _ in jobs.calls}) == [30.0, 60.0]
    assert len(jobs.calls) == 40


async def test_stuck_batch_with_max_poll_attempts_30_times_out_after_exactly_30_polls() -> None:
    clock, jobs, poller = make(finishing_at(float("inf")), StatusPollSettings(max_poll_attempts=30))
    poller.submit(result("B1", 3))
    [done] = await run_until_done(poller)

    assert len(jobs.calls) == 30
    assert done.status == "TIMED_OUT" and done.kind == "timed_out" and not done.succeeded
    assert done.timed_out == [0, 1, 2] and done.accepted == [] and done.errors == []
    assert done.polls == 30
    assert clock.now == pytest.approx(300.0)  # 30 x 10 s, the advanced guide's profile
    assert done.last_status is not None and done.last_status.status == "RUNNING"


async def test_defaults_time_out_at_one_hour() -> None:
    clock, jobs, poller = make(finishing_at(float("inf")))
    poller.submit(result("B1", 2))
    [done] = await run_until_done(poller)

    assert done.status == "TIMED_OUT" and done.timed_out == [0, 1]
    assert jobs.calls[-1][0] == pytest.approx(3600.0)
    assert clock.now == pytest.approx(3600.0)
    assert len(jobs.calls) == 360


async def test_status_call_errors_are_logged_and_polled_again(caplog: pytest.LogCaptureFixture) -> None:
    _clock, jobs, poller = make(finishing_at(20.0))
    jobs.fail_at = {2}  # the poll at 20 s fails; the one at 30 s sees COMPLETE
    poller.submit(result("B1", 2))
    [done] = await run_until_done(poller)

    assert done.status == "COMPLETE" and done.accepted == [0, 1]
    assert [t for t, _ in jobs.calls] == [10.0, 20.0, 30.0]
    assert poller.status_call_errors == 1
    assert "503" in caplog.text and "polling again later" in caplog.text


async def test_a_status_endpoint_that_never_recovers_still_ends_timed_out() -> None:
    clock = FakeClock()

    class Broken:
        calls = 0

        async def get_batch(self, job_id: str, batch_id: str) -> BatchStatus:
            Broken.calls += 1
            raise FluentTimeoutError("read timed out")

    poller: BatchStatusPoller[int] = BatchStatusPoller(
        Broken(), StatusPollSettings(max_poll_attempts=5), clock=clock, sleep=clock.sleep
    )
    poller.submit(result("B1", 1))
    [done] = await run_until_done(poller)
    assert done.status == "TIMED_OUT" and done.timed_out == [0] and Broken.calls == 5


async def test_concurrent_status_calls_are_bounded() -> None:
    clock = FakeClock()
    active = peak = 0

    class Slow:
        async def get_batch(self, job_id: str, batch_id: str) -> BatchStatus:
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.001)
            active -= 1
            return BatchStatus.from_body({"status": "COMPLETE"}, job_id=job_id, batch_id=batch_id)

    poller: BatchStatusPoller[int] = BatchStatusPoller(
        Slow(), StatusPollSettings(max_concurrency=3), clock=clock, sleep=clock.sleep
    )
    for i in range(12):
        poller.submit(result(f"B{i}", 1))
    done = await run_until_done(poller)
    assert len(done) == 12 and peak == 3


async def test_submit_never_blocks_and_duplicates_are_ignored() -> None:
    _clock, jobs, poller = make(finishing_at(10.0))
    poller.submit(result("B1", 1))
    poller.submit(result("B1", 1))  # a replayed batch_submitted message
    assert poller.pending == 1
    await run_until_done(poller)
    assert len(poller.completed) == 1 and len(jobs.calls) == 1
    with pytest.raises(RuntimeError):
        poller.submit(result("B2", 1))


async def test_on_done_callback_and_its_errors() -> None:
    clock = FakeClock()
    jobs = FakeJobs(clock, finishing_at(10.0))
    seen: list[BatchCompletion[int]] = []

    async def on_done(completion: BatchCompletion[int]) -> None:
        seen.append(completion)
        if completion.batch_id == "BAD":
            raise ValueError("downstream broke")

    poller: BatchStatusPoller[int] = BatchStatusPoller(jobs, on_done=on_done, clock=clock, sleep=clock.sleep)
    poller.submit(result("B1", 1))
    poller.submit(result("BAD", 1))
    await poller.start()
    with pytest.raises(ValueError, match="downstream broke"):
        await asyncio.wait_for(poller.drain(), 5)
    await poller.aclose()
    assert sorted(c.batch_id for c in seen) == ["B1", "BAD"]
    assert poller.completed == [] and poller.pending == 0


async def test_async_context_manager_drains() -> None:
    clock = FakeClock()
    jobs = FakeJobs(clock, finishing_at(25.0))
    async with BatchStatusPoller[int](jobs, clock=clock, sleep=clock.sleep) as poller:
        poller.submit(result("B1", 1))
        await asyncio.sleep(0)
        poller.submit(result("B2", 1))
    assert sorted(c.batch_id for c in poller.completed) == ["B1", "B2"]


# -- R39: status normalisation -------------------------------------------------------------------------

_STATUS_TABLE = [
    # Fluent public docs: job OPEN -> CLOSED, batch PENDING -> RUNNING -> COMPLETE
    ("OPEN", False),
    ("CLOSED", False),
    ("PENDING", False),
    ("RUNNING", False),
    ("COMPLETE", True),
    # bundled GraphQL schema
    ("PROCESSING", False),
    ("COMPLETED", True),
    ("FAILED", True),
    ("COMPLETED_WITH_ERRORS", True),
    # error-handling guides, batch-processing guide
    ("CREATED", False),
    ("ACTIVE", False),
    ("SUBMITTED", False),
    ("PARTIAL", True),
    ("EXPIRED", True),
    # unknown, odd spelling, missing
    ("SOMETHING_NEW", False),
    ("complete", True),
    (" Completed-With-Errors ", True),
    (None, False),
]


@pytest.mark.parametrize(("raw", "terminal"), _STATUS_TABLE)
def test_status_values_map_to_terminal_or_not(raw: str | None, terminal: bool) -> None:
    assert is_terminal(raw) is terminal


@pytest.mark.parametrize(("raw", "terminal"), _STATUS_TABLE)
async def test_poller_stops_exactly_on_terminal_values(raw: str | None, terminal: bool) -> None:
    def script(now: float, batch_id: str) -> dict[str, Any]:
        return {"id": batch_id, "status": raw}

    _clock, jobs, poller = make(script, StatusPollSettings(max_poll_attempts=3))
    poller.submit(result("B1", 2))
    [done] = await run_until_done(poller)
    if terminal:
        assert len(jobs.calls) == 1 and done.status == normalise_status(raw) and done.status != "TIMED_OUT"
    else:
        assert len(jobs.calls) == 3 and done.status == "TIMED_OUT"


@pytest.mark.parametrize(
    ("raw", "accepted"),
    [
        ("COMPLETE", [0, 1]),
        ("COMPLETED", [0, 1]),
        ("COMPLETED_WITH_ERRORS", [0, 1]),
        ("PARTIAL", [0, 1]),
        ("FAILED", []),
        ("EXPIRED", []),
    ],
)
async def test_terminal_kinds_without_entity_detail(raw: str, accepted: list[int]) -> None:
    def script(now: float, batch_id: str) -> dict[str, Any]:
        return {"id": batch_id, "status": raw, "message": "batch went wrong"} if now else {}

    _clock, _jobs, poller = make(script)
    poller.submit(result("B1", 2))
    [done] = await run_until_done(poller)
    assert done.accepted == accepted
    assert done.kind == status_kind(raw)
    if not accepted:  # FAILED/EXPIRED without entity detail: every token errored with the batch's message
        assert [(t, e.code, e.message, e.entity_index) for t, e in done.errors] == [
            (0, "BATCH_FAILED", "batch went wrong", 0),
            (1, "BATCH_FAILED", "batch went wrong", 1),
        ]
        assert not done.succeeded


# -- R48: per-entity errors --------------------------------------------------------------------------------


async def test_complete_with_entity_errors_maps_by_entity_index() -> None:
    errors = [{"code": "C0122E", "message": "qty must not be negative (got -1)", "entityIndex": 7, "ref": "R7"}]
    _clock, _jobs, poller = make(finishing_at(10.0, errors))
    poller.submit(BatchResult("J1", "B1", [f"rec-{i}" for i in range(10)], "PENDING"))  # type: ignore[arg-type]
    [done] = await run_until_done(poller)

    assert done.status == "COMPLETE" and done.kind == "success"
    assert not done.succeeded  # done, but partial (R48)
    assert done.accepted == [f"rec-{i}" for i in range(10) if i != 7]
    assert done.errors == [("rec-7", EntityError("C0122E", "qty must not be negative (got -1)", 7, "R7"))]
    assert done.batch_errors == []


def _status(errors: list[dict[str, Any]], status: str = "COMPLETE") -> BatchStatus:
    return BatchStatus.from_body({"id": "B1", "status": status, "errors": errors}, job_id="J1")


def test_error_mapping_by_record_index_and_unmatched_errors() -> None:
    status = _status(
        [
            {"recordIndex": 1, "error": "bad sku", "ref": "L:S1"},  # doc variant
            {"recordIndex": "3", "error": {"code": "E1", "message": "nested"}},
            {"code": "C0999", "message": "no index at all", "ref": "X"},
            {"code": "C0998", "message": "index out of range", "entityIndex": 99},
            {"code": "C0122E", "message": "second problem", "entityIndex": 3},
        ]
    )
    accepted, errors, batch_errors = map_batch_errors(status, ["a", "b", "c", "d"])
    assert accepted == ["a", "c"]
    assert errors == [
        ("b", EntityError(None, "bad sku", 1, "L:S1")),
        ("d", EntityError("E1", "nested; second problem", 3, None)),
    ]
    assert batch_errors == [
        EntityError("C0999", "no index at all", None, "X"),
        EntityError("C0998", "index out of range", 99, None),
    ]


def test_entity_index_wins_over_record_index() -> None:
    accepted, errors, _ = map_batch_errors(_status([{"entityIndex": 0, "recordIndex": 2, "message": "m"}]), [1, 2, 3])
    assert accepted == [2, 3] and [t for t, _ in errors] == [1]


def test_failed_batch_with_entity_detail_errors_every_token() -> None:
    status = _status([{"code": "C0140E", "message": "skuRef is required", "entityIndex": 1}], status="FAILED")
    accepted, errors, _ = map_batch_errors(status, ["a", "b", "c"])
    assert accepted == []
    assert [(t, e.code) for t, e in errors] == [("a", "BATCH_FAILED"), ("b", "C0140E"), ("c", "BATCH_FAILED")]
    # no batch message and no unmatched error: a generic one, not another entity's text
    assert errors[0][1].message == "batch B1 ended FAILED"


def test_every_token_lands_in_exactly_one_bucket() -> None:
    tokens = list(range(50))
    errs = [{"entityIndex": i, "message": "x"} for i in range(0, 50, 7)]
    accepted, errors, _ = map_batch_errors(_status(errs), tokens)
    assert sorted(accepted + [t for t, _ in errors]) == tokens
    assert [t for t, _ in errors] == list(range(0, 50, 7))
