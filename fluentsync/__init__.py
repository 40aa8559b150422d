"""fluentsync: durable, replayable Kafka streams between Fluent Commerce and the systems around it.

The code lives in three subpackages, each a top-level folder of the repository:

- :mod:`fluentsync.connectors` — the edges: file and webhook sources, file sinks, the Fluent client
  and the Fluent sandbox.
- :mod:`fluentsync.streams` — the Faust app, agents, Kafka plumbing (embedded broker, topics) and CLI.
- :mod:`fluentsync.schemas` — the Avro contracts (``.avsc``) and the codec that frames them.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
