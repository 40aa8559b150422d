"""Consistency checks of the docker-compose stack: each returns its problems (empty: consistent).

They compare ``docker-compose.yml`` with what the code and ``deploy/pipeline.yaml`` expect — services,
health, dependencies, host names and ports, credentials, CLI commands and options, the Dockerfile — so
that a change on one side that the other does not follow fails a unit test instead of a deployment.
Returning problems (rather than asserting) lets the tests run every check on deliberately broken copies
and see each one fail.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import click

from fluentsync.connectors.filesinks.settings import S3DestinationConfig
from fluentsync.connectors.remote.settings import S3Connection
from fluentsync.connectors.sandbox.config import SandboxConfig
from fluentsync.streams.cli import main
from fluentsync.streams.cli.config import mapping_problems
from fluentsync.streams.config import PipelineConfig, S3SourceConfig, SftpSourceConfig

from .stack import Stack

__all__ = [
    "ISSUE_SERVICES", "check_cli", "check_dependencies", "check_dockerfile", "check_env_example", "check_fluent",
    "check_health", "check_kafka", "check_mappings", "check_ops", "check_registry", "check_s3", "check_services",
    "check_sftp", "check_webhooks",
]

#: the services issue #8 names (MinIO's buckets come from a one-shot beside it)
ISSUE_SERVICES = ("kafka", "schema-registry", "minio", "minio-init", "sftp", "sandbox", "worker")


def _host_port(address: str, default_port: int | None = None) -> tuple[str, int | None]:
    parts = urlsplit(address if "://" in address else f"//{address}")
    return parts.hostname or "", parts.port or default_port


def _is_one_shot(stack: Stack, name: str) -> bool:
    """Runs once (``restart: "no"``) and something waits for it to complete successfully."""
    if str(stack.services[name].get("restart", "no")) != "no":
        return False
    return any((options or {}).get("condition") == "service_completed_successfully"
               for service in stack.services.values()
               for target, options in _depends(service).items() if target == name)


def _depends(service: dict[str, object]) -> dict[str, dict[str, str] | None]:
    depends = service.get("depends_on") or {}
    return {name: None for name in depends} if isinstance(depends, list) else dict(depends)  # type: ignore[call-overload]


def check_services(stack: Stack) -> list[str]:
    problems = [f"service {name!r} is missing" for name in ISSUE_SERVICES if name not in stack.services]
    if "worker" in stack.services:
        worker = stack.services["worker"]
        replicas = (worker.get("deploy") or {}).get("replicas", worker.get("scale", 1))
        if not isinstance(replicas, int) or replicas < 2:
            problems.append(f"worker runs {replicas} replica(s); the stack must show work shared by more than one")
    return problems


def check_health(stack: Stack) -> list[str]:
    """Every long-running service has a healthcheck; the rest are one-shots someone waits for."""
    problems = []
    for name, service in stack.services.items():
        test = (service.get("healthcheck") or {}).get("test")
        if test and test != ["NONE"] and not (service.get("healthcheck") or {}).get("disable"):
            continue
        if not _is_one_shot(stack, name):
            problems.append(f"{name}: no healthcheck, and not a one-shot (restart: \"no\", awaited with "
                            "service_completed_successfully)")
    return problems


def check_dependencies(stack: Stack) -> list[str]:
    problems = []
    for name, service in stack.services.items():
        for target, options in _depends(service).items():
            condition = (options or {}).get("condition", "service_started")
            restarts = str(stack.services.get(target, {}).get("restart", "no")) != "no"
            if target not in stack.services:
                problems.append(f"{name} depends on {target!r}, which is not a service")
            elif condition == "service_healthy" and not (stack.services[target].get("healthcheck") or {}).get("test"):
                problems.append(f"{name} waits for {target} to be healthy, but {target} has no healthcheck")
            elif condition == "service_completed_successfully" and restarts:
                problems.append(f"{name} waits for {target} to complete, but {target} restarts (set restart: \"no\")")
    worker = _depends(stack.services.get("worker", {}))
    for needed in ("kafka", "schema-registry", "minio-init", "sftp-known-hosts", "sandbox"):
        if needed in stack.services and needed not in worker:
            problems.append(f"worker does not wait for {needed}")
    return problems


def check_kafka(stack: Stack, pipeline: PipelineConfig) -> list[str]:
    """The pipeline's bootstrap is an advertised listener; topics default to the pipeline's partitions."""
    env = stack.env("kafka")
    listeners = env.get("KAFKA_ADVERTISED_LISTENERS", "").split(",")
    advertised = {_host_port(listener.split("://", 1)[1]) for listener in listeners if "://" in listener}
    problems = [f"kafka.bootstrap {server!r} is not an advertised listener of the kafka service ({sorted(advertised)})"
                for server in pipeline.kafka.bootstrap.split(",") if _host_port(server.strip()) not in advertised]
    registry_store = stack.env("schema-registry").get("SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS", "")
    if _host_port(registry_store.split("://")[-1]) not in advertised:
        problems.append(f"the schema registry stores schemas on {registry_store!r}, not an advertised kafka listener")
    # An auto-created topic takes the broker default: equal to the pipeline's count, co-partitioned
    # tables stay consistent even if one ever appears that way.
    default = int(env.get("KAFKA_NUM_PARTITIONS", "1"))
    if default != pipeline.kafka.partitions:
        problems.append(f"KAFKA_NUM_PARTITIONS is {default} but the pipeline's kafka.partitions is "
                        f"{pipeline.kafka.partitions}")
    return problems


def check_registry(stack: Stack, url: str) -> list[str]:
    """``url`` (the pipeline's ``kafka.schema_registry.url`` as the worker resolves it) reaches the registry."""
    host, port = _host_port(url, 80)
    listeners = stack.env("schema-registry").get("SCHEMA_REGISTRY_LISTENERS", "http://0.0.0.0:8081")
    ports = {_host_port(listener)[1] for listener in listeners.split(",")}
    names = {"schema-registry", stack.services["schema-registry"].get("hostname")}
    problems = []
    if host not in names:
        problems.append(f"schema registry URL {url!r}: host {host!r} is not the schema-registry service")
    if port not in ports:
        problems.append(f"schema registry URL {url!r}: the registry listens on {sorted(p for p in ports if p)}")
    return problems


def check_s3(stack: Stack, pipeline: PipelineConfig) -> list[str]:
    """Every S3 source and sink reaches MinIO, with its credentials, in a bucket minio-init creates."""
    minio = stack.env("minio")
    command = stack.command("minio")
    api_port = int(command[command.index("--address") + 1].rsplit(":", 1)[1]) if "--address" in command else 9000
    init = " ".join((stack.entrypoint("minio-init") or []) + stack.command("minio-init"))
    connections: list[tuple[str, S3Connection]] = [
        (f"workflow {name}", wf.source) for name, wf in pipeline.workflows.items()
        if isinstance(wf.source, S3SourceConfig)]
    connections += [(f"sink {name}", sink.destination) for name, sink in pipeline.sinks.items()
                    if isinstance(sink.destination, S3DestinationConfig)]
    problems = []
    for where, s3 in connections:
        if s3.endpoint_url is None or _host_port(s3.endpoint_url, 80) != ("minio", api_port):
            problems.append(f"{where}: endpoint_url {s3.endpoint_url!r} is not MinIO's API (http://minio:{api_port})")
        if f"local/{s3.bucket}" not in init.split():
            problems.append(f"{where}: bucket {s3.bucket!r} is not created by minio-init")
        keys = (s3.access_key_id, s3.secret_access_key)
        if [k.get_secret_value() if k else None for k in keys] != [minio.get("MINIO_ROOT_USER"),
                                                                   minio.get("MINIO_ROOT_PASSWORD")]:
            problems.append(f"{where}: S3 credentials differ from MinIO's")
    return problems


def check_sftp(stack: Stack, pipeline: PipelineConfig, worker: str = "worker") -> list[str]:
    """SFTP sources log in as the sftp service's user, into its folders, checking the recorded host key."""
    users: dict[str, tuple[str, set[str]]] = {}
    for entry in stack.env("sftp").get("SFTP_USERS", "").split():
        user, password, *rest = entry.split(":")  # user:pass[:e][:uid[:gid[:dir1,dir2...]]]
        listed = rest[-1] if len(rest) >= (4 if rest[:1] == ["e"] else 3) else ""
        users[user] = (password, set(listed.split(",")) - {""})
    scan = stack.command("sftp-known-hosts")
    problems = []
    for name, workflow in pipeline.workflows.items():
        source = workflow.source
        if not isinstance(source, SftpSourceConfig):
            continue
        if (source.host, source.port) != ("sftp", 22):
            problems.append(f"workflow {name}: SFTP {source.host}:{source.port} is not the sftp service (sftp:22)")
        login = users.get(source.username)
        folders = login[1] if login else set()
        if login is None or login[0] != (source.password.get_secret_value() if source.password else None):
            problems.append(f"workflow {name}: the sftp service has no user {source.username!r} with that password")
        for folder in (source.prefix, workflow.archive_prefix("processed"), workflow.archive_prefix("errors")):
            if folder.strip("/") not in folders:
                problems.append(f"workflow {name}: folder {folder!r} is not created for {source.username!r}")
        if not source.host_key_checking:
            continue
        known_hosts = str(source.known_hosts)
        if scan[:2] != [source.host, str(source.port)] or scan[2:3] != [known_hosts]:
            problems.append(f"workflow {name}: sftp-known-hosts ({scan}) does not record {source.host}:"
                            f"{source.port} into {known_hosts}")
        written = {target: volume for volume, target in stack.mounts("sftp-known-hosts")}
        read = {target: volume for volume, target in stack.mounts(worker)}
        ssh_dir = str(Path(known_hosts).parent)
        if ssh_dir not in written or read.get(ssh_dir) != written[ssh_dir]:
            problems.append(f"workflow {name}: {worker} does not mount the volume sftp-known-hosts writes at {ssh_dir}")
    return problems


def check_fluent(stack: Stack, pipeline: PipelineConfig) -> list[str]:
    """When the pipeline's Fluent is the sandbox service: its port, interface and credentials."""
    base_url = pipeline.fluent.base_url or ""
    host, port = _host_port(base_url, 80)
    if host != "sandbox":
        return []
    defaults = SandboxConfig()
    secret = pipeline.fluent.client_secret.get_secret_value() if pipeline.fluent.client_secret else None
    expected = {
        "--port": (port, int(stack.option("sandbox", "--port") or defaults.port)),
        "--host": ("0.0.0.0", stack.option("sandbox", "--host") or defaults.host),
        "--client-id": (pipeline.fluent.client_id, stack.option("sandbox", "--client-id") or defaults.client_id),
        "--client-secret": (secret, stack.option("sandbox", "--client-secret") or defaults.client_secret),
    }
    return [f"Fluent base URL {base_url!r} is the sandbox, but the sandbox's {flag} differs from the pipeline's"
            for flag, (want, have) in expected.items() if want != have]


def check_ops(stack: Stack, pipeline: PipelineConfig, prometheus: dict[str, object] | None) -> list[str]:
    """The worker healthcheck and Prometheus use the ops port, which listens beyond loopback."""
    problems = []
    health = stack.health_port("worker")
    if health is None or health != (pipeline.ops.port, "/health"):
        problems.append(f"worker healthcheck requests {health}, not /health on ops.port {pipeline.ops.port}")
    if pipeline.ops.host != "0.0.0.0":
        problems.append(f"ops.host is {pipeline.ops.host!r}: Prometheus cannot reach it from another container")
    if prometheus is not None:
        ports = [sd.get("port") for job in prometheus.get("scrape_configs", [])  # type: ignore[attr-defined]
                 for sd in job.get("dns_sd_configs", []) if "worker" in sd.get("names", [])]
        if ports != [pipeline.ops.port]:
            problems.append(f"prometheus scrapes workers on {ports}, not ops.port {pipeline.ops.port}")
    return problems


def check_webhooks(stack: Stack, pipeline: PipelineConfig) -> list[str]:
    """The standalone receiver listens where its healthcheck, ports and the pipeline say."""
    if "webhooks" not in stack.services:
        return []
    port = int(stack.option("webhooks", "--port") or pipeline.webhooks.port)
    problems = []
    if stack.health_port("webhooks") != (port, "/health"):
        problems.append(f"webhooks healthcheck does not request /health on the receiver's port {port}")
    if (stack.option("webhooks", "--host") or pipeline.webhooks.host) != "0.0.0.0":
        problems.append("the webhook receiver listens on loopback only inside its container")
    if not any(str(p).split(":")[-1] == str(port) for p in stack.service("webhooks").get("ports") or []):
        problems.append(f"the webhook receiver's port {port} is not published")
    if pipeline.webhooks.in_worker:
        problems.append("a webhooks service runs, but webhooks.in_worker is true: every worker replica would "
                        "also bind the receiver port")
    return problems


def _parse_cli(args: list[str]) -> None:
    """Parse ``fluentsync ARGS`` as click would (types, choices, existing paths), without running it."""
    command: click.Command = main
    ctx = click.Context(main, info_name="fluentsync")
    rest = list(args)
    while isinstance(command, click.Group):
        if not rest:
            raise click.UsageError(f"`{ctx.command_path}` needs a command")
        name = rest.pop(0)
        sub = command.get_command(ctx, name)
        if sub is None:
            raise click.UsageError(f"no such command {name!r} in `{ctx.command_path}`")
        command = sub
        ctx = click.Context(command, info_name=name, parent=ctx)
    command.make_context(ctx.info_name, rest, parent=ctx.parent).close()


def check_cli(stack: Stack) -> list[str]:
    """Every service running our image runs an existing ``fluentsync`` command with valid options."""
    problems = []
    for name in stack.services:
        if not stack.built_here(name):
            continue
        entrypoint = stack.entrypoint(name)
        if entrypoint is not None:  # a script from a bind mount (e.g. the host-key scan)
            scripts = [part for part in entrypoint[1:] if part.endswith(".py")]
            missing = [s for s in scripts if (path := stack.host_path(name, s)) is None or not path.is_file()]
            problems += [f"{name}: {script} is not in a bind-mounted folder of the repository" for script in missing]
            continue
        # container paths of bind mounts become the repository's files, so click checks they exist
        args = [str(stack.host_path(name, arg) or arg) if arg.startswith("/") else arg
                for arg in stack.command(name)]
        try:
            _parse_cli(args)
        except click.ClickException as exc:
            problems.append(f"{name}: `fluentsync {' '.join(stack.command(name))}`: {exc.format_message()}")
    return problems


def check_mappings(pipeline: PipelineConfig) -> list[str]:
    """Mapping files referenced by the pipeline exist and compile (what ``fluentsync config check`` does)."""
    return [f"workflow {name}: {problem}" for name, workflow in pipeline.workflows.items()
            for problem in mapping_problems(workflow)]


def check_dockerfile(root: Path) -> list[str]:
    """The image installs this package (every folder setuptools maps), runs as non-root, enters fluentsync."""
    dockerfile = root / "Dockerfile"
    if not dockerfile.is_file():
        return ["Dockerfile is missing"]
    lines = [line.strip() for line in dockerfile.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    text = "\n".join(lines)
    problems = []
    if not re.search(r"^FROM python:3\.11", text, re.M):
        problems.append("the image is not based on python:3.11")
    if not re.search(r"pip install \.(\s|$|&)", text):
        problems.append("the image does not `pip install .` this repository")
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    if not users or users[-1] in ("root", "0"):
        problems.append("the image runs as root")
    if not re.search(r'^ENTRYPOINT \["fluentsync"\]', text, re.M):
        problems.append('the entrypoint is not ["fluentsync"]')
    copied = {Path(src).as_posix().rstrip("/") for line in lines if line.startswith("COPY ")
              for src in line.split()[1:-1] if not src.startswith("--")}
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    needed = set(project["tool"]["setuptools"]["package-dir"].values())
    needed |= {"pyproject.toml", "setup.py", project["project"].get("readme", "README.md")}
    problems += [f"the Dockerfile does not copy {path}" for path in sorted(needed - copied)]
    ignore = root / ".dockerignore"
    patterns = [p.strip() for p in ignore.read_text(encoding="utf-8").splitlines()
                if p.strip() and not p.startswith("#")] if ignore.is_file() else []
    problems += [f".dockerignore excludes {path}, which the image needs" for path in sorted(needed)
                 for pattern in patterns if fnmatch.fnmatch(path, pattern.rstrip("/"))]
    return problems


def check_env_example(stack: Stack, env_example: Path) -> list[str]:
    """Variables without a default are documented in .env.example, and it lists nothing unused."""
    def strings(value: object) -> list[str]:  # compose interpolates values, never comments
        if isinstance(value, dict):
            return [s for item in value.values() for s in strings(item)]
        if isinstance(value, list):
            return [s for item in value for s in strings(item)]
        return [value] if isinstance(value, str) else []

    text = "\n".join(strings(stack.document))
    used = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    without_default = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text))
    passthrough = {key for service in stack.services.values()
                   for key, value in (service.get("environment") or {}).items() if value is None}
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", env_example.read_text(encoding="utf-8"), re.M))
    problems = [f"{var} has no default in docker-compose.yml and is not in .env.example"
                for var in sorted((without_default | passthrough) - documented)]
    problems += [f".env.example sets {var}, which docker-compose.yml never uses"
                 for var in sorted(documented - used - passthrough)]
    return problems
