"""The last warnings and errors a worker logged, per workflow, for ``GET /status``.

Why a logging handler rather than calls at every place that can fail: failures are already logged where
they happen (a listing that failed, records Fluent did not take, a batch status call that failed, a
record batch that could not be settled, an extraction run that failed), each with the workflow in its
message. Reading them back from the log keeps one source of truth and adds no code to the agents.

The workflow comes from the correlation ids in effect (:mod:`.logs`: the ``workflow`` or ``extraction``
of the work in hand, or ``extra=``), else from the message convention ``"workflow %s: ..."``
(``"extraction %s: ..."``). Everything else is kept under the worker. Each entry carries the run id,
file and Fluent job id when they are known. Lists are bounded (oldest dropped first), messages are cut
to :data:`MAX_MESSAGE` characters and redacted like every log line (the status is served over HTTP).
"""

from __future__ import annotations

import collections
import logging
from datetime import UTC, datetime
from typing import Any

from fluentsync.streams.observability.logs import CorrelationFilter, redact

__all__ = ["KEEP", "MAX_MESSAGE", "WORKER", "RecentErrors"]

KEEP = 20  #: entries kept per workflow
MAX_MESSAGE = 500
WORKER = ""  #: the bucket of errors that name no workflow


class RecentErrors(logging.Handler):
    """Keeps the newest WARNING-and-above records of the loggers it is attached to."""

    def __init__(self, keep: int = KEEP, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.keep = keep
        self._correlation = CorrelationFilter()
        self.entries: dict[str, collections.deque[dict[str, Any]]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._correlation.filter(record)  # the ids of the work in hand, if no handler set them yet
            scope, kind = self._scope(record)
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                exc = record.exc_info[1]
                message = f"{message} ({type(exc).__name__}: {exc})"
            entry: dict[str, Any] = {
                "time": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
                "level": record.levelname, "logger": record.name, "message": redact(message)[:MAX_MESSAGE]}
            for name in ("run_id", "file", "job_id"):
                value = getattr(record, name, None)
                if value is not None:
                    entry[name] = str(value)
            if kind:
                entry["scope"] = kind
            bucket = self.entries.get(scope)
            if bucket is None:
                bucket = self.entries[scope] = collections.deque(maxlen=self.keep)
            bucket.append(entry)
        except Exception:  # a status aid must never break logging
            self.handleError(record)

    @staticmethod
    def _scope(record: logging.LogRecord) -> tuple[str, str]:
        msg = record.msg if isinstance(record.msg, str) else ""
        args = record.args if isinstance(record.args, tuple) else ()
        if args and isinstance(args[0], str):
            if msg.startswith("workflow %s"):
                return args[0], ""
            if msg.startswith("extraction %s"):
                return f"extraction:{args[0]}", "extraction"
        workflow, extraction = getattr(record, "workflow", None), getattr(record, "extraction", None)
        if workflow:
            return str(workflow), ""
        if extraction:
            return f"extraction:{extraction}", "extraction"
        return WORKER, ""

    def recent(self, scope: str) -> list[dict[str, Any]]:
        """Newest first."""
        return list(reversed(self.entries.get(scope, ())))

    def attach(self, logger: str = "fluentsync") -> None:
        target = logging.getLogger(logger)
        if self not in target.handlers:
            target.addHandler(self)

    def detach(self, logger: str = "fluentsync") -> None:
        logging.getLogger(logger).removeHandler(self)
