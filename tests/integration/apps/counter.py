"""A tiny Faust app for the table-recovery test: counts events per key in a changelog-backed table.

Run as ``python -m tests.integration.apps.counter worker`` with FLUENTSYNC_TEST_BOOTSTRAP,
FLUENTSYNC_TEST_APP_ID and FLUENTSYNC_TEST_DATADIR set. After every update the agent publishes the
key's new count (Avro RecordOutcome-free: a plain JSON value) to ``<app>-observed``, which the test reads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fluentsync.schemas.faust_codec import avro_schema
from fluentsync.streams.app import FaustOptions, create_app

APP_ID = os.environ["FLUENTSYNC_TEST_APP_ID"]
app = create_app(
    APP_ID,
    FaustOptions(
        bootstrap=os.environ["FLUENTSYNC_TEST_BOOTSTRAP"],
        embedded=True,
        partitions=2,
        data_dir=Path(os.environ["FLUENTSYNC_TEST_DATADIR"]),
        store=os.environ.get("FLUENTSYNC_TEST_STORE", "memory://"),
    ),
)

increments = app.topic(f"{APP_ID}-increments", schema=avro_schema("fluentsync.ledger.RecordOutcome"))
observed = app.topic(f"{APP_ID}-observed", key_type=bytes, value_type=bytes,
                     key_serializer="raw", value_serializer="raw")
counts = app.Table(
    "counts",
    default=int,
    partitions=2,
    key_type=bytes,  # raw bytes keys in the changelog, as on the source topic
    value_type=int,
)


@app.agent(increments)
async def count(stream: Any) -> None:
    async for key, outcome in stream.items():
        counts[key] += 1
        await observed.send(key=key, value=f"{outcome['record_key']}={counts[key]}".encode())


if __name__ == "__main__":
    app.main()
