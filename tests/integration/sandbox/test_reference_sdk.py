"""The sandbox is faithful: the UNMODIFIED reference SDK (fc-connect-sdk 0.1.56) works against it.

The SDK is installed with npm into a cache directory outside the repository
(``$FLUENTSYNC_REF_SDK_DIR`` or ``~/.cache/fluentsync/ref-sdk``) and drives the session sandbox through
``tests/sdk/ref_sdk_check.mjs``. The test skips only when ``node``/``npm`` are missing; a failed
``npm install`` is a failure, not a skip.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from fluentsync.connectors.sandbox.seed import order_ref
from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.integration

SDK_PACKAGE = "@fluentcommerce/fc-connect-sdk"
SDK_VERSION = "0.1.56"
SCRIPT = Path(__file__).resolve().parents[2] / "sdk" / "ref_sdk_check.mjs"


def _sdk_dir() -> Path:
    configured = os.environ.get("FLUENTSYNC_REF_SDK_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "fluentsync" / "ref-sdk"


async def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return process.returncode or 0, out.decode(), err.decode()


async def _ensure_sdk(npm: str) -> Path:
    directory = _sdk_dir()
    manifest = directory / "node_modules" / SDK_PACKAGE / "package.json"
    if manifest.exists() and json.loads(manifest.read_text())["version"] == SDK_VERSION:
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    code, out, err = await _run(
        npm, "install", "--prefix", str(directory), "--no-audit", "--no-fund", f"{SDK_PACKAGE}@{SDK_VERSION}"
    )
    if code != 0 or not manifest.exists():
        pytest.fail(f"npm install of {SDK_PACKAGE}@{SDK_VERSION} failed (exit {code}):\n{out}\n{err}")
    return directory


async def test_reference_sdk_against_sandbox(sandbox: SandboxHandle) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to run the reference SDK (fc-connect-sdk) against the sandbox")
    sdk_dir = await _ensure_sdk(npm)
    await sandbox.reset()
    env = {
        **os.environ,
        "REF_SDK_DIR": str(sdk_dir),
        "SANDBOX_BASE_URL": sandbox.base_url,
        "SANDBOX_CLIENT_ID": sandbox.client_id,
        "SANDBOX_CLIENT_SECRET": sandbox.client_secret,
        "SANDBOX_USERNAME": sandbox.username,
        "SANDBOX_PASSWORD": sandbox.password,
        "SANDBOX_RETAILER_ID": sandbox.retailer_id,
    }
    code, out, err = await _run(node, str(SCRIPT), env=env, timeout=120)
    assert out, f"no output from the SDK script (exit {code}):\n{err}"
    report: dict[str, Any] = json.loads(out)
    assert "fatal" not in report, report.get("fatal")
    assert code == 0, err
    assert report["sdkVersion"] == SDK_VERSION
    failed = {name: step for name, step in report.items() if isinstance(step, dict) and step.get("ok") is False}
    assert not failed, failed

    expected = [order_ref(i) for i in range(sandbox.config.seed_orders)]
    paginate = report["paginate"]
    assert paginate["refs"] == expected, "forward auto-pagination: no duplicates, no gaps, in order"
    assert paginate["autoPagination"]["totalRecords"] == len(expected)
    assert paginate["autoPagination"]["truncated"] is False
    assert report["paginateBackward"]["refs"] == expected, "backward auto-pagination"
    assert report["warnings"] == []

    assert report["me"]["ref"] == sandbox.username
    surfaced = report["graphqlErrorSurfaces"]
    assert (surfaced["thrown"], surfaced["name"], surfaced["codes"]) == (True, "GraphQLExecutionError", ["C0142E"])
    assert surfaced["retryable"] is False, "the SDK classifies C0142E as a non-retryable client error"
    assert report["createJob"]["status"] == "OPEN" and report["createJob"]["id"]
    assert report["sendBatch"]["status"] == "PENDING"
    poll = report["pollBatch"]
    assert poll["statuses"][-1] == "COMPLETE"
    assert poll["final"]["errors"] == [
        {"code": "C0122E", "message": "qty must not be negative (got -3)", "entityIndex": 2}
    ]
    assert report["jobStatus"] == {"ok": True, "status": "OPEN", "totalBatches": 1}
    positions = {(p["productRef"], p["locationRef"]): p["onHand"] for p in report["inventoryAfterBatch"]["positions"]}
    assert positions[("SKU-0001", "LOC-01")] == 4242 and positions[("SKU-REF", "LOC-02")] == 17

    assert report["sendEventAsync"]["statusCode"] == 200 and report["sendEventAsync"]["id"]
    assert report["sendEventSync"]["statusCode"] == 201 and report["sendEventSync"]["status"] == "COMPLETED"
    assert report["eventLog"]["count"] == 1 and report["eventLog"]["eventStatus"] == "COMPLETE"
    assert report["refreshAfterExpiry"]["ref"] == sandbox.username

    token_calls = await sandbox.requests("token")
    assert token_calls and all(entry["status"] == 200 for entry in token_calls)
    assert sandbox.state.tokens.refreshed >= 1, "the SDK refreshed its token after the 401"
