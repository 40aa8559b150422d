"""docker-compose.yml is complete and consistent with the code's settings (issue #8).

No docker engine is needed: the compose file is parsed and compared with ``deploy/pipeline.yaml`` (loaded
by ``fluentsync``'s own loader with exactly the environment compose gives each service), the CLI (each
command parsed by click), the Dockerfile and ``.env.example``. Each check is also run on a broken copy,
so every one of them is shown to fail when the two sides drift apart.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from fluentsync.streams.config import ConfigError, PipelineConfig

from . import checks
from .stack import REPO, Stack

PIPELINE_SERVICES = ("worker", "webhooks", "pipeline-check")  #: services that load deploy/pipeline.yaml


@pytest.fixture(scope="module")
def stack() -> Stack:
    return Stack()


@pytest.fixture(scope="module")
def pipeline(stack: Stack) -> PipelineConfig:
    return stack.load_pipeline("worker")


@pytest.fixture(scope="module")
def prometheus() -> dict[str, Any]:
    document = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def broken(stack: Stack, change: Callable[[dict[str, Any]], object]) -> Stack:
    """A copy of the compose file with ``change`` applied to its services."""
    assert stack.document is not None
    document = copy.deepcopy(stack.document)
    change(document["services"])
    return Stack(stack.root, document)


# --- the real files -----------------------------------------------------------------------------------


def test_the_services_of_the_issue_exist_and_workers_scale_out(stack: Stack) -> None:
    assert checks.check_services(stack) == []
    assert stack.services["worker"]["deploy"]["replicas"] > 1


def test_every_service_is_healthchecked_or_a_one_shot(stack: Stack) -> None:
    assert checks.check_health(stack) == []
    assert checks.check_dependencies(stack) == []


@pytest.mark.parametrize("service", PIPELINE_SERVICES)
def test_the_pipeline_loads_with_the_environment_compose_gives(stack: Stack, service: str) -> None:
    pipeline = stack.load_pipeline(service)
    assert stack.unset == []  # every compose variable has a value or a default
    assert set(pipeline.workflows) == {"inventory", "products", "cancellations"}
    assert {wf.source.type for wf in pipeline.workflows.values()} == {"s3", "sftp", "webhook"}
    assert {wf.target.api for wf in pipeline.workflows.values() if wf.target} == {"batch", "event"}
    assert pipeline.extractions and all(s.destination.type == "s3" for s in pipeline.sinks.values())
    assert pipeline.kafka.partitions >= 6 and pipeline.kafka.bootstrap != "embedded"


def test_the_schema_registry_url_reaches_the_registry(stack: Stack, pipeline: PipelineConfig) -> None:
    registry = pipeline.kafka.schema_registry
    assert registry is not None and registry.url == "http://schema-registry:8081"
    assert checks.check_registry(stack, registry.url) == []


def test_kafka_s3_sftp_sandbox_ops_and_webhooks_agree(
    stack: Stack, pipeline: PipelineConfig, prometheus: dict[str, Any]
) -> None:
    assert checks.check_kafka(stack, pipeline) == []
    assert checks.check_s3(stack, pipeline) == []
    assert checks.check_sftp(stack, pipeline) == []
    assert checks.check_fluent(stack, pipeline) == []
    assert checks.check_ops(stack, pipeline, prometheus) == []
    assert checks.check_webhooks(stack, pipeline) == []


def test_every_fluentsync_command_exists_with_its_options(stack: Stack) -> None:
    assert checks.check_cli(stack) == []
    assert {name for name in stack.services if stack.built_here(name)} >= {"worker", "sandbox", "webhooks"}


def test_the_dockerfile_installs_the_package(stack: Stack) -> None:
    assert checks.check_dockerfile(REPO) == []


def test_mapping_files_exist_and_compile(pipeline: PipelineConfig) -> None:
    assert [wf.mapping.name for wf in pipeline.workflows.values() if wf.mapping] == ["inventory.json", "products.json"]
    assert checks.check_mappings(pipeline) == []


def test_env_example_documents_the_variables(stack: Stack) -> None:
    assert checks.check_env_example(stack, REPO / ".env.example") == []


def test_a_real_fluent_account_from_the_host_environment(stack: Stack) -> None:
    """Setting FLUENT_* in .env points the workers at that account; username/password pass through."""
    host = {"FLUENT_BASE_URL": "https://acme.api.fluentcommerce.com", "FLUENT_CLIENT_ID": "acme",
            "FLUENT_CLIENT_SECRET": "a-long-secret", "FLUENT_USERNAME": "ops", "FLUENT_PASSWORD": "pw"}
    real = Stack(REPO, host_env=host)
    pipeline = real.load_pipeline("worker")
    assert pipeline.fluent.base_url == "https://acme.api.fluentcommerce.com"
    assert real.env("worker")["FLUENT_USERNAME"] == "ops"
    assert "FLUENT_USERNAME" not in stack.env("worker")  # not set on the host: not set in the container
    assert checks.check_fluent(real, pipeline) == []


def test_secrets_from_env_stay_consistent(stack: Stack) -> None:
    """New MinIO and SFTP passwords in .env reach both the servers and the workers."""
    changed = Stack(REPO, host_env={"MINIO_ROOT_PASSWORD": "another-pass", "SFTP_PASSWORD": "other-sftp"})
    pipeline = changed.load_pipeline("worker")
    assert checks.check_s3(changed, pipeline) == []
    assert checks.check_sftp(changed, pipeline) == []


# --- broken copies: each check fails ------------------------------------------------------------------


def test_missing_services_and_a_single_worker_are_reported(stack: Stack) -> None:
    def change(services: dict[str, Any]) -> None:
        del services["sandbox"]
        services["worker"]["deploy"]["replicas"] = 1

    problems = checks.check_services(broken(stack, change))
    assert any("'sandbox' is missing" in p for p in problems)
    assert any("worker runs 1 replica" in p for p in problems)


def test_unhealthy_services_and_bad_dependencies_are_reported(stack: Stack) -> None:
    def change(services: dict[str, Any]) -> None:
        del services["sftp"]["healthcheck"]
        services["minio-init"]["restart"] = "unless-stopped"
        services["worker"]["depends_on"]["zookeeper"] = {"condition": "service_healthy"}
        del services["worker"]["depends_on"]["sandbox"]

    copy_ = broken(stack, change)
    health = checks.check_health(copy_)
    assert any(p.startswith("sftp:") for p in health) and any(p.startswith("minio-init:") for p in health)
    depends = checks.check_dependencies(copy_)
    assert any("sftp-known-hosts waits for sftp to be healthy" in p for p in depends)
    assert any("waits for minio-init to complete" in p for p in depends)
    assert any("'zookeeper', which is not a service" in p for p in depends)
    assert "worker does not wait for sandbox" in depends


def test_kafka_drift_is_reported(stack: Stack, pipeline: PipelineConfig) -> None:
    def change(services: dict[str, Any]) -> None:
        env = services["kafka"]["environment"]
        env["KAFKA_NUM_PARTITIONS"] = 3
        env["KAFKA_ADVERTISED_LISTENERS"] = "PLAINTEXT://broker:9092,HOST://localhost:29092"

    problems = checks.check_kafka(broken(stack, change), pipeline)
    assert any("'kafka:9092' is not an advertised listener" in p for p in problems)
    assert any("schema registry stores schemas" in p for p in problems)
    assert any("KAFKA_NUM_PARTITIONS is 3" in p for p in problems)


def test_registry_drift_is_reported(stack: Stack) -> None:
    assert len(checks.check_registry(stack, "http://registry:8081")) == 1
    assert len(checks.check_registry(stack, "http://schema-registry:8085")) == 1


def test_s3_sftp_sandbox_ops_and_webhook_drift_is_reported(
    stack: Stack, pipeline: PipelineConfig, prometheus: dict[str, Any]
) -> None:
    def change(services: dict[str, Any]) -> None:
        services["minio-init"]["command"] = ["mc mb --ignore-existing local/inbox"]
        services["minio"]["environment"]["MINIO_ROOT_PASSWORD"] = "rotated-on-the-server-only"
        services["sftp"]["environment"]["SFTP_USERS"] = "partner:partner-password:1001:100:products/incoming"
        services["sftp-known-hosts"]["command"] = ["sftp", "22", "/tmp/known_hosts"]
        services["sandbox"]["command"] = ["sandbox", "--host", "0.0.0.0", "--port", "8091"]
        services["worker"]["healthcheck"]["test"][-1] = services["worker"]["healthcheck"]["test"][-1].replace(
            "6066", "6067")
        services["webhooks"]["command"][-1] = "8081"

    copy_ = broken(stack, change)
    s3 = checks.check_s3(copy_, pipeline)
    assert any("bucket 'exports' is not created" in p for p in s3)
    assert any("S3 credentials differ" in p for p in s3)
    sftp = checks.check_sftp(copy_, pipeline)
    assert any("'products/processed/' is not created" in p for p in sftp)
    assert any("sftp-known-hosts" in p for p in sftp)
    assert any("--port differs" in p for p in checks.check_fluent(copy_, pipeline))
    assert any("worker healthcheck requests (6067" in p for p in checks.check_ops(copy_, pipeline, prometheus))
    assert any("port 8081" in p for p in checks.check_webhooks(copy_, pipeline))
    moved = copy.deepcopy(prometheus)
    moved["scrape_configs"][0]["dns_sd_configs"][0]["port"] = 9100
    assert any("prometheus scrapes workers on [9100]" in p for p in checks.check_ops(stack, pipeline, moved))


@pytest.mark.parametrize(("service", "command", "expected"), [
    ("worker", ["wroker", "--config", "/etc/fluentsync/pipeline.yaml"], "no such command 'wroker'"),
    ("worker", ["worker", "--config", "/etc/fluentsync/pipeline.yaml", "--web-prot", "1"], "--web-prot"),
    ("worker", ["worker", "--config", "/etc/fluentsync/pipline.yaml"], "does not exist"),
    ("pipeline-check", ["config", "chek", "/etc/fluentsync/pipeline.yaml"], "no such command 'chek'"),
    ("sandbox", ["sandbox", "--port", "eighty"], "eighty"),
    ("webhooks", ["webhooks", "--host", "0.0.0.0"], "--config"),
])
def test_unknown_commands_and_bad_options_are_reported(
    stack: Stack, service: str, command: list[str], expected: str
) -> None:
    def change(services: dict[str, Any]) -> None:
        services[service]["command"] = command

    problems = checks.check_cli(broken(stack, change))
    assert len(problems) == 1 and problems[0].startswith(f"{service}:") and expected in problems[0], problems


def test_a_missing_script_is_reported(stack: Stack) -> None:
    def change(services: dict[str, Any]) -> None:
        services["sftp-known-hosts"]["entrypoint"] = ["python", "/etc/fluentsync/keyscan.py"]

    assert checks.check_cli(broken(stack, change)) == [
        "sftp-known-hosts: /etc/fluentsync/keyscan.py is not in a bind-mounted folder of the repository"]


def test_a_broken_dockerfile_is_reported(tmp_path: Path) -> None:
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    (tmp_path / "Dockerfile").write_text(
        "FROM python:3.12-slim\nCOPY pyproject.toml setup.py README.md ./\nCOPY streams connectors fluentsync ./\n"
        "RUN pip install -e .\nENTRYPOINT [\"python\"]\n", encoding="utf-8")
    (tmp_path / ".dockerignore").write_text("connectors\n", encoding="utf-8")
    problems = checks.check_dockerfile(tmp_path)
    for expected in ("not based on python:3.11", "does not `pip install .`", "runs as root", "entrypoint",
                     "does not copy schemas", ".dockerignore excludes connectors"):
        assert any(expected in p for p in problems), (expected, problems)
    assert checks.check_dockerfile(tmp_path / "nowhere") == ["Dockerfile is missing"]


def test_pipeline_drift_is_reported(stack: Stack, tmp_path: Path) -> None:
    """A variable compose does not set, and a mapping that does not compile, are found."""
    shutil.copytree(REPO / "deploy", tmp_path / "deploy")
    (tmp_path / "docker-compose.yml").write_text((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    pipeline_file = tmp_path / "deploy" / "pipeline.yaml"
    pipeline_file.write_text(pipeline_file.read_text(encoding="utf-8").replace(
        "${SFTP_PASSWORD}", "${SFTP_SECRET}"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"SFTP_SECRET"):
        Stack(tmp_path).load_pipeline("worker")
    pipeline_file.write_text((REPO / "deploy" / "pipeline.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "deploy" / "mappings" / "inventory.json").write_text(
        '{"fields": {"qty": {"source": "on_hand", "resolver": "sdk.noSuchResolver"}}}', encoding="utf-8")
    problems = checks.check_mappings(Stack(tmp_path).load_pipeline("worker"))
    assert len(problems) == 1 and "workflow inventory" in problems[0] and "noSuchResolver" in problems[0]


def test_env_example_drift_is_reported(stack: Stack, tmp_path: Path) -> None:
    shutil.copy(REPO / "docker-compose.yml", tmp_path)
    text = (REPO / ".env.example").read_text(encoding="utf-8")
    (tmp_path / ".env.example").write_text(text.replace("# FLUENT_PASSWORD=", "") + "UNUSED_SETTING=1\n")
    problems = checks.check_env_example(Stack(tmp_path), tmp_path / ".env.example")
    assert problems == ["FLUENT_PASSWORD has no default in docker-compose.yml and is not in .env.example",
                        ".env.example sets UNUSED_SETTING, which docker-compose.yml never uses"]
