"""``fluentsync sandbox`` starts from the command line as documented and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import re
import signal
import sys

import httpx
import pytest
from click.testing import CliRunner

from fluentsync.streams.cli import main

pytestmark = pytest.mark.integration


def test_help_documents_defaults() -> None:
    result = CliRunner().invoke(main, ["sandbox", "--help"])
    assert result.exit_code == 0
    for text in (
        "--port",
        "8081",
        "--seed",
        "300",
        "fluentsync-sandbox",
        "--token-ttl",
        "3600",
        "--status-dialect",
        "--latency-ms",
        "--error-rate",
        "--rate-limit",
        "--job-lifetime",
    ):
        assert text in result.output


async def test_cli_serves_and_stops_on_sigterm() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fluentsync",
        "sandbox",
        "--port",
        "0",
        "--seed",
        "12",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line
        banner = "".join([(await asyncio.wait_for(process.stdout.readline(), 5)).decode() for _ in range(4)])
        assert "sandbox-secret" not in line + banner and "sandbox-password" not in line + banner
        async with httpx.AsyncClient(base_url=match.group(0)) as http:
            token = await http.post(
                "/oauth/token",
                data={
                    "grant_type": "password",
                    "client_id": "fluentsync-sandbox",
                    "client_secret": "sandbox-secret",
                    "username": "sandbox-user",
                    "password": "sandbox-password",
                    "scope": "api",
                },
            )
            assert token.status_code == 200
            assert (await http.get("/_sandbox/inspect")).json()["store"]["orders"] == 12
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
