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

    Starts an embedded broker and a real worker on loopback, drops sample partner files into a local
    inbox, follows them through the pipeline, prints one line per step and exits 0 when every record
    is accounted for.
    """
    result = run(workdir)
    click.echo(f"demo finished in {result.seconds:.1f}s: {result.published:,} records published, "
               f"{result.dead_lettered} dead-lettered, none lost")
