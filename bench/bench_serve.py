"""Benchmark: the online endpoint under bounded load, against the same stages in-process.

    .venv/bin/python bench/bench_serve.py                       # 10-second tracks at concurrency 1, 4, 16
    .venv/bin/python bench/bench_serve.py --duration 4 --requests 4   # a quick look

Starts a local Ray and Serve on 127.0.0.1 with the laptop settings (pipelines/online/serve_config.yaml,
one attempt per request so every request does the same work; `--stage-layout split` deploys one
deployment per stage instead of the laptop's fused one), then:

1. concurrency 1: `--requests` pairs, each an in-process render followed by the same
   request over HTTP (same prompt, same seed). Interleaving keeps both sides under the same
   background load on a shared machine. The in-process side runs the same three stages the
   Serve graph runs, in this process, one after another: the planner's `plan`, the
   generator's and verifier's batch adapters (takes as packed PCM, as Serve sends them),
   then the FLAC encode and provenance tagging of the answer. The HTTP + Serve overhead
   is p50(HTTP) / median(in-process) - 1; target < 20 %.
   For reference it also times the plain methods (plan, takes_for, verify) without any FLAC,
   and, from each answer's Server-Timing header, the latency minus the time its own stage
   methods took inside the replicas: what the same request spent on FLAC encoding, tagging,
   HTTP and Serve, whatever the background load.
2. concurrency 4 and 16: a fixed number of requests (2 × concurrency, at least 16)
   through a semaphore, each with a timeout: p50 / p95 / p99 latency and throughput.
3. the farm's throughput on this machine for the same work, the baseline of the highest
   level. `--baseline pool`: the same requests (same prompts, seeds and length)
   rendered in-process as above by a plain process pool, one process per core, BLAS on one
   thread as in Ray's workers, measured just before and just after that level (their mean):
   the farm's layout (every core a process running the stages, as its fused actors do)
   without Ray's overhead, so the most the farm could do here (bench_farm.py holds the farm
   to 85 % of such a pool); its ratio is reported either way. `--baseline farm` (the
   default, as the target reads): the farm itself on the same requests
   (bench_farm.run_farm: its own local Ray, the fused actor pool, the sink writing the
   files), before Serve starts; its audio s/s after its first take (actor start-up left
   out) is the baseline, its whole-run figure is shown beside it.
   Target: Serve's audio seconds per second at the highest level ≥ 90 % of the baseline.

No unbounded loops: every level sends a fixed count and every request has a timeout.
Prints a table and writes bench/results/serve.json.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from songfarm.models.request import TrackRequest
from songfarm.models.settings import RenderSettings
from songfarm.pipelines.core.local import render_track
from songfarm.pipelines.core.shell import stage_shells
from songfarm.pipelines.delivery.sink import take_tags
from songfarm.pipelines.online.config import fused, load_settings
from songfarm.pipelines.online.stages import encoded

ROOT = Path(__file__).resolve().parents[1]
TARGET_OVERHEAD = 0.20  # p50 at concurrency 1 over the in-process time, minus 1: below this
TARGET_THROUGHPUT = 0.90  # audio s/s at the highest concurrency over the process pool's: at least this
PROMPTS = [
    "an upbeat pop song in C major at 120 bpm",
    "calm lo-fi hip hop in A minor, 80 bpm, mellow piano",
    "energetic EDM track at 128 bpm with a big drop",
    "a gentle acoustic folk tune in G major",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def body(i: int, duration: float) -> dict:
    return {"prompt": PROMPTS[i % len(PROMPTS)], "duration_s": duration, "seed": i, "candidates": 1}


class InProcess:
    """The Serve graph's work for one request, in this process (no Ray, no HTTP). BLAS on one
    thread, as in Ray's workers (OMP_NUM_THREADS=1) and the pool: with OpenBLAS's default two
    threads its workers keep spinning a core after each in-process render, which the HTTP
    request that follows it then pays for (and it is no faster: bench_farm.py)."""

    def __init__(self):
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        self.settings = RenderSettings(max_attempts=1)  # the benchmark's Serve settings: one round
        self.shells = stage_shells(self.settings)
        self.planner, self.generator, self.verifier = (self.shells[s].backend for s in ("planner", "generator",
                                                                                         "verifier"))

    def adapters(self, i: int, duration: float) -> float:
        """What the deployments run: the stage shells through the lifecycle (PCM between the
        generator and the verifier, as behind Serve), then the answer's encode and tags."""
        t0 = time.perf_counter()
        request = TrackRequest.from_dict({"id": f"b{i}", **body(i, duration)})
        best = render_track(request, self.shells, self.settings, audio_encoding="pcm").take
        encoded(best, "flac", take_tags("online", request, best))
        return time.perf_counter() - t0

    def methods(self, i: int, duration: float) -> float:
        """The plain stage methods only: plan, takes_for, verify (no FLAC, no tags)."""
        t0 = time.perf_counter()
        request = TrackRequest.from_dict({"id": f"b{i}", **body(i, duration)})
        plan = self.planner.plan(request)
        for take in self.generator.takes_for(plan, request, 0):
            self.verifier.verify(take, plan, request)
        return time.perf_counter() - t0


_worker: InProcess | None = None  # a pool process's stages


def _pool_start(duration: float, ready) -> None:
    """A pool process: the stages built (BLAS on one thread) and warm."""
    global _worker
    _worker = InProcess()
    for i in range(2):
        _worker.adapters(10_000 + i, duration)
    ready.wait()  # every process is warm before the clock starts


def _pool_render(job: tuple[int, float]) -> float:
    return _worker.adapters(*job)


class ProcessPool:
    """The farm's throughput on this machine: one process per core, each rendering whole requests."""

    def __init__(self, processes: int, duration: float):
        ctx = mp.get_context("spawn")  # never fork a process that runs Ray
        ready = ctx.Barrier(processes + 1)
        self.processes, self.duration = processes, duration
        self.pool = ctx.Pool(processes, initializer=_pool_start, initargs=(duration, ready))
        self._ready = ready

    def wait_ready(self, timeout_s: float = 300.0) -> None:
        self._ready.wait(timeout_s)  # BrokenBarrierError when a process never got ready

    def run(self, count: int, first_seed: int) -> dict:
        """`count` requests (the seeds a load level sends) → wall time and audio seconds per second."""
        t0 = time.perf_counter()
        self.pool.map(_pool_render, [(first_seed + i, self.duration) for i in range(count)], chunksize=1)
        wall = time.perf_counter() - t0
        return {"processes": self.processes, "requests": count, "wall_s": wall,
                "audio_s_per_s": count * self.duration / wall}

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()


def run_farm_baseline(count: int, duration: float, first_seed: int) -> dict:
    """The farm (fused, as `songfarm render` runs it here) on the requests a load level sends,
    through bench_farm's own job and run (its own local Ray, started and stopped)."""
    from bench_farm import make_job, run_farm  # bench/ is this script's folder

    work = tempfile.mkdtemp(prefix="songfarm-bench-serve-")
    try:
        job = make_job(count, duration, 1, 1, work)
        job.tracks = [TrackRequest.from_dict({"id": f"s{first_seed + i}", **body(first_seed + i, duration)})
                      for i in range(count)]
        run = run_farm(job, f"{work}/farm", fuse=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    first = run["first_take_s"] or 0.0
    return {"tracks": count, "wall_s": run["wall_s"], "ray_start_s": run["ray_start_s"], "first_take_s": first,
            "counts": run["counts"], "whole_run_audio_s_per_s": count * duration / run["wall_s"],
            "audio_s_per_s": (count - 1) * duration / max(1e-9, run["wall_s"] - first)}


def post(client: http.client.HTTPConnection, i: int, duration: float) -> tuple[float, float]:
    """One request → (latency, seconds the stages themselves spent, from Server-Timing).
    The standard library's client, keep-alive: the answer read straight into one buffer."""
    t0 = time.perf_counter()
    client.request("POST", "/v1/tracks", json.dumps(body(i, duration)), {"Content-Type": "application/json"})
    r = client.getresponse()
    data = r.read()
    if r.status != 200:
        raise RuntimeError(f"HTTP {r.status}: {data[:300]!r}")
    latency = time.perf_counter() - t0
    timing = dict(part.strip().split(";dur=") for part in r.getheader("server-timing").split(","))
    return latency, sum(float(timing[k]) for k in ("plan", "generate", "verify")) / 1000


class Connection:
    """One keep-alive HTTP/1.1 connection, as lean as a client can be (asyncio streams: the
    answer read straight into one buffer): on these 2 cores the load generator's own CPU
    comes out of the server's, and httpx's async client costs several ms per 2 MB answer."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, doc: dict) -> tuple[int, bytes]:
        """POST `doc` as JSON → (status, body)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=2**20)
        payload = json.dumps(doc).encode()
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
        await self.writer.drain()
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = dict(line.split(":", 1) for line in head[1:] if ":" in line)
        headers = {k.strip().lower(): v.strip() for k, v in headers.items()}
        if headers.get("transfer-encoding", "").lower() == "chunked":
            data = bytearray()
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                data += await self.reader.readexactly(size + 2)
                del data[-2:]
            await self.reader.readuntil(b"\r\n")
            data = bytes(data)
        else:
            data = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def load_level(url: str, concurrency: int, count: int, duration: float, timeout: float,
                     first_seed: int) -> dict:
    """`count` requests, at most `concurrency` in flight (one connection each); latency of
    each, errors counted."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    todo = iter(range(count))

    async def worker() -> None:
        conn = Connection(host, int(port))
        for i in todo:
            t0 = time.perf_counter()
            try:
                status, _ = await asyncio.wait_for(conn.post("/v1/tracks", body(first_seed + i, duration)), timeout)
                key = None if status == 200 else str(status)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as exc:
                key = type(exc).__name__
                conn.close()  # a fresh connection for the next request
            if key is None:
                latencies.append(time.perf_counter() - t0)
            else:
                errors[key] = errors.get(key, 0) + 1
        conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(min(concurrency, count))])
    wall = time.perf_counter() - t0
    return {"concurrency": concurrency, "requests": count, "ok": len(latencies), "errors": errors,
            "wall_s": wall, **percentiles(latencies), "throughput_rps": len(latencies) / wall,
            "audio_s_per_s": len(latencies) * duration / wall}


def percentiles(latencies: list[float]) -> dict:
    if not latencies:
        return {"p50_s": None, "p95_s": None, "p99_s": None, "mean_s": None}
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
    return {"p50_s": float(p50), "p95_s": float(p95), "p99_s": float(p99), "mean_s": statistics.fmean(latencies)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=10.0, help="track length in seconds (default 10)")
    ap.add_argument("--requests", type=int, default=12, help="request pairs (in-process, HTTP) at concurrency 1")
    ap.add_argument("--concurrency", default="1,4,16", help="levels, comma-separated (default 1,4,16)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per request before it counts as an error")
    ap.add_argument("--baseline", default="farm", choices=("pool", "farm"),
                    help="the throughput baseline: the farm, as the issue's target reads (default), or a process "
                         "pool of one process per core (the stricter ceiling; its ratio is reported either way)")
    ap.add_argument("--stage-layout", default=None, choices=("auto", "fused", "split"),
                    help="override the settings' stage_layout (default: the laptop settings', auto → fused)")
    ap.add_argument("--out", "--json", dest="out", default=str(ROOT / "bench" / "results" / "serve.json"))
    args = ap.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    top = max(levels)

    import ray
    from ray import serve

    from songfarm.pipelines.online.app import build_app

    settings = load_settings()
    settings.render.max_attempts = 1  # every request: one plan, one take, one verdict, like the in-process side
    if args.stage_layout:
        settings.stage_layout = args.stage_layout
    if not fused(settings):  # the ingress only answers HTTP: one replica, a tenth of a CPU, 32 + 32 requests
        ingress = settings.deployments["ingress"]
        ingress.num_replicas, ingress.num_cpus = 1, 0.1
        ingress.max_ongoing_requests = ingress.max_queued_requests = 32
    cores = os.cpu_count() or 2
    top_count = max(16, 2 * top) if top > 1 else args.requests
    farm = run_farm_baseline(top_count, args.duration, 1000 * top if top > 1 else 0) \
        if args.baseline == "farm" else None  # before Serve: the farm starts and stops its own Ray
    pool = ProcessPool(cores, args.duration)  # starts now, warms up while Serve starts
    port = free_port()
    t0 = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, configure_logging=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port, "request_timeout_s": args.timeout})
    serve.run(build_app(settings), name="songfarm", route_prefix="/")
    startup_s = time.perf_counter() - t0
    url = f"http://127.0.0.1:{port}"
    local = InProcess()
    results: dict = {"duration_s": args.duration, "cpus": os.cpu_count(), "serve_startup_s": startup_s,
                     "settings": "pipelines/online/serve_config.yaml (max_attempts=1)",
                     "stage_layout": "fused" if fused(settings) else "split", "levels": []}
    try:
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=args.timeout)
        try:
            for i in range(2):  # warm-up: imports, JIT, first connections, on both sides
                post(client, 10_000 + i, args.duration)
                local.adapters(10_000 + i, args.duration)
            pairs = [(local.adapters(i, args.duration), post(client, i, args.duration)) for i in range(args.requests)]
            plain = [local.methods(i, args.duration) for i in range(min(3, args.requests))]
        finally:
            client.close()
        inproc = [a for a, _ in pairs]
        http_c1 = [b[0] for _, b in pairs]
        # Latency minus the request's own stage-method time (plan, generate, verify incl. FLAC decode).
        in_request = [latency - stages for _, (latency, stages) in pairs]
        results["in_process"] = {"runs": len(inproc), "median_s": statistics.median(inproc),
                                 "plain_methods_median_s": statistics.median(plain)}
        results["in_request"] = {"overhead_median_s": statistics.median(in_request),
                                 "stages_median_s": statistics.median(b[1] for _, b in pairs)}
        level1 = {"concurrency": 1, "requests": len(http_c1), "ok": len(http_c1), "errors": {},
                  "wall_s": sum(http_c1), **percentiles(http_c1), "throughput_rps": len(http_c1) / sum(http_c1),
                  "audio_s_per_s": len(http_c1) * args.duration / sum(http_c1)}
        results["levels"].append(level1)
        pool.wait_ready()
        baseline = []
        for c in levels:
            if c == 1:
                continue
            count = max(16, 2 * c)
            if c == top:  # the pool's throughput right before and right after, for the same requests
                baseline.append(pool.run(count, 1000 * c))
            results["levels"].append(asyncio.run(load_level(url, c, count, args.duration, args.timeout, 1000 * c)))
            if c == top:
                baseline.append(pool.run(count, 1000 * c))
        if not baseline:  # only concurrency 1 asked for: the same count as its requests
            baseline = [pool.run(args.requests, 0)]
    finally:
        pool.close()
        serve.shutdown()
        ray.shutdown()

    base = results["in_process"]["median_s"]
    p50 = level1["p50_s"]
    results["overhead"] = {"p50_c1_s": p50, "in_process_median_s": base, "ratio": p50 / base - 1,
                           "vs_plain_methods": p50 / results["in_process"]["plain_methods_median_s"] - 1,
                           "target": TARGET_OVERHEAD, "pass": p50 / base - 1 < TARGET_OVERHEAD,
                           "in_request_s": results["in_request"]["overhead_median_s"],
                           # paired: each HTTP request minus the in-process run just before it
                           "paired_median_s": statistics.median(b[0] - a for a, b in pairs)}
    served = next(lv for lv in results["levels"] if lv["concurrency"] == top)["audio_s_per_s"]
    pooled = statistics.fmean(b["audio_s_per_s"] for b in baseline)
    base = farm["audio_s_per_s"] if farm else pooled
    ratio = served / base
    results["throughput"] = {
        "concurrency": top, f"serve_c{top}_audio_s_per_s": served, "serve_audio_s_per_s": served,
        "baseline": "the farm (fused), after its first take" if farm else
        f"in-process process pool, {cores} processes (one per core)",
        "baseline_audio_s_per_s": base, "ratio": ratio, "target": TARGET_THROUGHPUT, "pass": ratio >= TARGET_THROUGHPUT,
        "pool_runs": baseline, "pool_audio_s_per_s": pooled, "ratio_to_pool": served / pooled, "farm": farm}
    print_table(results)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")
    return 0 if results["overhead"]["pass"] and results["throughput"]["pass"] else 1


def print_table(r: dict) -> None:
    ms = lambda s: "-" if s is None else f"{s * 1000:8.0f}"  # noqa: E731
    print(f"\nsongfarm serve: {r['duration_s']:g}-second tracks, {r['cpus']} CPUs, stages {r['stage_layout']}, "
          f"Serve start-up {r['serve_startup_s']:.1f} s")
    print(f"{'concurrency':>11} {'requests':>8} {'ok':>4} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'req/s':>6} {'audio s/s':>9}  errors")
    for lv in r["levels"]:
        print(f"{lv['concurrency']:>11} {lv['requests']:>8} {lv['ok']:>4} {ms(lv['p50_s'])} {ms(lv['p95_s'])} "
              f"{ms(lv['p99_s'])} {lv['throughput_rps']:6.2f} {lv['audio_s_per_s']:9.1f}  {lv['errors'] or ''}")
    o = r["overhead"]
    print(f"\nin-process, same stages (median of {r['in_process']['runs']}): {o['in_process_median_s'] * 1000:.0f} ms"
          f"   (plain methods, no FLAC: {r['in_process']['plain_methods_median_s'] * 1000:.0f} ms)")
    print(f"HTTP + Serve overhead at concurrency 1: p50 {o['p50_c1_s'] * 1000:.0f} ms → {o['ratio'] * 100:+.1f} % "
          f"(target < {o['target'] * 100:.0f} %: {'PASS' if o['pass'] else 'FAIL'}; "
          f"vs plain methods {o['vs_plain_methods'] * 100:+.1f} %)")
    print(f"paired (each HTTP request minus the in-process run just before it): median "
          f"{o['paired_median_s'] * 1000:+.0f} ms = {o['paired_median_s'] / o['in_process_median_s'] * 100:+.1f} %")
    print(f"same requests, time outside the stage methods (FLAC encode + tags + HTTP + Serve; Server-Timing): "
          f"median {o['in_request_s'] * 1000:.0f} ms")
    t = r["throughput"]
    runs = " and ".join(f"{b['audio_s_per_s']:.1f}" for b in t["pool_runs"])
    print(f"process pool ({t['pool_runs'][0]['processes']} processes, one per core; before / after the level: {runs}): "
          f"{t['pool_audio_s_per_s']:.1f} audio s/s")
    if t["farm"]:
        f = t["farm"]
        print(f"the farm (fused, {f['tracks']} tracks, its own Ray): {f['audio_s_per_s']:.1f} audio s/s after its "
              f"first take at {f['first_take_s']:.1f} s ({f['whole_run_audio_s_per_s']:.1f} over the whole run, "
              f"+{f['ray_start_s']:.1f} s Ray start)")
    print(f"throughput at concurrency {t['concurrency']}: {t['serve_audio_s_per_s']:.1f} audio s/s = "
          f"{t['ratio_to_pool']:.2f} of the pool's; against the baseline ({t['baseline']}, "
          f"{t['baseline_audio_s_per_s']:.1f}): ratio {t['ratio']:.2f} (target ≥ {t['target']:.2f}: "
          f"{'PASS' if t['pass'] else 'FAIL'})")


if __name__ == "__main__":
    sys.exit(main())
