"""The chaos suite's record accounting (tests/chaos/conservation.py), on synthetic evidence.

The accounting decides whether a chaos scenario passes, so it must catch each way a record can go
missing or be counted twice, and must not cry wolf over what the pipeline promises is fine (an
idempotent UPSERT sent twice, a redelivered batch's second ledger outcome).
"""

from __future__ import annotations

from tests.chaos.conservation import LedgerOutcome, Letter, Observed, Sent, Settlement, account
from tests.chaos.data import InputRecord, build

A = "in/a.csv"
RECORDS = [
    InputRecord(A, 0, ("S-0", "L-0"), 10, "valid"),       # accepted
    InputRecord(A, 1, ("S-1", "L-1"), 11, "valid"),       # unchanged (baseline)
    InputRecord(A, 2, ("S-2", "L-2"), None, "malformed"),  # PARSE letter
    InputRecord(A, 3, ("S-3", "L-0"), 13, "valid"),       # accepted
]
BASELINE = {("S-1", "L-1"): 11, ("S-3", "L-0"): 99}  # S-3 changed since the warm-up


def clean() -> Observed:
    return Observed(
        sent=[Sent(("S-0", "L-0"), 10), Sent(("S-3", "L-0"), 13)],
        letters=[Letter("d1", A, 2, "PARSE")],
        outcomes=[LedgerOutcome("a#0", A, 2, 0, 1)],
        reports=[Settlement(A, 4, 2, 1, 1)],
    )


def test_a_clean_run_gives_each_record_one_outcome() -> None:
    result = account(RECORDS, BASELINE, clean())
    assert (result.accepted, result.rejected, result.unchanged, result.lost) == (2, 1, 1, 0)
    assert (result.duplicated, result.double_counted, result.files, result.settled) == (0, 0, 1, 1)
    assert result.ok and not result.problems


def test_a_record_nothing_reached_is_lost() -> None:
    observed = clean()
    observed.sent = observed.sent[:1]  # S-3 never reached Fluent; its baseline differs, so not unchanged
    result = account(RECORDS, BASELINE, observed)
    assert result.lost == 1 and result.lost_examples == ["in/a.csv#3 S-3/L-0"]
    assert not result.ok


def test_unchanged_is_bounded_by_what_the_ledger_counted() -> None:
    observed = clean()
    # The ledger counted no unchanged record, so S-1 (silent, baseline-equal) cannot pass as unchanged;
    # a redelivered batch's second outcome with the same id does not add to the count.
    observed.outcomes = [LedgerOutcome("a#0", A, 2, 0, 0), LedgerOutcome("a#0", A, 0, 0, 2)]
    result = account(RECORDS, BASELINE, observed)
    assert (result.unchanged, result.lost) == (0, 1)
    assert not result.ok


def test_a_repeated_upsert_is_a_duplicate_not_a_second_outcome() -> None:
    observed = clean()
    observed.sent.append(Sent(("S-0", "L-0"), 10))
    observed.letters.append(Letter("d2", A, 2, "PARSE"))  # republished file: the same letter again
    result = account(RECORDS, BASELINE, observed)
    assert (result.accepted, result.rejected, result.duplicated, result.double_counted) == (2, 1, 2, 0)
    assert (result.resent, result.letters_repeated, result.letter_ids_differ) == (1, 1, 1)
    assert result.ok


def test_accepted_and_dead_lettered_is_counted_twice() -> None:
    observed = clean()
    observed.letters.append(Letter("d3", A, 0, "FLUENT"))
    result = account(RECORDS, BASELINE, observed)
    assert result.double_counted == 1 and "accepted by Fluent and dead-lettered" in result.problems[0]
    assert result.accepted + result.rejected + result.unchanged + result.lost == len(RECORDS)
    assert not result.ok


def test_an_entity_error_without_a_dead_letter_is_lost() -> None:
    observed = clean()
    observed.sent[0] = Sent(("S-0", "L-0"), 10, ok=False)
    result = account(RECORDS, BASELINE, observed)
    assert result.lost == 1 and not result.ok


def test_a_wrong_payload_or_an_invalid_record_in_fluent_is_flagged() -> None:
    observed = clean()
    observed.sent.append(Sent(("S-2", "L-2"), 12))  # the malformed record reached Fluent
    observed.sent.append(Sent(("X", "Y"), 1))  # a key no input has
    result = account(RECORDS, BASELINE, observed)
    assert result.double_counted == 2 and not result.ok


def test_the_ledger_settling_twice_or_overcounting_is_double_counting() -> None:
    observed = clean()
    observed.reports.append(Settlement(A, 4, 2, 1, 1))
    assert account(RECORDS, BASELINE, observed).double_counted == 4

    observed = clean()
    observed.reports = [Settlement(A, 4, 3, 1, 1)]  # five outcomes for four records
    assert account(RECORDS, BASELINE, observed).double_counted == 1

    observed = clean()
    observed.reports = [Settlement(A, 4, 1, 2, 1)]  # two rejections, one dead-lettered record
    result = account(RECORDS, BASELINE, observed)
    assert result.double_counted == 1 and not result.ok


def test_fluent_must_end_with_each_valid_records_quantity() -> None:
    observed = clean()
    observed.final = {("S-0", "L-0"): 10, ("S-1", "L-1"): 11, ("S-3", "L-0"): 13}
    assert account(RECORDS, BASELINE, observed).ok
    observed.final[("S-3", "L-0")] = 99  # the warm-up's older quantity landed last
    result = account(RECORDS, BASELINE, observed)
    assert result.stale == 1 and not result.ok and "holds qty 99" in result.problems[0]


def test_a_file_that_never_settled_fails_even_without_lost_records() -> None:
    observed = clean()
    observed.reports = []
    result = account(RECORDS, BASELINE, observed)
    assert (result.lost, result.settled, result.files) == (0, 0, 1)
    assert not result.ok and result.problems == ["in/a.csv never settled"]


def test_the_generated_dataset_accounts_exactly_when_everything_arrives() -> None:
    data = build(2_000, 3)
    expected = data.expected()
    # 2 invalid per 200; every 10th key in the warm-up, 1 in 10 of them with another quantity
    assert expected == {"accepted": 1_800, "rejected": 20, "unchanged": 180}
    sent = [Sent(r.key, r.qty) for r in data.records
            if r.kind == "valid" and data.baseline.get(r.key) != r.qty]
    letters = [Letter(f"d{i}", r.path, r.index, "PARSE" if r.kind == "malformed" else "MAP")
               for i, r in enumerate(data.records) if r.kind != "valid"]
    unchanged = {p: sum(1 for r in data.records if r.path == p and data.baseline.get(r.key) == r.qty)
                 for p in data.files}
    observed = Observed(sent, letters, [LedgerOutcome(p, p, 0, 0, n) for p, n in unchanged.items()],
                        [Settlement(p, sum(1 for r in data.records if r.path == p), 0, 0, 0) for p in data.files])
    result = account(data.records, data.baseline, observed)
    assert (result.accepted, result.rejected, result.unchanged) == (
        expected["accepted"], expected["rejected"], expected["unchanged"])
    assert result.ok and result.files == 3
