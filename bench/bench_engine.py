"""Engine speed on one core: plan → compose + render → encode → verify a 60-second track.

Targets (issue 2): compose, render and encode a 60 s track at least 100x faster than real
time on one core; verify a 60 s track in under 1 s of CPU time after the one-time JIT
warm-up, which is reported separately. The baseline of the ratio is the audio's own
duration (real time), so the figures hold on a noisy shared machine as well as any.

    .venv/bin/python bench/bench_engine.py [--duration 60] [--repeats 5] [--json bench/results/engine.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

# One core: pin the process and keep BLAS / numba single-threaded before numpy loads.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[var] = "1"
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

from songfarm.models.factory import make  # noqa: E402
from songfarm.models.request import TrackRequest  # noqa: E402
from songfarm.models.take import encode_flac  # noqa: E402

PROMPTS = [
    "an upbeat pop song in C major at 120 bpm",
    "a dark cinematic piece in D minor, slow, with strings and brass",
    "lo-fi hip hop beat, jazzy chords, 85 bpm",
    "国风 古筝 笛子, 舒缓, 每分钟72拍",
    "a fast rock song with distorted guitars, 150 bpm, E minor",
]


def timed(fn):
    """(result, wall seconds, CPU seconds of this process)."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=len(PROMPTS))
    ap.add_argument("--json", default="bench/results/engine.json")
    args = ap.parse_args()

    planner, generator, verifier = make("planner", "rules"), make("generator", "synth"), make("verifier", "features")

    # One-time costs: numba JIT inside librosa and friends, SoundFont load.
    req0 = TrackRequest(id="warm", prompt=PROMPTS[0], duration_s=args.duration, seed=0)
    plan0 = planner.plan(req0)
    take0 = generator.takes_for(plan0, req0)[0]
    _, warm_wall, warm_cpu = timed(lambda: verifier.verify(take0, plan0, req0))

    rows = []
    for i in range(args.repeats):
        req = TrackRequest(id=f"t{i}", prompt=PROMPTS[i % len(PROMPTS)], duration_s=args.duration, seed=i + 1)
        # Each closure is called at once by timed(); default args bind this iteration's values.
        plan, plan_wall, plan_cpu = timed(lambda req=req: planner.plan(req))
        takes, gen_wall, gen_cpu = timed(lambda plan=plan, req=req: generator.takes_for(plan, req))
        take = takes[0]
        flac, enc_wall, enc_cpu = timed(lambda take=take: encode_flac(take.audio, take.sample_rate))
        verdict, ver_wall, ver_cpu = timed(lambda take=take, plan=plan, req=req: verifier.verify(take, plan, req))
        rows.append(dict(prompt=req.prompt, audio_s=take.duration_s, plan_s=plan_wall, generate_s=gen_wall,
                         encode_s=enc_wall, verify_s=ver_wall, plan_cpu_s=plan_cpu, generate_cpu_s=gen_cpu,
                         encode_cpu_s=enc_cpu, verify_cpu_s=ver_cpu, score=verdict.score,
                         accepted=verdict.accepted, flac_bytes=len(flac)))

    med = {k: statistics.median(r[k] for r in rows) for k in rows[0] if k.endswith("_s") or k == "score"}
    make_cpu = med["plan_cpu_s"] + med["generate_cpu_s"] + med["encode_cpu_s"]
    result = {
        "duration_s": args.duration,
        "repeats": args.repeats,
        "median": med,
        "realtime_factor_make": med["audio_s"] / make_cpu,  # target >= 100
        "verify_cpu_s": med["verify_cpu_s"],  # target < 1.0
        "verify_warmup_wall_s": warm_wall,
        "verify_warmup_cpu_s": warm_cpu,
        "rows": rows,
        "targets": {"realtime_factor_make": ">= 100", "verify_cpu_s": "< 1.0"},
    }

    print(f"engine on one core, {args.repeats} tracks of {args.duration:g} s (median per track)")
    print(f"{'stage':<22}{'wall s':>10}{'CPU s':>10}")
    for stage in ("plan", "generate", "encode", "verify"):
        print(f"{stage:<22}{med[stage + '_s']:>10.3f}{med[stage + '_cpu_s']:>10.3f}")
    print(f"{'verify warm-up (once)':<22}{warm_wall:>10.3f}{warm_cpu:>10.3f}")
    print(f"compose+render+encode: {result['realtime_factor_make']:.0f}x real time (target >= 100x)")
    print(f"verify: {result['verify_cpu_s']:.3f} s CPU per {args.duration:g} s track (target < 1 s)")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
