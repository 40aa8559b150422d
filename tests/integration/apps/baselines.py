"""A tiny Faust app for the baseline-table test: writes and reads a :class:`BaselineTable` on command.

Run as ``python -m tests.integration.apps.baselines worker`` with FLUENTSYNC_TEST_BOOTSTRAP,
FLUENTSYNC_TEST_APP_ID, FLUENTSYNC_TEST_DATADIR and FLUENTSYNC_TEST_STORE set. A command on
``<app>-commands`` is JSON: ``{"id", "set": {key: value}, "pop": [key], "probe": [key]}``; its keys live
in the partition of the command (as the records agent's keys live in their record batch's partition).
A probe publishes ``{"id", "values", "digests", "bulk"}`` to ``<app>-observed``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fluentsync.streams.app import FaustOptions, create_app
from fluentsync.streams.dedupe.baseline import BaselineTable

APP_ID = os.environ["FLUENTSYNC_TEST_APP_ID"]
app = create_app(
    APP_ID,
    FaustOptions(
        bootstrap=os.environ["FLUENTSYNC_TEST_BOOTSTRAP"],
        embedded=True,
        partitions=2,
        data_dir=Path(os.environ["FLUENTSYNC_TEST_DATADIR"]),
        store=os.environ.get("FLUENTSYNC_TEST_STORE", "rocksdb://"),
    ),
)

raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
commands = app.topic(f"{APP_ID}-commands", **raw)
observed = app.topic(f"{APP_ID}-observed", **raw)
baselines = BaselineTable(app.Table("baseline", key_type=bytes, partitions=2))


@app.agent(commands)
async def apply(stream: Any) -> None:
    async for key, value in stream.items():
        command = json.loads(value)
        for name, baseline in command.get("set", {}).items():
            baselines[name.encode()] = baseline
        for name in command.get("pop", []):
            baselines.pop(name.encode(), None)
        await baselines.flush()
        if "probe" in command:
            names = command["probe"]
            await observed.send(key=key, value=json.dumps({
                "id": command["id"],
                "values": {name: baselines.get(name.encode()) for name in names},
                "digests": {name: baselines.digest(name.encode()) for name in names},
                "bulk": baselines._bulk(),
            }).encode())


if __name__ == "__main__":
    app.main()
