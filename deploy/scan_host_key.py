"""Write an SSH server's host key to a known_hosts file: ``python scan_host_key.py HOST PORT FILE``.

Why: the SFTP source checks host keys (``host_key_checking`` defaults to true, and a missing
``known_hosts`` is refused). The SFTP container makes a fresh host key on its first start, so the
docker-compose stack records it once, from inside the compose network, before the workers start
(trust on first use, like ``ssh-keyscan``; the image has no OpenSSH client). Workers then check the key
exactly as they would in production, where ``known_hosts`` comes from the partner.

The server may still be starting, so connection attempts are retried for ``--timeout`` seconds.
Exit status 0 once the file is written, 1 when no key could be read.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import asyncssh

__all__ = ["known_hosts_line", "main", "scan"]


def known_hosts_line(host: str, port: int, key: asyncssh.SSHKey) -> bytes:
    """One known_hosts entry; OpenSSH and asyncssh write non-default ports as ``[host]:port``."""
    pattern = host if port == 22 else f"[{host}]:{port}"
    return pattern.encode() + b" " + key.export_public_key("openssh").strip() + b"\n"


async def scan(host: str, port: int, timeout: float = 60.0, interval: float = 1.0) -> asyncssh.SSHKey:
    """The server's host key, retrying refused or failed connections until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            key = await asyncio.wait_for(asyncssh.get_server_host_key(host, port, config=None), 10)
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            if time.monotonic() >= deadline:
                raise RuntimeError(f"no SSH host key from {host}:{port}: {exc}") from None
        else:
            if key is not None:
                return key
            if time.monotonic() >= deadline:
                raise RuntimeError(f"{host}:{port} offered no host key")
        await asyncio.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Record an SSH server's host key in a known_hosts file.")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("known_hosts", type=Path)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to keep trying (default 60)")
    args = parser.parse_args(argv)
    try:
        key = asyncio.run(scan(args.host, args.port, args.timeout))
    except RuntimeError as exc:
        print(f"scan_host_key: {exc}", file=sys.stderr)
        return 1
    args.known_hosts.parent.mkdir(parents=True, exist_ok=True)
    temporary = args.known_hosts.with_name(args.known_hosts.name + ".tmp")
    temporary.write_bytes(known_hosts_line(args.host, args.port, key))
    temporary.replace(args.known_hosts)  # readers never see a half-written file
    print(f"{args.known_hosts}: {args.host}:{args.port} {key.get_algorithm()} {key.get_fingerprint()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
