"""The last warnings and errors a worker logged, per workflow, for ``GET /status``."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from fluentsync.streams.observability.logs import correlate
from fluentsync.streams.observability.status_errors import WORKER, RecentErrors


@pytest.fixture
def errors() -> Iterator[RecentErrors]:
    handler = RecentErrors(keep=3)
    handler.attach("fluentsync.test.status")
    yield handler
    handler.detach("fluentsync.test.status")


log = logging.getLogger("fluentsync.test.status")


def test_workflow_from_the_message_and_from_the_correlation_ids(errors: RecentErrors) -> None:
    log.warning("workflow %s: %d records not taken by Fluent (%s)", "inventory", 3, "503")
    with correlate(workflow="orders", run_id="r-1", file="incoming/o.xml"):
        log.error("settling a record batch failed")
    log.error("extraction %s run %s failed", "late-orders", "x-1")
    log.warning("no workflow here")
    log.info("not kept: below WARNING")
    [inventory] = errors.recent("inventory")
    assert inventory["message"] == "workflow inventory: 3 records not taken by Fluent (503)"
    assert inventory["level"] == "WARNING" and inventory["time"].endswith("Z")
    [orders] = errors.recent("orders")
    assert (orders["run_id"], orders["file"], orders["level"]) == ("r-1", "incoming/o.xml", "ERROR")
    assert errors.recent("extraction:late-orders")[0]["scope"] == "extraction"
    assert [e["message"] for e in errors.recent(WORKER)] == ["no workflow here"]


def test_bounded_newest_first_with_exceptions_and_redaction(errors: RecentErrors) -> None:
    for i in range(5):
        log.warning("workflow %s: problem %d", "inventory", i)
    assert [e["message"][-9:] for e in errors.recent("inventory")] == ["problem 4", "problem 3", "problem 2"]
    try:
        raise RuntimeError("broker gone")
    except RuntimeError:
        log.exception("workflow %s: listing failed with password=hunter22", "inventory")
    newest = errors.recent("inventory")[0]["message"]
    assert "RuntimeError: broker gone" in newest and "hunter22" not in newest
