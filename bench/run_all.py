"""Every benchmark, one table, JSON, and the README's performance section (`make bench`).

    .venv/bin/python bench/run_all.py            # every benchmark at its target size
    .venv/bin/python bench/run_all.py --quick    # small sizes: a check that they all run
    .venv/bin/python bench/run_all.py --only farm,scale --no-readme

Runs each benchmark in its own process, one after another (never two at once: they
measure the machine), each writing bench/results/<name>.json; then reads those files into
one table of measure / result / target / pass, writes bench/results/summary.json, and
rewrites the README between `<!-- bench:begin -->` and `<!-- bench:end -->` with the table,
the machine it came from and the command. A benchmark that fails is shown as failed in the
table; the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
README = ROOT / "README.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

# name → (arguments at target size, arguments for --quick)
BENCHES: dict[str, tuple[list[str], list[str]]] = {
    "engine": (["--duration", "30"], ["--duration", "10", "--repeats", "2"]),
    "farm": ([], ["--tracks", "8", "--duration", "8", "--repeats", "1"]),
    "scale": ([], ["--small", "10", "--large", "30", "--lengths", "10,30", "--length-audio-s", "60",
                   "--flushes", "200"]),
    "startup": ([], ["--repeats", "1"]),
    "serve": ([], ["--duration", "4", "--requests", "4"]),
    "diffusion": ([], ["--toy"]),  # real size on a GPU; toy size on a machine without one (see gpu_args)
}


def gpu_args(name: str, args: list[str]) -> list[str]:
    """The diffusion benchmark builds its real-size models only where a GPU can run them:
    on a CPU-only machine it runs at toy size (a check that the script works, no target)."""
    if name != "diffusion" or "--toy" in args:
        return args
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    return args if has_gpu else [*args, "--toy"]


def run(name: str, args: list[str], timeout_s: float) -> dict[str, Any]:
    """One benchmark in its own process → {ok, seconds, json path, tail of its output}."""
    path = RESULTS / f"{name}.json"
    cmd = [sys.executable, str(ROOT / "bench" / f"bench_{name}.py"), *args, "--json", str(path)]
    t0 = time.perf_counter()
    print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
    try:
        done = subprocess.run(cmd, cwd=ROOT, timeout=timeout_s, text=True, capture_output=True)
        ok, tail = done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        print(done.stdout[-4000:], flush=True)
        if not ok:
            print(done.stderr[-3000:], file=sys.stderr, flush=True)
    except subprocess.TimeoutExpired:
        ok, tail = False, f"timed out after {timeout_s:.0f} s"
    return {"ok": ok, "seconds": round(time.perf_counter() - t0, 1), "json": str(path.relative_to(ROOT)),
            "tail": "" if ok else tail}


def _load(name: str) -> dict[str, Any] | None:
    try:
        return json.loads((RESULTS / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None


def _pct(x: float) -> str:
    return f"{x * 100:.1f} %"


# name → rows of (measure, result text, target text, passed or None) read from its JSON
def _engine(d):
    per_30s = d["verifier_cpu_s"] * 30 / d["duration_s"]
    return [("synth generator (compose, render, master, FLAC encode), real-time factor on one core",
             f"{d['realtime_factor_generator']:.0f}x", ">= 150x", d["realtime_factor_generator"] >= 150),
            ("features verifier (FLAC decode included), CPU s per 30 s take", f"{per_30s:.3f}", "<= 0.15",
             per_30s <= 0.15)]


def _farm(d):
    pairs = d.get("pairs", {}).get("farm_over_pool", [])
    each = f" (median of {len(pairs)} turns: {', '.join(_pct(r) for r in pairs)})" if len(pairs) > 1 else ""
    rows = [("farm (fused pools) vs a process pool, same work" + each, _pct(d["farm_over_pool"]["farm"]),
             ">= 85 %", d["farm_over_pool"]["farm"] >= 0.85),
            ("... including Ray's start-up", _pct(d["farm_over_pool_with_ray_start"]["farm"]), "", None)]
    if "farm_separate" in d["farm_over_pool"]:
        rows.append(("farm with a pool per stage vs the process pool", _pct(d["farm_over_pool"]["farm_separate"]),
                     "", None))
    return rows


def _scale(d):
    small, large = d["runs"]
    rows = [(f"time per track after the first take, {small['tracks']} → {large['tracks']} tracks of 10 s",
             f"{d['per_track_growth'] * 100:+.1f} %", "within ±10 %", abs(d["per_track_growth"]) <= 0.10),
            ("stage / driver CPU s per track, small → large run",
             f"{small['stage_cpu_per_track_s']:.3f} / {small['driver_cpu_per_track_s']:.4f} → "
             f"{large['stage_cpu_per_track_s']:.3f} / {large['driver_cpu_per_track_s']:.4f}", "flat", None),
            ("driver memory growth, small → large run",
             f"{small['driver_rss_growth_bytes'] / 2**20:.0f} → {large['driver_rss_growth_bytes'] / 2**20:.0f} MiB",
             "flat", None),
            ("peak object store, small → large run",
             f"{small['peak_object_store_bytes'] / 2**20:.0f} → {large['peak_object_store_bytes'] / 2**20:.0f} MiB",
             "flat", None)]
    if d.get("flush_growth") is not None:
        probe = d.get("flush_probe") or {}
        label = (f"a one-row manifest flush, the last {probe['window']} of {probe['flushes']} vs the first"
                 if probe else "manifest flush at the last rows vs the first")
        rows.append((label, f"{d['flush_growth'] * 100:+.0f} %", "same", None))
    for r in d["by_length"]:
        rows.append((f"{r['duration_s']:g} s tracks: wall / CPU s per second of audio",
                     f"{r['per_audio_s']:.4f} / {r['cpu_per_audio_s']:.4f}", "", None))
    return rows


def _startup(d):
    m = d["median_s"]
    return [("Ray start + first verified take", f"{m['farm: Ray start + first take']:.1f} s", "<= 5 s",
             m["farm: Ray start + first take"] <= 5.0)]


def _serve(d):
    o, t = d["overhead"], d["throughput"]
    return [("Serve overhead at concurrency 1, p50 over in-process", f"{o['ratio'] * 100:+.1f} %", "< 20 %",
             o["ratio"] < 0.20),
            (f"Serve at concurrency {t['concurrency']}, audio s/s vs {t['baseline']}", _pct(t["ratio"]), ">= 90 %",
             t["ratio"] >= 0.90),
            ("... vs a process pool, one process per core", _pct(t["ratio_to_pool"]), "", None)]


def _diffusion(d):
    """The best configuration's tracks per GPU-hour against the naive diffusers loop; on a
    machine without a GPU the toy run only shows the script works (no target applies)."""
    t = d.get("target") or {}
    on_gpu = str(d.get("device", "cpu")).startswith("cuda")
    where = "" if on_gpu else " (toy size on CPU: no target)"
    rows = []
    if t.get("speedup_vs_naive") is not None:
        rows.append((f"diffusion tracks per GPU-hour vs a naive loop, best {t.get('config')}{where}",
                     f"{t['speedup_vs_naive']:.2f}x", ">= 2x", bool(t["speedup_vs_naive"] >= 2) if on_gpu else None))
    if t.get("busy_fraction") is not None:
        rows.append(("GPU busy during the job", _pct(t["busy_fraction"]), ">= 85 %", t["busy_fraction"] >= 0.85))
    return rows


SUMMARIES: dict[str, Callable[[dict], list]] = {"engine": _engine, "farm": _farm, "scale": _scale,
                                                "startup": _startup, "serve": _serve, "diffusion": _diffusion}


def machine() -> str:
    """'<cpu model>, N cores, M GiB, <GPU or no GPU>' of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = ""
    try:
        kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))
        mem = f", {kb / 2**20:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    try:
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=20).stdout.strip().splitlines()
    except (OSError, subprocess.TimeoutExpired):
        gpu = []
    return f"{cpu}, {os.cpu_count()} cores{mem}, " + (", ".join(gpu) if gpu else "no GPU")


def summary_rows(names: list[str], status: dict[str, dict]) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for name in names:
        data = _load(name)
        if not status.get(name, {"ok": True})["ok"] or data is None:
            rows.append((name, "did not run to the end (see its output)", "", "FAIL", f"bench_{name}.py"))
            continue
        try:
            parts = SUMMARIES[name](data)
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            parts = [(f"(results unreadable: {type(exc).__name__}: {exc})", "", "", False)]
        for measure, result, target, passed in parts:
            verdict = "" if passed is None else "pass" if passed else "FAIL"
            rows.append((measure, result, target, verdict, f"bench_{name}.py"))
    return rows


def markdown(rows, where: str, command: str, when: str, kept: dict[str, list[str]] | None = None) -> str:
    """The README's table, in BENCHES order. `kept`: the table lines of benchmarks not run
    this time (readme_rows()), which stand where they were, with a word on their age."""
    kept = kept or {}
    lines = [BEGIN, f"Latest figures: {when}, on {where}; produced by `{command}` (JSON in `bench/results/`)"
             + ("; rows of the other benchmarks are from an earlier run." if kept else "."), "",
             "| measure | result | target | | benchmark |", "|---|---:|---|---|---|"]
    new = {name: [f"| {m} | {r} | {t} | {v} | `{b}` |" for m, r, t, v, b in rows if b == f"bench_{name}.py"]
           for name in BENCHES}
    for name in BENCHES:
        lines += new[name] or kept.get(name, [])
    return "\n".join(lines + [END])


def readme_rows(text: str, except_names: list[str]) -> dict[str, list[str]]:
    """Benchmark name → its table lines in the README's section, for every benchmark not in
    `except_names`: what `--only` leaves standing."""
    if BEGIN not in text or END not in text:
        return {}
    kept: dict[str, list[str]] = {}
    for line in text.split(BEGIN, 1)[1].split(END, 1)[0].splitlines():
        bench = line.rsplit(" | ", 1)[-1] if line.startswith("| ") else ""
        name = bench.removeprefix("`bench_").removesuffix(".py` |")
        if name in BENCHES and name not in except_names:
            kept.setdefault(name, []).append(line)
    return kept


def update_readme(block: str) -> bool:
    text = README.read_text()
    if BEGIN not in text or END not in text:
        return False
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    README.write_text(pattern.sub(lambda _: block, text, count=1))
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes: check that every benchmark runs")
    p.add_argument("--only", default="", help="comma-separated names (default: all: " + ", ".join(BENCHES) + ")")
    p.add_argument("--no-readme", action="store_true", help="leave README.md as it is")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per benchmark")
    p.add_argument("--summary-only", action="store_true",
                   help="run nothing: the table and README from the JSON already in bench/results/")
    args = p.parse_args(argv)
    names = [n for n in (args.only.split(",") if args.only else BENCHES) if n]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        p.error(f"--only: unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHES)}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    status = {} if args.summary_only else {n: run(n, gpu_args(n, BENCHES[n][1 if args.quick else 0]), args.timeout)
                                           for n in names}
    rows = summary_rows(names, status)
    where, when = machine(), datetime.now(timezone.utc).strftime("%Y-%m-%d")
    command = "make bench" + (" (quick)" if args.quick else "")
    widths = [max(len(r[i]) for r in rows + [("measure", "result", "target", "", "benchmark")]) for i in range(5)]
    print(f"\nsongfarm benchmarks, {when}, {where}")
    for r in [("measure", "result", "target", "", "benchmark"), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    (RESULTS / "summary.json").write_text(json.dumps(
        {"when": when, "machine": where, "command": command, "status": status,
         "rows": [dict(zip(("measure", "result", "target", "verdict", "benchmark"), r)) for r in rows]}, indent=2))
    if not args.no_readme and not args.quick:
        kept = readme_rows(README.read_text(), names) if args.only else {}
        print("README.md updated" if update_readme(markdown(rows, where, command, when, kept))
              else f"README.md has no {BEGIN} … {END} section: not updated")
    return 0 if all(s["ok"] for s in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
