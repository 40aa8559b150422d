"""``kafka.security`` and replication: the aiokafka and Faust options built from them, validation, secrets."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import faust
import pytest
import yaml
from click.testing import CliRunner
from faust.types.auth import AuthProtocol, SASLMechanism

from fluentsync.streams.app import FaustOptions, create_app
from fluentsync.streams.cli import main
from fluentsync.streams.config import ConfigError, PipelineConfig, load_pipeline, parse_pipeline
from fluentsync.streams.kafka.connection import client_options, cluster_settings, configure_kafka, faust_settings
from fluentsync.streams.kafka.topics import TopicSpec
from fluentsync.streams.observability.logs import secret_values
from tests.fixtures.certs import Certificates, make_certificates

PASSWORD = "pa55-W0rd-never-shown"  # a test value that must never appear anywhere


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


def pipeline(bootstrap: str = "broker-1:9093,broker-2:9093", **kafka: Any) -> PipelineConfig:
    return parse_pipeline({"kafka": {"bootstrap": bootstrap, **kafka}})


def sasl(protocol: str = "SASL_SSL", mechanism: str = "PLAIN", **extra: Any) -> dict[str, Any]:
    return {"protocol": protocol, "sasl_mechanism": mechanism, "sasl_username": "api-key",
            "sasl_password": PASSWORD, **extra}


def test_plaintext_by_default_changes_nothing() -> None:
    settings = configure_kafka(parse_pipeline(None).kafka)
    assert settings.client_options() == {}
    assert settings.faust_settings() == {"topic_replication_factor": 1}
    assert settings.topic_config() == {}


def test_confluent_cloud_sasl_ssl_plain_with_secrets_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_API_KEY", "ABCKEY")
    monkeypatch.setenv("KAFKA_API_SECRET", PASSWORD)
    config = parse_pipeline({"kafka": {
        "bootstrap": "pkc-123.eu-west-1.aws.confluent.cloud:9092", "replication_factor": 3,
        "security": {"protocol": "SASL_SSL", "sasl_username": "${KAFKA_API_KEY}",
                     "sasl_password": "${KAFKA_API_SECRET}"},
    }})
    options = configure_kafka(config.kafka).client_options()
    context = options.pop("ssl_context")
    assert options == {"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN",
                       "sasl_plain_username": "ABCKEY", "sasl_plain_password": PASSWORD}
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname  # the system CAs verify the broker
    assert client_options()["ssl_context"] is context  # built once, shared by every client of the process


def test_msk_scram_sha_512_and_sasl_without_tls() -> None:
    options = configure_kafka(pipeline(security=sasl(mechanism="SCRAM-SHA-512")).kafka).client_options()
    assert options["sasl_mechanism"] == "SCRAM-SHA-512" and isinstance(options["ssl_context"], ssl.SSLContext)
    options = configure_kafka(pipeline(security=sasl("SASL_PLAINTEXT", "SCRAM-SHA-256")).kafka).client_options()
    assert options == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-256",
                       "sasl_plain_username": "api-key", "sasl_plain_password": PASSWORD}


def test_mutual_tls_with_files_relative_to_the_pipeline_file(tmp_path: Path, certs: Certificates,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "deploy"
    (folder / "certs").mkdir(parents=True)
    for source in (certs.ca, certs.client, certs.client_key):
        (folder / "certs" / source.name).write_bytes(source.read_bytes())
    monkeypatch.setenv("KEY_PASSPHRASE", certs.client_key_password)
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump({"kafka": {"bootstrap": "10.0.0.5:9094", "security": {
        "protocol": "SSL", "ssl_cafile": "certs/ca.pem", "ssl_certfile": "certs/client.pem",
        "ssl_keyfile": "certs/client.key", "ssl_password": "${KEY_PASSPHRASE}", "ssl_check_hostname": False}}}))
    monkeypatch.chdir(tmp_path)  # relative to the file, not to the working directory
    security = load_pipeline(path).kafka.security
    assert security.ssl_cafile == folder / "certs" / "ca.pem"
    options = configure_kafka(load_pipeline(path).kafka).client_options()
    assert options.keys() == {"security_protocol", "ssl_context"} and options["security_protocol"] == "SSL"
    context = options["ssl_context"]
    assert not context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED  # still verified
    assert [dict(n[0] for n in ca["subject"])["commonName"] for ca in context.get_ca_certs()] == ["fluentsync test CA"]


def test_faust_gets_the_same_credentials_and_the_replication_factor() -> None:
    configure_kafka(pipeline(replication_factor=3, min_insync_replicas=2,
                             security=sasl(mechanism="SCRAM-SHA-512")).kafka)
    settings = faust_settings()
    credentials = settings["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol == AuthProtocol.SASL_SSL and credentials.mechanism == SASLMechanism.SCRAM_SHA_512
    assert credentials.username == "api-key" and credentials.password == PASSWORD
    assert credentials.ssl_context is client_options()["ssl_context"]
    assert PASSWORD not in repr(credentials)
    assert settings["topic_replication_factor"] == 3
    assert cluster_settings().topic_config() == {"min.insync.replicas": "2"}
    configure_kafka(pipeline(security={"protocol": "SSL"}).kafka)
    ssl_only = faust_settings()["broker_credentials"]
    assert isinstance(ssl_only, faust.SSLCredentials) and ssl_only.protocol == AuthProtocol.SSL


async def test_the_consumer_and_producer_our_faust_transport_creates_carry_them(tmp_path: Path) -> None:
    configure_kafka(pipeline(replication_factor=3, security=sasl(mechanism="SCRAM-SHA-256")).kafka)
    context = client_options()["ssl_context"]
    app = create_app("kafkasec-unit", FaustOptions(bootstrap="broker-1:9093", data_dir=tmp_path, store="memory://"))
    assert app.conf.topic_replication_factor == 3
    consumer = app.consumer._thread._create_worker_consumer(app.transport)  # what the worker's thread starts
    producer = app.producer._new_producer()
    try:
        for client in (consumer._client, producer.client):
            assert client._security_protocol == "SASL_SSL" and client._ssl_context is context
            assert client._sasl_mechanism == "SCRAM-SHA-256"
            assert (client._sasl_plain_username, client._sasl_plain_password) == ("api-key", PASSWORD)
    finally:
        await consumer.stop()
        await producer.stop()


@pytest.mark.parametrize(("kafka", "message"), [
    ({"security": {"protocol": "SASL_SSL", "sasl_username": "u"}}, "protocol SASL_SSL needs sasl_password"),
    ({"security": {"protocol": "SASL_PLAINTEXT"}}, "needs sasl_username and sasl_password"),
    ({"security": {"protocol": "SSL", "sasl_username": "u", "sasl_password": PASSWORD}},
     "sasl_password, sasl_username: only used with protocol SASL_PLAINTEXT or SASL_SSL (protocol is SSL)"),
    ({"security": {"ssl_cafile": "/etc/ssl/ca.pem"}}, "ssl_cafile: only used with protocol SSL or SASL_SSL"),
    ({"security": {"protocol": "SASL_TLS"}}, "kafka.security.protocol: Input should be"),
    ({"security": sasl(mechanism="GSSAPI")}, "kafka.security.sasl_mechanism: Input should be"),
    ({"security": sasl(ssl_cafile="/nonexistent/ca.pem")}, "ssl_cafile: no such file: /nonexistent/ca.pem"),
    ({"security": sasl(ssl_cafile="/")}, "ssl_cafile: not a file: /"),
    ({"security": {"protocol": "SSL", "ssl_password": PASSWORD}}, "ssl_keyfile and ssl_password need ssl_certfile"),
    ({"security": {"protocol": "SSL"}, "extra": 1}, "kafka.extra: Extra inputs are not permitted"),
    ({"replication_factor": 2, "min_insync_replicas": 3},
     "min_insync_replicas (3) cannot exceed replication_factor (2)"),
    ({"replication_factor": 0}, "kafka.replication_factor: Input should be greater than or equal to 1"),
    ({"bootstrap": "embedded", "replication_factor": 3}, "the embedded broker is a single broker"),
    ({"bootstrap": "embedded", "security": sasl()}, "the embedded broker speaks PLAINTEXT only"),
])
def test_invalid_settings_are_named_and_never_show_a_secret(kafka: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_pipeline({"kafka": {"bootstrap": "broker:9093", **kafka}})
    assert message in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_certificate_files_that_cannot_be_loaded(certs: Certificates) -> None:
    cases = [
        ({"ssl_cafile": str(certs.client_key)}, "ssl_cafile: cannot load CA certificates from"),
        ({"ssl_certfile": str(certs.client), "ssl_keyfile": str(certs.client_key)},
         "ssl_keyfile: the private key is encrypted: set ssl_password"),
        ({"ssl_certfile": str(certs.client), "ssl_keyfile": str(certs.client_key), "ssl_password": "wrong"},
         "ssl_certfile/ssl_keyfile: cannot load the client certificate and key"),
        ({"ssl_certfile": str(certs.client), "ssl_keyfile": str(certs.server_key)}, "KEY_VALUES_MISMATCH"),
    ]
    for security, message in cases:
        with pytest.raises(ConfigError, match=r"kafka\.security") as caught:
            pipeline(security={"protocol": "SSL", **security})
        assert message in str(caught.value), str(caught.value)
    right = pipeline(security={"protocol": "SSL", "ssl_certfile": str(certs.client),
                               "ssl_keyfile": str(certs.client_key), "ssl_password": certs.client_key_password})
    assert configure_kafka(right.kafka).client_options()["security_protocol"] == "SSL"


def test_secrets_stay_out_of_reprs_and_are_known_to_the_log_redaction(certs: Certificates) -> None:
    config = pipeline(security=sasl(ssl_certfile=str(certs.client), ssl_keyfile=str(certs.client_key),
                                    ssl_password=certs.client_key_password))
    settings = configure_kafka(config.kafka)
    for text in (repr(config), str(config), config.model_dump_json(), repr(settings), settings.security.describe()):
        assert PASSWORD not in text and certs.client_key_password not in text
    assert {PASSWORD, certs.client_key_password} <= set(secret_values(config))  # the worker redacts them


def test_configure_is_idempotent_and_none_means_plaintext() -> None:
    config = pipeline(security=sasl())
    first = configure_kafka(config.kafka)
    assert configure_kafka(pipeline(security=sasl()).kafka) is first  # same settings: same TLS context
    assert configure_kafka(pipeline(security=sasl(), replication_factor=3).kafka) is not first
    assert configure_kafka(None).client_options() == {} and cluster_settings().replication_factor == 1


def test_topic_specs_leave_replication_to_the_cluster_settings() -> None:
    assert TopicSpec("a", 3).replication_factor is None
    assert TopicSpec.compacted("b").replication_factor is None
    assert TopicSpec("c", 1, 3).replication_factor == 3
    with pytest.raises(ValueError, match="replication factor must be >= 1"):
        TopicSpec("d", 1, 0)


def test_config_check_shows_the_security_without_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSK_PASSWORD", PASSWORD)
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump({"kafka": {
        "bootstrap": "b-1.msk.example:9096", "replication_factor": 3, "min_insync_replicas": 2,
        "security": {"protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "fluentsync",
                     "sasl_password": "${MSK_PASSWORD}"}}}))
    result = CliRunner().invoke(main, ["config", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "replication 3, SASL_SSL SCRAM-SHA-512 as 'fluentsync'" in result.output
    assert PASSWORD not in result.output
