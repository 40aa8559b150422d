"""Fluent CLI profiles (``~/.fluentcommerce/<profile>/``), read like the reference SDK's loader.

Why: developers already have working credentials in the layout the Fluent CLI writes, and the
reference SDK reads it (sdk-parity.md §2). Supporting it means ``FLUENT_PROFILE=dev`` is enough to point
the service at a tenant without copying secrets into another file.

Layout::

    <dir>/<profile>/profile.json          {"baseUrl", "id" (client id = account id), "clientSecret", "user"}
    <dir>/<profile>/retailer.<REF>.json   {"id" (retailer id), "user"? (overrides the profile's user)}
    <dir>/<profile>/user.<name>.json      {"username", "password"}

``<dir>`` is the explicit argument, else ``$FLUENT_PROFILE_DIR``, else ``~/.fluentcommerce``. A profile
always yields the password grant. Errors name the file and the missing field, never a file's content,
so secrets cannot leak through them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from .errors import FluentConfigError

__all__ = [
    "FluentProfile",
    "ProfileInfo",
    "default_profile_dir",
    "list_profiles",
    "load_profile",
    "profile_info",
]


@dataclass(frozen=True)
class FluentProfile:
    """Credentials and endpoints resolved from a Fluent CLI profile."""

    name: str
    base_url: str
    account_id: str
    client_id: str
    client_secret: SecretStr = field(repr=False)
    username: str
    password: SecretStr = field(repr=False)
    retailer_ref: str | None = None
    retailer_id: str | None = None


@dataclass(frozen=True)
class ProfileInfo:
    """What :func:`profile_info` reports: no secrets."""

    name: str
    base_url: str
    account_id: str
    username: str
    retailers: list[str]


def default_profile_dir() -> Path:
    """``$FLUENT_PROFILE_DIR`` if set, else ``~/.fluentcommerce``."""
    env = os.environ.get("FLUENT_PROFILE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".fluentcommerce"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FluentConfigError(f"Fluent profile file not found: {path}") from None
    except OSError as exc:
        raise FluentConfigError(f"cannot read Fluent profile file {path}: {exc.strerror}") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        # The position only: the message of a decode error may quote the (secret) content.
        raise FluentConfigError(
            f"Fluent profile file {path} is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(data, dict):
        raise FluentConfigError(f"Fluent profile file {path} must contain a JSON object")
    return data


def _require(data: dict[str, Any], key: str, path: Path) -> str:
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise FluentConfigError(f"Fluent profile file {path} is missing the field {key!r}")
    return str(value)


def _retailer_refs(profile_path: Path) -> list[str]:
    refs = []
    for file in profile_path.glob("retailer.*.json"):
        ref = file.name[len("retailer.") : -len(".json")]
        if ref:
            refs.append(ref)
    return sorted(refs)


def load_profile(
    name: str, *, retailer: str | None = None, profile_dir: str | os.PathLike[str] | None = None
) -> FluentProfile:
    """Load profile ``name``; with ``retailer`` (a retailer ref), also its retailer id and user."""
    if not name or name.startswith(".") or "/" in name or "\\" in name:
        raise FluentConfigError(f"invalid Fluent profile name {name!r}")
    base = Path(profile_dir).expanduser() if profile_dir is not None else default_profile_dir()
    profile_path = base / name
    if not (profile_path / "profile.json").is_file():
        available = list_profiles(base)
        raise FluentConfigError(
            f"Fluent profile {name!r} not found in {base}"
            + (f"; available profiles: {', '.join(available)}" if available else "")
        )
    profile_file = profile_path / "profile.json"
    prof = _read_json(profile_file)
    base_url = _require(prof, "baseUrl", profile_file)
    account_id = _require(prof, "id", profile_file)
    client_secret = _require(prof, "clientSecret", profile_file)
    user = _require(prof, "user", profile_file)

    retailer_id: str | None = None
    if retailer is not None:
        retailer_file = profile_path / f"retailer.{retailer}.json"
        if not retailer_file.is_file():
            refs = _retailer_refs(profile_path)
            raise FluentConfigError(
                f"retailer {retailer!r} not found in Fluent profile {name!r}; available retailers: "
                + (", ".join(refs) if refs else "none")
            )
        ret = _read_json(retailer_file)
        retailer_id = _require(ret, "id", retailer_file)
        if ret.get("user"):
            user = str(ret["user"])

    user_file = profile_path / f"user.{user}.json"
    user_data = _read_json(user_file)
    username = _require(user_data, "username", user_file)
    password = _require(user_data, "password", user_file)
    return FluentProfile(
        name=name,
        base_url=base_url,
        account_id=account_id,
        client_id=account_id,
        client_secret=SecretStr(client_secret),
        username=username,
        password=SecretStr(password),
        retailer_ref=retailer,
        retailer_id=retailer_id,
    )


def list_profiles(profile_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Sorted names of the sub-directories holding a ``profile.json`` (hidden ones skipped)."""
    base = Path(profile_dir).expanduser() if profile_dir is not None else default_profile_dir()
    if not base.is_dir():
        return []
    return sorted(
        p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / "profile.json").is_file()
    )


def profile_info(name: str, profile_dir: str | os.PathLike[str] | None = None) -> ProfileInfo | None:
    """Summary of a profile without secrets, or None if it does not exist or is unreadable."""
    base = Path(profile_dir).expanduser() if profile_dir is not None else default_profile_dir()
    profile_file = base / name / "profile.json"
    if not profile_file.is_file():
        return None
    try:
        prof = _read_json(profile_file)
        user = _require(prof, "user", profile_file)
        user_file = base / name / f"user.{user}.json"
        username = str(_read_json(user_file).get("username", user)) if user_file.is_file() else user
        return ProfileInfo(
            name=name,
            base_url=_require(prof, "baseUrl", profile_file),
            account_id=_require(prof, "id", profile_file),
            username=username,
            retailers=_retailer_refs(base / name),
        )
    except FluentConfigError:
        return None
