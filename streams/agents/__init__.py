"""Faust agents, one module per role. Each module exposes a ``register(app, ...)`` function used by
:mod:`fluentsync.streams.worker` to attach its agents, tables and timers to the worker's app."""
