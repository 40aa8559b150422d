"""Unit tests of the Fluent client never read the developer's FLUENT_* environment or profiles."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _clean_fluent_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for key in list(os.environ):
        if key.startswith("FLUENT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("FLUENT_PROFILE_DIR", str(tmp_path_factory.mktemp("no-profiles")))
