"""Resource profiles per stage: how big each actor pool is and what each actor asks Ray for.

Two profiles:

- `laptop`: a CPU-only machine (this one has 2 cores). The planner is cheap and gets a
  sliver of a CPU (batch size 1, so each track streams on as soon as it is planned);
  a generator and a verifier actor per two cores, so each core has one busy process.
- `gpu`: a cluster with GPUs. Generators (neural ones) and CLAP verifiers get a GPU each
  (a shared quarter for the verifier); planners and embedded backends stay on CPUs.

A job's `resources:` section wins. Stages the job leaves at the built-in default
(`StageResources()`) take the profile matching the cluster; then, on a Ray that songfarm
started here, `fit_to_cluster` makes sure the minimum pools can start at all (scaling CPU
asks down, dropping GPU asks on a machine without GPUs: a laptop runs a GPU job on its
CPUs) and says what it changed. On an existing cluster (--address) the job's asks are kept
as written: cluster/capacity.py refuses asks the cluster can never hold, and an autoscaler
adds the nodes for the rest, rather than the job silently changing shape.
"""

from __future__ import annotations

import dataclasses

from ..models.settings import STAGES, StageResources
from .capacity import min_pools_need


def laptop(cpus: float = 2.0) -> dict[str, StageResources]:
    """Pools for a CPU-only machine with `cpus` cores."""
    # One generator and one verifier per two cores, started together (Ray Data's autoscaler
    # adds actors only after a queue has built up, too late for a short job): on 2 cores
    # 0.94 + 0.94 + 0.1 CPUs, one busy process per core. Measured on 2 cores, 100 × 30 s:
    # 46.8 s with 1 + 1 actors vs 50.7 s with 2 + 2 (more start-up, two processes per core).
    per_stage = max(1, int(cpus) // 2)
    share = round(max(0.1, 0.99 * (cpus - 0.1) / (2 * per_stage)), 3)  # a margin below the total
    return {
        "planner": StageResources(min_actors=1, max_actors=1, batch_size=1, num_cpus=0.1),
        "generator": StageResources(min_actors=per_stage, max_actors=per_stage, batch_size=1, num_cpus=share),
        "verifier": StageResources(min_actors=per_stage, max_actors=per_stage, batch_size=1, num_cpus=share),
    }


def gpu(gpus: float = 1.0) -> dict[str, StageResources]:
    """Pools for a cluster with `gpus` GPUs: one generator per GPU, verifiers sharing GPUs."""
    n = max(1, int(gpus))
    return {
        "planner": StageResources(min_actors=1, max_actors=2, batch_size=8, num_cpus=1.0),
        "generator": StageResources(min_actors=1, max_actors=n, batch_size=2, num_cpus=2.0, num_gpus=1.0),
        "verifier": StageResources(min_actors=1, max_actors=max(1, 2 * n), batch_size=4, num_cpus=1.0,
                                   num_gpus=0.25),
    }


def profile_for(cpus: float, gpus: float) -> dict[str, StageResources]:
    return gpu(gpus) if gpus >= 1 else laptop(cpus)


def resolve(resources: dict[str, StageResources], cpus: float, gpus: float,
            gpu_stages: tuple[str, ...] = (), fit: bool = True) -> tuple[dict[str, StageResources], list[str]]:
    """The pools to run with on a cluster of `cpus` CPUs and `gpus` GPUs, and notes on what changed.

    Stages left at the built-in default take the cluster's profile; `gpu_stages` are the
    stages whose backend can use a GPU (neural ones): only they keep GPU asks from the
    gpu profile. Then, with `fit` (a local Ray), the minimum pools are fitted to the cluster;
    without it (an existing cluster) the asks stay as they are.
    """
    base = profile_for(cpus, gpus)
    out: dict[str, StageResources] = {}
    for stage in STAGES:
        res = resources.get(stage, StageResources())
        if res == StageResources():
            res = dataclasses.replace(base[stage])
            if stage not in gpu_stages:
                res.num_gpus = 0.0
        out[stage] = dataclasses.replace(res)
    return fit_to_cluster(out, cpus, gpus) if fit else (out, [])


def fit_to_cluster(resources: dict[str, StageResources], cpus: float,
                   gpus: float) -> tuple[dict[str, StageResources], list[str]]:
    """Scale asks so the minimum pools fit; notes say what was changed and why."""
    out = {s: dataclasses.replace(r) for s, r in resources.items()}
    notes: list[str] = []
    if gpus < 1:
        for stage, res in out.items():
            if res.num_gpus > 0:
                notes.append(f"resources.{stage}: the cluster has no GPU; running on CPUs (num_gpus "
                             f"{res.num_gpus:g} → 0)")
                res.num_gpus = 0.0
    need_gpus = min_pools_need(out).get("GPU", 0.0)
    if need_gpus > gpus > 0:
        factor = gpus / need_gpus
        for stage, res in out.items():
            if res.num_gpus > 0:
                new = res.num_gpus * factor
                notes.append(f"resources.{stage}: num_gpus {res.num_gpus:g} → {new:.3g} so the minimum pools "
                             f"fit {gpus:g} GPUs")
                res.num_gpus = new
    need_cpus = min_pools_need(out).get("CPU", 0.0)
    if cpus > 0 and need_cpus > cpus:
        factor = cpus * 0.95 / need_cpus
        for stage, res in out.items():
            new = round(res.num_cpus * factor, 3)
            notes.append(f"resources.{stage}: num_cpus {res.num_cpus:g} → {new:g} so the minimum pools "
                         f"({need_cpus:g} CPUs) fit {cpus:g} CPUs")
            res.num_cpus = new
    return out, notes

