"""Benchmark: the online endpoint under bounded load, against the same stages in-process.

    .venv/bin/python bench/bench_serve.py                       # 10-second tracks at concurrency 1, 4, 16
    .venv/bin/python bench/bench_serve.py --duration 4 --requests 4   # a quick look

Starts a local Ray and Serve on 127.0.0.1 with the laptop settings (pipelines/online/serve_config.yaml,
one attempt per request so every request does the same work), then:

1. concurrency 1: `--requests` pairs, each an in-process render followed by the same
   request over HTTP (same prompt, same seed). Interleaving keeps both sides under the same
   background load on a shared machine. The in-process side runs the same three stages the
   Serve graph runs, in this process, one after another: the planner's `plan`, the
   generator's and verifier's batch adapters (takes as packed PCM, as Serve sends them),
   then the FLAC encode and provenance tagging of the answer. The HTTP + Serve overhead
   is p50(HTTP) / median(in-process) - 1; target < 30 %.
   For reference it also times the plain methods (plan, takes_for, verify) without any FLAC,
   and, from each answer's Server-Timing header, the latency minus the time its own stage
   methods took inside the replicas: what the same request spent on FLAC encoding, tagging,
   HTTP and Serve, whatever the background load.
2. concurrency 4 and 16: a fixed number of requests (2 × concurrency, at least 16)
   through a semaphore, each with a timeout: p50 / p95 / p99 latency and throughput.

No unbounded loops: every level sends a fixed count and every request has a timeout.
Prints a table and writes bench/results/serve.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from songfarm.models.request import TrackRequest
from songfarm.models.settings import RenderSettings
from songfarm.pipelines.core.local import render_track
from songfarm.pipelines.core.shell import stage_shells
from songfarm.pipelines.online.app import encoded
from songfarm.pipelines.online.config import load_settings

ROOT = Path(__file__).resolve().parents[1]
TARGET_OVERHEAD = 0.30
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
    """The Serve graph's work for one request, in this process (no Ray, no HTTP)."""

    def __init__(self):
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
        encoded(best, "flac", {"job": "online", "track_id": request.id, "prompt": request.prompt, "seed": best["seed"],
                               "generator": best["generator"], "model": best["model"]})
        return time.perf_counter() - t0

    def methods(self, i: int, duration: float) -> float:
        """The plain stage methods only: plan, takes_for, verify (no FLAC, no tags)."""
        t0 = time.perf_counter()
        request = TrackRequest.from_dict({"id": f"b{i}", **body(i, duration)})
        plan = self.planner.plan(request)
        for take in self.generator.takes_for(plan, request, 0):
            self.verifier.verify(take, plan, request)
        return time.perf_counter() - t0


def post(client: httpx.Client, i: int, duration: float) -> tuple[float, float]:
    """One request → (latency, seconds the stages themselves spent, from Server-Timing)."""
    t0 = time.perf_counter()
    r = client.post("/v1/tracks", json=body(i, duration))
    r.raise_for_status()
    latency = time.perf_counter() - t0
    timing = dict(part.strip().split(";dur=") for part in r.headers["server-timing"].split(","))
    return latency, sum(float(timing[k]) for k in ("plan", "generate", "verify")) / 1000


async def load_level(url: str, concurrency: int, count: int, duration: float, timeout: float,
                     first_seed: int) -> dict:
    """`count` requests, at most `concurrency` in flight; latency of each, errors counted."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    errors: dict[str, int] = {}

    async def one(client: httpx.AsyncClient, i: int) -> None:
        async with gate:
            t0 = time.perf_counter()
            try:
                r = await client.post("/v1/tracks", json=body(first_seed + i, duration))
                key = None if r.status_code == 200 else str(r.status_code)
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            if key is None:
                latencies.append(time.perf_counter() - t0)
            else:
                errors[key] = errors.get(key, 0) + 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*[one(client, i) for i in range(count)])
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
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "serve.json"))
    args = ap.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]

    import ray
    from ray import serve

    from songfarm.pipelines.online.app import build_app

    settings = load_settings()
    settings.render.max_attempts = 1  # every request: one plan, one take, one verdict, like the in-process side
    port = free_port()
    t0 = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, configure_logging=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port, "request_timeout_s": args.timeout})
    serve.run(build_app(settings), name="songfarm", route_prefix="/")
    startup_s = time.perf_counter() - t0
    url = f"http://127.0.0.1:{port}"
    local = InProcess()
    results: dict = {"duration_s": args.duration, "cpus": os.cpu_count(), "serve_startup_s": startup_s,
                     "settings": "pipelines/online/serve_config.yaml (max_attempts=1)", "levels": []}
    try:
        with httpx.Client(base_url=url, timeout=args.timeout) as client:
            for i in range(2):  # warm-up: imports, JIT, first connections, on both sides
                post(client, 10_000 + i, args.duration)
                local.adapters(10_000 + i, args.duration)
            pairs = [(local.adapters(i, args.duration), post(client, i, args.duration)) for i in range(args.requests)]
            plain = [local.methods(i, args.duration) for i in range(min(3, args.requests))]
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
        for c in levels:
            if c == 1:
                continue
            count = max(16, 2 * c)
            results["levels"].append(asyncio.run(load_level(url, c, count, args.duration, args.timeout, 1000 * c)))
    finally:
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
    print_table(results)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")
    return 0 if results["overhead"]["pass"] else 1


def print_table(r: dict) -> None:
    ms = lambda s: "-" if s is None else f"{s * 1000:8.0f}"  # noqa: E731
    print(f"\nsongfarm serve: {r['duration_s']:g}-second tracks, {r['cpus']} CPUs, "
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


if __name__ == "__main__":
    sys.exit(main())
