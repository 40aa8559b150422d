"""Benchmark: end-to-end throughput of ONE worker process, from a file landing to Fluent acceptance.

A generated inventory CSV (``--rows``, default 200k) is dropped (atomic rename) into a local inbox
watched by a real ``fluentsync worker`` subprocess; the worker parses and publishes the records to the
embedded broker, maps (``fluentsync.integer`` for qty), validates, dedupes and sends them to the Fluent
sandbox in Batch API batches (``--batch-size``, linger ``--linger``). The sandbox runs in its own
process (batch PENDING/RUNNING delays, event delay, added latency and rate limit all 0) so it shares
neither the worker's nor this process's CPU accounting.

Figures (per pass, from ``FileEvent`` timestamps on ``files.<wf>``):

* drop -> SETTLED (wall), STARTED -> SETTLED, the ledger's ``processing_ms``;
* records/s over STARTED -> SETTLED and over the wall time;
* Fluent batch POST latency p50/p99 (server side: measured around the sandbox's request handling and
  exposed in ``/_sandbox/requests`` as ``ms``), number of POSTs;
* worker CPU seconds in the pass (utime+stime) = how busy the one worker process was, and the worker's
  RSS (sampled peak during the pass; ``VmHWM`` overall).

Passes, all in the same worker:

1. ``fluent``  - new file, every record new: the whole Fluent path;
2. ``dedupe``  - the same content under a new name: every record *unchanged*, nothing sent;
3. ``ingest only`` (baseline) - the same content into a workflow with no target: STARTED -> COMPLETED,
   i.e. parse + publish only, what the Fluent path adds on top of it.

``--profile`` attaches ``py-spy record`` to the worker (and the sandbox) for each pass (non-blocking sampling, idle
excluded) and prints the top functions by own and by inclusive time per pass, so the records path
(``dedupe``) is not mixed up with start-up or Fluent I/O. CPU per record is the worker's utime+stime
over the pass divided by its records; ``ingest only`` is what parsing and publishing cost of it.
``--status-interval S`` polls batch statuses every S s instead of the product's 10/30/60 s schedule;
``--no-await-status`` counts records accepted on the POST's 2xx. A crash of an agent in the worker
log ends the run with the crash line instead of waiting for the time-out.

    python bench/bench_pipeline.py                    # 200k rows
    python bench/bench_pipeline.py --rows 50000 --batch-size 5000
    python bench/bench_pipeline.py --profile          # + py-spy top functions per pass
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
GOAL = 20_000  # records/s per worker (product goal)

MAPPING = {
    "fields": {
        "skuRef": {"source": "sku", "required": True},
        "locationRef": {"source": "location", "required": True},
        "qty": {"source": "qty", "resolver": "fluentsync.integer", "required": True},
        "type": {"value": "LAST_ON_HAND"},
        "status": {"source": "status", "defaultValue": "ACTIVE"},
    }
}


# -- the sandbox child process ---------------------------------------------------------------------
def serve_sandbox() -> None:
    """Run the sandbox with every artificial delay off; print its base URL; stop on SIGTERM.

    The request log entry of every Fluent call gets ``ms``: the time the sandbox spent on it (from the
    middleware's log entry to the response), by wrapping the module's ``_fluent_call`` in this process
    only (no product code is changed).
    """
    from fluentsync.connectors.sandbox import SandboxConfig, SandboxServer, SandboxSettings
    from fluentsync.connectors.sandbox import app as sandbox_app
    from fluentsync.connectors.sandbox.cli import tune_gc

    original = sandbox_app._fluent_call

    async def timed(request: Any, handler: Any, state: Any, route: str, entry: dict[str, Any]) -> Any:
        started = time.perf_counter()
        try:
            return await original(request, handler, state, route, entry)
        finally:
            entry["ms"] = (time.perf_counter() - started) * 1000

    sandbox_app._fluent_call = timed

    async def main() -> None:
        settings = SandboxSettings(batch_pending_delay=0, batch_running_delay=0, event_delay=0, latency_ms=0,
                                   error_rate=0, rate_limit=0, max_batch_entities=5000)
        config = SandboxConfig(port=0, settings=settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        async with SandboxServer(config) as server:
            tune_gc()  # as ``fluentsync sandbox`` does
            print(json.dumps({"base_url": server.base_url, "client_id": config.client_id,
                              "client_secret": config.client_secret, "username": config.username,
                              "password": config.password, "retailer_id": str(config.retailer_id)}), flush=True)
            await stop.wait()

    asyncio.run(main())


# -- helpers ---------------------------------------------------------------------------------------
def write_csv(path: Path, rows: int) -> int:
    with path.open("w") as out:
        out.write("sku,location,qty,status\n")
        chunk: list[str] = []
        for i in range(rows):
            chunk.append(f"S-{i:08d},L-{i % 250:04d},{i % 97},ACTIVE\n")
            if len(chunk) >= 10_000:
                out.write("".join(chunk))
                chunk.clear()
        out.write("".join(chunk))
    return path.stat().st_size


def proc_status(pid: int, field: str) -> float:
    """``VmHWM``/``VmRSS`` of a process in MB (nan when gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


async def quiesce(pid: int, idle: float = 0.1, window: float = 1.0, limit: float = 120.0) -> float:
    """Wait until the worker uses less than ``idle`` of a core over ``window`` s; the seconds waited.

    An idle worker still fetches and polls a little (a few % of a core), hence a threshold, not zero."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = cpu_seconds(pid)
        await asyncio.sleep(window)
        if not cpu_seconds(pid) - before >= idle * window:  # nan (worker gone) counts as idle
            break
    return time.monotonic() - started - window


def crash_in(log: Path) -> str | None:
    """The first 'agent crashed' line of the worker log, with the exception's last line."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return None
    at = text.find("Crashed reason=")
    if at < 0:
        return None
    line = text[text.rfind("\n", 0, at) + 1:text.find("\n", at)]
    tail = text[at:].split("\n[", 1)[0].strip().splitlines()
    return f"{line.strip()} ... {' | '.join(t.strip() for t in tail[-4:])}"


def ts(value: Any) -> float:
    """An Avro timestamp-millis as decoded (datetime or int) -> epoch seconds."""
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value) / 1000


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


class Sampler:
    """Samples the worker's RSS every 50 ms while a pass runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            rss = proc_status(self.pid, "VmRSS")
            if rss == rss:
                self.peak = max(self.peak, rss)
            await asyncio.sleep(0.05)

    def __enter__(self) -> Sampler:
        self.task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()


# -- the run ---------------------------------------------------------------------------------------
async def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    import httpx

    from fluentsync.streams.kafka.broker import EmbeddedBroker
    from fluentsync.streams.kafka.names import WorkflowTopics
    from fluentsync.streams.kafka.tail import TopicTail
    from fluentsync.streams.kafka.topics import TopicSpec, ensure_topics

    results: dict[str, Any] = {"rows": args.rows}
    source = tmp / "inventory.csv"
    started = time.perf_counter()
    results["file_bytes"] = write_csv(source, args.rows)
    print(f"generated {args.rows:,} rows ({results['file_bytes'] / 1e6:.1f} MB) in "
          f"{time.perf_counter() - started:.1f} s", flush=True)

    sandbox = subprocess.Popen([sys.executable, __file__, "--serve-sandbox"], cwd=REPO, stdout=subprocess.PIPE,  # noqa: ASYNC220
                               stderr=open(tmp / "sandbox.log", "wb"), text=True)  # noqa: ASYNC230, SIM115
    worker: subprocess.Popen[bytes] | None = None
    worker_pid = -1
    try:
        assert sandbox.stdout is not None
        line = await asyncio.get_running_loop().run_in_executor(None, sandbox.stdout.readline)
        if not line:
            raise RuntimeError(f"sandbox did not start; see {tmp / 'sandbox.log'}")
        fluent = json.loads(line)
        admin = httpx.AsyncClient(base_url=fluent["base_url"] + "/_sandbox", timeout=60)

        async with EmbeddedBroker() as broker:
            wf_fluent, wf_ingest = "bench_fluent", "bench_ingest"
            inbox = {wf: tmp / wf for wf in (wf_fluent, wf_ingest)}
            for path in inbox.values():
                (path / "incoming").mkdir(parents=True)
            (tmp / "inventory.json").write_text(json.dumps(MAPPING))
            common: dict[str, Any] = {"format": {"type": "csv"}, "key": ["sku", "location"]}
            if args.batch_records is not None:
                common["publish"] = {"batch_records": args.batch_records}

            def source_cfg(wf: str) -> dict[str, Any]:
                return {"type": "local", "root": str(inbox[wf]), "prefix": "incoming/", "patterns": ["*.csv"],
                        "poll_interval": args.poll, "stable_listings": 1}

            target: dict[str, Any] = {"api": "batch", "max_batch_size": args.batch_size, "linger": args.linger,
                                      "job_strategy": "per_file"}
            if args.max_pending is not None:
                target["max_pending_records"] = args.max_pending
            if args.no_await_status:
                target["await_status"] = False
            elif args.status_interval is not None:
                s = args.status_interval
                target["status"] = {"intervals": [s, s, s], "min_interval": min(s, 1.0)}
            results["target"] = target
            config = tmp / "pipeline.yaml"
            config.write_text(yaml.safe_dump({
                "kafka": {"bootstrap": broker.bootstrap, "partitions": args.partitions, "app_id": "bench-pipeline"},
                "fluent": fluent,
                "workflows": {
                    wf_fluent: {**common, "source": source_cfg(wf_fluent), "mapping": "inventory.json",
                                "target": target},
                    wf_ingest: {**common, "source": source_cfg(wf_ingest)},
                },
            }))
            topics = {wf: WorkflowTopics.of(wf) for wf in inbox}
            await ensure_topics(broker.bootstrap, [TopicSpec(name, args.partitions)
                                                   for t in topics.values() for name in t.all()])

            command = [sys.executable, "-m", "fluentsync", "worker", "--web-port", "0", "--config", str(config),
                       "--data-dir", str(tmp / "data"), "-l", args.worker_loglevel]
            worker = subprocess.Popen(command, cwd=REPO, stdout=open(tmp / "worker.log", "wb"),  # noqa: ASYNC220, ASYNC230, SIM115
                                      stderr=subprocess.STDOUT)
            worker_pid = worker.pid
            # the other processes on the same cores: what each costs per record bounds the worker's share
            others = {"sandbox": sandbox.pid, "broker": broker.pid or -1, "bench": os.getpid()}

            async with TopicTail(broker.bootstrap, topics[wf_fluent].files) as files_fluent, \
                    TopicTail(broker.bootstrap, topics[wf_ingest].files) as files_ingest:
                tails = {wf_fluent: files_fluent, wf_ingest: files_ingest}

                def find(wf: str, name: str, kind: str) -> dict[str, Any] | None:
                    path = f"incoming/{name}"
                    return next((e for e in tails[wf].items if e["kind"] == kind and e["file"]["path"] == path),
                                None)

                async def drop(wf: str, name: str, content: Path, until: str, timeout: float,
                               profile: str | None = None) -> dict[str, Any]:
                    staged = inbox[wf] / name
                    shutil.copyfile(content, staged)
                    await admin.delete("/requests")
                    spies: list[subprocess.Popen[bytes]] = []
                    if profile is not None:  # attach to the running worker for this pass only
                        spies = [subprocess.Popen([shutil.which("py-spy") or "py-spy", "record", "--pid",  # noqa: ASYNC220
                                                   str(pid), "--nonblocking", "--rate", "250", "--format", "raw",
                                                   "-o", str(tmp / f"profile-{profile}{suffix}.txt")],
                                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                                 for pid, suffix in ((worker_pid, ""), (sandbox.pid, "-sandbox"))]
                        await asyncio.sleep(1.0)  # py-spy attaches
                    cpu0 = cpu_seconds(worker_pid)
                    others0 = {name: cpu_seconds(pid) for name, pid in others.items()}
                    with Sampler(worker_pid) as sampler:
                        dropped = time.time()
                        os.rename(staged, inbox[wf] / "incoming" / name)  # atomic: the file lands whole
                        deadline = time.monotonic() + timeout
                        while find(wf, name, until) is None:
                            if time.monotonic() > deadline:
                                raise TimeoutError(f"{wf}/{name}: no {until} in {timeout:.0f} s; see {tmp}")
                            crashed = crash_in(tmp / "worker.log")
                            if crashed or worker.poll() is not None:
                                raise RuntimeError(f"worker failed during {wf}/{name}: {crashed or 'exited'}")
                            await tails[wf].poll(0.3)
                        observed = time.time()
                    cpu_s = cpu_seconds(worker_pid) - cpu0
                    # Work of this pass may go on after its end event (changelog messages still being
                    # produced, rocksdb writes): it belongs to this pass, not to the next one.
                    tail_s = await quiesce(worker_pid)
                    cpu_tail = cpu_seconds(worker_pid) - cpu0 - cpu_s
                    cpu_others = {name: cpu_seconds(pid) - others0[name] for name, pid in others.items()}
                    for spy in spies:
                        spy.send_signal(signal.SIGINT)  # py-spy writes its profile on SIGINT
                        await asyncio.get_running_loop().run_in_executor(None, spy.wait, 30)
                    if worker.poll() is not None:
                        raise RuntimeError(f"worker exited ({worker.returncode}); see {tmp / 'worker.log'}")
                    started_ev, completed_ev, end_ev = (find(wf, name, k) for k in ("STARTED", "COMPLETED", until))
                    assert started_ev is not None and completed_ev is not None and end_ev is not None
                    posts = (await admin.get("/requests", params={"route": "batch_create"})).json()
                    polls = (await admin.get("/requests", params={"route": "batch_get"})).json()
                    return {
                        "dropped": dropped, "observed": observed, "started": ts(started_ev["occurred_at"]),
                        "completed": ts(completed_ev["occurred_at"]), "end": ts(end_ev["occurred_at"]),
                        "event": end_ev, "records": completed_ev["record_count"],
                        "cpu_s": cpu_s, "cpu_tail_s": cpu_tail, "tail_s": tail_s, "rss_peak_mb": sampler.peak,
                        "cpu_others": cpu_others,
                        "posts": posts, "polls": polls,
                    }

                # Warm-up: the worker is up, partitions assigned, a Fluent token held, the mapper compiled.
                warm = tmp / "warm.csv"
                warm.write_text("sku,location,qty,status\n" + "".join(f"W-{i},L-0,{i},ACTIVE\n" for i in range(20)))
                t0 = time.perf_counter()
                await drop(wf_fluent, "warm.csv", warm, "SETTLED", timeout=180)
                await drop(wf_ingest, "warm.csv", warm, "COMPLETED", timeout=60)
                print(f"worker ready (warm-up files settled) after {time.perf_counter() - t0:.1f} s; "
                      f"worker pid {worker_pid}", flush=True)

                timeout = args.timeout or max(300.0, args.rows / 500)
                profiled = args.profile
                results["reference_ms"] = [reference_loop_ms()]
                results["fluent"] = await drop(wf_fluent, "a.csv", source, "SETTLED", timeout,
                                               "fluent" if profiled else None)
                results["hwm_after_fluent_mb"] = proc_status(worker_pid, "VmHWM")
                results["dedupe"] = await drop(wf_fluent, "b.csv", source, "SETTLED", timeout,
                                               "dedupe" if profiled else None)
                results["ingest"] = await drop(wf_ingest, "a.csv", source, "COMPLETED", timeout,
                                               "ingest" if profiled else None)
                results["hwm_final_mb"] = proc_status(worker_pid, "VmHWM")
                results["reference_ms"].append(reference_loop_ms())
                results["sandbox"] = (await admin.get("/inspect")).json()
                await admin.aclose()

                if worker.poll() is None:
                    worker.send_signal(signal.SIGTERM)
                    try:
                        await asyncio.get_running_loop().run_in_executor(None, worker.wait, 60)
                    except subprocess.TimeoutExpired:
                        worker.kill()
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
        sandbox.send_signal(signal.SIGTERM)
        try:
            sandbox.wait(15)
        except subprocess.TimeoutExpired:
            sandbox.kill()
    return results


# -- reporting -------------------------------------------------------------------------------------
def reference_loop_ms() -> float:
    """Milliseconds of a fixed pure-Python loop (best of 3): how fast this host runs Python right now.

    Why: this machine is a VM whose speed varies by up to 1.7x with its neighbours' load (the loop took
    100-190 ms within minutes), which no steal-time figure shows. Compare CPU per record between runs
    only at a similar reference."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(5_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return best * 1000


def report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    rows = results["rows"]
    print()
    print(f"target config: {json.dumps(results['target'])}")
    print(f"one worker, {rows:,} rows, batch size {args.batch_size}, linger {args.linger} s, "
          f"{args.partitions} partitions, {os.cpu_count()} CPUs (worker, broker, sandbox and this process share them)")
    print("host speed: reference loop " + " ms / ".join(f"{ms:.0f}" for ms in results["reference_ms"])
          + " ms before / after the passes (see reference_loop_ms: lower is faster)")
    header = (f"{'pass':<28}{'records':>9}{'drop->end s':>12}{'start->end s':>13}{'rec/s start':>12}"
              f"{'rec/s wall':>11}{'worker CPU s':>13}{'+after end':>11}{'CPU µs/rec':>11}{'RSS peak MB':>12}")
    print(header)
    print("-" * len(header))
    labels = {"fluent": "fluent (new records)", "dedupe": "dedupe (all unchanged)",
              "ingest": "ingest only (baseline)"}
    for key, label in labels.items():
        r = results[key]
        wall = r["end"] - r["dropped"]
        span = r["end"] - r["started"]
        print(f"{label:<28}{r['records']:>9,}{wall:>12.2f}{span:>13.2f}{r['records'] / span:>12,.0f}"
              f"{r['records'] / wall:>11,.0f}{r['cpu_s']:>13.1f}{r['cpu_tail_s']:>11.1f}"
              f"{1e6 * (r['cpu_s'] + r['cpu_tail_s']) / r['records']:>11.0f}{r['rss_peak_mb']:>12.0f}")
    f, d = results["fluent"], results["dedupe"]
    ev = f["event"]
    print("worker CPU s: utime+stime from the drop to the end event; +after end: until the worker is idle again "
          "(e.g. changelog messages still being produced); CPU µs/rec counts both")
    print("CPU µs per record of the other processes on the same cores (the pass, until the worker is idle): "
          + "; ".join(f"{k}: " + ", ".join(f"{name} {1e6 * cpu / results[k]['records']:.0f}"
                                          for name, cpu in results[k]["cpu_others"].items()) for k in labels))
    print("time the worker stayed busy after the end event: "
          + ", ".join(f"{k} {results[k]['tail_s']:.1f} s" for k in labels))
    print()
    print(f"fluent pass: drop->STARTED {f['started'] - f['dropped']:.2f} s (inbox poll {args.poll} s), "
          f"STARTED->COMPLETED (all published) {f['completed'] - f['started']:.2f} s, "
          f"COMPLETED->SETTLED {f['end'] - f['completed']:.2f} s, ledger processing_ms {ev['processing_ms']}")
    print(f"fluent pass outcomes: accepted {ev['accepted_count']:,}, rejected {ev['rejected_count']:,}, "
          f"unchanged {ev['unchanged_count']:,}, Fluent batches {ev['batch_count']}; "
          f"dedupe pass: unchanged {d['event']['unchanged_count']:,}, accepted {d['event']['accepted_count']:,}")
    posts = f["posts"]
    ms = [p["ms"] for p in posts if "ms" in p]
    if posts:
        at = sorted(p["at"] for p in posts)
        statuses = collections.Counter(p["status"] for p in posts)
        gaps = [b - a for a, b in itertools.pairwise(at)]
        print(f"Fluent batch POSTs: {len(posts)} ({dict(statuses)}), server-side latency p50 {pct(ms, 50):.1f} ms, "
              f"p99 {pct(ms, 99):.1f} ms, max {max(ms):.1f} ms; first->last POST {at[-1] - at[0]:.2f} s, "
              f"median gap between POSTs {1000 * statistics.median(gaps or [0]):.0f} ms")
        polls = sorted(p["at"] for p in f["polls"])
        print(f"timeline (fluent pass): STARTED -> first POST {at[0] - f['started']:.2f} s, "
              f"last POST -> SETTLED {f['end'] - at[-1]:.2f} s; batch status GETs: {len(polls)}"
              + (f", first {polls[0] - at[0]:.2f} s after the first POST, last {f['end'] - polls[-1]:.2f} s "
                 f"before SETTLED" if polls else ""))
    print(f"worker peak RSS: {results['hwm_after_fluent_mb']:.0f} MB after the fluent pass, "
          f"{results['hwm_final_mb']:.0f} MB at the end (VmHWM)")
    fluent_rate = f["records"] / (f["end"] - f["started"])
    ingest_rate = results["ingest"]["records"] / (results["ingest"]["end"] - results["ingest"]["started"])
    verdict = "meets" if fluent_rate >= GOAL else "MISSES"
    print(f"goal >= {GOAL:,} records/s per worker: measured {fluent_rate:,.0f} records/s STARTED->SETTLED "
          f"-> {verdict} the goal; ingest alone runs at {ingest_rate:,.0f} records/s, so the Fluent path costs "
          f"{(f['end'] - f['started']) - (results['ingest']['end'] - results['ingest']['started']):.1f} s "
          f"more per {rows:,} records")


def profile_report(path: Path, label: str, top: int = 20, process: str = "worker") -> None:
    """Top functions from a py-spy raw (collapsed stacks) file: own samples and inclusive samples."""
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = [fr.rsplit(":", 1)[0] if fr.endswith(")") else fr for fr in stack.split(";")]
        frames = [fr.split(" (")[0] + " (" + fr.split(" (")[1].split(":")[0].replace(str(REPO) + "/", "")
                  .split("site-packages/")[-1] + ")" if " (" in fr else fr for fr in frames]
        own[frames[-1]] += n
        for fr in set(frames):
            incl[fr] += n
    print(f"\npy-spy, {label} pass: {total:,} on-CPU samples of the {process} (idle excluded)")
    print("top by own time:")
    for name, n in own.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {name}")
    print("top by inclusive time (fluentsync / faust / aiokafka frames):")
    shown = 0
    for name, n in incl.most_common():
        if any(k in name for k in ("fluentsync", "connectors/", "streams/", "schemas/", "faust", "aiokafka",
                                   "mode/", "sandbox")):
            print(f"  {100 * n / total:5.1f}%  {name}")
            shown += 1
            if shown >= top:
                break


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=2000, help="target max_batch_size (1..5000)")
    parser.add_argument("--linger", type=float, default=0.5)
    parser.add_argument("--status-interval", type=float, default=None,
                        help="batch status poll interval, seconds (default: the product's 10/30/60 s schedule)")
    parser.add_argument("--no-await-status", action="store_true",
                        help="records count as accepted on the batch POST's 2xx (target.await_status: false)")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--max-pending", type=int, default=None,
                        help="target max_pending_records (records taken from Kafka and not settled; default 200,000)")
    parser.add_argument("--batch-records", type=int, default=None,
                        help="records per RecordBatch event (workflow publish.batch_records; default 500)")
    parser.add_argument("--poll", type=float, default=0.2, help="inbox poll interval, seconds")
    parser.add_argument("--profile", action="store_true", help="py-spy each pass of the worker and print top functions")
    parser.add_argument("--worker-loglevel", default="warning", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--timeout", type=float, default=None, help="per-pass time-out, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, profile)")
    parser.add_argument("--json", action="store_true", help="also print the raw results as JSON")
    parser.add_argument("--serve-sandbox", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sandbox:
        serve_sandbox()
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    try:
        results = asyncio.run(run(args, tmp))
        report(args, results)
        for label in ("fluent", "dedupe", "ingest"):
            if args.profile and (tmp / f"profile-{label}.txt").exists():
                profile_report(tmp / f"profile-{label}.txt", label)
        if args.profile and (tmp / "profile-fluent-sandbox.txt").exists():
            profile_report(tmp / "profile-fluent-sandbox.txt", "fluent", process="sandbox")
        if args.json:
            for key in ("fluent", "dedupe", "ingest"):
                results[key].pop("posts", None)
                results[key].pop("polls", None)
            print(json.dumps(results, default=str))
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
