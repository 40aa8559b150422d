"""Settings from the environment and Fluent CLI profiles (sdk-parity §1-§2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from fluentsync.connectors.fluent import (
    FluentClient,
    FluentConfigError,
    FluentSettings,
    list_profiles,
    load_profile,
    normalise_base_url,
    profile_info,
)

PROFILE_SECRET = "profile-secret-123"
PROFILE_PASSWORD = "profile-password-456"


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    base = tmp_path / ".fluentcommerce"
    dev = base / "dev"
    dev.mkdir(parents=True)
    (dev / "profile.json").write_text(
        json.dumps(
            {
                "baseUrl": "https://acme.sandbox.api.fluentretail.com/",
                "id": "ACME",
                "clientSecret": PROFILE_SECRET,
                "user": "ACME_admin",
            }
        )
    )
    (dev / "user.ACME_admin.json").write_text(json.dumps({"username": "ACME_admin", "password": PROFILE_PASSWORD}))
    (dev / "user.store.json").write_text(json.dumps({"username": "store_user", "password": "store-pass"}))
    (dev / "retailer.AU.json").write_text(json.dumps({"id": 5}))
    (dev / "retailer.NZ.json").write_text(json.dumps({"id": "6", "user": "store"}))
    (base / "broken").mkdir()
    (base / "broken" / "profile.json").write_text(json.dumps({"baseUrl": "https://x.test", "id": "X"}))
    (base / ".hidden").mkdir()
    (base / ".hidden" / "profile.json").write_text("{}")
    (base / "empty-dir").mkdir()
    return base


def test_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUENT_BASE_URL", "https://acme.api.fluentcommerce.com/")
    monkeypatch.setenv("FLUENT_CLIENT_ID", "acme")
    monkeypatch.setenv("FLUENT_CLIENT_SECRET", "s3cret-value")
    monkeypatch.setenv("FLUENT_USERNAME", "admin")
    monkeypatch.setenv("FLUENT_PASSWORD", "pw-value-1")
    monkeypatch.setenv("FLUENT_RETAILER_ID", "42")
    monkeypatch.setenv("FLUENT_GRAPHQL_TIMEOUT", "90")
    monkeypatch.setenv("FLUENT_RETRY_JITTER", "proportional")
    s = FluentSettings()
    assert s.base_url == "https://acme.api.fluentcommerce.com"
    assert s.client_secret is not None and s.client_secret.get_secret_value() == "s3cret-value"
    assert s.retailer_id == "42"
    assert s.timeouts().graphql == 90 and s.timeouts().job == 300
    assert s.retry_policy().jitter == "proportional"
    assert "s3cret-value" not in repr(s) and "pw-value-1" not in repr(s)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x.test",
        "acme.api.fluentcommerce.com",
        "https://x.test/graphql",
        "https://x.test/oauth/token",
        "https://x.test/api/v4.1/job",
        "https://x.test/api/v4.1",
        "https://user:pw@x.test",
    ],
)
def test_bad_base_urls(url: str) -> None:
    with pytest.raises(FluentConfigError):
        normalise_base_url(url)


def test_base_url_strips_one_slash() -> None:
    assert normalise_base_url("https://x.test/") == "https://x.test"
    assert normalise_base_url("http://127.0.0.1:8081") == "http://127.0.0.1:8081"


def test_credential_checks() -> None:
    with pytest.raises(ValidationError):
        FluentSettings(base_url="https://x.test", client_id="bad id!", client_secret="long-enough")
    with pytest.raises(FluentConfigError) as info:
        FluentSettings(base_url="https://x.test", client_id="ok", client_secret="short")
    assert "short" not in str(info.value)
    with pytest.raises(FluentConfigError):
        FluentSettings(base_url="https://x.test", client_id="ok")
    with pytest.raises(FluentConfigError):
        FluentSettings(base_url="https://x.test", client_id="ok", client_secret="long-enough", username="u")
    with pytest.raises(ValidationError):
        FluentSettings(job_timeout=601)
    with pytest.raises(FluentConfigError, match="FLUENT_BASE_URL"):
        FluentClient(FluentSettings())


def test_load_profile(profiles: Path) -> None:
    prof = load_profile("dev", profile_dir=profiles)
    assert prof.base_url == "https://acme.sandbox.api.fluentretail.com/"
    assert (prof.client_id, prof.account_id, prof.username) == ("ACME", "ACME", "ACME_admin")
    assert prof.password.get_secret_value() == PROFILE_PASSWORD
    assert prof.retailer_id is None
    assert PROFILE_SECRET not in repr(prof) and PROFILE_PASSWORD not in repr(prof)


def test_load_profile_with_retailer(profiles: Path) -> None:
    au = load_profile("dev", retailer="AU", profile_dir=profiles)
    assert au.retailer_id == "5" and au.username == "ACME_admin"
    nz = load_profile("dev", retailer="NZ", profile_dir=profiles)
    assert nz.retailer_id == "6" and nz.username == "store_user"


def test_profile_errors_name_the_problem_not_the_content(profiles: Path) -> None:
    with pytest.raises(FluentConfigError, match="available retailers: AU, NZ"):
        load_profile("dev", retailer="US", profile_dir=profiles)
    with pytest.raises(FluentConfigError, match="'clientSecret'"):
        load_profile("broken", profile_dir=profiles)
    with pytest.raises(FluentConfigError, match="available profiles: broken, dev"):
        load_profile("nope", profile_dir=profiles)
    (profiles / "dev" / "user.ACME_admin.json").write_text('{"username": "x", "password": "leak-me" ')
    with pytest.raises(FluentConfigError) as info:
        load_profile("dev", profile_dir=profiles)
    assert "leak-me" not in str(info.value) and "not valid JSON" in str(info.value)


def test_list_and_info(profiles: Path) -> None:
    assert list_profiles(profiles) == ["broken", "dev"]
    info = profile_info("dev", profiles)
    assert info is not None
    assert (info.account_id, info.username, info.retailers) == ("ACME", "ACME_admin", ["AU", "NZ"])
    assert profile_info("nope", profiles) is None


def test_default_dir_from_env(profiles: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUENT_PROFILE_DIR", str(profiles))
    assert list_profiles() == ["broken", "dev"]


def test_settings_from_profile_env_wins(profiles: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUENT_PROFILE_DIR", str(profiles))
    monkeypatch.setenv("FLUENT_PROFILE", "dev")
    monkeypatch.setenv("FLUENT_PROFILE_RETAILER", "AU")
    s = FluentSettings()
    assert s.base_url == "https://acme.sandbox.api.fluentretail.com"
    assert s.client_id == "ACME" and s.username == "ACME_admin" and s.retailer_id == "5"
    monkeypatch.setenv("FLUENT_BASE_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("FLUENT_RETAILER_ID", "77")
    s2 = FluentSettings()
    assert s2.base_url == "http://127.0.0.1:9999" and s2.retailer_id == "77"


async def test_client_from_profile(profiles: Path) -> None:
    async with FluentClient.from_profile("dev", retailer="NZ", profile_dir=profiles) as client:
        assert client.base_url == "https://acme.sandbox.api.fluentretail.com"
        assert client.retailer_id == "6"
        assert PROFILE_PASSWORD not in repr(client)
