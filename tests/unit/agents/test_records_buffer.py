"""The records agent's stream buffer is bounded in decoded RecordBatch events, not Faust's 4,096."""

from __future__ import annotations

import faust
import pytest

from fluentsync.streams.agents.records import BUFFERED_RECORDS, buffered_batches, records_topic


@pytest.mark.parametrize(("batch_records", "events"), [(2000, 16), (500, 64), (1, 32_000), (100_000, 16)])
def test_buffered_batches_holds_about_buffered_records(batch_records: int, events: int) -> None:
    assert buffered_batches(batch_records) == events
    assert events == 16 or events * batch_records >= BUFFERED_RECORDS


def test_the_stream_the_agent_iterates_has_the_bounded_buffer() -> None:
    # faust.App.topic(maxsize=...) drops the argument; what counts is the clone the agent's stream reads,
    # whose queue is the one the conductor fills with decoded events.
    app = faust.App("records-buffer-test", broker="kafka://localhost:1")
    topic = records_topic(app, "records.wf", 3, 2000)

    async def agent(stream: object) -> None:  # pragma: no cover - never started
        pass

    records_agent = app.agent(topic, name="records-wf")(agent)
    stream = records_agent.stream()
    iterated = stream.channel.clone(is_iterator=True)
    assert iterated.maxsize == 16
    assert app.conf.stream_buffer_maxsize > 16  # the default the buffer would otherwise have
