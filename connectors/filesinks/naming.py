"""Deterministic file names from a template such as ``orders/{yyyy}/{mm}/{dd}/orders-{run}-{part}.csv``.

A name is a pure function of the file's *first record*: its topic, partition, offset, timestamp and run.
That is what makes restarts safe: offsets are committed only after a file is committed, so after a
crash the consumer resumes at the first offset of the file it was writing, the new file starts with the
same record, gets the same name and overwrites whatever the crashed attempt may have left behind. For
the same reason dates come from the record's (Kafka) timestamp in UTC, never from the wall clock.

Variables (Python format specs allowed, e.g. ``{offset:012d}``):

=============  ==============================================================================
``{topic}``    the topic the sink consumes
``{partition}`` its partition (int)
``{offset}``   offset of the first record in the file (int)
``{part}``     ``<partition:03d>-<offset:012d>``: unique per file and sorting in offset order
``{run}``      the run the records belong to (the position's ``run``, else the configured one)
``{yyyy}`` ``{mm}`` ``{dd}`` ``{hh}``  the first record's timestamp, UTC, zero-padded
``{ext}``      the format's extension (``csv``, ``json``, ``jsonl``, ``xml``, ``parquet``)
=============  ==============================================================================

A template must contain ``{part}`` or both ``{partition}`` and ``{offset}``: without them two files
would get the same name and the second would silently replace the first.
"""

from __future__ import annotations

import posixpath
import re
import string
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["VARIABLES", "FileNamer", "NameInputs", "validate_template"]

VARIABLES = frozenset({"topic", "partition", "offset", "part", "run", "yyyy", "mm", "dd", "hh", "ext"})

_SAFE_VALUE = re.compile(r"[^A-Za-z0-9._=-]")


@dataclass(frozen=True)
class NameInputs:
    """Everything a name may depend on: the first record of the file, and the sink's constants."""

    topic: str
    partition: int
    offset: int
    timestamp: datetime
    run: str
    ext: str


def validate_template(template: str) -> None:
    """Raise ValueError unless ``template`` is a safe, unique-per-file relative name template."""
    if not template.strip():
        raise ValueError("the file name template is empty")
    fields: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"bad file name template {template!r}: {exc}") from None
    for _, field, _, conversion in parsed:
        if field is None:
            continue
        if field not in VARIABLES:
            raise ValueError(f"unknown variable {{{field}}} in {template!r}; known: {sorted(VARIABLES)}")
        if conversion:
            raise ValueError(f"conversions (!{conversion}) are not allowed in {template!r}")
        fields.add(field)
    if "part" not in fields and not {"partition", "offset"} <= fields:
        raise ValueError(
            f"{template!r} must contain {{part}} or both {{partition}} and {{offset}}, "
            "or two files would get the same name"
        )
    if template.startswith("/") or any(seg in {"..", "."} for seg in template.split("/")):
        raise ValueError(f"{template!r} must be a relative path without '.' or '..' segments")
    if template.endswith("/"):
        raise ValueError(f"{template!r} names a folder, not a file")


class FileNamer:
    """Renders a validated template; the same :class:`NameInputs` always give the same name."""

    def __init__(self, template: str) -> None:
        validate_template(template)
        self.template = template

    def render(self, inputs: NameInputs) -> str:
        ts = inputs.timestamp
        ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
        values: dict[str, object] = {
            # topic and run are free text: keep them to one safe path segment each
            "topic": _safe(inputs.topic),
            "run": _safe(inputs.run),
            "partition": inputs.partition,
            "offset": inputs.offset,
            "part": f"{inputs.partition:03d}-{inputs.offset:012d}",
            "yyyy": f"{ts.year:04d}",
            "mm": f"{ts.month:02d}",
            "dd": f"{ts.day:02d}",
            "hh": f"{ts.hour:02d}",
            "ext": inputs.ext,
        }
        name = self.template.format_map(values)
        normal = posixpath.normpath(name)
        if normal != name or normal.startswith(("/", "../")):
            raise ValueError(f"file name {name!r} from {self.template!r} is not a clean relative path")
        return name


def _safe(value: str) -> str:
    cleaned = _SAFE_VALUE.sub("_", value)
    return cleaned if cleaned.strip(".") else cleaned.replace(".", "_") or "_"
