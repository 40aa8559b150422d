"""File selection: globs on names, settled files only, stable order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fluentsync.connectors.ingest.selection import Selection, Selector
from fluentsync.connectors.sources.base import FileRef

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def ref(path: str, age: float = 3600, size: int = 10) -> FileRef:
    modified = NOW - timedelta(seconds=age)
    return FileRef("local", "/in", path, f"size={size};mtime={modified.timestamp()}", size, modified)


def test_globs_match_names_with_literal_dots_case_insensitively() -> None:
    selection = Selection(patterns=("*.csv", "inventory_*.csv.gz"), ignore=("*.tmp.csv",))
    assert selection.matches("a.csv") and selection.matches("A.CSV")
    assert selection.matches("inventory_2026.csv.gz")
    assert not selection.matches("acsv") and not selection.matches("a.csvx")
    assert not selection.matches("x.tmp.csv")
    assert not Selection(patterns=("*.csv",), case_sensitive=True).matches("A.CSV")


def test_min_age_holds_back_fresh_files() -> None:
    selector = Selector(Selection(min_age=60), now=lambda: NOW)
    assert [r.path for r in selector.select([ref("old.csv", age=120), ref("new.csv", age=5)])] == ["old.csv"]


def test_stable_listings_wait_until_a_file_stops_changing() -> None:
    selector = Selector(Selection(stable_listings=2), now=lambda: NOW)
    assert selector.select([ref("a.csv", size=10)]) == []
    assert selector.select([ref("a.csv", size=20)]) == []  # still growing
    assert [r.path for r in selector.select([ref("a.csv", size=20)])] == ["a.csv"]
    assert [r.path for r in selector.select([ref("a.csv", size=20)])] == ["a.csv"]


def test_order_and_limit() -> None:
    files = [ref("b.csv", age=10), ref("a.csv", age=30), ref("c.csv", age=20)]
    assert [r.path for r in Selector(Selection(), now=lambda: NOW).select(files)] == ["a.csv", "c.csv", "b.csv"]
    newest = Selector(Selection(order="newest", max_files=2), now=lambda: NOW).select(files)
    assert [r.path for r in newest] == ["b.csv", "c.csv"]
    assert [r.path for r in Selector(Selection(order="name"), now=lambda: NOW).select(files)] == [
        "a.csv", "b.csv", "c.csv"]


def test_invalid_stability() -> None:
    with pytest.raises(ValueError):
        Selection(stable_listings=0)
