"""A local, stateful imitation of Fluent Commerce: ``fluentsync sandbox``.

Tests, benchmarks, the demo and users' own integration tests run against it instead of a real tenant.
It serves the same routes under one base URL (OAuth token, GraphQL, Job/Batch REST, Event API), is
strict by default about what real Fluent is believed to reject, and adds an admin API under
``/_sandbox/`` for seeding data, injecting faults and inspecting what arrived. See ``docs/sandbox.md``.

Typical use from Python::

    async with SandboxServer(SandboxConfig(port=0)) as sandbox:
        ...  # point a client at sandbox.base_url; assert on sandbox.state
"""

from __future__ import annotations

from .app import SandboxServer, ThreadedSandbox, create_app
from .clock import Clock
from .config import SandboxConfig, SandboxSettings
from .faults import ROUTES, FaultSpec
from .seed import SeedSpec
from .state import SandboxState

__all__ = [
    "ROUTES",
    "Clock",
    "FaultSpec",
    "SandboxConfig",
    "SandboxServer",
    "SandboxSettings",
    "SandboxState",
    "SeedSpec",
    "ThreadedSandbox",
    "create_app",
]
