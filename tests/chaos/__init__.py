"""The chaos and fault suite: the real pipeline, real data, injected faults, and a record-by-record audit.

Run it with ``python -m tests.chaos`` (``--help`` for options). It is not part of ``python -m pytest``:
no module here is named ``test_*.py``, and one run takes minutes, not seconds. Only the accounting
(:mod:`tests.chaos.conservation`) is unit-tested in the fast suite, in ``tests/unit/chaos``.

Each scenario starts its own embedded broker, resets the shared Fluent sandbox, runs a real
``fluentsync worker`` process, lets a warm-up file settle (it gives the "unchanged" records their
baseline), drops the scenario's files, injects its fault mid-run, waits until every file settled, then
reads every output (dead letters, ledger outcomes, run reports, what Fluent received) and checks that
every input record has exactly one outcome.

Modules: :mod:`~tests.chaos.data` (input files), :mod:`~tests.chaos.services` (sandbox, moto, SFTP),
:mod:`~tests.chaos.proxy` (a TCP proxy that drops connections), :mod:`~tests.chaos.harness` (broker,
worker process, progress and collection), :mod:`~tests.chaos.faults`, :mod:`~tests.chaos.scenarios`,
:mod:`~tests.chaos.conservation`, :mod:`~tests.chaos.report` and the runner in ``__main__``.
"""
