"""Exports: outbound topics into files (the consumer side of the file sinks).

Each entry of the pipeline's ``sinks:`` section (:class:`ExportConfig`: a
:class:`~fluentsync.connectors.filesinks.FileSinkConfig` plus its source) is consumed by a
:class:`SinkConsumer` into a :class:`~fluentsync.connectors.filesinks.RollingFileSink`: offsets are
committed only after the file holding the records is visible, names are deterministic, so a restart
neither loses records nor duplicates them nor leaves half files. With ``roll_on_run_end`` the last file
of an extraction run is closed as soon as the run's end offsets are consumed (:mod:`.runs`). Each
committed file is reported on ``sinks.<name>`` (:mod:`.reporting`).

Sinks run inside ``fluentsync worker`` (:func:`sink_service`) or alone (``fluentsync sink NAME``).
"""

from .config import ExportConfig, Sinks, SinkSource, SinkTopics, resolve_source
from .consumer import SinkConsumer
from .reporting import SINK_FILE_SCHEMA, Reporter
from .runs import RunEnds
from .service import build_consumer, group_id, sink_service, sink_topic_specs

__all__ = [
    "SINK_FILE_SCHEMA",
    "ExportConfig",
    "Reporter",
    "RunEnds",
    "SinkConsumer",
    "SinkSource",
    "SinkTopics",
    "Sinks",
    "build_consumer",
    "group_id",
    "resolve_source",
    "sink_service",
    "sink_topic_specs",
]
