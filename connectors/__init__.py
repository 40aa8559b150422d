"""The edges of fluentsync: everything that talks to a system outside Kafka.

- :mod:`fluentsync.connectors.fluent` — the async Fluent Commerce client (OAuth, GraphQL and
  pagination, Job/Batch API, Event API).
- :mod:`fluentsync.connectors.sandbox` — a faithful local imitation of Fluent for tests, benchmarks,
  the demo and users' own integration tests.

File sources (S3, SFTP, local), file sinks and the webhook receiver join them in later issues.
"""
