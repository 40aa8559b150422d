"""The chaos suite's input: CSV inventory files whose every record's expected fate is known in advance.

Why generated rather than fixed: the accounting needs, per record, its file, row index, business key
and payload, and scenarios scale with ``--records``. The data is a pure function of its parameters:

- record ``i`` (0-based over the whole run) has the unique key ``(CH-<i>, LOC-<i % 7>)`` and quantity
  ``i % 5000``; records are split into ``files`` contiguous files;
- every 200th record from 7 on is **malformed** (an extra cell: a PARSE dead letter) and every 200th
  from 107 on is **unmappable** (quantity ``abc``: a MAP dead letter);
- the **warm-up** file holds every 10th key; nine in ten with the payload the run will send again
  (those records are then *unchanged*), one in ten with another quantity (changed: *accepted*).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["HEADER", "Dataset", "InputRecord", "Key", "build"]

Key = tuple[str, str]
Kind = Literal["valid", "malformed", "unmappable"]

HEADER = "sku,location,qty,status"
LOCATIONS = 7


@dataclass(frozen=True, slots=True)
class InputRecord:
    """One record of an input file and what it should become."""

    path: str  #: the file's path as the source reports it (``FileIdentity.path``)
    index: int  #: 0-based data row: the parser's ``record_index``
    key: Key  #: (skuRef, locationRef)
    qty: int | None  #: the quantity Fluent should receive; None for invalid records
    kind: Kind


@dataclass(frozen=True)
class Dataset:
    records: tuple[InputRecord, ...]
    files: dict[str, str]  #: path -> CSV text, in drop order
    warmup_path: str
    warmup: str  #: CSV text of the warm-up file
    baseline: dict[Key, int]  #: what the warm-up leaves in the dedupe baseline (key -> quantity)

    def expected(self) -> dict[str, int]:
        """Outcome counts of a fault-free run: the yardstick the report compares against."""
        rejected = sum(1 for r in self.records if r.kind != "valid")
        unchanged = sum(1 for r in self.records if r.kind == "valid" and self.baseline.get(r.key) == r.qty)
        return {"accepted": len(self.records) - rejected - unchanged, "rejected": rejected, "unchanged": unchanged}


def _kind(i: int) -> Kind:
    if i % 200 == 7:
        return "malformed"
    if i % 200 == 107:
        return "unmappable"
    return "valid"


def _row(sku: str, location: str, qty: int, kind: Kind) -> str:
    if kind == "malformed":
        return f"{sku},{location},{qty},ACTIVE,EXTRA"
    if kind == "unmappable":
        return f"{sku},{location},abc,ACTIVE"
    return f"{sku},{location},{qty},ACTIVE"


def build(records: int, files: int, prefix: str = "incoming/") -> Dataset:
    """``records`` records over ``files`` files named ``<prefix>part-<n>.csv``, plus the warm-up file."""
    if records < files or files < 1:
        raise ValueError(f"need at least one record per file ({records} records, {files} files)")
    out: list[InputRecord] = []
    lines: dict[str, list[str]] = {}
    warm = [HEADER]
    baseline: dict[Key, int] = {}
    for i in range(records):
        path = f"{prefix}part-{i * files // records + 1}.csv"
        rows = lines.setdefault(path, [HEADER])
        sku, location, qty, kind = f"CH-{i:07d}", f"LOC-{i % LOCATIONS:02d}", i % 5000, _kind(i)
        out.append(InputRecord(path, len(rows) - 1, (sku, location), qty if kind == "valid" else None, kind))
        rows.append(_row(sku, location, qty, kind))
        if i % 10 == 0 and kind == "valid":
            old = qty if i % 100 else qty + 1
            baseline[(sku, location)] = old
            warm.append(_row(sku, location, old, "valid"))
    texts = {path: "\n".join(rows) + "\n" for path, rows in lines.items()}
    return Dataset(tuple(out), texts, f"{prefix}warmup.csv", "\n".join(warm) + "\n", baseline)
