"""Engine speed on one core: the embedded stages as the farm runs them, on 30-second takes.

Targets (issue 14): the `synth` generator stage — compose, render, master and the FLAC
encode the farm sends its takes in — at least 150x faster than real time on one core; the
`features` verifier stage at most 0.15 CPU s per 30 s take, FLAC decode included.

Each track of the job (the overnight example's first ones, at --duration) runs through the
stage shells the farm builds from the job's settings (pipelines/core/shell.py), one batch
per track, and the shells' own `<stage>_cpu_s` columns give the CPU seconds per take. The
FLAC encode and decode are timed once more on their own to split the stage figures; so is
`verify` on the decoded take. CPU time (not wall time) with BLAS on one thread and the
process on one core, and each track's best of --passes runs (another process sharing
the core only ever adds time), so the figures hold on a shared machine. The first track
is a warm-up (one-time costs), reported apart.

    .venv/bin/python bench/bench_engine.py [--duration 30] [--tracks 12] [--passes 3] [--json bench/results/engine.json]
"""

from __future__ import annotations

import argparse
import dataclasses
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

from songfarm.jobs.jobfile import load_job  # noqa: E402
from songfarm.models.plan import SongPlan  # noqa: E402
from songfarm.models.request import TrackRequest  # noqa: E402
from songfarm.models.stages import batch_of, new_row, rows_of  # noqa: E402
from songfarm.models.take import Take, decode_audio, encode_audio  # noqa: E402
from songfarm.pipelines.core.shell import stage_shells  # noqa: E402

JOB = Path(__file__).resolve().parent.parent / "jobs" / "examples" / "overnight.yaml"
TARGETS = {"realtime_factor_generator": 150.0, "verifier_cpu_s": 0.15}  # at least / at most


def cpu(fn):
    """(result, CPU seconds of this process)."""
    c0 = time.process_time()
    out = fn()
    return out, time.process_time() - c0


def run_track(shells, generator, request: TrackRequest) -> dict:
    """One track through planner, generator and verifier, as one batch each: its figures."""
    captured: list[Take] = []
    generate = generator.generate

    def keep(*args, **kwargs):  # the takes the stage renders, to time their encode alone
        takes = generate(*args, **kwargs)
        captured.extend(takes)
        return takes

    generator.generate = keep
    try:
        planned = shells["planner"](batch_of([new_row(request)]))
        rendered = shells["generator"](planned)  # compose, render, master, FLAC encode
    finally:
        del generator.generate
    verified = shells["verifier"](rendered)  # FLAC decode, verify
    row = rows_of(verified)[0]
    if row["status"] != "ok":
        raise RuntimeError(f"{request.id}: {row['error']}")
    take = captured[0]
    flac, encode_cpu = cpu(lambda: encode_audio(take.audio, take.sample_rate, "flac"))
    (audio, sr), decode_cpu = cpu(lambda: decode_audio(flac))
    decoded = dataclasses.replace(take, audio=audio, sample_rate=sr)
    plan = SongPlan.from_json(row["plan"])
    _, verify_cpu = cpu(lambda: shells["verifier"].backend.verify(decoded, plan, request))
    return {"id": request.id, "audio_s": take.duration_s, "plan_cpu_s": row["planner_cpu_s"],
            "generator_cpu_s": row["generator_cpu_s"], "encode_cpu_s": encode_cpu,
            "make_cpu_s": row["generator_cpu_s"] - encode_cpu, "verifier_cpu_s": row["verifier_cpu_s"],
            "decode_cpu_s": decode_cpu, "verify_cpu_s": verify_cpu, "score": row["score"],
            "accepted": row["accepted"], "flac_bytes": len(flac)}


def best_of(runs: list[dict]) -> dict:
    """One track's figures over several runs: the least CPU of each (the takes are the same)."""
    return {k: min(r[k] for r in runs) if k.endswith("_cpu_s") else v for k, v in runs[0].items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds per take")
    ap.add_argument("--tracks", type=int, default=12, help="tracks of the job to render (after one warm-up)")
    ap.add_argument("--passes", type=int, default=3, help="runs of each track; its figures are the best of them")
    ap.add_argument("--json", default="bench/results/engine.json")
    args = ap.parse_args()

    job = load_job(str(JOB), output="/tmp/songfarm-bench-engine")
    requests = [dataclasses.replace(r, duration_s=args.duration, candidates=1) for r in job.tracks[: args.tracks + 1]]
    shells = stage_shells(job.settings)  # the SoundFont loads here
    generator = shells["generator"].backend

    warm = run_track(shells, generator, requests[0])  # one-time costs: first calls, caches
    rows = [best_of([run_track(shells, generator, r) for _ in range(max(1, args.passes))]) for r in requests[1:]]

    med = {k: statistics.median(r[k] for r in rows) for k in rows[0] if k.endswith("_s") or k == "score"}
    result = {
        "duration_s": args.duration,
        "tracks": len(rows),
        "passes": args.passes,
        "median": med,
        "realtime_factor_generator": med["audio_s"] / med["generator_cpu_s"],  # target >= 150, FLAC encode included
        "realtime_factor_make": med["audio_s"] / med["make_cpu_s"],  # compose, render, master alone
        "verifier_cpu_s": med["verifier_cpu_s"],  # target <= 0.15 per 30 s take, FLAC decode included
        "verify_cpu_s": med["verify_cpu_s"],
        "warmup": warm,
        "accepted": sum(r["accepted"] for r in rows),
        "rows": rows,
        "targets": {"realtime_factor_generator": ">= 150", "verifier_cpu_s": "<= 0.15"},
    }

    print(f"engine on one core: {len(rows)} tracks of {args.duration:g} s through the stage shells "
          f"(median over tracks of each one's best of {args.passes} passes, CPU s per take)")
    print(f"{'stage':<40}{'CPU s':>8}{'x real time':>13}")
    lines = [("plan (rules)", "plan_cpu_s"),
             ("generator stage (synth), as the farm", "generator_cpu_s"),
             ("  compose + render + master", "make_cpu_s"),
             ("  FLAC encode", "encode_cpu_s"),
             ("verifier stage (features), as the farm", "verifier_cpu_s"),
             ("  FLAC decode", "decode_cpu_s"),
             ("  verify", "verify_cpu_s")]
    for label, key in lines:
        print(f"{label:<40}{med[key]:>8.3f}{med['audio_s'] / med[key]:>12.0f}x")
    print(f"{'warm-up track (generator + verifier)':<40}{warm['generator_cpu_s'] + warm['verifier_cpu_s']:>8.3f}")
    rt, ver = result["realtime_factor_generator"], result["verifier_cpu_s"]
    print(f"generator: {rt:.0f}x real time incl. FLAC encode (target >= {TARGETS['realtime_factor_generator']:g}x) "
          f"{'ok' if rt >= TARGETS['realtime_factor_generator'] else 'MISSED'}")
    print(f"verifier: {ver:.3f} CPU s per {args.duration:g} s take incl. FLAC decode "
          f"(target <= {TARGETS['verifier_cpu_s']:g} s) {'ok' if ver <= TARGETS['verifier_cpu_s'] else 'MISSED'}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
