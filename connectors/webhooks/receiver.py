"""The webhook receiver: verify the raw bytes, publish them durably, and only then answer 2xx.

Order of checks for ``POST <route>`` (each failure has its own status and counter, and publishes
nothing):

1. unknown route → 404, wrong method → 405;
2. body larger than ``max_body_bytes`` → 413, decided from ``Content-Length`` before reading, or while
   streaming the body in (so memory is bounded whatever the sender claims);
3. content type not the workflow's format → 415;
4. verification over the exact received bytes (:mod:`.verify`) → 401 with a reason;
5. the body parsed with the workflow's parser (safe XML, one bad record refuses the request) → 400;
6. a recently seen event id → 200 ``{"duplicate": true}`` without publishing again (a sender's retry);
7. publish a ``WebhookEvent`` to ``webhooks.<wf>`` and wait for the broker's acknowledgement → 200
   ``{"success": true}``; broker unavailable or slower than ``publish_timeout`` → 503 with Retry-After, so
   the sender retries and nothing acknowledged is ever lost.

Two concurrent deliveries of one event id share one publish. The recent-id memory is a bounded,
in-process window; the worker's changelog-backed ``seen-webhooks-<wf>`` table is the authority over
``dedupe_ttl``, so a retry that reaches another replica, or arrives after a restart, is still applied
once. ``GET /health`` reports the routes and counters; ``GET /metrics`` the counters in Prometheus text.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiokafka.errors import KafkaError

from fluentsync.connectors.parsers.options import JsonOptions
from fluentsync.schemas.codec import AvroCodec, default_codec
from fluentsync.streams.kafka.partitioning import Strategy, partition_function
from fluentsync.streams.observability.logs import correlate

from .bodies import BodyError, WebhookFormat, accepts_content_type, event_id, parse_body
from .settings import WebhookServerConfig, WebhookSourceConfig
from .verify import WebhookVerifier

__all__ = ["Publish", "PublishUnavailable", "WebhookReceiver", "WebhookRoute"]

log = logging.getLogger(__name__)

#: ``await publish(topic, partition, key, value)`` returns once the broker acknowledged the message.
Publish = Callable[[str, int, bytes, bytes], Awaitable[None]]

_NEVER_KEPT = ("authorization", "proxy-authorization", "cookie")
_RETRY_AFTER = "5"


class PublishUnavailable(Exception):
    """The broker cannot take the message now; the sender should retry (503)."""


@dataclass
class WebhookRoute:
    """One workflow's route: where its raw events go and how its requests are checked."""

    workflow: str
    config: WebhookSourceConfig
    format: WebhookFormat
    topic: str  #: ``webhooks.<wf>`` (with the topic prefix)
    partitions: int
    verifier: WebhookVerifier = field(init=False)

    def __post_init__(self) -> None:
        self.verifier = WebhookVerifier.from_config(self.config.auth)
        self.path = self.config.route_for(self.workflow)
        auth = self.config.auth
        secret_headers = {"x-api-key", *getattr(auth, "sha512_headers", ()), *getattr(auth, "md5_headers", ())}
        header = getattr(auth, "header", None)
        if header:
            secret_headers.add(header)  # the HMAC signature or the API key header
        self.kept_headers = [h for h in self.config.headers if h not in secret_headers and h not in _NEVER_KEPT]


@dataclass(frozen=True)
class _Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> web.Response:
        return web.json_response(self.body, status=self.status, headers=self.headers)


class _RecentIds:
    """Event ids published recently, oldest first, bounded in number and age."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._ids: OrderedDict[tuple[str, str], float] = OrderedDict()

    def seen(self, key: tuple[str, str], ttl: float, now: float) -> bool:
        at = self._ids.get(key)
        return at is not None and now - at < ttl

    def add(self, key: tuple[str, str], now: float) -> None:
        if self.size <= 0:
            return
        self._ids[key] = now
        self._ids.move_to_end(key)
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)


class WebhookReceiver:
    """An aiohttp application serving every webhook workflow of a pipeline."""

    def __init__(
        self,
        routes: list[WebhookRoute],
        publish: Publish,
        server: WebhookServerConfig | None = None,
        *,
        partitioning: Strategy = "crc32",
        codec: AvroCodec | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.routes = {route.path: route for route in routes}
        if len(self.routes) != len(routes):
            raise ValueError("two webhook workflows use the same route")
        self.publish = publish
        self.server = server or WebhookServerConfig()
        self.codec = codec or default_codec()
        self.clock = clock
        self.counters: Counter[tuple[str, str]] = Counter()
        self._partition = partition_function(partitioning)
        self._recent = _RecentIds(self.server.recent_ids)
        self._in_flight: dict[tuple[str, str], asyncio.Future[_Answer]] = {}
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # -- aiohttp plumbing --------------------------------------------------------------------------
    def application(self) -> web.Application:
        app = web.Application(client_max_size=max([r.config.max_body_bytes for r in self.routes.values()] + [1024]))
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def start(self, host: str | None = None, port: int | None = None) -> int:
        """Listen (port 0 picks a free one); returns the bound port."""
        self._runner = web.AppRunner(self.application(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host or self.server.host, self.server.port if port is None else port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        log.info("webhook receiver listening on %s:%s (%s)", host or self.server.host, self.port,
                 ", ".join(sorted(self.routes)))
        return self.port or 0

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _count(self, workflow: str, outcome: str) -> None:
        self.counters[(workflow, outcome)] += 1

    async def _health(self, _request: web.Request) -> web.Response:
        counters: dict[str, dict[str, int]] = {}
        for (workflow, outcome), n in sorted(self.counters.items()):
            counters.setdefault(workflow, {})[outcome] = n
        return web.json_response({"status": "ok", "routes": sorted(self.routes), "counters": counters})

    async def _metrics(self, _request: web.Request) -> web.Response:
        lines = ["# HELP fluentsync_webhook_requests_total Webhook requests by workflow and outcome.",
                 "# TYPE fluentsync_webhook_requests_total counter"]
        for (workflow, outcome), n in sorted(self.counters.items()):
            lines.append(f'fluentsync_webhook_requests_total{{workflow="{workflow}",outcome="{outcome}"}} {n}')
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    # -- one request -------------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        route = self.routes.get(request.path.rstrip("/") or "/")
        if route is None:
            self._count("-", "unknown_route")
            return _Answer(404, {"success": False, "error": "unknown_route"}).response()
        if request.method != "POST":
            self._count(route.workflow, "method_not_allowed")
            return _Answer(405, {"success": False, "error": "method_not_allowed"}, {"Allow": "POST"}).response()
        try:
            with correlate(workflow=route.workflow):  # the request's lines (and a crash's) name the workflow
                answer = await self._handle(route, request)
        except Exception:  # never echo internals (they may quote input); the log has the trace
            log.exception("workflow %s: webhook handling failed", route.workflow)
            self._count(route.workflow, "error")
            answer = _Answer(500, {"success": False, "error": "internal_error"})
        return answer.response()

    async def _read_body(self, route: WebhookRoute, request: web.Request) -> bytes | None:
        limit = route.config.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def _handle(self, route: WebhookRoute, request: web.Request) -> _Answer:
        workflow = route.workflow
        body = await self._read_body(route, request)
        if body is None:
            self._count(workflow, "too_large")
            return _Answer(413, {"success": False, "error": "too_large", "limit": route.config.max_body_bytes},
                           {"Connection": "close"})
        received = self.clock()
        if not accepts_content_type(route.format, request.headers.get("Content-Type")):
            self._count(workflow, "unsupported_media_type")
            return _Answer(415, {"success": False, "error": "unsupported_media_type"})
        headers = {name.lower(): value for name, value in request.headers.items()}
        verdict = route.verifier.verify(body, headers, now=received)
        if not verdict.ok:
            self._count(workflow, f"unauthorized:{verdict.reason.value}")
            return _Answer(401, {"success": False, "error": "unauthorized", "reason": verdict.reason.value})
        try:
            parse_body(body, route.format)
        except BodyError as exc:
            self._count(workflow, "malformed_body")
            return _Answer(400, {"success": False, "error": "malformed_body", "detail": str(exc)[:300]})
        ident, ident_source = event_id(body, headers, route.config.event_id,
                                       is_json=isinstance(route.format, JsonOptions))
        key = (workflow, ident)
        if self._recent.seen(key, route.config.dedupe_ttl, received):
            self._count(workflow, "duplicate")
            return _Answer(200, {"success": True, "id": ident, "duplicate": True})
        pending = self._in_flight.get(key)
        if pending is not None:  # the same event is being published right now: share its answer
            self._count(workflow, "duplicate")
            answer = await asyncio.shield(pending)
            return _Answer(answer.status, {**answer.body, "duplicate": True}, answer.headers)
        future: asyncio.Future[_Answer] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            answer = await self._publish(route, body, headers, ident, ident_source, verdict, received)
            future.set_result(answer)
            return answer
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a waiting duplicate re-raises it, nobody else must log it
            raise
        finally:
            del self._in_flight[key]

    async def _publish(self, route: WebhookRoute, body: bytes, headers: dict[str, str], ident: str,
                       ident_source: str, verdict: Any, received: float) -> _Answer:
        event = {
            "event_id": ident, "event_id_source": ident_source, "workflow": route.workflow, "route": route.path,
            "content_type": headers.get("content-type"), "body": body,
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "headers": {h: headers[h][:1024] for h in route.kept_headers if h in headers},
            "verified_method": verdict.method, "verified_alg": verdict.algorithm, "key_id": verdict.key_id,
            "request_id": headers.get("x-request-id"),
            "received_at": datetime.fromtimestamp(received, UTC),
        }
        value = self.codec.encode("fluentsync.webhooks.WebhookEvent", event, topic=route.topic)
        key = ident.encode()
        partition = self._partition(key, route.partitions)
        try:
            await asyncio.wait_for(self.publish(route.topic, partition, key, value), self.server.publish_timeout)
        except (PublishUnavailable, KafkaError, TimeoutError, OSError) as exc:
            log.warning("workflow %s: webhook %s not published (%s); answering 503", route.workflow, ident,
                        type(exc).__name__)
            self._count(route.workflow, "broker_unavailable")
            return _Answer(503, {"success": False, "error": "unavailable"}, {"Retry-After": _RETRY_AFTER})
        self._recent.add((route.workflow, ident), received)
        self._count(route.workflow, "accepted")
        return _Answer(200, {"success": True, "id": ident})
