"""Structured logs: JSON lines with correlation ids, ids set and reset per block and per task, redaction."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from fluentsync.streams.observability.logs import (
    CorrelationFilter,
    JsonFormatter,
    RedactingFilter,
    TextFormatter,
    batch_ids,
    bind,
    correlate,
    current_ids,
    logging_config,
    redact,
    register_secrets,
    secret_values,
    task_context,
)


class Capture:
    """A logger whose records go through the production filters and a formatter into a string."""

    def __init__(self, formatter: logging.Formatter) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(formatter)
        self.handler.addFilter(CorrelationFilter())
        self.handler.addFilter(RedactingFilter())
        self.logger = logging.getLogger(f"test.logs.{id(self)}")
        self.logger.propagate = False
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self.handler)

    @property
    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def json(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture
def as_json() -> Iterator[Capture]:
    capture = Capture(JsonFormatter())
    yield capture
    capture.logger.removeHandler(capture.handler)


@pytest.fixture
def as_text() -> Iterator[Capture]:
    capture = Capture(TextFormatter())
    yield capture
    capture.logger.removeHandler(capture.handler)


def test_a_json_line_has_the_fields_and_the_ids(as_json: Capture) -> None:
    with correlate(workflow="inventory", run_id="ab12", file="incoming/x.csv"):
        as_json.logger.info("published %d records", 7)
    as_json.logger.warning("outside")
    inside, outside = as_json.json()
    assert inside["message"] == "published 7 records" and inside["level"] == "INFO"
    assert inside["logger"] == as_json.logger.name and inside["ts"].endswith("Z") and "T" in inside["ts"]
    assert (inside["workflow_id"], inside["run_id"], inside["file"]) == ("inventory", "ab12", "incoming/x.csv")
    assert "job_id" not in inside  # unset ids are left out, not null
    assert set(outside) == {"ts", "level", "logger", "message"}


def test_exceptions_are_one_string_field_on_one_line(as_json: Capture) -> None:
    try:
        raise ValueError("bad row\nsecond line")
    except ValueError:
        as_json.logger.exception("parse failed")
    [line] = as_json.lines  # the multi-line traceback stays on one line
    record = json.loads(line)
    assert record["level"] == "ERROR" and "ValueError: bad row" in record["exc_info"]
    assert "Traceback" in record["exc_info"]


def test_nested_blocks_merge_and_restore() -> None:
    assert current_ids() == {}
    with correlate(workflow="wf"):
        with correlate(file="a.csv", run_id=None):  # None leaves a field alone
            bind(run_id="r1", job_id="j1")
            assert current_ids() == {"workflow": "wf", "file": "a.csv", "run_id": "r1", "job_id": "j1"}
        assert current_ids() == {"workflow": "wf"}  # the bind went with its block
    assert current_ids() == {}
    with pytest.raises(TypeError, match="unknown correlation field"):
        correlate(wokflow="typo")


def test_an_exception_carries_the_ids_of_the_block_it_left(as_json: Capture) -> None:
    try:
        with correlate(workflow="wf"), correlate(file="a.csv"):
            raise RuntimeError("boom")
    except RuntimeError:
        assert current_ids() == {}  # reset on the way out
        as_json.logger.exception("agent crashed")  # as Faust logs a crashed agent, outside our block
    [record] = as_json.json()
    assert (record["workflow_id"], record["file"]) == ("wf", "a.csv")


def test_extra_wins_over_the_context(as_json: Capture) -> None:
    with correlate(workflow="wf", run_id="ctx"):
        as_json.logger.info("queued", extra={"run_id": "explicit"})
    assert as_json.json()[0]["run_id"] == "explicit"


async def test_tasks_copy_the_context_and_task_context_replaces_it(as_json: Capture) -> None:
    seen: dict[str, dict[str, str]] = {}

    async def remember(name: str) -> None:
        await asyncio.sleep(0)
        seen[name] = current_ids()
        as_json.logger.info(name)

    with correlate(workflow="wf", file="a.csv", run_id="r1"):
        inherited = asyncio.create_task(remember("inherited"))
        detached = asyncio.create_task(remember("detached"), context=task_context(workflow="wf"))
    await asyncio.gather(inherited, detached)
    assert seen["inherited"] == {"workflow": "wf", "file": "a.csv", "run_id": "r1"}
    assert seen["detached"] == {"workflow": "wf"}  # a long-lived task does not keep the first file's ids
    by_message = {r["message"]: r for r in as_json.json()}
    assert by_message["inherited"]["file"] == "a.csv" and "file" not in by_message["detached"]


async def test_concurrent_tasks_keep_their_own_ids() -> None:
    async def work(path: str) -> str | None:
        with correlate(file=path):
            await asyncio.sleep(0.01)  # the other task runs in between
            return current_ids().get("file")

    assert await asyncio.gather(work("a.csv"), work("b.csv")) == ["a.csv", "b.csv"]


def test_text_mode_shows_the_ids_compactly(as_text: Capture) -> None:
    with correlate(workflow="inventory", run_id="ab12", file="incoming/x.csv", job_id="J-1"):
        as_text.logger.info("settled")
    as_text.logger.info("plain")
    first, second = as_text.lines
    assert "[INFO] [inventory run=ab12 file=incoming/x.csv job=J-1]: settled" in first
    assert second.endswith("[INFO]: plain")


def test_batch_ids_of_record_batches_and_events() -> None:
    batch = {"workflow": "inv", "file": {"path": "in/a.csv", "version": "v"}, "run_id": "r", "source_uri": "x"}
    assert batch_ids(None, batch) == {"workflow": "inv", "file": "in/a.csv", "run_id": "r"}
    assert batch_ids("wf", {"file": None, "source_uri": "webhook://e1"})["file"] == "webhook://e1"
    assert batch_ids("wf", None) == {"workflow": "wf", "file": None, "run_id": None}


@pytest.mark.parametrize("text", [
    "POST /oauth/token Authorization: Bearer eyJhbGciOi.abc-123_DEF",
    "headers={'Authorization': 'Basic dXNlcjpzM2NyZXQ='}",
    "retrying with bearer eyJhbGciOi.abc-123_DEF",
    "form grant_type=password&client_id=app&client_secret=s3cr3t-value&password=hunter2-pw",
    '{"client_secret": "s3cr3t-value", "password": "hunter2-pw"}',
    "FLUENT_PASSWORD=hunter2-pw in the environment",
    "connect sftp://deploy:hunter2-pw@sftp.example.com/inbox",
    "refresh_token: rt-0123456789",
])
def test_secret_patterns_are_redacted(text: str) -> None:
    cleaned = redact(text)
    for secret in ("eyJhbGciOi", "dXNlcjpzM2NyZXQ=", "s3cr3t-value", "hunter2-pw", "rt-0123456789"):
        assert secret not in cleaned
    assert "***" in cleaned


def test_ordinary_text_is_left_alone() -> None:
    text = "workflow inventory: incoming/a.csv settled: 195 accepted, 5 rejected (password grant ok, 3 tokens)"
    assert redact(text) == text


def test_registered_secret_values_are_redacted_anywhere(as_json: Capture, as_text: Capture) -> None:
    class Source(BaseModel):
        secret_access_key: SecretStr
        user: str = "deploy"

    class Pipeline(BaseModel):
        client_secret: SecretStr
        sources: dict[str, Source]

    pipeline = Pipeline(client_secret=SecretStr("Zq8-unique-client-secret"),
                        sources={"s3": Source(secret_access_key=SecretStr("AKIA-unique-sak"))})
    values = secret_values(pipeline)
    assert sorted(values) == ["AKIA-unique-sak", "Zq8-unique-client-secret"]
    register_secrets(*values, None, "ab")  # None and too-short values are ignored
    for capture in (as_json, as_text):
        capture.logger.info("token request failed for %s", "Zq8-unique-client-secret")
        try:
            raise RuntimeError("key AKIA-unique-sak refused")
        except RuntimeError:
            capture.logger.exception("upload failed")
        output = capture.stream.getvalue()
        assert "Zq8-unique-client-secret" not in output and "AKIA-unique-sak" not in output
        assert output.count("***") >= 2
    assert redact("ab abc") == "ab abc"


def test_logging_config_puts_filters_and_formatter_on_the_root_handler() -> None:
    config = logging_config("json", "warning")
    handler = config["handlers"]["fluentsync"]
    assert config["root"] == {"level": "WARNING", "handlers": ["fluentsync"]}
    assert handler["filters"] == ["correlation", "redaction"] and handler["stream"] == "ext://sys.__stderr__"
    assert config["formatters"]["fluentsync"]["()"] is JsonFormatter
    assert logging_config()["formatters"]["fluentsync"]["()"] is TextFormatter
    with pytest.raises(ValueError, match="log format"):
        logging_config("yaml")  # type: ignore[arg-type]


async def test_task_context_keeps_named_ids_of_the_current_scope() -> None:
    async def ids() -> dict[str, str]:
        return current_ids()

    with correlate(workflow="wf", file="a.csv", job_id="J-1"):
        kept = await asyncio.create_task(ids(), context=task_context("workflow", "extraction", run_id="r9"))
    assert kept == {"workflow": "wf", "run_id": "r9"}  # absent names (extraction) are skipped


def test_the_worker_command_takes_the_format_from_the_environment(tmp_path: Any, monkeypatch: Any) -> None:
    from fluentsync.streams.cli.webhooks import webhooks
    from fluentsync.streams.cli.worker import worker

    config = tmp_path / "pipeline.yaml"
    config.write_text("")
    for command in (worker, webhooks):
        monkeypatch.delenv("FLUENTSYNC_LOG_FORMAT", raising=False)
        assert command.make_context(command.name, ["-c", str(config)]).params["log_format"] == "text"
        monkeypatch.setenv("FLUENTSYNC_LOG_FORMAT", "json")
        assert command.make_context(command.name, ["-c", str(config)]).params["log_format"] == "json"
        explicit = command.make_context(command.name, ["-c", str(config), "--log-format", "text"])
        assert explicit.params["log_format"] == "text"


def test_a_json_process_writes_only_json_lines() -> None:
    """print(), warnings, a secret and an uncaught exception: each a JSON line on stderr, nothing on stdout."""
    script = "\n".join([
        "import logging, warnings",
        "from fluentsync.streams.observability.logs import configure_logging, correlate",
        "configure_logging('json', 'info')",
        "print('embedded broker: 127.0.0.1:1')",
        "warnings.warn('deprecated thing')",
        "with correlate(workflow='wf', file='a.csv'):",
        "    logging.getLogger('fluentsync.test').info('token request client_secret=abc-secret-1')",
        "    raise RuntimeError('boom\\nsecond line')",
    ])
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    records = [json.loads(line) for line in done.stderr.splitlines()]  # every line parses
    by_logger = {r["logger"]: r for r in records}
    assert by_logger["fluentsync.stdout"]["message"] == "embedded broker: 127.0.0.1:1"
    assert "deprecated thing" in by_logger["py.warnings"]["message"]
    assert by_logger["fluentsync.test"]["message"] == "token request client_secret=***"
    crash = by_logger["fluentsync"]
    assert crash["level"] == "CRITICAL" and "RuntimeError: boom" in crash["exc_info"]
    assert (crash["workflow_id"], crash["file"]) == ("wf", "a.csv")  # carried by the exception
