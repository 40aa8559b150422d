"""Shared test set-up: servers are started once per session by the fixture plugins below."""

pytest_plugins = [
    "tests.fixtures.kafka",
    "tests.fixtures.sandbox",
    "tests.fixtures.sandbox_admin",
    "tests.fixtures.s3",
    "tests.fixtures.sftp",
    "tests.fixtures.registry",
]
