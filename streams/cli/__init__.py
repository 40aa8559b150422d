"""The ``fluentsync`` command line.

Each command lives in its own module and is imported only when it is invoked, so ``fluentsync --help``
stays fast even though some commands pull in Faust, pyarrow or the sandbox's GraphQL engine.
To add a command, add one line to :data:`COMMANDS`.
"""

from __future__ import annotations

import importlib

import click

__all__ = ["COMMANDS", "main"]

#: command name -> ("module:attribute", one-line help shown by ``fluentsync --help``)
COMMANDS: dict[str, tuple[str, str]] = {
    "broker": ("fluentsync.streams.cli.broker:broker", "Run the embedded Kafka-compatible broker."),
    "topics": ("fluentsync.streams.cli.topics:topics", "Create or describe Kafka topics explicitly."),
    "config": ("fluentsync.streams.cli.config:config", "Validate a pipeline file offline."),
    "demo": ("fluentsync.streams.cli.demo:demo", "Run the end-to-end demo on embedded defaults."),
    "dlq": ("fluentsync.streams.cli.dlq:dlq", "List, show and redrive dead letters."),
    "extract": ("fluentsync.streams.cli.extract:extract", "Run an extraction now, or list extractions."),
    "replay": ("fluentsync.streams.cli.replay:replay", "Process a workflow's records again from a point in time."),
    "reports": ("fluentsync.streams.cli.reports:reports", "Show run reports (records by outcome, jobs, errors)."),
    "runs": ("fluentsync.streams.cli.extract:runs", "Show tracked extraction runs."),
    "sink": ("fluentsync.streams.cli.sink:sink", "Write an outbound topic into files (one sink, standalone)."),
    "status": ("fluentsync.streams.cli.status:status", "Show lag, files in flight, outcomes, jobs, errors."),
    "sandbox": ("fluentsync.connectors.sandbox.cli:sandbox", "Run the local Fluent Commerce sandbox."),
    "webhooks": ("fluentsync.streams.cli.webhooks:webhooks", "Run only the webhook receiver."),
    "worker": ("fluentsync.streams.cli.worker:worker", "Run the configured workflows (the service)."),
}


class _LazyGroup(click.Group):
    """A click group that imports a command's module only when that command runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attribute = target[0].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                return _unavailable(cmd_name, target[1])
            raise
        command = getattr(module, attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _unavailable(name: str, summary: str) -> click.Command:
    @click.command(name, help=f"{summary} (not available in this build)")
    def _cmd() -> None:
        raise click.ClickException(f"'fluentsync {name}' is not available in this build")

    return _cmd


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fluentsync")
def main() -> None:
    """fluentsync: keep Fluent Commerce in sync with your systems through durable Kafka streams."""
