"""The worker's operations port: ``/health``, and whatever the observability modules mount on it.

Why our own small aiohttp server and not Faust's web views: it must bind port 0 in tests (and say
which port it got), start before table recovery finishes (a scrape during a long recovery must answer),
and stay independent of Faust's web stack, which we otherwise disable. One server, one port, several
GET routes: ``/metrics`` (Prometheus text) and ``/status`` (JSON) are added by their own modules.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from mode import Service
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Handler", "OpsConfig", "OpsWeb", "ops_service"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class OpsConfig(BaseModel):
    """``ops:`` in the pipeline file: where the worker serves health, metrics and status.

    ``port: null`` turns the endpoints off; 0 picks a free port (printed at start-up). ``fluentsync worker
    --web-port`` overrides the port. Bind to ``0.0.0.0`` in a container so Prometheus can scrape it.
    """

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int | None = Field(default=6066, ge=0, le=65535)


class OpsWeb:
    """GET routes on one port. Add routes before :meth:`start`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 6066) -> None:
        self.host = host
        self.requested_port = port
        self.port: int | None = None  #: the bound port once started
        self._routes: dict[str, Handler] = {"/health": self._health}
        self._runner: web.AppRunner | None = None

    def add_get(self, path: str, handler: Handler) -> None:
        if path in self._routes and path != "/health":
            raise ValueError(f"ops route {path} is already served")
        self._routes[path] = handler

    @property
    def paths(self) -> list[str]:
        return sorted(self._routes)

    async def start(self) -> int:
        """Listen; returns the bound port. A port already in use is a clear start-up error."""
        app = web.Application()
        for path, handler in self._routes.items():
            app.router.add_get(path, handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.requested_port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise RuntimeError(f"cannot serve the ops endpoints on {self.host}:{self.requested_port}: "
                               f"{exc.strerror or exc} (set ops.port or --web-port; 0 picks a free port)") from None
        sockets = getattr(site._server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.requested_port
        print(f"ops web: http://{self.host}:{self.port} ({', '.join(self.paths)})", flush=True)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "ok", "paths": self.paths})


def ops_service(ops: OpsWeb) -> type[Service]:
    """A mode service class (what ``app.service`` takes) that serves ``ops`` while the worker runs."""

    class OpsWebService(Service):
        async def on_start(self) -> None:
            await ops.start()

        async def on_stop(self) -> None:
            await ops.stop()

    return OpsWebService
