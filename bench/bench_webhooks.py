"""Benchmark: webhook -> Fluent latency and throughput at a fixed request rate, ack-after-publish on.

A real ``fluentsync worker`` subprocess (receiver inside it) takes HMAC-signed storefront cancellations
on ``POST /shop/cancellations``; each is verified, published to ``webhooks.<wf>`` (the 2xx waits for the
broker), turned into a record, mapped to an ``OrderCancel`` event and sent to the Fluent sandbox's Event
API. The sandbox runs in its own process with every artificial delay off (``bench_pipeline.py
--serve-sandbox``); the embedded broker and the open-loop load generator run here.

For every request: **ack latency** (send -> 2xx, client side) and **end-to-end latency** (send -> the
event's ``generatedOn`` in the sandbox's event log, i.e. accepted by Fluent; ms resolution, same
machine clock). Two passes in the same worker, so they compare directly:

1. ``baseline`` at ``--baseline-rate`` (default 20 req/s): unloaded latency;
2. ``goal`` at ``--rate`` (default 200 req/s): the product goal is **p99 end-to-end < 250 ms**.

Printed per pass: requests, non-2xx, achieved rate, ack and end-to-end p50/p95/p99/max, events
received by the sandbox, CPU seconds of the worker (plus the receiver's with ``--standalone-receiver``)
and the worker's peak RSS.

    python bench/bench_webhooks.py                     # 15 s per pass
    python bench/bench_webhooks.py --seconds 30 --rate 300
    python bench/bench_webhooks.py --profile           # + py-spy top functions of the worker (goal pass)
    python bench/bench_webhooks.py --standalone-receiver   # receiver and worker as two processes
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import cpu_seconds, pct, proc_status, profile_report  # noqa: E402

SECRET = "bench-shared-secret"
GOAL_P99_MS = 250.0


def signed(body: bytes) -> dict[str, str]:
    now = str(int(time.time()))
    mac = hmac.new(SECRET.encode(), now.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"content-type": "application/json", "x-shop-signature": mac, "x-shop-timestamp": now}


async def load(client: Any, name: str, rate: float, seconds: float) -> dict[str, Any]:
    """Open loop: request i starts at t0 + i/rate whatever the previous ones are doing."""
    sent: dict[str, float] = {}
    acks: list[float] = []
    failures: list[int] = []
    tasks = []

    async def one(ref: str, body: bytes) -> None:
        start = time.time()
        sent[ref] = start
        try:
            response = await client.post("/shop/cancellations", content=body, headers=signed(body))
            if response.status_code == 200:
                acks.append((time.time() - start) * 1000)
            else:
                failures.append(response.status_code)
        except Exception:
            failures.append(-1)

    total = int(rate * seconds)
    t0 = time.perf_counter()
    for i in range(total):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        ref = f"{name}-{i:06d}"
        body = json.dumps({"cancellationId": ref, "orderRef": ref, "reason": "bench"}).encode()
        tasks.append(asyncio.create_task(one(ref, body)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    return {"sent": sent, "acks": acks, "failures": failures, "elapsed": elapsed, "total": total}


async def wait_events(admin: Any, refs: set[str], timeout: float) -> dict[str, float]:
    """entityRef -> generatedOn (epoch s) for every OrderCancel of ``refs`` the sandbox logged."""
    deadline = time.monotonic() + timeout
    found: dict[str, float] = {}
    while time.monotonic() < deadline:
        for event in (await admin.get("/events", params={"name": "OrderCancel"})).json():
            ref = event["context"]["entityRef"]
            if ref in refs and ref not in found:
                found[ref] = datetime.fromisoformat(event["generatedOn"].replace("Z", "+00:00")).timestamp()
        if len(found) == len(refs):
            break
        await asyncio.sleep(0.5)
    return found


async def run(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    import httpx

    from fluentsync.streams.config import load_pipeline
    from fluentsync.streams.kafka.broker import EmbeddedBroker, free_port
    from fluentsync.streams.kafka.topics import ensure_topics
    from fluentsync.streams.worker import workflow_topic_specs

    sandbox = subprocess.Popen([sys.executable, str(REPO / "bench" / "bench_pipeline.py"), "--serve-sandbox"],  # noqa: ASYNC220
                               cwd=REPO, stdout=subprocess.PIPE, stderr=open(tmp / "sandbox.log", "wb"),  # noqa: ASYNC230, SIM115
                               text=True)
    worker: subprocess.Popen[bytes] | None = None
    receiver: subprocess.Popen[bytes] | None = None
    passes: list[dict[str, Any]] = []
    try:
        assert sandbox.stdout is not None
        line = await asyncio.get_running_loop().run_in_executor(None, sandbox.stdout.readline)
        fluent = json.loads(line)
        admin = httpx.AsyncClient(base_url=fluent["base_url"] + "/_sandbox", timeout=60)
        async with EmbeddedBroker() as broker:
            port = free_port()
            config = tmp / "pipeline.yaml"
            config.write_text(yaml.safe_dump({
                "kafka": {"bootstrap": broker.bootstrap, "partitions": 3, "app_id": "bench-webhooks"},
                "fluent": fluent, "webhooks": {"port": port, "in_worker": not args.standalone_receiver},
                "workflows": {"cancellations": {
                    "source": {"type": "webhook", "route": "/shop/cancellations",
                               "event_id": {"field": "cancellationId"},
                               "auth": {"kind": "hmac", "secret": SECRET, "header": "x-shop-signature",
                                        "timestamp_header": "x-shop-timestamp"}},
                    "format": {"type": "json"}, "key": ["orderRef"],
                    "target": {"api": "event", "event": {
                        "name": "OrderCancel", "entity_type": "ORDER", "entity_ref": "{orderRef}",
                        "root_entity_type": "ORDER", "root_entity_ref": "{orderRef}", "max_concurrency": 32}},
                }},
            }))
            await ensure_topics(broker.bootstrap, workflow_topic_specs(load_pipeline(config)))
            worker = subprocess.Popen([sys.executable, "-m", "fluentsync", "worker", "-c", str(config),  # noqa: ASYNC220
                                       "--web-port", "0", "--data-dir", str(tmp / "data"), "-l", "warning"], cwd=REPO,
                                      stdout=open(tmp / "worker.log", "wb"), stderr=subprocess.STDOUT)  # noqa: ASYNC230, SIM115
            if args.standalone_receiver:  # receivers and workers as separate processes
                receiver = subprocess.Popen([sys.executable, "-m", "fluentsync", "webhooks", "-c", str(config)],  # noqa: ASYNC220
                                            cwd=REPO, stdout=open(tmp / "receiver.log", "wb"),  # noqa: ASYNC230, SIM115
                                            stderr=subprocess.STDOUT)
            limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30, limits=limits) as client:
                for _ in range(300):
                    with contextlib.suppress(httpx.TransportError):
                        if (await client.get("/health")).status_code == 200:
                            break
                    await asyncio.sleep(0.2)
                else:
                    raise RuntimeError(f"the worker did not start; see {tmp / 'worker.log'}")
                # Warm-up: connections, the Fluent token, and a worker that has joined its group and
                # processes (with a standalone receiver, /health answering says nothing about the worker).
                warmup = await load(client, "warmup", 20, 2)
                await wait_events(admin, set(warmup["sent"]), timeout=120)
                for name, rate in (("baseline", args.baseline_rate), ("goal", args.rate)):
                    pids = [worker.pid] + ([receiver.pid] if receiver is not None else [])
                    cpu0 = sum(cpu_seconds(pid) for pid in pids)
                    spy = None
                    if args.profile and name == "goal":  # sample the worker during the goal pass only
                        spy = subprocess.Popen(["py-spy", "record", "--pid", str(worker.pid), "--nonblocking",  # noqa: ASYNC220
                                                "--rate", "200", "--duration", str(int(args.seconds)), "--format",
                                                "raw", "-o", str(tmp / "profile.txt")],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    result = await load(client, name, rate, args.seconds)
                    if spy is not None:
                        await asyncio.get_running_loop().run_in_executor(None, spy.wait)
                        profile_report(tmp / "profile.txt")
                    events = await wait_events(admin, set(result["sent"]), timeout=120)
                    e2e = [(events[r] - t) * 1000 for r, t in result["sent"].items() if r in events]
                    passes.append({
                        "pass": name, "rate": rate, **result, "events": len(events), "e2e": e2e,
                        "cpu": sum(cpu_seconds(pid) for pid in pids) - cpu0,
                        "rss_mb": proc_status(worker.pid, "VmHWM"),
                    })
    finally:
        for proc in (receiver, worker, sandbox):
            if proc is not None:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=20)
    return passes


def report(passes: list[dict[str, Any]]) -> None:
    def q(values: list[float]) -> str:
        if not values:
            return "-"
        return " / ".join(f"{pct(values, p):6.1f}" for p in (50, 95, 99)) + f" / {max(values):6.1f}"

    print()
    print(f"{'pass':9} {'req/s':>6} {'sent':>6} {'non2xx':>6} {'events':>6}  "
          f"{'ack ms p50/p95/p99/max':>32}  {'end-to-end ms p50/p95/p99/max':>32}  {'cpu s':>6} {'RSS MB':>7}")
    for p in passes:
        achieved = p["total"] / p["elapsed"]
        print(f"{p['pass']:9} {achieved:6.0f} {p['total']:6d} {len(p['failures']):6d} {p['events']:6d}  "
              f"{q(p['acks']):>32}  {q(p['e2e']):>32}  {p['cpu']:6.1f} {p['rss_mb']:7.0f}")
    goal = next(p for p in passes if p["pass"] == "goal")
    p99 = pct(goal["e2e"], 99) if goal["e2e"] else float("inf")
    lost = goal["total"] - goal["events"]
    verdict = "MET" if p99 < GOAL_P99_MS and lost == 0 and not goal["failures"] else "NOT MET"
    print(f"\ngoal: end-to-end p99 < {GOAL_P99_MS:.0f} ms at {goal['rate']:.0f} req/s -> p99 {p99:.1f} ms, "
          f"{lost} not in Fluent, {len(goal['failures'])} non-2xx: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s of the goal pass")
    parser.add_argument("--baseline-rate", type=float, default=20.0, help="requests/s of the baseline pass")
    parser.add_argument("--seconds", type=float, default=15.0, help="duration of each pass")
    parser.add_argument("--profile", action="store_true", help="py-spy the worker during the goal pass")
    parser.add_argument("--standalone-receiver", action="store_true",
                        help="run the receiver as its own process (fluentsync webhooks), not inside the worker")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        passes = asyncio.run(run(args, Path(tmp)))
    report(passes)


if __name__ == "__main__":
    main()
