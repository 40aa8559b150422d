"""File sinks: outbound topics into complete, deterministically named files (local, S3, SFTP).

The library has no Kafka dependency. A consumer feeds it records with their position and commits
the offsets it reports::

    sink = RollingFileSink.from_config(config, topic="orders.out", avro_schema=schema)
    async with sink:
        async for msg in consumer:
            commit = await sink.add(msg.value, Position.from_kafka(msg.partition, msg.offset, msg.timestamp))
            if commit:
                await consumer.commit({TopicPartition(topic, p): o for p, o in commit.offsets.items()})
        # periodically: await sink.tick(); on revoke: await sink.flush(partitions); commit; at exit: flush

See :mod:`~fluentsync.connectors.filesinks.sink` for the exactly-once argument,
:mod:`~fluentsync.connectors.filesinks.naming` for name templates, and
:mod:`~fluentsync.connectors.filesinks.settings` for the configuration.
"""

from fluentsync.connectors.filesinks.destinations import (
    Destination,
    DestinationError,
    LocalDestination,
    S3Destination,
    SftpDestination,
    open_destination,
)
from fluentsync.connectors.filesinks.flatten import explode_rows, flatten, schema_columns
from fluentsync.connectors.filesinks.naming import FileNamer, NameInputs, validate_template
from fluentsync.connectors.filesinks.settings import (
    CsvFormat,
    DestinationConfig,
    FileSinkConfig,
    FormatConfig,
    JsonFormat,
    JsonlFormat,
    LocalDestinationConfig,
    ParquetFormat,
    RollingConfig,
    S3DestinationConfig,
    SftpDestinationConfig,
    XmlFormat,
)
from fluentsync.connectors.filesinks.sink import Commit, CommittedFile, Position, RollingFileSink, SinkError
from fluentsync.connectors.filesinks.writers import RecordEncodingError, RecordWriter, extension, open_writer

__all__ = [
    "Commit",
    "CommittedFile",
    "CsvFormat",
    "Destination",
    "DestinationConfig",
    "DestinationError",
    "FileNamer",
    "FileSinkConfig",
    "FormatConfig",
    "JsonFormat",
    "JsonlFormat",
    "LocalDestination",
    "LocalDestinationConfig",
    "NameInputs",
    "ParquetFormat",
    "Position",
    "RecordEncodingError",
    "RecordWriter",
    "RollingConfig",
    "RollingFileSink",
    "S3Destination",
    "S3DestinationConfig",
    "SftpDestination",
    "SftpDestinationConfig",
    "SinkError",
    "XmlFormat",
    "avro_to_arrow",
    "explode_rows",
    "extension",
    "flatten",
    "open_destination",
    "open_writer",
    "schema_columns",
    "validate_template",
]


def __getattr__(name: str) -> object:
    # pyarrow is large: import the Parquet module only when asked for
    if name == "avro_to_arrow":
        from fluentsync.connectors.filesinks.parquet import avro_to_arrow

        return avro_to_arrow
    raise AttributeError(name)
