"""Benchmark: the batch farm on Ray vs a plain process pool, same job, same run.

    .venv/bin/python bench/bench_farm.py                         # 100 tracks × 30 s (the target run)
    .venv/bin/python bench/bench_farm.py --tracks 8 --duration 8 # a quick look

Every side does the same work for every track through the one lifecycle
(pipelines/core/lifecycle.py) and the same stage classes: plan, render each candidate,
verify it, re-render rejected tracks up to max_attempts with the same seeds, then tag and
write the kept take's audio and MIDI and a Parquet manifest through the same Sink.

- pool: `multiprocessing`, one process per core, each holding the three stage shells and
  rendering whole tracks (pipelines/core/local.render_delivered: takes as float PCM between
  stages, the kept take encoded once); the main process writes through the sink. This is
  the ceiling the farm is held to.
- farm (fused): the farm as `songfarm render` runs it on this machine: the CPU-only stages
  share one actor pool whose actors render whole tracks the same way
  (pipelines/farm/round.py), one actor per core, plain Ray actors fed by the driver
  (pipelines/farm/fused_pool.py), one pass for every round.
- farm (separate pools): one pool per stage, takes as FLAC between them, one Ray Data
  execution per round (the farm before fusion; what a GPU job's pools still do).
- loop (--loop): the pool's work in this process, one track at a time.

The pool and the fused farm take turns `--repeats` times (default 3) and the median pair
counts: the machine is shared and drifts, so a ratio is only fair between runs made next
to each other. Each farm run starts and stops its own local Ray, so Ray's start-up is
measured every time. Prints a table (wall time, throughput, CPU
seconds by process group, Ray start-up, first take, peak object-store use) and writes
bench/results/farm.json. Target: the fused farm ≥ 85 % of the pool's throughput.

CPU by process comes from Linux /proc (stage actors, driver, Ray Data's own actors, Ray's
system processes), polled through each run, so processes that exit early count too.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from results_file import write_results

from songfarm.cluster.connect import connect, disconnect
from songfarm.cluster.profiles import laptop
from songfarm.jobs.jobfile import load_job
from songfarm.models.job import Job
from songfarm.models.request import TrackRequest
from songfarm.models.settings import RenderSettings, StageResources
from songfarm.pipelines.core.lifecycle import TrackLifecycle
from songfarm.pipelines.core.local import render_delivered
from songfarm.pipelines.core.shell import stage_shells
from songfarm.pipelines.delivery.manifest import current_rows
from songfarm.pipelines.delivery.sink import Sink, take_tags
from songfarm.pipelines.delivery.storage import open_storage
from songfarm.pipelines.farm.driver import Farm, FarmConfig

ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.85  # the fused farm's throughput over the pool's


def make_job(tracks: int, duration: float, candidates: int | None, max_attempts: int | None, output: str,
             actors: int = 0) -> Job:
    """The overnight example job (jobs/examples/overnight.yaml: 100 prompts, 2 candidates, 3
    attempts), its tracks cycled to `tracks` at `duration` seconds each."""
    base = load_job(ROOT / "jobs" / "examples" / "overnight.yaml", output=output)
    requests = []
    for i in range(tracks):
        r = base.tracks[i % len(base.tracks)]
        r = dataclasses.replace(r, duration_s=float(duration), candidates=candidates or r.candidates)
        r.id = f"{r.id}-{i}" if i >= len(base.tracks) else r.id
        requests.append(r)
    base.tracks, base.settings.max_attempts, base.name = requests, max_attempts or base.settings.max_attempts, "bench"
    base.resources = laptop(os.cpu_count() or 2)
    if actors:  # fixed pools of `actors` generators and verifiers sharing the cores
        share = round(0.95 * ((os.cpu_count() or 2) - 0.1) / (2 * actors), 3)
        for stage in ("generator", "verifier"):
            base.resources[stage] = StageResources(min_actors=actors, max_actors=actors, batch_size=1,
                                                   num_cpus=share)
    return base


def _one_thread_blas():
    """BLAS on one thread, as in Ray's workers (OMP_NUM_THREADS=1): with OpenBLAS's default
    two threads the verifier spins a second core and gets no faster."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


_SHELLS: dict[str, Any] = {}
_SETTINGS: RenderSettings | None = None


def _worker_init(settings: RenderSettings) -> None:
    global _SETTINGS
    _one_thread_blas()
    _SETTINGS = settings
    _SHELLS.update(stage_shells(settings))


def render_kept(request: TrackRequest) -> tuple[TrackLifecycle, dict[str, Any] | None]:
    """One track's every round in this worker, as a fused farm actor renders it."""
    done = render_delivered(request, _SHELLS, _SETTINGS)
    return done.life, done.take


def _deliver(sink: Sink, job: Job, life: TrackLifecycle, take: dict[str, Any] | None) -> None:
    request, files = life.request, None
    if take is not None:
        files = sink.write_files(request.id, take, take_tags(job.name, request, take))
    sink.add_row(life.manifest_values(files))


def run_pool(job: Job, out_dir: str, processes: int) -> dict:
    """`processes` worker processes render whole tracks; this process writes them (fork: the
    workers start from this process's imports, as cheaply as a pool can)."""
    t0 = time.perf_counter()
    sink = Sink(open_storage(f"{out_dir}/{job.name}"), job.name, job.settings.delivery)
    cpu: dict[str, float] = {"planner": 0.0, "generator": 0.0, "verifier": 0.0}
    counts = {"accepted": 0, "rejected": 0, "failed": 0}
    chosen, first = {}, None
    c0 = time.process_time()
    with mp.get_context("fork").Pool(processes, initializer=_worker_init, initargs=(job.settings,)) as pool:
        for life, take in pool.imap_unordered(render_kept, job.tracks):
            first = first if first is not None else time.perf_counter() - t0
            _deliver(sink, job, life, take)
            for stage in cpu:
                cpu[stage] += life.stage_cpu_s[stage]
            counts[life.status] += 1
            if take is not None:
                chosen[life.request.id] = (life.status, int(take["seed"]))
    sink.flush()
    return {"wall_s": time.perf_counter() - t0, "processes": processes, "cpu_s": cpu,
            "main_process_cpu_s": time.process_time() - c0, "counts": counts, "first_track_s": first,
            "chosen": chosen}


def run_loop(job: Job, out_dir: str) -> dict:
    """The pool's work in this process, one track at a time."""
    t0 = time.perf_counter()
    _worker_init(job.settings)
    sink = Sink(open_storage(f"{out_dir}/{job.name}"), job.name, job.settings.delivery)
    for request in job.tracks:
        _deliver(sink, job, *render_kept(request))
    sink.flush()
    return {"wall_s": time.perf_counter() - t0}


def _spin(seconds: float, out) -> None:
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        n += 1
    out.put(n)


def parallel_capacity(seconds: float = 2.0) -> float:
    """How many cores' worth of CPU the machine gives us right now: the work two busy
    processes get done in `seconds` over what one gets done. 2.0 on an idle 2-core machine;
    near 1.0 when other work already holds a core (the farm cannot beat that ceiling)."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    counts = []
    for procs in (1, 2):
        q = ctx.Queue()
        workers = [ctx.Process(target=_spin, args=(seconds, q)) for _ in range(procs)]
        for w in workers:
            w.start()
        counts.append(sum(q.get() for _ in workers))
        for w in workers:
            w.join()
    return counts[1] / counts[0]


class ObjectStorePeak:
    """Polls the cluster's object-store bytes in use (Ray's memory summary) and keeps the peak."""

    def __init__(self, address: str, every_s: float = 0.25):
        from ray._private.internal_api import get_state_from_address

        self.state = get_state_from_address(address)
        self.every_s, self.peak, self.samples = every_s, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        from ray._private.internal_api import get_memory_info_reply

        while not self._stop.is_set():
            try:
                used = get_memory_info_reply(self.state).store_stats.object_store_bytes_used
                self.peak, self.samples = max(self.peak, int(used)), self.samples + 1
            except Exception:  # a poll that misses is not worth failing the benchmark for
                pass
            self._stop.wait(self.every_s)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


class ProcessCPU:
    """CPU seconds every process on this machine spends while the block runs, grouped by role
    (Linux /proc; an empty result elsewhere). Polled so that processes which exit before the
    end are counted too. This is where the farm's CPU goes besides the stage work itself."""

    GROUPS = (  # (group, test on the process's command line); first match wins
        ("fused stage actors", lambda cmd: "FusedActor" in cmd),
        ("generator actor", lambda cmd: "GeneratorActor" in cmd),
        ("verifier actor", lambda cmd: "VerifierActor" in cmd),
        ("planner actor", lambda cmd: "PlannerActor" in cmd),
        ("Ray Data's own actors", lambda cmd: any(a in cmd for a in ("_StatsActor", "Autoscaling", "ActorLocation"))),
        ("Ray system (raylet, GCS, agents)", lambda cmd: "ray" in cmd),
        ("kernel threads", lambda cmd: cmd == ""),
    )

    def __init__(self, every_s: float = 0.5):
        self.every_s, self.driver = every_s, os.getpid()
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.start: dict[int, float] = {}
        self.last: dict[int, tuple[float, str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _snapshot(self) -> dict[int, tuple[float, str]]:
        out = {}
        for pid in os.listdir("/proc") if os.path.isdir("/proc") else []:
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:  # the process exited while we looked
                continue
            out[int(pid)] = ((int(fields[11]) + int(fields[12])) / self.hz, cmd)  # utime + stime
        return out

    def _update(self, snap: dict[int, tuple[float, str]]) -> None:
        """Take in a snapshot, keeping each process's command line from when it had one: an
        actor killed at the end shows an empty one while it exits (it is no kernel thread)."""
        for pid, (cpu, cmd) in snap.items():
            self.last[pid] = (cpu, cmd or self.last.get(pid, (0.0, ""))[1])

    def _poll(self):
        while not self._stop.wait(self.every_s):
            self._update(self._snapshot())

    def __enter__(self):
        snap = self._snapshot()
        self.start = {pid: cpu for pid, (cpu, _) in snap.items()}
        self.last = dict(snap)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._update(self._snapshot())

    def groups(self) -> dict[str, float]:
        """CPU seconds per group during the block."""
        out: dict[str, float] = {}
        for pid, (cpu, cmd) in self.last.items():
            used = cpu - self.start.get(pid, 0.0)
            if used <= 0:
                continue
            if pid == self.driver:
                group = "driver (sink; Ray Data executor where used)"
            else:
                group = next((g for g, test in self.GROUPS if test(cmd)), "other processes")
            out[group] = out.get(group, 0.0) + used
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def run_farm(job: Job, out_dir: str, fuse: bool) -> dict:
    """The farm: start a local Ray on every core, run the job through the actor pools."""
    # Ray starts workers at nice 15; the pool runs at nice 0. On a machine shared with other
    # work that alone would starve the farm, so both sides run at the same priority.
    os.environ.setdefault("RAY_worker_niceness", "0")
    # Actors' output stays in Ray's session files, as `songfarm render` leaves it without --verbose.
    cluster = connect(num_cpus=os.cpu_count() or 2, node_ip="127.0.0.1", log_to_driver=False)
    try:
        sink = Sink(open_storage(f"{out_dir}/{job.name}"), job.name, job.settings.delivery)
        with ObjectStorePeak(cluster.address) as peak, ProcessCPU() as cpu:
            t0 = time.perf_counter()
            farm = Farm(job, sink, FarmConfig(progress_s=10.0, progress_bars=False, fuse=fuse), log=lambda line: None)
            result = farm.run(job.tracks)
            wall = time.perf_counter() - t0
    finally:
        disconnect(cluster)
    rows = current_rows(sink.storage)
    chosen = {tid: (r["status"], int(r["take_seed"])) for tid, r in rows.items() if r["status"] != "failed"}
    return {"wall_s": wall, "ray_start_s": cluster.start_s, "cpu_s": {**result.stage_cpu_s},
            "stage_wall_s": result.stage_s, "counts": result.counts, "rounds": result.rounds,
            "first_take_s": result.first_take_s, "process_cpu_s": cpu.groups(),
            "peak_object_store_bytes": peak.peak, "object_store_samples": peak.samples, "chosen": chosen,
            "pools": {name: dataclasses.asdict(r) for name, r in farm._pools.items()}}


STAGE_GROUPS = ("fused stage actors", "generator actor", "verifier actor", "planner actor")


def stage_actor_cpu(groups: dict[str, float]) -> float:
    """CPU seconds of the processes that ran stage work."""
    return sum(v for k, v in groups.items() if k in STAGE_GROUPS)


def other_cpu(groups: dict[str, float]) -> float:
    """CPU seconds of everything else: the driver, Ray Data's own actors, Ray's system processes."""
    return sum(groups.values()) - stage_actor_cpu(groups)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tracks", type=int, default=100)
    p.add_argument("--duration", type=float, default=30.0, help="seconds per track")
    p.add_argument("--candidates", type=int, default=None, help="takes per attempt (default: the job's, 2)")
    p.add_argument("--max-attempts", type=int, default=None, help="render rounds (default: the job's, 3)")
    p.add_argument("--actors", type=int, default=0,
                   help="fixed generator and verifier pool size (default: the laptop profile)")
    p.add_argument("--loop", action="store_true", help="also time the single-process loop")
    p.add_argument("--no-separate", action="store_true", help="skip the separate-pools farm run")
    p.add_argument("--repeats", type=int, default=3,
                   help="pool and fused farm runs, taking turns (the median pair counts)")
    p.add_argument("--json", default=str(ROOT / "bench" / "results" / "farm.json"))
    p.add_argument("--keep", action="store_true", help="keep the rendered files (printed path)")
    args = p.parse_args(argv)

    cores = os.cpu_count() or 2
    work = tempfile.mkdtemp(prefix="songfarm-bench-")
    job = make_job(args.tracks, args.duration, args.candidates, args.max_attempts, work, args.actors)
    print(f"bench: {args.tracks} tracks × {args.duration:g} s, {job.tracks[0].candidates} candidate(s), up to "
          f"{job.settings.max_attempts} attempts, {cores} CPUs; output {work}", flush=True)
    capacity = [parallel_capacity()]
    runs: dict[str, dict] = {}
    if args.loop:
        runs["loop"] = run_loop(job, f"{work}/loop")
    # The pool and the fused farm take turns, `--repeats` times: this machine is shared, and
    # its speed drifts by 20 % over minutes, so each ratio compares runs made next to each
    # other, and the median ratio is the figure.
    samples: dict[str, list[dict]] = {"pool": [], "farm": []}
    for i in range(args.repeats):
        samples["pool"].append(run_pool(job, f"{work}/pool{i}", cores))
        print(f"bench: pool done in {samples['pool'][-1]['wall_s']:.1f} s", flush=True)
        samples["farm"].append(run_farm(job, f"{work}/farm{i}", fuse=True))
        print(f"bench: farm (fused) done in {samples['farm'][-1]['wall_s']:.1f} s", flush=True)
    pair_ratios = [p["wall_s"] / f["wall_s"] for p, f in zip(samples["pool"], samples["farm"])]
    middle = sorted(range(args.repeats), key=lambda i: pair_ratios[i])[(args.repeats - 1) // 2]  # the median pair
    runs["pool"], runs["farm"] = samples["pool"][middle], samples["farm"][middle]
    if not args.no_separate:
        runs["farm_separate"] = run_farm(job, f"{work}/separate", fuse=False)
        print(f"bench: farm (separate pools) done in {runs['farm_separate']['wall_s']:.1f} s", flush=True)
    capacity.append(parallel_capacity())

    n, pool = args.tracks, runs["pool"]
    farms = [k for k in ("farm", "farm_separate") if k in runs]
    ratio = {k: pool["wall_s"] / runs[k]["wall_s"] for k in farms}
    ratio_start = {k: pool["wall_s"] / (runs[k]["wall_s"] + runs[k]["ray_start_s"]) for k in farms}
    same = {k: runs[k]["chosen"] == pool["chosen"] for k in farms}
    cols = ["pool", *farms] + (["loop"] if "loop" in runs else [])
    names = {"pool": f"pool ({cores} procs)", "farm": "farm (fused)", "farm_separate": "farm (separate)",
             "loop": "loop (1 proc)"}

    def cell(k: str, f) -> str:
        try:
            return f(runs[k])
        except (KeyError, TypeError):
            return "-"

    table = [
        ("wall s", lambda r: f"{r['wall_s']:.1f}"),
        ("tracks / min", lambda r: f"{60 * n / r['wall_s']:.1f}"),
        ("audio s / wall s", lambda r: f"{n * args.duration / r['wall_s']:.1f}"),
        ("of the pool's throughput", lambda r: f"{pool['wall_s'] / r['wall_s'] * 100:.0f} %"),
        ("Ray start s", lambda r: f"{r['ray_start_s']:.1f}"),
        ("first verified take s", lambda r: f"{r['first_take_s']:.1f}"),
        *[(f"CPU s {s}", lambda r, s=s: f"{r['cpu_s'][s]:.1f}") for s in ("planner", "generator", "verifier")],
        ("CPU s stage processes", lambda r: f"{stage_actor_cpu(r['process_cpu_s']):.1f}"),
        ("CPU s driver + Ray", lambda r: f"{other_cpu(r['process_cpu_s']):.1f}"),
        ("CPU s main process", lambda r: f"{r['main_process_cpu_s']:.1f}"),
        ("peak object store MiB", lambda r: f"{r['peak_object_store_bytes'] / 2**20:.1f}"),
        ("counts", lambda r: " ".join(f"{v}" for v in r["counts"].values())),
    ]
    width = max(len(t[0]) for t in table)
    print(f"\n{'':{width}}" + "".join(f"  {names[k]:>18}" for k in cols))
    for label, f in table:
        print(f"{label:{width}}" + "".join(f"  {cell(k, f):>18}" for k in cols))
    for k in farms:
        groups = runs[k]["process_cpu_s"]
        if groups:
            print(f"\nCPU seconds during {names[k]}, by process ({cores} cores × {runs[k]['wall_s']:.1f} s = "
                  f"{cores * runs[k]['wall_s']:.0f} CPU s available):")
            for group, used in groups.items():
                print(f"  {group:36} {used:7.1f}")
    if args.repeats > 1:
        print(f"\nfused farm vs pool, each pair of turns: {', '.join(f'{r * 100:.0f} %' for r in pair_ratios)} "
              f"(the table shows the median pair)")
    verdict = "PASS" if ratio["farm"] >= TARGET else "FAIL"
    print(f"\nfarm (fused) vs the pool: {ratio['farm'] * 100:.0f} % of its throughput (target "
          f"{TARGET * 100:.0f} %: {verdict}); with Ray's start-up {ratio_start['farm'] * 100:.0f} %; "
          f"same chosen takes: {same}")
    if min(capacity) < 1.8 and cores == 2:
        print(f"note: other work held part of the CPU during this run (2 busy processes got "
              f"{min(capacity):.2f} cores' worth).")

    out = {"tracks": n, "duration_s": args.duration, "candidates": job.tracks[0].candidates,
           "max_attempts": job.settings.max_attempts, "cpus": cores,
           "load_average_after": os.getloadavg(), "machine_capacity_cores": capacity,
           "runs": {k: {f: v for f, v in r.items() if f != "chosen"} for k, r in runs.items()},
           "farm_over_pool": ratio, "farm_over_pool_with_ray_start": ratio_start, "target": TARGET,
           "passed": ratio["farm"] >= TARGET, "same_chosen_takes": same,
           "pairs": {"farm_over_pool": pair_ratios, "pool_wall_s": [r["wall_s"] for r in samples["pool"]],
                     "farm_wall_s": [r["wall_s"] for r in samples["farm"]]}}
    write_results(args.json, out)
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
