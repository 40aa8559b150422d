"""File names: deterministic, date partitions from the record's timestamp, unsafe templates refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from fluentsync.connectors.filesinks import FileNamer, NameInputs, validate_template

STAMP = datetime(2024, 6, 1, 23, 30, tzinfo=UTC)


def inputs(**changes: object) -> NameInputs:
    base: dict[str, object] = {"topic": "orders", "partition": 2, "offset": 1500, "timestamp": STAMP,
                               "run": "r1", "ext": "csv"}
    base.update(changes)
    return NameInputs(**base)


def test_issue_example_renders_date_partitions_and_part() -> None:
    namer = FileNamer("orders/{yyyy}/{mm}/{dd}/orders-{run}-{part}.{ext}")
    assert namer.render(inputs()) == "orders/2024/06/01/orders-r1-002-000000001500.csv"


def test_same_inputs_same_name_and_every_identity_field_matters() -> None:
    namer = FileNamer("{topic}/{yyyy}{mm}{dd}{hh}/{run}-{partition}-{offset:010d}.{ext}")
    assert namer.render(inputs()) == namer.render(inputs()) == "orders/2024060123/r1-2-0000001500.csv"
    names = {namer.render(inputs(partition=3)), namer.render(inputs(offset=1501)), namer.render(inputs())}
    assert len(names) == 3


def test_dates_are_the_records_timestamp_in_utc_not_the_wall_clock() -> None:
    namer = FileNamer("{yyyy}-{mm}-{dd}T{hh}/{part}.{ext}")
    plus_two = STAMP.astimezone(timezone(timedelta(hours=2)))  # 2024-06-02 01:30 +02:00: same instant
    assert namer.render(inputs(timestamp=plus_two)) == "2024-06-01T23/002-000000001500.csv"
    naive = datetime(2024, 6, 1, 23, 30)  # naive: taken as UTC
    assert namer.render(inputs(timestamp=naive)) == "2024-06-01T23/002-000000001500.csv"


def test_free_text_values_cannot_escape_their_path_segment() -> None:
    namer = FileNamer("{topic}/{run}/{part}.{ext}")
    name = namer.render(inputs(topic="../etc", run="a/b c"))
    assert name == ".._etc/a_b_c/002-000000001500.csv"
    assert ".." not in namer.render(inputs(topic="..")).split("/")


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("orders/{yyyy}/orders.csv", "must contain {part}"),
        ("orders/{partition}.csv", "must contain {part}"),
        ("orders/{unknown}-{part}.csv", "unknown variable"),
        ("orders/{part.real}.csv", "unknown variable"),
        ("orders/{part!r}.csv", "conversions"),
        ("/abs/{part}.csv", "relative path"),
        ("a/../{part}.csv", "relative path"),
        ("{part}/", "folder"),
        ("orders/{part", "bad file name template"),
        ("", "empty"),
    ],
)
def test_unsafe_or_ambiguous_templates_are_refused(template: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("{", r"\{")):
        validate_template(template)


def test_partition_and_offset_together_are_as_good_as_part() -> None:
    validate_template("x/{partition}/{offset}.{ext}")
