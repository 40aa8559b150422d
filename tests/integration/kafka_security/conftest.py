"""Certificates for the module, and this process's Kafka security put back to PLAINTEXT after every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fluentsync.streams.kafka.connection import configure_kafka
from tests.fixtures.certs import Certificates, make_certificates


@pytest.fixture(autouse=True)
def _plaintext_afterwards() -> Iterator[None]:
    yield
    configure_kafka(None)


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("kafka-certs"))
