"""The stream side of fluentsync: the Faust app, Kafka plumbing, the demo and the CLI.

- :mod:`fluentsync.streams.app` — the Faust application factory and its settings.
- :mod:`fluentsync.streams.kafka` — the embedded broker, explicit topic creation, exact end offsets.
- :mod:`fluentsync.streams.cli` — the ``fluentsync`` command line.
"""
