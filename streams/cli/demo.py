"""``fluentsync demo``: run the end-to-end demo on embedded defaults and exit."""

from __future__ import annotations

from pathlib import Path

import click

from fluentsync.streams.demo import main as run

__all__ = ["demo"]


@click.command("demo")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the inbox, pipeline file and logs here (default: a temporary folder, removed after).")
def demo(workdir: Path | None) -> None:
    """Run the demo pipeline on embedded defaults (no configuration, no network) and exit.

    Starts an embedded broker, the Fluent sandbox and a real worker on loopback, drops sample partner
    files (100,000 inventory rows, 500 products) into a local inbox, follows them through the pipeline
    into the sandbox with progress bars, prints a summary table and exits 0 when every record has
    exactly one outcome.
    """
    result = run(workdir)
    click.echo(f"demo finished in {result.seconds:.1f}s: {result.accepted:,} records accepted by Fluent, "
               f"{result.rejected} rejected to the dead-letter topics, none lost")
