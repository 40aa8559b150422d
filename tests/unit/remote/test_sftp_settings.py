"""One SFTP connection as a value: secrets never in a repr, and every way of building an SFTP source or an SFTP
destination (the settings, the old keywords, the pipeline file) signs in to the same server the same way.

What reaches the server is checked on the server: the session's asyncssh SFTP server on loopback
(tests/fixtures/sftp.py) takes a password or a key and checks the host key against a real known_hosts file.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import fields, replace
from pathlib import Path

import pytest

from fluentsync.connectors.filesinks import (
    DestinationError,
    SftpDestination,
    SftpDestinationConfig,
    open_destination,
)
from fluentsync.connectors.remote.sftp import connect_options
from fluentsync.connectors.remote.sftp_settings import SftpOptions, SftpSettings, resolve
from fluentsync.connectors.sources import SftpSource, SourceError
from fluentsync.streams.agents.sources import build_source
from fluentsync.streams.config import SftpSourceConfig
from tests.fixtures.sftp import SftpServer

PASSWORD, PASSPHRASE = "the-password-value", "the-passphrase-value"
FULL = SftpSettings(host="sftp.example.com", port=2222, username="partner", password=PASSWORD,
                    client_keys=["~/.ssh/id_ed25519"], passphrase=PASSPHRASE, known_hosts="/etc/ssh/known_hosts",
                    connect_timeout=5.0)


def server_settings(server: SftpServer, **changes: object) -> SftpSettings:
    """The fixture server's login with password, host key checked."""
    settings = SftpSettings(host=server.host, port=server.port, username=server.username, password=server.password,
                            known_hosts=server.known_hosts)
    return replace(settings, **changes)  # type: ignore[arg-type]


# -- the value and its repr -----------------------------------------------------------------------------


def test_repr_says_which_secrets_are_set_but_never_their_values() -> None:
    for text in (repr(FULL), str(FULL), f"{FULL}", f"{FULL!r}", repr([FULL])):
        assert PASSWORD not in text and PASSPHRASE not in text
        assert "password=<hidden>" in text and "passphrase=<hidden>" in text
        assert "host='sftp.example.com'" in text and "port=2222" in text and "username='partner'" in text
        assert "client_keys=('~/.ssh/id_ed25519',)" in text  # a file name, not key material
    assert repr(SftpSettings(host="h", username="u")) == (
        "SftpSettings(host='h', port=22, username='u', password=None, client_keys=None, passphrase=None, "
        "known_hosts='~/.ssh/known_hosts', connect_timeout=30.0)"
    )


def test_settings_are_frozen_and_compare_by_value_whatever_the_spelling() -> None:
    with pytest.raises(AttributeError):
        FULL.port = 22  # type: ignore[misc]
    assert replace(FULL, port=22) != FULL
    # a scheme on the host and a list of keys mean the same connection as the bare host and a tuple
    spelled = replace(FULL, host="sftp://sftp.example.com/", client_keys=["~/.ssh/id_ed25519"])
    assert spelled == FULL and spelled.host == "sftp.example.com" and spelled.client_keys == ("~/.ssh/id_ed25519",)
    assert hash(spelled) == hash(FULL)


def test_nothing_built_on_the_settings_shows_secrets_in_its_repr() -> None:
    for thing in (SftpSource(FULL), SftpDestination(FULL, prefix="out/"), SftpSource(FULL).settings):
        text = repr(thing)
        assert PASSWORD not in text and PASSPHRASE not in text


def test_the_keyword_list_is_the_settings_fields() -> None:
    """SftpOptions is the one copy of the field list (for keyword callers): it must not drift."""
    assert list(SftpOptions.__annotations__) == [f.name for f in fields(SftpSettings)]


def test_settings_or_keywords_but_not_both() -> None:
    assert resolve("sftp://h/", {"username": "u"}) == SftpSettings(host="h", username="u")
    assert resolve(None, {"host": "h", "username": "u", "port": 2022}) == SftpSettings(host="h", username="u",
                                                                                       port=2022)
    assert resolve(FULL, {}) is FULL
    with pytest.raises(TypeError, match="either sftp or password, port, not both") as info:
        SftpSource(FULL, port=22, password="another-password")
    assert "another-password" not in str(info.value)
    with pytest.raises(TypeError, match="either sftp or known_hosts, not both"):
        SftpDestination(FULL, prefix="out/", known_hosts=None)  # its own keywords (prefix) are no connection field
    with pytest.raises(TypeError, match="host either first or as host="):
        SftpDestination("h", host="h", username="u")
    with pytest.raises(TypeError, match="username"):
        SftpSource("h")  # the keyword form still needs the login
    with pytest.raises(TypeError):
        SftpSource("h", username="u", nonsense=1)  # type: ignore[call-arg]


def test_from_connection_reveals_the_pipeline_block(tmp_path: Path) -> None:
    config = SftpSourceConfig.model_validate({
        "type": "sftp", "host": "sftp://partner.example.com", "port": 2022, "username": "wms", "password": PASSWORD,
        "private_key": str(tmp_path / "id"), "passphrase": PASSPHRASE, "known_hosts": str(tmp_path / "known"),
    })
    assert SftpSettings.from_connection(config) == SftpSettings(
        host="partner.example.com", port=2022, username="wms", password=PASSWORD, client_keys=[tmp_path / "id"],
        passphrase=PASSPHRASE, known_hosts=tmp_path / "known", connect_timeout=30.0)
    assert SftpSettings.from_connection(config, connect_timeout=4.5).connect_timeout == 4.5
    unchecked = config.model_copy(update={"host_key_checking": False, "private_key": None, "passphrase": None})
    assert SftpSettings.from_connection(unchecked) == SftpSettings(
        host="partner.example.com", port=2022, username="wms", password=PASSWORD, known_hosts=None)


def test_the_builders_pass_the_pipeline_connection(tmp_path: Path) -> None:
    block = {"host": "partner.example.com", "username": "wms", "password": PASSWORD,
             "known_hosts": str(tmp_path / "known")}
    source_config = SftpSourceConfig.model_validate({"type": "sftp", **block})
    source = build_source(source_config)
    assert isinstance(source, SftpSource)
    assert source.settings == SftpSettings.from_connection(source_config)
    destination_config = SftpDestinationConfig.model_validate({"type": "sftp", **block, "connect_timeout": 7})
    destination = open_destination(destination_config)
    assert isinstance(destination, SftpDestination)
    assert destination.settings == SftpSettings.from_connection(destination_config, connect_timeout=7)


def test_connect_options_from_the_settings() -> None:
    options = connect_options(replace(FULL, client_keys=None, known_hosts="~/kh"))
    assert options["username"] == "partner" and options["password"] == PASSWORD and options["connect_timeout"] == 5.0
    assert options["known_hosts"] == str(Path("~/kh").expanduser())
    assert options["preferred_auth"] == "password,keyboard-interactive"  # not the local user's default keys
    with_keys = connect_options(FULL)
    assert with_keys["client_keys"] == [str(Path("~/.ssh/id_ed25519").expanduser())]
    assert "preferred_auth" not in with_keys
    assert connect_options(replace(FULL, known_hosts=None))["known_hosts"] is None  # checking off, explicitly


# -- on the server ----------------------------------------------------------------------------------------


@pytest.mark.integration
async def test_a_source_built_from_keywords_or_settings_sees_the_same_files(sftp_server: SftpServer) -> None:
    folder = f"settings-{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread((sftp_server.root / folder).mkdir)
    await asyncio.to_thread((sftp_server.root / folder / "a.csv").write_bytes, b"a\n1\n")
    by_settings = SftpSource(server_settings(sftp_server, password=None, client_keys=[sftp_server.client_key]))
    by_keywords = SftpSource(sftp_server.host, port=sftp_server.port, username=sftp_server.username,
                             client_keys=[sftp_server.client_key], known_hosts=sftp_server.known_hosts)
    assert by_settings.settings == by_keywords.settings
    seen = []
    for source in (by_settings, by_keywords):
        async with source:
            refs = [ref async for ref in source.list(folder)]
            assert [ref.path for ref in refs] == [f"{folder}/a.csv"]
            assert b"".join([chunk async for chunk in source.open(refs[0])]) == b"a\n1\n"
            seen.append(refs)
    assert seen[0] == seen[1]


@pytest.mark.integration
async def test_a_refused_login_reads_the_same_and_never_shows_the_password(sftp_server: SftpServer) -> None:
    wrong = "wrong-password-value"
    by_settings = SftpSource(server_settings(sftp_server, password=wrong), max_attempts=1)
    by_keywords = SftpSource(sftp_server.host, port=sftp_server.port, username=sftp_server.username, password=wrong,
                             known_hosts=sftp_server.known_hosts, max_attempts=1)
    messages = []
    for source in (by_settings, by_keywords):
        async with source:
            with pytest.raises(SourceError) as info:
                await source.stat("a.csv")
        assert not info.value.retryable and wrong not in str(info.value)
        messages.append(str(info.value))
    assert messages == [f"SFTP authentication failed for partner@127.0.0.1:{sftp_server.port}"] * 2


@pytest.mark.integration
async def test_a_destination_built_from_keywords_or_settings_writes_the_same_file(
    tmp_path: Path, sftp_server: SftpServer
) -> None:
    local = tmp_path / "a.csv"
    local.write_bytes(b"a\n1\n")
    prefix = f"settings-{uuid.uuid4().hex[:8]}/"
    by_settings = SftpDestination(server_settings(sftp_server), prefix=prefix)
    by_keywords = SftpDestination(sftp_server.host, port=sftp_server.port, username=sftp_server.username,
                                  password=sftp_server.password, known_hosts=sftp_server.known_hosts, prefix=prefix)
    uris = []
    for number, destination in enumerate((by_settings, by_keywords)):
        async with destination:
            uris.append(await destination.put(local, f"{number}.csv"))
    assert uris == [f"sftp://127.0.0.1:{sftp_server.port}/{prefix}{n}.csv" for n in (0, 1)]
    assert sorted(p.name for p in (sftp_server.root / prefix).iterdir()) == ["0.csv", "1.csv"]
    assert (sftp_server.root / prefix / "1.csv").read_bytes() == b"a\n1\n"

    strangers = tmp_path / "known_hosts"
    strangers.write_text("")
    async with SftpDestination(server_settings(sftp_server, known_hosts=strangers), prefix=prefix) as destination:
        with pytest.raises(DestinationError, match=r"host key of 127\.0\.0\.1"):
            await destination.put(local, "2.csv")
