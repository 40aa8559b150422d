"""fluentsync against a secured cluster: SASL_SSL with SCRAM, mutual TLS, and replicated topics.

The embedded broker sits behind :class:`~tests.fixtures.secure_broker.SecureBroker` (TLS and a real SASL
exchange) and advertises only the secured address, so a client that does not carry the pipeline's
``kafka.security`` fails instead of slipping through in plaintext. The preflight check's messages are
checked for each way a connection is refused, with the deadlines it promises.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from fluentsync.connectors.webhooks.publishers import KafkaPublisher
from fluentsync.schemas.records import batch_records
from fluentsync.streams.config import parse_pipeline
from fluentsync.streams.kafka.broker import EmbeddedBroker, free_port, is_embedded_broker
from fluentsync.streams.kafka.connection import client_options, configure_kafka
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.offsets import exact_end_offsets
from fluentsync.streams.kafka.preflight import KafkaConnectionProblem, check_connection
from fluentsync.streams.kafka.tail import TopicTail
from fluentsync.streams.kafka.topics import TopicSpec, describe_topics, ensure_topics
from fluentsync.streams.operations.reading import read_ranges
from fluentsync.streams.worker import prepare
from tests.fixtures.certs import Certificates
from tests.fixtures.processes import background_process
from tests.fixtures.secure_broker import SecureBroker

pytestmark = pytest.mark.integration
PASSWORD = "scram-Pa55word-not-for-logs"
WRONG = "Wr0ng-pa55word-not-for-logs-either"


def security(certs: Certificates, **extra: Any) -> dict[str, Any]:
    return {"protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "fluentsync",
            "sasl_password": PASSWORD, "ssl_cafile": str(certs.ca), **extra}


def configure(bootstrap: str, sec: dict[str, Any], **kafka: Any) -> None:
    configure_kafka(parse_pipeline({"kafka": {"bootstrap": bootstrap, "security": sec, **kafka}}).kafka)


@contextmanager
def worker_process(config: Path, data_dir: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "fluentsync", "worker", "--config", str(config), "--data-dir", str(data_dir),
               "--web-port", "0", "-l", "info"]
    with background_process(command, log, env={"KAFKA_PASSWORD": PASSWORD}) as proc:
        yield proc


async def topic_shape(bootstrap: str, topic: str) -> tuple[int, str | None]:
    """(replicas of partition 0, min.insync.replicas) as the broker reports them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    entries = {entry[0]: entry[1] for entry in response.resources[0][4]}
    return len(described["partitions"][0]["replicas"]), entries.get("min.insync.replicas")


async def wait_for_topics(bootstrap: str, names: list[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(await describe_topics(bootstrap, names)) < len(names):
        assert time.monotonic() < deadline, f"topics {names} not created in {timeout}s"
        await asyncio.sleep(0.2)


async def test_a_worker_on_a_sasl_ssl_scram_cluster_with_three_replicas(
    certs: Certificates, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    """The MSK set-up: SASL_SSL + SCRAM-SHA-512, password from the environment, 3 replicas, min ISR 2."""
    workflow = unique_name("inv").replace("-", "_")
    app_id = unique_name("app")
    inbox = tmp_path / "inbox"
    (inbox / "incoming").mkdir(parents=True)
    (inbox / "incoming" / "a.csv").write_text(
        "skuRef,locationRef,qty\n" + "".join(f"SKU-{i},LOC-{i % 3},{i}\n" for i in range(20)))
    async with SecureBroker(certs, users={"fluentsync": PASSWORD}, log_file=tmp_path / "broker.log") as cluster:
        config = tmp_path / "pipeline.yaml"
        config.write_text(yaml.safe_dump({
            "kafka": {"bootstrap": cluster.bootstrap, "partitions": 2, "app_id": app_id, "replication_factor": 3,
                      "min_insync_replicas": 2, "security": security(certs, sasl_password="${KAFKA_PASSWORD}")},
            "workflows": {workflow: {
                "source": {"type": "local", "root": str(inbox), "prefix": "incoming/", "patterns": ["*.csv"],
                           "poll_interval": 0.5, "stable_listings": 1},
                "format": {"type": "csv"}, "key": ["skuRef", "locationRef"]}},
        }))
        configure(cluster.bootstrap, security(certs))  # this process reads what the worker wrote, as it does
        topics = WorkflowTopics.of(workflow)
        changelog = f"{app_id}-processed-files-{workflow}-changelog"
        log = tmp_path / "worker.log"
        with worker_process(config, tmp_path / "data", log) as proc:
            await wait_for_topics(cluster.bootstrap, [topics.records])  # the worker creates them: never we
            async with TopicTail(cluster.bootstrap, topics.records) as records:
                batches = await records.until(lambda b: sum(len(x["record_keys"]) for x in b) >= 20, timeout=90)
            assert sorted(r.record_index for b in batches for r in batch_records(b)) == list(range(20))
            await wait_for_topics(cluster.bootstrap, [changelog])
        assert proc.returncode == 0  # stopped cleanly: leaving the group and committing went through too
        assert await topic_shape(cluster.bootstrap, topics.records) == (3, "2")  # ours, via ensure_topics
        assert await topic_shape(cluster.bootstrap, changelog) == (3, "2")  # Faust's, via its transport
        assert cluster.seen.refused == []  # no client tried without credentials (the worker's nor ours)
        assert set(cluster.seen.users) == {"fluentsync"} and len(cluster.seen.users) >= 5
        assert PASSWORD not in log.read_text(errors="replace")


async def test_mutual_tls_reaches_every_kind_of_client(certs: Certificates, unique_name: Callable[[str], str]) -> None:
    """SSL with a client certificate (encrypted key): admin, producers and consumers all present it."""
    async with SecureBroker(certs, require_client_cert=True) as cluster:
        configure(cluster.bootstrap, {"protocol": "SSL", "ssl_cafile": str(certs.ca), "ssl_certfile": str(certs.client),
                                      "ssl_keyfile": str(certs.client_key), "ssl_password": certs.client_key_password},
                  replication_factor=2)
        await check_connection(cluster.bootstrap)
        assert await is_embedded_broker(cluster.bootstrap)  # an admin client (the worker's compat check)
        topic = unique_name("mtls")
        assert await ensure_topics(cluster.bootstrap, [TopicSpec(topic, 2)]) == {topic: "created"}
        assert (await topic_shape(cluster.bootstrap, topic))[0] == 2
        publisher = KafkaPublisher(cluster.bootstrap)  # the standalone webhook receiver's producer
        try:
            await publisher(topic, 0, b"a", b"first")
            await publisher(topic, 1, b"b", b"second")
        finally:
            await publisher.close()
        tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
        assert await exact_end_offsets(cluster.bootstrap, tps) == dict.fromkeys(tps, 1)
        values = [m.value async for m in read_ranges(cluster.bootstrap, topic, {0: (0, 1), 1: (0, 1)})]
        assert sorted(values) == [b"first", b"second"]
        assert cluster.seen.connections >= 5 and set(cluster.seen.client_subjects) == {"fluentsync-client"}


async def failure(bootstrap: str, *, timeout: float = 5.0) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(KafkaConnectionProblem) as caught:
        await check_connection(bootstrap, timeout=timeout)
    return str(caught.value), time.monotonic() - started


async def test_refused_connections_say_what_to_fix_quickly(
    certs: Certificates, kafka_broker: EmbeddedBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with SecureBroker(certs, require_client_cert=True) as mtls, \
            SecureBroker(certs, users={"fluentsync": PASSWORD}) as sasl:
        plain = kafka_broker.bootstrap
        configure(plain, {"protocol": "SSL", "ssl_cafile": str(certs.ca)})
        message, took = await failure(plain, timeout=2)  # a TLS client on a plaintext port: no hang
        assert "no TLS handshake within 2 s: the listener does not seem to speak TLS" in message and took < 5
        message, took = await failure(mtls.bootstrap)
        assert "does it require a client certificate (kafka.security.ssl_certfile)?" in message and took < 3
        configure(plain, {"protocol": "SSL", "ssl_cafile": str(certs.other_ca)})
        message, _ = await failure(mtls.bootstrap)
        assert "the broker's certificate is not trusted" in message and "ssl_cafile" in message
        configure(plain, {})
        message, _ = await failure(mtls.bootstrap)
        assert "the listener speaks TLS: set kafka.security.protocol to SSL or SASL_SSL" in message
        configure(plain, security(certs, sasl_password=WRONG))
        message, _ = await failure(sasl.bootstrap)
        assert "SASL authentication as 'fluentsync' failed" in message and "sasl_password" in message
        assert sasl.seen.refused == ["SCRAM-SHA-512"]
        configure(plain, security(certs, sasl_mechanism="PLAIN"))  # PLAIN's token is the password itself
        await check_connection(sasl.bootstrap)
        assert sasl.seen.users == ["fluentsync"]
        configure(plain, security(certs, protocol="SASL_PLAINTEXT", ssl_cafile=""))
        message, _ = await failure(plain)
        assert "the listener does not offer SASL SCRAM-SHA-512" in message
        message, _ = await failure(f"127.0.0.1:{free_port()}")
        assert "connection refused" in message
    assert "SaslAuthenticateRequest_v1(<redacted>)" in caplog.text  # aiokafka logs requests at DEBUG
    assert PASSWORD not in caplog.text and WRONG not in caplog.text


async def test_the_worker_stops_at_start_with_the_reason(certs: Certificates, tmp_path: Path) -> None:
    """A wrong password ends ``fluentsync worker`` at once with one line, and never shows the password."""
    async with SecureBroker(certs, users={"fluentsync": "not-" + PASSWORD}) as cluster:
        config = tmp_path / "pipeline.yaml"
        config.write_text(yaml.safe_dump({"kafka": {"bootstrap": cluster.bootstrap, "security": security(
            certs, sasl_password="${KAFKA_PASSWORD}")}}))
        with pytest.raises(KafkaConnectionProblem, match="SASL authentication as 'fluentsync' failed"):
            await prepare(parse_pipeline({"kafka": {"bootstrap": cluster.bootstrap, "security": security(certs)}}),
                          cluster.bootstrap)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fluentsync", "worker", "--config", str(config), "--data-dir",
            str(tmp_path / "data"), "--web-port", "0", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "KAFKA_PASSWORD": PASSWORD})
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    text = output.decode(errors="replace")
    assert proc.returncode == 1, text
    assert "Error: cannot connect to Kafka at" in text and "SASL authentication as 'fluentsync' failed" in text
    assert "Traceback" not in text and PASSWORD not in text


async def run_cli(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "fluentsync", *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, output.decode(errors="replace")


async def test_the_topics_command_connects_with_a_pipeline_files_security(
    certs: Certificates, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    async with SecureBroker(certs, require_client_cert=True) as cluster:
        mtls = {"protocol": "SSL", "ssl_cafile": str(certs.ca), "ssl_certfile": str(certs.client),
                "ssl_keyfile": str(certs.client_key), "ssl_password": certs.client_key_password}
        config = tmp_path / "pipeline.yaml"
        config.write_text(yaml.safe_dump({"kafka": {"bootstrap": cluster.bootstrap, "replication_factor": 2,
                                                    "security": mtls}}))
        topic = unique_name("cli")
        code, output = await run_cli("topics", "create", "-b", cluster.bootstrap, "--pipeline", str(config), topic,
                                     "-p", "2")
        assert code == 0 and f"{topic}: created (2 partitions)" in output, output
        code, output = await run_cli("topics", "list", "-b", cluster.bootstrap, "--pipeline", str(config))
        assert code == 0 and f"{topic}\t2" in output, output
        configure(cluster.bootstrap, mtls)
        assert (await topic_shape(cluster.bootstrap, topic))[0] == 2  # the pipeline's replication factor
        code, output = await run_cli("topics", "list", "-b", cluster.bootstrap)  # without it: refused
        assert code != 0 and topic not in output
