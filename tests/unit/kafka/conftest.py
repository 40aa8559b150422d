"""Every test here may configure this process's Kafka security; it is put back to PLAINTEXT afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fluentsync.streams.kafka.connection import configure_kafka


@pytest.fixture(autouse=True)
def _plaintext_afterwards() -> Iterator[None]:
    yield
    configure_kafka(None)
