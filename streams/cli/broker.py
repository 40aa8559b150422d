"""``fluentsync broker``: the embedded Kafka-compatible broker in the foreground."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click

from fluentsync.streams.kafka.broker import BrokerError, EmbeddedBroker

__all__ = ["broker"]


@click.command("broker")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=9092, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0 picks a free one).")
@click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Append the broker's own log here (default: discarded).")
def broker(host: str, port: int, log_file: Path | None) -> None:
    """Run the embedded Kafka-compatible broker (Tansu, memory storage) until SIGINT/SIGTERM.

    Prints the bootstrap address once the broker accepts connections. Everything it stores is lost
    when it stops; use it for development, tests and the demo, and Apache Kafka in production.
    """
    embedded = EmbeddedBroker(host, port, log_file=log_file)
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            embedded.start_sync()
        except BrokerError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"bootstrap: {embedded.bootstrap}", err=False)
        click.echo("embedded broker ready (memory storage); Ctrl-C to stop", err=True)
        while not stop.wait(0.5):
            if not embedded.running:
                raise click.ClickException("the embedded broker exited unexpectedly")
    finally:
        code = embedded.stop_sync()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo(f"embedded broker stopped (exit code {code})", err=True)
