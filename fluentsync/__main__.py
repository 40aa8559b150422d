"""``python -m fluentsync`` runs the CLI, for environments where the console script is not on PATH."""

from fluentsync.streams.cli import main

main()
