"""Benchmark: from `songfarm render` to the first verified take, process by process.

    .venv/bin/python bench/bench_startup.py [--repeats 3]

Target (issue 14): Ray's start-up plus the first verified take within 5 s on this machine,
or the reason it cannot be. Each phase is timed on its own, in a fresh child process, so
one phase's warm caches do not hide another's cost:

- `import ray` and `import ray.data` in a bare interpreter;
- `ray.init` of a local Ray (every core, 127.0.0.1, no dashboard): GCS, raylet, the
  worker pool;
- the first actor: a new worker process, up and answering;
- a fused stage actor's constructor: importing the stages and building the backends
  (SoundFont load), and its first track round (a 10 s track, 2 candidates);
- the farm end to end on one 10 s track: what a user waits for (Ray start + first take,
  as the run record and the report give them).

Prints a table (median over `--repeats`) and writes bench/results/startup.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from results_file import write_results

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 5.0

# Each probe prints one JSON line of {phase: seconds}.
PROBES = {
    "imports": """
import json, time
t0 = time.perf_counter(); import ray; t1 = time.perf_counter(); import ray.data; t2 = time.perf_counter()
import songfarm.pipelines.farm.driver; t3 = time.perf_counter()
print(json.dumps({"import ray": t1 - t0, "import ray.data": t2 - t1, "import songfarm's farm": t3 - t2}))
""",
    "ray": """
import json, os, time
import ray
t0 = time.perf_counter()
ray.init(address="local", num_cpus=os.cpu_count() or 2, include_dashboard=False, _node_ip_address="127.0.0.1",
         log_to_driver=False)
t1 = time.perf_counter()

@ray.remote(num_cpus=0.5)
class Ping:
    def ping(self):
        return 1

a = Ping.remote(); ray.get(a.ping.remote()); t2 = time.perf_counter()

@ray.remote(num_cpus=0.5)
class Stages:
    def __init__(self):
        import time as _t
        c0 = _t.perf_counter()
        from songfarm.jobs.jobfile import load_job
        from songfarm.pipelines.farm.round import FusedActor
        from songfarm.models.stages import batch_of, new_row
        self.job = load_job("jobs/examples/demo.yaml", output="/tmp/unused")
        self.imports_s = _t.perf_counter() - c0
        c1 = _t.perf_counter()
        self.actor = FusedActor(self.job.settings)
        self.build_s = _t.perf_counter() - c1
        self.batch_of, self.new_row = batch_of, new_row

    def first(self):
        import dataclasses, time as _t
        r = dataclasses.replace(self.job.tracks[0], duration_s=10.0, candidates=2)
        c0 = _t.perf_counter()
        self.actor.render(self.batch_of([self.new_row(r, 0)]))
        return self.imports_s, self.build_s, _t.perf_counter() - c0

s = Stages.remote(); imports_s, build_s, first_s = ray.get(s.first.remote()); t3 = time.perf_counter()
print(json.dumps({"ray.init (local, every core)": t1 - t0, "first actor up (new worker process)": t2 - t1,
                  "stage actor: imports": imports_s, "stage actor: build backends": build_s,
                  "stage actor: first round (10 s track, 2 takes)": first_s,
                  "stage actor total (process + imports + build + round)": t3 - t2}))
ray.shutdown()
""",
    "farm": """
import dataclasses, json, os, tempfile, time
t0 = time.perf_counter()
from songfarm.cluster.connect import connect, disconnect
from songfarm.jobs.jobfile import load_job
from songfarm.pipelines.delivery.sink import Sink
from songfarm.pipelines.delivery.storage import open_storage
from songfarm.pipelines.farm.driver import Farm, FarmConfig
t1 = time.perf_counter()
cluster = connect(num_cpus=os.cpu_count() or 2, node_ip="127.0.0.1", log_to_driver=False)
job = load_job("jobs/examples/demo.yaml", output=tempfile.mkdtemp())
job.tracks = [dataclasses.replace(job.tracks[0], duration_s=10.0, candidates=2)]
job.settings.max_attempts = 1
sink = Sink(open_storage(job.location), job.name, job.settings.delivery)
from songfarm.cluster.profiles import resolve
job.resources, _ = resolve(job.resources, cluster.cpus, cluster.gpus)
result = Farm(job, sink, FarmConfig(progress_bars=False), log=lambda line: None).run(job.tracks)
disconnect(cluster)
print(json.dumps({"farm: imports": t1 - t0, "farm: Ray start": cluster.start_s,
                  "farm: first verified take": result.first_take_s,
                  "farm: Ray start + first take": cluster.start_s + result.first_take_s}))
""",
}


def probe(name: str) -> dict[str, float]:
    env = {**os.environ, "RAY_worker_niceness": "0", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-c", PROBES[name]], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"probe {name} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", default=str(ROOT / "bench" / "results" / "startup.json"))
    args = p.parse_args(argv)
    tempfile.gettempdir()
    samples: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name in PROBES:
            for phase, seconds in probe(name).items():
                samples.setdefault(phase, []).append(seconds)
    median = {phase: statistics.median(v) for phase, v in samples.items()}
    width = max(map(len, median))
    print(f"start-up on {os.cpu_count()} CPUs, median of {args.repeats}")
    for phase, seconds in median.items():
        print(f"{phase:{width}}  {seconds:6.2f} s")
    total = median["farm: Ray start + first take"]
    print(f"Ray start + first verified take: {total:.1f} s (target {TARGET_S:g} s: "
          f"{'PASS' if total <= TARGET_S else 'FAIL'})")
    out = {"cpus": os.cpu_count(), "repeats": args.repeats, "median_s": median, "samples_s": samples,
           "target_s": TARGET_S, "passed": total <= TARGET_S}
    write_results(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
