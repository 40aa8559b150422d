"""Sink configuration: discriminated unions, forbidden extras, secrets hidden, unsafe values refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from fluentsync.connectors.filesinks import (
    CsvFormat,
    FileSinkConfig,
    LocalDestination,
    ParquetFormat,
    S3Destination,
    S3DestinationConfig,
    SftpDestination,
    SftpDestinationConfig,
    open_destination,
)

YAML = """
path: "orders/{yyyy}/{mm}/{dd}/orders-{run}-{part}.{ext}"
format: {type: csv, arrays: explode, explode: lines, delimiter: ";"}
rolling: {max_records: 50000, max_bytes: 10485760, max_age: 60}
destination:
  type: s3
  bucket: exports
  prefix: fluent
  endpoint_url: http://127.0.0.1:9000
  path_style: true
  access_key_id: AKIA-TEST
  secret_access_key: very-secret
"""


def test_a_pipeline_style_block_parses() -> None:
    config = FileSinkConfig.model_validate(yaml.safe_load(YAML))
    assert isinstance(config.format, CsvFormat) and config.format.explode == "lines"
    assert isinstance(config.destination, S3DestinationConfig)
    assert config.destination.prefix == "fluent/"
    assert "very-secret" not in repr(config) and "very-secret" not in str(config.model_dump())
    assert isinstance(open_destination(config.destination), S3Destination)


def test_defaults_are_jsonl_with_all_three_limits(tmp_path: Path) -> None:
    config = FileSinkConfig(destination={"type": "local", "root": tmp_path})
    assert config.format.type == "jsonl"
    assert (config.rolling.max_records, config.rolling.max_bytes, config.rolling.max_age) == (100_000, 64 << 20, 300)
    assert isinstance(open_destination(config.destination), LocalDestination)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"path": "orders/{yyyy}.csv"}, "must contain"),
        ({"format": {"type": "csv", "arrays": "explode"}}, "explode"),
        ({"format": {"type": "csv", "explode": "lines"}}, "arrays is 'join'"),
        ({"format": {"type": "xml", "item": "bad name"}}, "XML element name"),
        ({"format": {"type": "parquet", "compression": "lzma"}}, "compression"),
        ({"format": {"type": "avro"}}, "union_tag_invalid"),
        ({"rolling": {"max_records": None, "max_bytes": None, "max_age": None}}, "at least one"),
        ({"rolling": {"max_rows": 5}}, "extra"),
        ({"destination": {"type": "local", "root": "/x", "prefix": "../up"}}, "'..'"),
        ({"destination": {"type": "s3", "bucket": "b", "part_size": 1024}}, "part_size"),
        ({"destination": {"type": "sftp", "host": "h", "username": "u", "known_hosts": None}}, "known_hosts"),
        ({"unknown": 1}, "extra"),
    ],
)
def test_invalid_configs_are_refused_at_start_up(change: dict[str, Any], problem: str) -> None:
    data: dict[str, Any] = {"destination": {"type": "local", "root": "/tmp/out"}} | change
    with pytest.raises(ValidationError, match=problem):
        FileSinkConfig.model_validate(data)


def test_sftp_host_key_checking_off_is_explicit() -> None:
    config = SftpDestinationConfig(host="sftp://h", username="u", password="p",
                                   known_hosts=None, host_key_checking=False)
    destination = open_destination(config)
    assert isinstance(destination, SftpDestination) and destination.host == "h"
    assert "'p'" not in repr(config)


def test_parquet_options() -> None:
    assert ParquetFormat(compression="zstd", compression_level=3, row_group_records=1000).row_group_records == 1000
