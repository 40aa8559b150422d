"""``fluentsync sandbox``: run the Fluent sandbox from the command line.

Every option has a documented default (also in ``docs/sandbox.md``). The secret and the password are
never printed; the base URL, client id, username and retailer id are, so a developer can copy them
into a client config.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from typing import Any

import click

from .app import SandboxServer
from .config import SandboxConfig, SandboxSettings

__all__ = ["sandbox", "tune_gc"]

_D = SandboxConfig()
_S = SandboxSettings()


@click.command("sandbox")
@click.option("--host", default=_D.host, show_default=True, help="Interface to bind (keep it on loopback).")
@click.option("--port", default=_D.port, show_default=True, type=int, help="TCP port; 0 picks a free one.")
@click.option("--client-id", default=_D.client_id, show_default=True, help="OAuth client id accepted.")
@click.option("--client-secret", default=_D.client_secret, show_default=True, help="OAuth client secret accepted.")
@click.option("--username", default=_D.username, show_default=True, help="User for the password grant.")
@click.option("--password", default=_D.password, show_default=True, help="Password for the password grant.")
@click.option("--retailer-id", default=_D.retailer_id, show_default=True, help="The account's retailer id.")
@click.option(
    "--seed",
    "seed_orders",
    default=_D.seed_orders,
    show_default=True,
    type=click.IntRange(min=0),
    help="Number of orders in the deterministic dataset.",
)
@click.option(
    "--products",
    default=_D.seed_products,
    show_default=True,
    type=click.IntRange(min=1),
    help="Number of seeded products.",
)
@click.option(
    "--locations",
    default=_D.seed_locations,
    show_default=True,
    type=click.IntRange(min=1),
    help="Number of seeded locations.",
)
@click.option(
    "--token-ttl",
    default=_D.token_ttl,
    show_default=True,
    type=click.IntRange(min=1),
    help="Access-token lifetime in seconds (expires_in).",
)
@click.option(
    "--job-lifetime",
    default=None,
    type=click.FloatRange(min=0, min_open=True),
    help="Close jobs this many seconds after creation.  [default: only at UTC midnight]",
)
@click.option(
    "--status-dialect",
    type=click.Choice(["fluent", "docs"]),
    default=_S.status_dialect,
    show_default=True,
    help="Job/batch status values: Fluent's or the SDK docs'.",
)
@click.option("--lenient", is_flag=True, help="Accept what strict mode rejects (e.g. pageInfo.endCursor).")
@click.option(
    "--batch-delay",
    default=_S.batch_pending_delay + _S.batch_running_delay,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds from batch POST to COMPLETE (half PENDING, half RUNNING).",
)
@click.option(
    "--latency-ms",
    default=_S.latency_ms,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Latency added to every Fluent route.",
)
@click.option(
    "--error-rate",
    default=_S.error_rate,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Fraction of Fluent calls answered with HTTP 503.",
)
@click.option(
    "--rate-limit",
    default=_S.rate_limit,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Requests per second per token (429 / C0011E above it); 0 = unlimited.",
)
def sandbox(**options: Any) -> None:
    """Run the local Fluent Commerce sandbox (OAuth, GraphQL, Job/Batch, Event API, admin API)."""
    batch_delay = float(options.pop("batch_delay"))
    settings = SandboxSettings(
        status_dialect=options.pop("status_dialect"),
        strict=not options.pop("lenient"),
        job_lifetime=options.pop("job_lifetime"),
        batch_pending_delay=batch_delay / 2,
        batch_running_delay=batch_delay / 2,
        latency_ms=options.pop("latency_ms"),
        error_rate=options.pop("error_rate"),
        rate_limit=options.pop("rate_limit"),
    )
    config = SandboxConfig(
        seed_products=options.pop("products"),
        seed_locations=options.pop("locations"),
        settings=settings,
        **options,
    )
    with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C while stopping
        asyncio.run(_serve(config))


def tune_gc() -> None:
    """Fewer garbage collections in a sandbox process: a Batch API batch creates several dicts per entity
    that live as long as the sandbox, and CPython's default thresholds rescan them again and again (a
    sixth of the sandbox's CPU per entity, measured with ``bench/bench_pipeline.py``). What exists after
    start-up (seeded data, modules) is frozen out of collections."""
    gc.set_threshold(50_000, 20, 100)
    gc.freeze()


async def _serve(config: SandboxConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = SandboxServer(config)
    try:
        await server.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {config.host}:{config.port}: {exc}") from exc
    tune_gc()
    counts = server.state.store.counts()
    click.echo(f"Fluent sandbox listening on {server.base_url}")
    click.echo(f"  client id: {config.client_id}   username: {config.username}   retailer id: {config.retailer_id}")
    click.echo("  (client secret and password: see --help or docs/sandbox.md)")
    click.echo(
        f"  data: {counts['orders']} orders, {counts['products']} products, "
        f"{counts['locations']} locations, {counts['inventoryPositions']} inventory positions"
    )
    click.echo(f"  admin API: {server.base_url}/_sandbox/   (Ctrl-C to stop)")
    try:
        await stop.wait()
    finally:
        click.echo("Stopping the sandbox…")
        await server.stop()
