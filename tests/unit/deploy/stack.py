"""A read-only model of ``docker-compose.yml`` for consistency checks, without a docker engine.

Why a model of our own: the checks must run wherever the tests run (CI has no docker engine and no
compose plugin), so this reads the file with PyYAML and re-implements the few compose rules the checks
depend on — ``${VAR}``/``${VAR:-default}``/``$$`` interpolation, map-or-list ``environment`` with
pass-through keys, short-syntax volumes — and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

from fluentsync.streams.config import PipelineConfig, parse_pipeline

__all__ = ["REPO", "Stack", "container_environment", "pipeline_document", "pipeline_variables"]

REPO = Path(__file__).resolve().parents[3]
_COMPOSE_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")
_PIPELINE_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")
_HEALTH_URL = re.compile(r"https?://(?:127\.0\.0\.1|localhost):(\d+)(/[^\s'\"]*)")


def pipeline_document(path: Path) -> dict[str, Any]:
    """The pipeline YAML as a document, ready for :func:`parse_pipeline`."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{path}: not a mapping"
    return document


def pipeline_variables(path: Path) -> set[str]:
    return {match.group(1) for match in _PIPELINE_VAR.finditer(path.read_text(encoding="utf-8"))}


@dataclass
class Stack:
    """The compose file of ``root`` (or ``document``), interpolated like compose does with ``host_env``."""

    root: Path = REPO
    document: dict[str, Any] | None = None
    host_env: Mapping[str, str] = field(default_factory=dict)  #: the shell / .env; empty: only defaults
    unset: list[str] = field(default_factory=list)  #: variables used without value or default

    def __post_init__(self) -> None:
        if self.document is None:
            self.document = yaml.safe_load((self.root / "docker-compose.yml").read_text(encoding="utf-8"))
        assert isinstance(self.document, dict)

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        assert self.document is not None
        services = self.document.get("services") or {}
        assert isinstance(services, dict)
        return services

    def interpolate(self, value: str) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, operator, default = match.group(1), match.group(2), match.group(3)
            current = self.host_env.get(name)
            if operator == ":-" and not current:
                return default
            if operator == "-" and current is None:
                return default
            if current is None:
                self.unset.append(name)
                return ""
            return current

        return _COMPOSE_VAR.sub(replace, value)

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.interpolate(value)
        if isinstance(value, list):
            return [self._resolve(item) for item in value]
        if isinstance(value, dict):
            return {key: self._resolve(item) for key, item in value.items()}
        return value

    def service(self, name: str) -> dict[str, Any]:
        """One service, interpolated."""
        resolved = self._resolve(self.services[name])
        assert isinstance(resolved, dict)
        return resolved

    def env(self, name: str) -> dict[str, str]:
        """The container's environment: pass-through keys (no value) only when the host has them."""
        raw = self.services[name].get("environment") or {}
        if isinstance(raw, list):
            raw = dict(item.split("=", 1) if "=" in item else (item, None) for item in raw)
        env: dict[str, str] = {}
        for key, value in raw.items():
            if value is None:
                if key in self.host_env:
                    env[key] = self.host_env[key]
            else:
                env[key] = self.interpolate(str(value))
        return env

    def command(self, name: str) -> list[str]:
        command = self.service(name).get("command") or []
        return command.split() if isinstance(command, str) else [str(part) for part in command]

    def entrypoint(self, name: str) -> list[str] | None:
        entrypoint = self.service(name).get("entrypoint")
        if entrypoint is None:
            return None
        return entrypoint.split() if isinstance(entrypoint, str) else [str(part) for part in entrypoint]

    def mounts(self, name: str) -> list[tuple[str, str]]:
        """(source, container path) of each volume; bind sources are absolute host paths."""
        result = []
        for volume in self.service(name).get("volumes") or []:
            if isinstance(volume, dict):
                source, target = str(volume.get("source", "")), str(volume["target"])
            else:
                source, target = str(volume).split(":")[:2]
            if source.startswith((".", "/")):
                source = str((self.root / source).resolve())
            result.append((source, target))
        return result

    def host_path(self, name: str, container_path: str) -> Path | None:
        """Where a container path of a bind mount lives in the repository (None: not bind-mounted)."""
        for source, target in self.mounts(name):
            if source.startswith("/") and (container_path == target or container_path.startswith(target + "/")):
                return Path(source) / container_path[len(target):].lstrip("/")
        return None

    def health_port(self, name: str) -> tuple[int, str] | None:
        """(port, path) of the loopback URL the healthcheck requests, if it requests one."""
        test = (self.service(name).get("healthcheck") or {}).get("test") or []
        match = _HEALTH_URL.search(" ".join(test) if isinstance(test, list) else str(test))
        return (int(match.group(1)), match.group(2)) if match else None

    def built_here(self, name: str) -> bool:
        """A service running our image (built from this repository's Dockerfile)."""
        return "build" in self.services[name]

    def option(self, name: str, flag: str) -> str | None:
        """The value after ``flag`` in a service's command."""
        command = self.command(name)
        return command[command.index(flag) + 1] if flag in command and command.index(flag) + 1 < len(command) else None

    def pipeline_path(self, name: str) -> Path | None:
        """The host path of the pipeline file a fluentsync service loads (``--config``/``-c``/config check)."""
        command = self.command(name)
        path = self.option(name, "--config") or self.option(name, "-c")
        if path is None and command[:2] == ["config", "check"] and len(command) > 2:
            path = command[2]
        return None if path is None else self.host_path(name, path)

    def load_pipeline(self, name: str) -> PipelineConfig:
        """The pipeline as service ``name`` loads it: with exactly the environment compose gives it."""
        path = self.pipeline_path(name)
        assert path is not None, f"service {name} loads no pipeline file from a bind mount"
        with container_environment(self.env(name), pipeline_variables(path)):
            return parse_pipeline(pipeline_document(path), str(path), path.parent)


@contextlib.contextmanager
def container_environment(env: Mapping[str, str], referenced: set[str]) -> Iterator[None]:
    """``os.environ`` as the container sees it for the variables the pipeline references."""
    with mock.patch.dict(os.environ):
        for name in referenced:
            os.environ.pop(name, None)
        os.environ.update(env)
        yield
