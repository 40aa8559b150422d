"""The ledger: every record's one outcome, counted per file, and the signal that a file is settled.

See :mod:`~fluentsync.streams.ledger.accounts` for the accounting rules and
:mod:`fluentsync.streams.agents.ledger` for the agent that keeps the books in a changelog-backed table.
"""

from fluentsync.streams.ledger.accounts import FileAccount, FileLedger
from fluentsync.streams.ledger.reports import RunCounts, run_report

__all__ = ["FileAccount", "FileLedger", "RunCounts", "run_report"]
