"""One AWS connection as a value: secrets never in a repr, and every way of building an S3 source, an S3
destination or the SQS queue reaches the same endpoint with the same region, credentials and retries.

What reaches the wire is checked on the wire: a recording HTTP server on loopback stands in for S3 and SQS
and keeps each request's path and headers (the SigV4 ``Authorization`` header names the access key id and
the region, the session token travels as ``X-Amz-Security-Token``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import pytest
from aiohttp import web

from fluentsync.connectors.filesinks import DestinationError, S3Destination, S3DestinationConfig, open_destination
from fluentsync.connectors.remote import AwsSettings
from fluentsync.connectors.remote.aws import AwsOptions, resolve
from fluentsync.connectors.remote.s3 import AwsClient, S3Client
from fluentsync.connectors.sources import S3Source, SourceError
from fluentsync.connectors.sources.notifications import QueueError, SqsQueue
from fluentsync.streams.agents.sources import build_notification_queue, build_source
from fluentsync.streams.config import S3SourceConfig

KEY_ID, SECRET, TOKEN = "AKIAKEYIDVALUE", "secret-access-key-value", "session-token-value"
FULL = AwsSettings(endpoint_url="http://127.0.0.1:9", region="eu-west-1", access_key_id=KEY_ID,
                   secret_access_key=SECRET, session_token=TOKEN, profile=None, max_attempts=1)


@dataclass
class Recorder:
    """An HTTP server that answers every request with ``status`` and keeps (path, headers) of each."""

    status: int = 404
    url: str = ""
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.headers)))
        return web.json_response({"__type": "NotFound", "message": "no"}, status=self.status)

    def signed(self, index: int = 0) -> tuple[str, str | None]:
        """(Authorization, X-Amz-Security-Token) of request ``index``."""
        headers = self.requests[index][1]
        return headers["Authorization"], headers.get("X-Amz-Security-Token")


@asynccontextmanager
async def recorder(status: int = 404) -> AsyncIterator[Recorder]:
    rec = Recorder(status)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    rec.url = f"http://127.0.0.1:{port}"
    try:
        yield rec
    finally:
        await runner.cleanup()


def assert_signed(rec: Recorder, *, region: str, service: str, token: str | None = TOKEN) -> None:
    authorization, sent_token = rec.signed()
    assert f"Credential={KEY_ID}/" in authorization and f"/{region}/{service}/aws4_request" in authorization
    assert sent_token == token


# -- the value and its repr -----------------------------------------------------------------------------


def test_repr_says_which_credentials_are_set_but_never_their_values() -> None:
    for text in (repr(FULL), str(FULL), f"{FULL}", f"{FULL!r}", repr([FULL])):
        assert KEY_ID not in text and SECRET not in text and TOKEN not in text
        assert "access_key_id=<hidden>" in text and "session_token=<hidden>" in text
        assert "endpoint_url='http://127.0.0.1:9'" in text and "region='eu-west-1'" in text
    assert repr(AwsSettings()) == (
        "AwsSettings(endpoint_url=None, region=None, access_key_id=None, secret_access_key=None, "
        "session_token=None, profile=None, max_attempts=3)"
    )


def test_settings_are_frozen_and_compare_by_value() -> None:
    with pytest.raises(AttributeError):
        FULL.region = "us-east-1"  # type: ignore[misc]
    assert replace(FULL, region="us-east-1") != FULL
    assert replace(replace(FULL, region="us-east-1"), region="eu-west-1") == FULL


def test_nothing_built_on_the_settings_shows_secrets_in_its_repr() -> None:
    for thing in (S3Client(FULL), AwsClient("sqs", FULL), S3Source("b", FULL), S3Destination("b", FULL),
                  SqsQueue("http://127.0.0.1:9/1/q", FULL)):
        text = repr(thing)
        assert KEY_ID not in text and SECRET not in text and TOKEN not in text


def test_the_keyword_list_is_the_settings_fields() -> None:
    """AwsOptions is the one copy of the field list (for keyword callers): it must not drift."""
    assert list(AwsOptions.__annotations__) == [f.name for f in fields(AwsSettings)]


def test_settings_or_keywords_but_not_both() -> None:
    assert resolve(None, {}) == AwsSettings()
    assert resolve(None, {"region": "eu-west-1", "access_key_id": KEY_ID}) == AwsSettings(
        region="eu-west-1", access_key_id=KEY_ID)
    assert resolve(FULL, {}) is FULL
    with pytest.raises(TypeError, match="either aws or access_key_id, region, not both") as info:
        S3Source("b", FULL, region="us-east-1", access_key_id="AKIAOTHER")
    assert "AKIAOTHER" not in str(info.value)
    with pytest.raises(TypeError):
        S3Destination("b", nonsense=1)  # type: ignore[call-arg]


def test_from_connection_reveals_the_pipeline_block() -> None:
    config = S3SourceConfig.model_validate({
        "type": "s3", "bucket": "wms", "endpoint_url": "http://minio:9000", "region": "eu-west-1",
        "profile": "ops", "access_key_id": KEY_ID, "secret_access_key": SECRET, "session_token": TOKEN,
    })
    assert AwsSettings.from_connection(config) == AwsSettings(
        endpoint_url="http://minio:9000", region="eu-west-1", access_key_id=KEY_ID, secret_access_key=SECRET,
        session_token=TOKEN, profile="ops", max_attempts=3)
    assert AwsSettings.from_connection(config, max_attempts=7).max_attempts == 7


# -- on the wire ------------------------------------------------------------------------------------------


async def test_a_source_built_from_keywords_or_settings_sends_the_same_request() -> None:
    async with recorder() as rec:
        by_settings = S3Source("wms", replace(FULL, endpoint_url=rec.url), path_style=True)
        by_keywords = S3Source("wms", endpoint_url=rec.url, region="eu-west-1", access_key_id=KEY_ID,
                               secret_access_key=SECRET, session_token=TOKEN, max_attempts=1, path_style=True)
        for source in (by_settings, by_keywords):
            async with source:
                with pytest.raises(SourceError, match=r"stat s3://wms/in/a\.csv"):
                    await source.stat("in/a.csv")
    assert [path for path, _ in rec.requests] == ["/wms/in/a.csv", "/wms/in/a.csv"]  # path-style; a 404 is final
    for index in (0, 1):
        authorization, token = rec.signed(index)
        assert f"Credential={KEY_ID}/" in authorization and "/eu-west-1/s3/aws4_request" in authorization
        assert token == TOKEN


async def test_build_source_passes_the_pipeline_connection() -> None:
    async with recorder() as rec:
        config = S3SourceConfig.model_validate({
            "type": "s3", "bucket": "wms", "endpoint_url": rec.url, "region": "ap-south-1", "path_style": True,
            "access_key_id": KEY_ID, "secret_access_key": SECRET,
        })
        source = build_source(config)
        assert isinstance(source, S3Source)
        async with source:
            with pytest.raises(SourceError):
                await source.stat("a.csv")
    assert rec.requests[0][0] == "/wms/a.csv"
    assert_signed(rec, region="ap-south-1", service="s3", token=None)


async def test_the_queue_takes_the_source_credentials_and_its_own_endpoint_and_region() -> None:
    async with recorder(status=400) as rec:
        config = S3SourceConfig.model_validate({
            "type": "s3", "bucket": "wms", "endpoint_url": "http://127.0.0.1:9", "region": "eu-west-1",
            "access_key_id": KEY_ID, "secret_access_key": SECRET, "session_token": TOKEN,
            "notifications": {"queue_url": f"{rec.url}/123/inbox", "endpoint_url": rec.url, "region": "us-west-2"},
        })
        queue = build_notification_queue(config)
        try:
            with pytest.raises(QueueError, match="receive from queue inbox"):
                await queue.receive(wait_seconds=1, max_messages=1)
        finally:
            await queue.close()
    assert_signed(rec, region="us-west-2", service="sqs")


async def test_open_destination_passes_the_connection_and_max_attempts(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(b"x\n")
    async with recorder(status=500) as rec:
        config = S3DestinationConfig(bucket="out", endpoint_url=rec.url, region="eu-central-1", path_style=True,
                                     access_key_id=KEY_ID, secret_access_key=SECRET, session_token=TOKEN,
                                     max_attempts=1)
        async with open_destination(config) as destination:
            with pytest.raises(DestinationError, match=r"upload s3://out/a\.csv"):
                await destination.put(tmp_path / "a.csv", "a.csv")
    # a 500 is retried; botocore reads max_attempts as retries after the first try (as it always has here)
    assert [path for path, _ in rec.requests] == ["/out/a.csv", "/out/a.csv"]
    assert_signed(rec, region="eu-central-1", service="s3")
