"""``fluentsync sink NAME``: one file sink of the pipeline, alone, until SIGINT/SIGTERM.

The same consumer as inside ``fluentsync worker`` (consumer group ``<kafka.app_id>-sink-<name>``), so
a standalone sink and a worker share the partitions rather than writing the files twice. At stop the
open files are committed; a killed process loses nothing either (the next start rewrites the file it
was writing, under the same name). Each committed file is printed as it appears.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import click

from fluentsync.streams.cli.common import broker_or_exit, pipeline_or_exit
from fluentsync.streams.config import PipelineConfig

__all__ = ["sink"]


async def serve(config: PipelineConfig, name: str, bootstrap: str) -> None:
    """Run sink ``name`` until SIGINT/SIGTERM (its own topics and the extraction's are created if missing)."""
    from fluentsync.connectors.filesinks import CommittedFile
    from fluentsync.streams.exports import build_consumer, resolve_source, sink_topic_specs
    from fluentsync.streams.extraction.service import extraction_topic_specs
    from fluentsync.streams.kafka.topics import describe_topics, ensure_topics

    kafka = config.kafka
    source = resolve_source(name, config.sinks[name], config)
    extractions = {source.extraction: config.extractions[source.extraction]} if source.extraction else {}
    await ensure_topics(bootstrap, [*sink_topic_specs(config),
                                    *extraction_topic_specs(extractions, kafka.topic_prefix, kafka.partitions)])
    if source.topic not in await describe_topics(bootstrap, [source.topic]):
        raise click.ClickException(f"topic {source.topic!r} does not exist (create it: fluentsync topics)")

    def printed(files: list[CommittedFile]) -> None:
        for file in files:
            click.echo(f"{file.uri}  {file.records} records, {file.size} bytes")

    consumer = build_consumer(config, name, bootstrap, on_files=printed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await consumer.start()
    click.echo(f"sink {name}: {source.topic} -> {config.sinks[name].destination.type} "
               f"({config.sinks[name].format.type}); Ctrl-C to stop", err=True)
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({stopped, asyncio.ensure_future(consumer.wait())}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        await consumer.stop()
    await consumer.wait()  # raises what made the consumer fail, if it did
    click.echo(f"sink {name}: {consumer.records_consumed} records, {consumer.files_committed} files", err=True)


@click.command("sink")
@click.argument("name")
@click.option("--config", "-c", "config_path", required=True, help="Pipeline YAML file.",
              type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--bootstrap", "-b", default=None,
              help="Broker (default: the pipeline's; required when it says 'embedded').")
def sink(name: str, config_path: Path, bootstrap: str | None) -> None:
    """Write outbound topic records into files: sink NAME of the pipeline's `sinks:` section."""
    config = pipeline_or_exit(config_path)
    if name not in config.sinks:
        known = ", ".join(sorted(config.sinks)) or "none"
        raise click.ClickException(f"unknown sink {name!r} (configured: {known})")
    asyncio.run(serve(config, name, broker_or_exit(config, bootstrap)))
