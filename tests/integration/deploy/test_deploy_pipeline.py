"""``deploy/pipeline.yaml`` runs every flow it declares, with the environment docker-compose gives it.

No docker here, so the compose services are stood in for by the test servers (a broker of its own, moto
for MinIO, the asyncssh SFTP server, the sandbox, the schema-registry stand-in), and the compose topology
is kept: a worker process, the receiver as a process of its own, the host key recorded by the
sftp-known-hosts script (``fluentsync config check``, the pipeline-check service, is what the unit tests
in ``tests/unit/deploy`` run). The environment is the worker's from ``docker-compose.yml`` with only the
addresses (and the moto credentials) replaced: a variable the pipeline needs that compose does not set
would fail here. The one change to the pipeline file is shorter polling, so the test takes seconds.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
import io
import json
import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from fluentsync.streams.kafka.broker import EmbeddedBroker, free_port
from tests.fixtures.processes import background_process
from tests.fixtures.registry import RegistryServer
from tests.fixtures.s3 import S3Server
from tests.fixtures.sftp import SftpServer
from tests.unit.deploy.stack import REPO, Stack

pytestmark = pytest.mark.integration

FLUENTSYNC = [sys.executable, "-m", "fluentsync"]


async def cli(env: dict[str, str], *args: str, timeout: float = 60) -> str:
    """A fluentsync command in its own process (the CLI configures process-wide codec state)."""
    process = await asyncio.create_subprocess_exec(*FLUENTSYNC, *args, cwd=REPO, env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode == 0, output.decode()
    return output.decode()


async def poll(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.5)


def short_polling(deploy: Path) -> Path:
    """The deploy folder's pipeline with sub-second polling (files and batch statuses); all else unchanged."""
    path = deploy / "pipeline.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for workflow in ("inventory", "products"):
        document["workflows"][workflow]["source"]["poll_interval"] = 0.5
    document["workflows"]["inventory"]["target"]["status"] = {"intervals": [0.5, 1.0, 2.0], "min_interval": 0.2}
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


async def test_every_flow_of_the_deploy_pipeline(
    tmp_path: Path, s3_server: S3Server, sftp_server: SftpServer, sandbox: Any, schema_registry: RegistryServer
) -> None:
    import boto3

    shutil.copytree(REPO / "deploy", tmp_path / "deploy")
    pipeline = short_polling(tmp_path / "deploy")
    compose_env = Stack().env("worker")
    tag = uuid.uuid4().hex[:8]
    receiver_port = free_port()
    env = dict(compose_env)
    async with EmbeddedBroker(log_file=tmp_path / "broker.log") as broker:
        env.update(
            KAFKA_BOOTSTRAP=broker.bootstrap, SCHEMA_REGISTRY_URL=schema_registry.url, FLUENT_BASE_URL=sandbox.base_url,
            S3_ENDPOINT_URL=s3_server.endpoint_url, S3_ACCESS_KEY_ID=s3_server.access_key_id,
            S3_SECRET_ACCESS_KEY=s3_server.secret_access_key, S3_INBOX_BUCKET=f"inbox-{tag}",
            S3_EXPORTS_BUCKET=f"exports-{tag}", SFTP_HOST=sftp_server.host, SFTP_PORT=str(sftp_server.port),
            SFTP_USERNAME=sftp_server.username, SFTP_PASSWORD=sftp_server.password,
            SFTP_KNOWN_HOSTS=str(tmp_path / "ssh" / "known_hosts"))
        assert set(env) == set(compose_env)  # the compose variables are all the pipeline needs
        # compose's local Fluent credentials are the sandbox's own defaults
        assert (env["FLUENT_CLIENT_ID"], env["FLUENT_CLIENT_SECRET"]) == (sandbox.client_id, sandbox.client_secret)
        process_env = {**os.environ, **env}

        s3 = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name=env["S3_REGION"],
                          aws_access_key_id=s3_server.access_key_id, aws_secret_access_key=s3_server.secret_access_key)
        for bucket in (env["S3_INBOX_BUCKET"], env["S3_EXPORTS_BUCKET"]):
            s3.create_bucket(Bucket=bucket)  # minio-init
        for folder in ("incoming", "processed", "errors"):  # the sftp service's SFTP_USERS folders
            shutil.rmtree(sftp_server.root / "products" / folder, ignore_errors=True)
            (sftp_server.root / "products" / folder).mkdir(parents=True)
        await _run(sys.executable, str(REPO / "deploy" / "scan_host_key.py"), sftp_server.host,
                   str(sftp_server.port), env["SFTP_KNOWN_HOSTS"])  # sftp-known-hosts

        with background_process([*FLUENTSYNC, "worker", "-c", str(pipeline), "--data-dir", str(tmp_path / "data"),
                                 "--web-port", "0", "-l", "info"], tmp_path / "worker.log", env=env), \
                background_process([*FLUENTSYNC, "webhooks", "-c", str(pipeline), "--host", "127.0.0.1",
                                    "--port", str(receiver_port)], tmp_path / "webhooks.log", env=env):
            s3.put_object(Bucket=env["S3_INBOX_BUCKET"], Key="inventory/incoming/stock.csv",
                          Body=b"sku,store,on_hand\nSKU-D1,LOC-D1,5\nSKU-D2,LOC-D1,abc\n")
            (sftp_server.root / "products" / "incoming" / "products.json").write_text(json.dumps(
                [{"id": f"P-D-{tag}", "title": "Deploy product", "prices": [{"currency": "AUD", "amount": 9.95}]}]))
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{receiver_port}", timeout=30) as client:
                await poll(lambda: _healthy(client), 60, "the webhook receiver")
                answer = await _signed_cancellation(client, env["SHOP_WEBHOOK_SECRET"], f"HD-D-{tag}")
                assert answer.status_code in (200, 202), answer.text

            async def reports() -> dict[str, dict[str, Any]] | None:
                lines = (await cli(process_env, "reports", "-c", str(pipeline), "--json")).splitlines()
                found = {r["workflow"]: r for r in map(json.loads, filter(None, lines))}
                return found if len(found) == 3 else None

            found = await poll(reports, 90, "a run report of each workflow")
            assert (found["inventory"]["accepted"], found["inventory"]["rejected"]) == (1, 1)  # qty "abc"
            assert (found["products"]["accepted"], found["cancellations"]["accepted"]) == (1, 1)

            await cli(process_env, "extract", "positions", "-c", str(pipeline))

            async def export() -> str | None:
                listed = s3.list_objects_v2(Bucket=env["S3_EXPORTS_BUCKET"], Prefix="fluent/positions/")
                keys = [item["Key"] for item in listed.get("Contents", [])]
                bodies = [s3.get_object(Bucket=env["S3_EXPORTS_BUCKET"], Key=key)["Body"].read() for key in keys]
                return next((body.decode() for body in bodies if b"SKU-D1" in body), None)

            exported = await poll(export, 60, "the positions CSV in the exports bucket")
            rows = [row for row in csv.DictReader(io.StringIO(exported)) if row["productRef"] == "SKU-D1"]
            assert [(row["locationRef"], row["qty"]) for row in rows] == [("LOC-D1", "5")]


async def _run(*command: str) -> None:
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, output.decode()


async def _healthy(client: httpx.AsyncClient) -> bool:
    try:
        return (await client.get("/health")).status_code == 200
    except httpx.TransportError:
        return False


async def _signed_cancellation(client: httpx.AsyncClient, secret: str, order_ref: str) -> httpx.Response:
    body = json.dumps({"cancellationId": f"c-{order_ref}", "orderRef": order_ref}).encode()
    stamp = str(int(time.time()))
    signature = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return await client.post("/shop/cancellations", content=body, headers={
        "content-type": "application/json", "x-shop-timestamp": stamp, "x-shop-signature": signature})
