"""Can the cluster hold a job's pools, and asking an autoscaler for the nodes a job needs.

    check_capacity   before the farm starts on an existing cluster: a stage whose actor fits
                     no node (a GPU ask on a CPU-only cluster), or minimum pools larger than
                     the whole cluster, stop the job at once with one line (CapacityError,
                     exit 2) instead of Ray Data waiting forever for resources that never come.
                     With an autoscaler the cluster can grow, so only asks that none of its
                     node types can hold fail.
    scale_request    the resource bundles a job's pools need at its size, for
                     ray.autoscaler.sdk.request_resources before a big job (cleared after).

The pure functions take plain dicts (a node's resources: {"CPU": 2.0, "GPU": 1.0}); the
functions that read the cluster (`node_offers`, `autoscaler_node_types`) need a connected Ray.
"""

from __future__ import annotations

import json
import math

from ..models.errors import SongfarmError
from ..models.settings import STAGES, StageResources

# A job is "big" when it has at least this many rows per row the minimum pools take at once:
# then more actors than the minimum would be busy, and asking the autoscaler for them before
# the job starts saves the minutes a node takes to boot, which Ray Data's own demand (pending
# actors, seen only after a queue builds up) would otherwise cost.
BIG_JOB_FACTOR = 2
# Node resources that are not asks a stage makes (Ray's own bookkeeping).
_NOT_ASKS = ("memory", "object_store_memory")


class CapacityError(SongfarmError):
    """The cluster can never run the job's pools as asked: a configuration problem (the job's
    `resources:` or the cluster's shape), so `songfarm render` exits 2, not 3: retrying the
    same job on the same cluster would fail the same way."""


def stage_ask(res: StageResources) -> dict[str, float]:
    """What one actor of a stage asks Ray for: {"CPU": .., "GPU": .., custom: ..}, zeros left out."""
    ask = {"CPU": float(res.num_cpus), "GPU": float(res.num_gpus)}
    # `resources` (custom Ray resources per actor) is newer than this file; older settings lack it.
    ask.update({k: float(v) for k, v in (getattr(res, "resources", None) or {}).items()})
    return {k: v for k, v in ask.items() if v > 0}


def node_offers() -> list[dict[str, float]]:
    """Total resources of each alive node of the connected cluster (what a node can ever give;
    what is free now changes as other jobs come and go, and Ray Data waits for that)."""
    import ray

    out = []
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        res = node.get("Resources") or {}
        out.append({k: float(v) for k, v in res.items()
                    if k not in _NOT_ASKS and not k.startswith(("node:", "accelerator_type:"))})
    return out


def autoscaler_node_types() -> list[dict] | None:
    """The node types an autoscaler of the connected cluster can add, or None when none runs.

    Each is {"name", "resources", "max_workers"}. An autoscaler that publishes its node types
    (the cluster config in the GCS, as Ray Data reads it) gives them; Ray's v1 autoscaler
    (`ray up`, KubeRay, the fake multi-node provider) publishes only its status, which names
    node types but not their resources: then [] ("an autoscaler, shape unknown"). A cluster
    started by hand runs the same monitor with a read-only provider, whose node types are the
    existing nodes ("node_<id>") and can never grow: that is no autoscaler.
    """
    import ray._private.state
    from ray._private import ray_constants
    from ray.experimental.internal_kv import _internal_kv_get

    config = ray._private.state.state.get_cluster_config()
    if config is not None and config.node_group_configs:
        types = [{"name": g.name, "resources": {k: float(v) for k, v in g.resources.items()},
                  "max_workers": int(g.max_count)}
                 for g in config.node_group_configs if g.max_count == -1 or g.max_count > g.min_count]
        return types or None
    raw = _internal_kv_get(ray_constants.DEBUG_AUTOSCALING_STATUS)
    if not raw:
        return None
    report = json.loads(raw).get("autoscaler_report") or {}
    names = {*report.get("active_nodes", {}), *(report.get("idle_nodes") or {}), *report.get("pending_launches", {}),
             *(report.get("node_type_mapping") or {}).values()}
    return [] if any(not n.startswith("node_") for n in names) else None


def min_pools_need(resources: dict[str, StageResources]) -> dict[str, float]:
    """What the minimum pools hold together: resource → Σ over stages of min_actors × the
    actor's ask (what has to fit a cluster before the job can start at all)."""
    need: dict[str, float] = {}
    for res in resources.values():
        for key, amount in stage_ask(res).items():
            need[key] = need.get(key, 0.0) + res.min_actors * amount
    return need


def _fits(ask: dict[str, float], node: dict[str, float]) -> bool:
    return all(node.get(k, 0.0) >= v for k, v in ask.items())


def format_ask(res: dict[str, float]) -> str:
    """{"CPU": 1.0, "GPU": 0.25} → '{GPU: 0.25, CPU: 1}' (GPU first), for one-line messages."""
    return "{" + ", ".join(f"{k}: {v:g}" for k, v in sorted(res.items(), key=lambda kv: (kv[0] != "GPU", kv[0]))) + "}"


def check_capacity(resources: dict[str, StageResources], nodes: list[dict[str, float]],
                   node_types: list[dict] | None = None) -> None:
    """Raise CapacityError (one line) when the minimum pools can never run on `nodes`.

    Two checks that are certain, so a job that could run is never refused: an actor's ask
    that fits no single node (an actor lives on one node), and a resource the minimum pools
    need more of than all nodes together have. `node_types` is what an autoscaler can add
    (autoscaler_node_types): None, no autoscaler; [] an autoscaler of unknown shape, trusted;
    otherwise an ask fails only when neither a node nor a node type can hold it.
    """
    if node_types == []:
        return
    growable = [t["resources"] for t in node_types or []]
    problems = []
    for stage in STAGES:
        ask = stage_ask(resources[stage])
        if ask and not any(_fits(ask, n) for n in nodes + growable):
            problems.append(stage)
    if not problems and not growable:
        for key, need in sorted(min_pools_need(resources).items()):
            if need > sum(n.get(key, 0.0) for n in nodes) + 1e-9:
                problems.append(key)
    if problems:
        raise CapacityError(capacity_line(resources, nodes, node_types, problems))


def capacity_line(resources: dict[str, StageResources], nodes: list[dict[str, float]],
                  node_types: list[dict] | None, problems: list[str]) -> str:
    """The one line: what each stage asks, what the cluster offers, and what to change."""
    asks = ", ".join(f"{s} asks {format_ask(stage_ask(resources[s]))} per actor × {resources[s].min_actors}"
                     for s in STAGES)
    shapes: dict[str, int] = {}
    for n in nodes:
        shapes[format_ask(n)] = shapes.get(format_ask(n), 0) + 1
    offers = "nodes " + ", ".join(f"{shape} ×{count}" for shape, count in shapes.items()) if shapes else "no nodes"
    if not any(n.get("GPU", 0) > 0 for n in nodes):
        offers += " (no GPU)"
    if node_types:
        offers += "; its autoscaler adds " + ", ".join(f"{t['name']} {format_ask(t['resources'])}" for t in node_types)
    fixes = []
    for p in problems:
        if p in STAGES:
            ask = stage_ask(resources[p])
            short = [k for k, v in ask.items() if not any(n.get(k, 0.0) >= v for n in nodes)]
            if "GPU" in ask and (not short or "GPU" in short):
                fixes.append(f"lower resources.{p}.num_gpus to 0")
            elif "CPU" in short:
                fixes.append(f"lower resources.{p}.num_cpus")
            else:
                fixes.append(f"drop resources.{p} {', '.join(k for k in short if k not in ('CPU', 'GPU'))}")
        else:
            fixes.append(f"lower the min_actors or num_{p.lower()}s of the pools"
                         if p in ("CPU", "GPU") else f"lower the pools' {p} asks")
    gpu = any(stage_ask(resources[s]).get("GPU") for s in STAGES)
    more = "add GPU nodes" if gpu and not any(n.get("GPU", 0) > 0 for n in nodes) else "add nodes"
    return (f"resources: {asks}; the cluster offers {offers}; {', or '.join(dict.fromkeys(fixes))}, "
            f"or {more} / start an autoscaler")


def scale_request(resources: dict[str, StageResources], rows: int) -> list[dict[str, float]]:
    """The bundles (one per actor) the pools can use for a job of `rows` rows (tracks ×
    candidates), or [] when the job is not big enough to be worth asking for nodes ahead.

    Each pool at the actors the job can keep busy: a stage never needs more actors than
    batches (`rows / batch_size`), nor more than its max_actors, nor fewer than its minimum.
    "Big" (BIG_JOB_FACTOR): the job has work for more than the minimum pools of some stage
    that may grow; a small job runs on its minimum pools and asks for nothing extra."""
    counts = {}
    big = False
    for stage in STAGES:
        res = resources[stage]
        useful = math.ceil(rows / max(1, res.batch_size))
        counts[stage] = max(res.min_actors, min(res.max_actors, useful))
        if res.max_actors > res.min_actors and rows >= BIG_JOB_FACTOR * res.min_actors * max(1, res.batch_size):
            big = True
    if not big:
        return []
    return [stage_ask(resources[s]) for s in STAGES for _ in range(counts[s]) if stage_ask(resources[s])]


def min_bundles(resources: dict[str, StageResources]) -> list[dict[str, float]]:
    """One bundle per actor of the minimum pools."""
    return [stage_ask(resources[s]) for s in STAGES for _ in range(resources[s].min_actors) if stage_ask(resources[s])]


def fits_now(resources: dict[str, StageResources], nodes: list[dict[str, float]]) -> bool:
    """Whether every minimum pool's actor fits some node as the cluster is now (first fit,
    largest asks first): when not, an autoscaler has to add nodes before the job can start."""
    free = [dict(n) for n in nodes]
    for ask in sorted(min_bundles(resources), key=lambda a: (-a.get("GPU", 0.0), -a.get("CPU", 0.0))):
        node = next((n for n in free if _fits(ask, n)), None)
        if node is None:
            return False
        for k, v in ask.items():
            node[k] -= v
    return True


def request_nodes(bundles: list[dict[str, float]]) -> None:
    """Ask the autoscaler to fit `bundles` now; [] withdraws the request, so nodes that go
    idle after the job can be released (a request stands until it is replaced)."""
    from ray.autoscaler.sdk import request_resources

    request_resources(bundles=bundles)
