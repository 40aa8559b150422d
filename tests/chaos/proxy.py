"""A TCP proxy that drops connections mid-transfer: S3 and SFTP downloads that die half way.

It sits between the worker and moto (or the SFTP server). While it is *armed*, a connection that has
carried ``cut_after`` bytes from the server since it was armed is reset (``SO_LINGER`` 0: the client
sees ECONNRESET, as when a NAT box or a load balancer drops a flow), ``cuts`` times in all. Small
exchanges (listings, stats, the SSH handshake) stay below the threshold, so the cut lands inside a file
body. Loopback only; the proxy stops with its owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from typing import Any

__all__ = ["CuttingProxy"]

_CHUNK = 1 << 16


class CuttingProxy:
    """``async with CuttingProxy(host, port, cut_after=..., cuts=...) as proxy``: listen on ``proxy.port``."""

    def __init__(self, target_host: str, target_port: int, *, cut_after: int, cuts: int) -> None:
        self.target = (target_host, target_port)
        self.cut_after = cut_after
        self.cuts_left = cuts
        self.cuts_done = 0
        self.connections = 0
        self.last_cut: float | None = None  #: monotonic time of the last reset
        self.armed = False
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._live: dict[int, list[int]] = {}  #: connection id -> [bytes from the server since armed]

    @property
    def port(self) -> int:
        assert self._server is not None, "proxy not started"
        return int(self._server.sockets[0].getsockname()[1])

    def arm(self) -> None:
        """Start counting: every live and future connection is cut once it has carried ``cut_after`` bytes."""
        for counter in self._live.values():
            counter[0] = 0
        self.armed = True

    async def __aenter__(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        conn = self.connections
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            _reset(client_w)
            self._tasks.discard(task)
            return
        counter = self._live[conn] = [0]
        cut = asyncio.Event()
        pumps: list[asyncio.Task[Any]] = [asyncio.create_task(self._pump(client_r, server_w, None, cut)),
                                          asyncio.create_task(self._pump(server_r, client_w, counter, cut))]
        waiter: asyncio.Task[Any] = asyncio.create_task(cut.wait())
        try:
            running = set(pumps)
            while running and not cut.is_set():  # both halves end cleanly, or a cut ends everything
                _, running = await asyncio.wait({*running, waiter}, return_when=asyncio.FIRST_COMPLETED)
                running.discard(waiter)
            if cut.is_set():
                _reset(client_w)
                _reset(server_w)
        finally:
            for pending in (*pumps, waiter):
                pending.cancel()
            self._live.pop(conn, None)
            for writer in (client_w, server_w):
                writer.close()
            self._tasks.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counter: list[int] | None,
                    cut: asyncio.Event) -> None:
        try:
            while data := await reader.read(_CHUNK):
                if counter is not None and self.armed and self.cuts_left > 0:
                    room = self.cut_after - counter[0]
                    if len(data) >= room:
                        writer.write(data[:max(room, 0)])  # the client gets part of the body, then the reset
                        with contextlib.suppress(OSError):
                            await writer.drain()
                        self.cuts_left -= 1
                        self.cuts_done += 1
                        self.last_cut = time.monotonic()
                        cut.set()
                        return
                    counter[0] += len(data)
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, asyncio.IncompleteReadError):
            cut.set()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN: the peer sees a dropped connection, not a clean end."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
