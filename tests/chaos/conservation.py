"""Record conservation: does every input record have exactly one outcome? Pure functions, no I/O.

The pipeline's promise (README, "Into Fluent" and "Ledger") is that each record ends *accepted* (Fluent
took it), *rejected* (a dead letter says why) or *unchanged* (its payload equals the key's baseline), and
that a crash or a retry never loses one nor counts one twice; a record may reach Fluent more than once,
but only as a repeated, identical UPSERT. The evidence, per record:

- **accepted**: Fluent received its key with its payload in a batch and reported no entity error for
  it (the sandbox's stored batches). Sent more than once: *duplicated* (idempotent), still one outcome.
- **rejected**: a dead letter whose provenance names the record's file and row. Several letters for
  one record: duplicated; letters of different stages, or a letter *and* an acceptance: two outcomes.
- **unchanged**: nothing reached Fluent or the DLQ, and the payload equals the baseline the warm-up
  left. Nothing per record proves it, so the ledger's own count bounds it: per file, the ``unchanged``
  of its ``BatchOutcome`` s, each ``batch_id`` once (as the ledger counts). Candidates beyond that
  count are lost — a record that silently vanished must not pass as unchanged.
- **lost**: none of the above.

Double counting is also looked for in the ledger's output: a file settled more than once, a run report
whose outcomes exceed the file's records, or more rejections reported than records dead-lettered. And
since a duplicate is harmless only when it is idempotent, Fluent's final state must hold every valid
record's quantity (*stale* otherwise: an older write landed last).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.chaos.data import InputRecord, Key

__all__ = ["Conservation", "LedgerOutcome", "Letter", "Observed", "Sent", "Settlement", "account"]

EXAMPLES = 5  #: lost records / problems quoted per scenario


@dataclass(frozen=True, slots=True)
class Sent:
    """One entity as Fluent received it (one per occurrence in a stored batch)."""

    key: Key
    qty: Any
    ok: bool = True  #: False: the batch status reported an entity error for it


@dataclass(frozen=True, slots=True)
class Letter:
    """One dead letter, reduced to what identifies its record."""

    dead_letter_id: str
    path: str | None
    record_index: int | None
    stage: str


@dataclass(frozen=True, slots=True)
class LedgerOutcome:
    """One ``BatchOutcome`` from ``ledger.<wf>`` (a redelivered batch publishes its id again)."""

    batch_id: str
    path: str
    accepted: int
    rejected: int
    unchanged: int


@dataclass(frozen=True, slots=True)
class Settlement:
    """One ``RunReport``: the ledger's final word on one file."""

    path: str
    record_count: int
    accepted: int
    rejected: int
    unchanged: int


@dataclass
class Observed:
    """Everything the pipeline produced during the measured pass."""

    sent: list[Sent] = field(default_factory=list)
    letters: list[Letter] = field(default_factory=list)
    outcomes: list[LedgerOutcome] = field(default_factory=list)
    reports: list[Settlement] = field(default_factory=list)
    final: dict[Key, Any] | None = None  #: Fluent's quantity per key after the run (None: not checked)


@dataclass
class Conservation:
    records_in: int
    accepted: int = 0
    rejected: int = 0
    unchanged: int = 0
    lost: int = 0
    duplicated: int = 0  #: records delivered more than once (same UPSERT again, same dead letter again)
    resent: int = 0  #: of those, records Fluent received more than once
    letters_repeated: int = 0  #: of those, records dead-lettered more than once ...
    letter_ids_differ: int = 0  #: ... under different ids (a consumer deduping by id sees two letters)
    double_counted: int = 0  #: records with two outcomes, or counted twice by the ledger
    files: int = 0
    settled: int = 0
    stale: int = 0  #: valid records whose quantity Fluent does not hold at the end (an older write won)
    lost_examples: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.double_counted == 0 and self.stale == 0 and self.settled == self.files

    def problem(self, text: str) -> None:
        if len(self.problems) < 2 * EXAMPLES:
            self.problems.append(text)


def _where(record: InputRecord) -> str:
    return f"{record.path}#{record.index} {record.key[0]}/{record.key[1]}"


def account(records: Sequence[InputRecord], baseline: Mapping[Key, Any], observed: Observed) -> Conservation:
    """Classify every input record by the evidence in ``observed`` (see the module docstring)."""
    result = Conservation(records_in=len(records))
    by_key = {r.key: r for r in records}
    by_row = {(r.path, r.index): r for r in records}
    sends: dict[Key, list[Sent]] = defaultdict(list)
    for sent in observed.sent:
        if sent.key in by_key:
            sends[sent.key].append(sent)
        else:
            result.double_counted += 1
            result.problem(f"Fluent received a key that no input has: {sent.key}")
    letters: dict[tuple[str, int], list[Letter]] = defaultdict(list)
    for letter in observed.letters:
        row = (letter.path or "", letter.record_index if letter.record_index is not None else -1)
        if row in by_row:
            letters[row].append(letter)
        else:
            result.double_counted += 1
            result.problem(f"dead letter {letter.dead_letter_id} names no input record ({row[0]}#{row[1]})")

    candidates: dict[str, list[InputRecord]] = defaultdict(list)
    rejected_in: Counter[str] = Counter()
    for record in records:
        got = sends.get(record.key, [])
        mine = letters.get((record.path, record.index), [])
        accepted = any(s.ok and s.qty == record.qty for s in got) and record.kind == "valid"
        if len(got) > 1 or len(mine) > 1:
            result.duplicated += 1
            result.resent += int(len(got) > 1)
            result.letters_repeated += int(len(mine) > 1)
            result.letter_ids_differ += int(len({letter.dead_letter_id for letter in mine}) > 1)
        wrong = [s.qty for s in got if s.qty != record.qty or record.kind != "valid"]
        if wrong:
            result.double_counted += 1
            result.problem(f"{_where(record)} ({record.kind}, qty {record.qty}) reached Fluent as qty {wrong[0]!r}")
        stages = sorted({letter.stage for letter in mine})
        if len(stages) > 1:
            result.double_counted += 1
            result.problem(f"{_where(record)} was dead-lettered at {len(stages)} stages: {', '.join(stages)}")
        if mine:
            if accepted:
                result.double_counted += 1
                result.problem(f"{_where(record)} was accepted by Fluent and dead-lettered ({stages[0]})")
            result.rejected += 1
            rejected_in[record.path] += 1
        elif accepted:
            result.accepted += 1
        elif record.kind == "valid" and record.key in baseline and baseline[record.key] == record.qty:
            candidates[record.path].append(record)
        else:
            _lose(result, record)

    budget = _unchanged_by_file(observed.outcomes)
    for path, waiting in candidates.items():
        confirmed = min(len(waiting), budget.get(path, 0))
        result.unchanged += confirmed
        for record in waiting[confirmed:]:
            _lose(result, record)
    _check_settlements(result, records, observed.reports, rejected_in)
    if observed.final is not None:
        _check_final(result, records, observed.final)
    return result


def _check_final(result: Conservation, records: Sequence[InputRecord], final: Mapping[Key, Any]) -> None:
    """Duplicates are harmless only if the last write of each key is its newest version."""
    for record in records:
        if record.kind == "valid" and final.get(record.key) != record.qty:
            result.stale += 1
            result.problem(f"{_where(record)}: Fluent holds qty {final.get(record.key)!r}, the input says {record.qty}")


def _lose(result: Conservation, record: InputRecord) -> None:
    result.lost += 1
    if len(result.lost_examples) < EXAMPLES:
        result.lost_examples.append(_where(record))


def _unchanged_by_file(outcomes: Iterable[LedgerOutcome]) -> dict[str, int]:
    """``unchanged`` per file, each batch id counted once (its first outcome, as the ledger does)."""
    seen: set[str] = set()
    totals: Counter[str] = Counter()
    for outcome in outcomes:
        if outcome.batch_id in seen:
            continue
        seen.add(outcome.batch_id)
        totals[outcome.path] += outcome.unchanged
    return dict(totals)


def _check_settlements(result: Conservation, records: Sequence[InputRecord], reports: Iterable[Settlement],
                       rejected_in: Mapping[str, int]) -> None:
    sizes = Counter(r.path for r in records)
    by_file: dict[str, list[Settlement]] = defaultdict(list)
    for report in reports:
        if report.path in sizes:
            by_file[report.path].append(report)
    result.files = len(sizes)
    for path, size in sizes.items():
        found = by_file.get(path, [])
        if not found:
            result.problem(f"{path} never settled")
            continue
        result.settled += 1
        if len(found) > 1:
            result.double_counted += (len(found) - 1) * size
            result.problem(f"{path} settled {len(found)} times")
        report = found[0]
        total = report.accepted + report.rejected + report.unchanged
        if report.record_count != size or total > size:
            result.double_counted += max(0, total - size, report.record_count - size)
            result.problem(f"{path}: report counts {total} outcomes of {report.record_count} records; "
                           f"the file has {size}")
        if report.rejected > rejected_in.get(path, 0):
            result.double_counted += report.rejected - rejected_in.get(path, 0)
            result.problem(f"{path}: report says {report.rejected} rejected, "
                           f"{rejected_in.get(path, 0)} records were dead-lettered")
