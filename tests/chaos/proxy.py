"""A TCP proxy that drops connections mid-transfer: S3 and SFTP downloads that die half way.

It sits between the worker and moto (or the SFTP server). While it is *armed*, a connection that has
carried ``cut_after`` bytes from the server since it was armed is reset (``SO_LINGER`` 0: the client
sees ECONNRESET, as when a NAT box or a load balancer drops a flow), ``cuts`` times in all. Small
exchanges (listings, stats, the SSH handshake) stay below the threshold, so the cut lands inside a file
body. The relaying itself is :class:`tests.fixtures.tcp_proxy.CuttingRelay`; this is its cut policy.
"""

from __future__ import annotations

import time

from tests.fixtures.tcp_proxy import CuttingRelay

__all__ = ["CuttingProxy"]


class _Volume:
    """One connection's policy: reset once it carried ``cut_after`` bytes from the server while armed."""

    def __init__(self, proxy: CuttingProxy) -> None:
        self.proxy = proxy
        self.carried = 0  #: bytes from the server since the proxy was armed

    def up(self, data: bytes) -> None:
        pass

    def down(self, data: bytes) -> int | None:
        proxy = self.proxy
        if not proxy.armed or proxy.cuts_left <= 0:
            return None
        room = proxy.cut_after - self.carried
        if len(data) < room:
            self.carried += len(data)
            return None
        proxy.cuts_left -= 1
        proxy.cuts_done += 1
        proxy.last_cut = time.monotonic()
        return max(room, 0)


class CuttingProxy(CuttingRelay[_Volume]):
    """``async with CuttingProxy(host, port, cut_after=..., cuts=...) as proxy``: listen on ``proxy.port``."""

    def __init__(self, target_host: str, target_port: int, *, cut_after: int, cuts: int) -> None:
        super().__init__(target_host, target_port)
        self.cut_after = cut_after
        self.cuts_left = cuts
        self.cuts_done = 0
        self.last_cut: float | None = None  #: monotonic time of the last reset
        self.armed = False

    def connection(self) -> _Volume:
        return _Volume(self)

    def arm(self) -> None:
        """Start counting: every live and future connection is cut once it has carried ``cut_after`` bytes."""
        for policy in self.live:
            policy.carried = 0
        self.armed = True

    async def __aenter__(self) -> CuttingProxy:
        await super().__aenter__()
        return self
