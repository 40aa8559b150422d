"""The broker an operations command talks to, and whether it needs the embedded broker's workarounds.

Operations commands run beside the workers, often on another machine, so they take the broker from the
pipeline file or ``--bootstrap``. A pipeline that says ``bootstrap: embedded`` starts its broker inside
the worker on a free port: the commands cannot guess that address and ask for it.
"""

from __future__ import annotations

from fluentsync.streams.config import PipelineConfig

__all__ = ["BootstrapError", "broker_is_embedded", "resolve_bootstrap"]


class BootstrapError(ValueError):
    """No usable broker address."""


def resolve_bootstrap(config: PipelineConfig, bootstrap: str | None) -> str:
    address = bootstrap or config.kafka.bootstrap
    if address == "embedded":
        raise BootstrapError("the pipeline uses an embedded broker: pass --bootstrap HOST:PORT "
                             "(the worker prints it when it starts)")
    return address


async def broker_is_embedded(config: PipelineConfig, bootstrap: str) -> bool:
    """The pipeline's ``kafka.compat``, or (``auto``) the broker's cluster id, as the worker decides it."""
    if config.kafka.compat != "auto":
        return config.kafka.compat == "embedded"
    from fluentsync.streams.kafka.broker import is_embedded_broker

    return await is_embedded_broker(bootstrap)
