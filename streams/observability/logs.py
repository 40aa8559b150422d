"""Structured logs: correlation ids on every line, JSON or compact text, secrets redacted (R65).

Why context variables: the ids of the work in hand (workflow, file, run, Fluent job, extraction, webhook
event) are known where an agent takes an event, not where a line is logged - deep in the Fluent client, in
Faust or aiokafka code running inside that agent's task. :func:`correlate` puts them in one
:class:`~contextvars.ContextVar` for the duration of a block; :class:`CorrelationFilter`, on the root
handler, copies them onto every record, whoever logged it. Faust agents live for the whole worker, so
their loops set the ids per event and reset them afterwards. asyncio copies the context when a task is
created, so a task started while a file is in hand keeps that file's ids for life: a task that outlives
one file (a linger timer, a status poller, a batch that may mix files) is started with
:func:`task_context` instead.

Where the ids end up: ``--log-format json`` writes one JSON object per line (:class:`JsonFormatter`:
``ts``, ``level``, ``logger``, ``message``, the ids that are set, ``exc_info``); the default text format
shows them compactly before the message, e.g. ``[inventory run=ab12 file=incoming/x.csv]``
(:class:`TextFormatter`). :func:`logging_config` is the ``dictConfig`` both the worker (handed to
``faust.Worker``, which applies it when it starts) and the other commands use.

Secrets: the Fluent client never logs credentials; :class:`RedactingFilter` and the formatters redact
anyway (defence in depth): ``Bearer`` tokens, ``Authorization`` values, ``password=``/``client_secret``-style
pairs, URL user info, and the literal values of every secret in the pipeline file (:func:`register_secrets`).
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import json
import logging
import logging.config
import re
import sys
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType, TracebackType
from typing import Any, Literal, TextIO, cast

from pydantic import BaseModel, SecretBytes, SecretStr

__all__ = [
    "FIELDS",
    "LOG_FORMATS",
    "REDACTED",
    "CorrelationFilter",
    "JsonFormatter",
    "LogFormat",
    "RedactingFilter",
    "TextFormatter",
    "batch_ids",
    "bind",
    "configure_logging",
    "correlate",
    "current_ids",
    "logging_config",
    "redact",
    "register_secrets",
    "secret_values",
    "task_context",
]

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")

#: correlation fields, in the order they are shown
FIELDS = ("workflow", "extraction", "run_id", "file", "job_id", "event_id")
#: JSON names that differ from the field names (R65 names the workflow field ``workflow_id``)
_JSON_NAMES = {"workflow": "workflow_id"}
_SHORT = {"run_id": "run", "job_id": "job", "event_id": "event"}  #: text-mode labels

REDACTED = "***"

_ids: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "fluentsync_log_ids", default=MappingProxyType({}))  #: values are never mutated: each change sets a new dict


# -- correlation ids ------------------------------------------------------------------------------------

def _clean(ids: Mapping[str, object | None]) -> dict[str, str]:
    unknown = set(ids) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown correlation field(s): {', '.join(sorted(unknown))} (known: {', '.join(FIELDS)})")
    return {k: str(v) for k, v in ids.items() if v is not None and v != ""}


def current_ids() -> dict[str, str]:
    """The correlation ids in effect here."""
    return dict(_ids.get())


def bind(**ids: object | None) -> None:
    """Add ids to the current scope without a block of their own (e.g. a run id known half-way).

    Undone when the enclosing :func:`correlate` block exits: call it only inside one, or in a task that
    does one piece of work (its context dies with it)."""
    _ids.set({**_ids.get(), **_clean(ids)})


class correlate:  # lower case: used like a function, ``with correlate(workflow=...)``
    """Set correlation ids for a block (merged over the enclosing ones; None leaves a field alone).

    On exit the previous ids are back, also after :func:`bind` inside the block. An exception leaving the
    block carries the block's ids (innermost wins), so the log line of whoever finally handles it - Faust's
    "agent crashed" included - still names the file and run.
    """

    __slots__ = ("_ids", "_token")

    def __init__(self, **ids: object | None) -> None:
        self._ids = _clean(ids)
        self._token: contextvars.Token[Mapping[str, str]] | None = None

    def __enter__(self) -> None:
        self._token = _ids.set({**_ids.get(), **self._ids})

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is not None and not hasattr(exc, "__fluentsync_ids__"):
            with contextlib.suppress(AttributeError):  # an exception type with __slots__
                exc.__fluentsync_ids__ = dict(_ids.get())  # type: ignore[attr-defined]
        if self._token is not None:
            _ids.reset(self._token)
            self._token = None


def task_context(*keep: str, **ids: object | None) -> contextvars.Context:
    """A copy of the current context whose correlation ids are only ``keep`` (named ids of the current
    scope) plus ``ids`` (for ``asyncio.create_task(..., context=...)``).

    Everything else (Faust's current event, for one) is copied as usual. For tasks that outlive the piece
    of work in hand: ``create_task(linger(), context=task_context("workflow"))`` - without it a timer
    started while file A was processed would name file A in every line it ever logs."""
    current = _ids.get()
    kept = {name: current[name] for name in keep if name in current}
    context = contextvars.copy_context()
    context.run(_ids.set, {**kept, **_clean(ids)})
    return context


def batch_ids(workflow: str | None, value: Mapping[str, Any] | None) -> dict[str, str | None]:
    """The ids of a record batch, file event or batch outcome: workflow, file path, run id."""
    value = value or {}
    file = value.get("file")
    path = file.get("path") if isinstance(file, Mapping) else None
    return {"workflow": workflow or value.get("workflow"), "file": path or value.get("source_uri"),
            "run_id": value.get("run_id")}


class CorrelationFilter(logging.Filter):
    """Copies the correlation ids in effect onto each record (``extra=`` values win).

    On a handler, not a logger: logger filters do not see records propagated from child loggers."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = _ids.get()
        carried: Mapping[str, str] = {}
        if record.exc_info and record.exc_info[1] is not None:
            carried = getattr(record.exc_info[1], "__fluentsync_ids__", None) or {}
        for name in FIELDS:
            if getattr(record, name, None) is None:
                setattr(record, name, ids.get(name) or carried.get(name))
        return True


def _record_ids(record: logging.LogRecord) -> dict[str, str]:
    """The ids of a record: set by the filter, else (no filter on this handler) the current ones."""
    if not hasattr(record, FIELDS[0]):
        CorrelationFilter().filter(record)
    return {name: str(value) for name in FIELDS if (value := getattr(record, name, None)) is not None}


# -- redaction ------------------------------------------------------------------------------------------

_VALUE = r"[^\s\"',;&}\]]+"
_SEP = r"[\"']?\s*[:=]\s*[\"']?"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization: Bearer x / Basic x / "authorization": "x"
    (re.compile(rf"(?i)\b((?:proxy-)?authorization{_SEP})(?:(?:bearer|basic|token|digest|negotiate)\s+)?{_VALUE}"),
     rf"\g<1>{REDACTED}"),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+"), rf"\g<1>{REDACTED}"),
    # password=x, client_secret: x, "api_key": "x", FLUENT_PASSWORD=x, refresh_token=x ...
    (re.compile(rf"(?i)\b([\w.-]*(?:password|passwd|passphrase|secret|api[_-]?key|private[_-]?key|access[_-]?key"
                rf"|(?:access|refresh|id|session|auth)[_-]?token)[\w.-]*{_SEP}){_VALUE}"), rf"\g<1>{REDACTED}"),
    # scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@"), rf"\g<1>{REDACTED}@"),
)
_secrets: list[str] = []
_MIN_SECRET = 4  #: shorter values would shred ordinary text


def register_secrets(*values: str | None) -> None:
    """Redact these literal values wherever they appear in a log line (the pipeline's secrets)."""
    for value in values:
        if value and len(value) >= _MIN_SECRET and value not in _secrets:
            _secrets.append(value)
    _secrets.sort(key=len, reverse=True)  # a secret containing another is replaced whole


def secret_values(model: object) -> list[str]:
    """Every ``SecretStr``/``SecretBytes`` value in a pydantic model, walked recursively (a pipeline)."""
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, SecretBytes):
            found.append(value.get_secret_value().decode("utf-8", "replace"))
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name, None))
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                walk(item)

    walk(model)
    return found


def redact(text: str) -> str:
    """``text`` with registered secret values and secret-looking pairs replaced by ``***``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Redacts the rendered message (the formatters redact exception text themselves)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = redact(message), None
        return True


# -- formatters -----------------------------------------------------------------------------------------

class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (ISO-8601 UTC), level, logger, message, the ids that are set (the workflow
    as ``workflow_id``), exc_info."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"),
            "level": record.levelname, "logger": record.name, "message": redact(record.getMessage()),
            **{_JSON_NAMES.get(name, name): value for name, value in _record_ids(record).items()},
        }
        if record.exc_info:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            line["exc_info"] = redact(record.exc_text)
        if record.stack_info:
            line["stack_info"] = redact(self.formatStack(record.stack_info))
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``[time] [pid] [LEVEL] [workflow run=… file=…]: message`` (mode's layout plus the ids)."""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None) -> None:
        super().__init__(fmt or "[%(asctime)s] [%(process)s] [%(levelname)s]%(correlation)s: %(message)s", datefmt)

    def format(self, record: logging.LogRecord) -> str:
        ids = _record_ids(record)
        parts = [ids.pop("workflow")] if "workflow" in ids else []
        parts += [f"{_SHORT.get(name, name)}={value}" for name, value in ids.items()]
        record.correlation = f" [{' '.join(parts)}]" if parts else ""
        return redact(super().format(record))


# -- set-up ---------------------------------------------------------------------------------------------

def logging_config(log_format: LogFormat = "text", loglevel: str | int = "info") -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of a fluentsync process: one root handler on the real stderr.

    ``sys.__stderr__``, not ``sys.stderr``: Faust applies this config while standard output may already be
    redirected into logging, and a handler writing into that redirect would feed itself."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r}: expected one of {', '.join(LOG_FORMATS)}")
    level = loglevel.upper() if isinstance(loglevel, str) else loglevel
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"fluentsync": {"()": formatter}},
        "filters": {"correlation": {"()": CorrelationFilter}, "redaction": {"()": RedactingFilter}},
        "handlers": {"fluentsync": {"class": "logging.StreamHandler", "stream": "ext://sys.__stderr__",
                                    "formatter": "fluentsync", "filters": ["correlation", "redaction"],
                                    "level": level}},
        "root": {"level": level, "handlers": ["fluentsync"]},
    }


class _LogStream(io.TextIOBase):
    """A file whose lines become log records (``print`` in a JSON-logging process stays JSON)."""

    _local = threading.local()

    def __init__(self, logger: logging.Logger, level: int) -> None:
        super().__init__()
        self._logger, self._level, self._partial = logger, level, ""

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if getattr(self._local, "busy", False):  # logging's own error output: never loop
            if sys.__stderr__ is not None:
                sys.__stderr__.write(s)
            return len(s)
        self._partial += s
        *lines, self._partial = self._partial.split("\n")
        self._local.busy = True
        try:
            for line in lines:
                if line.strip():
                    self._logger.log(self._level, line.rstrip())
        finally:
            self._local.busy = False
        return len(s)

    def flush(self) -> None:
        if self._partial.strip():
            self.write("\n")
        self._partial = ""

    def isatty(self) -> bool:
        return False


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    logging.getLogger("fluentsync").critical("uncaught %s", kind.__name__, exc_info=(kind, exc, tb))


def configure_logging(log_format: LogFormat = "text", loglevel: str | int = "info", *,
                      capture_output: bool | None = None) -> dict[str, Any]:
    """Apply :func:`logging_config` now; returns it (hand it to ``faust.Worker(logging_config=...)``).

    ``capture_output`` (default: in JSON mode) turns ``print`` output and warnings into log records, so
    that every line the process writes is JSON."""
    config = logging_config(log_format, loglevel)
    logging.config.dictConfig(config)
    if capture_output if capture_output is not None else log_format == "json":
        logging.captureWarnings(True)
        sys.stdout = cast(TextIO, _LogStream(logging.getLogger("fluentsync.stdout"), logging.INFO))
        sys.stderr = cast(TextIO, _LogStream(logging.getLogger("fluentsync.stderr"), logging.WARNING))
        sys.excepthook = _log_uncaught
    return logging_config(log_format, loglevel)  # a fresh copy: dictConfig consumers may mutate theirs
