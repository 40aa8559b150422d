"""``fluentsync demo``: run the end-to-end demo on embedded defaults and exit."""

from __future__ import annotations

import click

from fluentsync.streams.demo import main as run

__all__ = ["demo"]


@click.command("demo")
@click.option("--bootstrap", default=None, envvar="FLUENTSYNC_KAFKA_BOOTSTRAP",
              help="Use this Kafka instead of starting the embedded broker.")
def demo(bootstrap: str | None) -> None:
    """Run the demo pipeline on embedded defaults (no configuration, no network) and exit.

    Starts everything it needs on loopback, runs a bounded scenario, prints one line per step and
    exits 0 when every record arrived.
    """
    result = run(bootstrap)
    click.echo(f"demo finished in {result.seconds:.1f}s: {result.consumed}/{result.published} records arrived")
