"""The stage shell: one stage backend as the farm's actors and the endpoint's replicas host it.

A Ray Data actor (pipelines/farm/round.py) and a Ray Serve replica (pipelines/online/stages.py)
both hold a `StageShell`, so a take carries the same provenance columns whichever path
rendered it:

    <stage>_version  str    the backend's version
    <stage>_host     str    host name of the node that ran it
    <stage>_node     str    Ray node id of the node that ran it ('' outside Ray): the nodes of
                            one machine (a test cluster, several raylets) share a host name
    <stage>_cpu_s    float  CPU seconds of this process per output row
    <stage>_actor    str    Ray actor id of the process ('' outside Ray): how many actors a pool ran
    <stage>_gpus     float  GPUs Ray assigned to this process (0 outside Ray or without a GPU ask):
                            wall seconds × this is the GPU time a take held (lifecycle.py)

Plain Python: usable in a loop without Ray (pipelines/core/local.py).
"""

from __future__ import annotations

import socket
import time
from typing import Any

import numpy as np

from ...models.factory import make
from ...models.settings import RenderSettings

Batch = dict[str, np.ndarray]


class StageShell:
    """Builds one stage's backend once, runs batches through it and tags the provenance columns."""

    def __init__(self, stage: str, name: str, options: dict[str, Any]):
        self.stage = stage
        self.backend = make(stage, name, options)
        self.host = socket.gethostname()
        self.node = ray_node_id()
        self.gpus = ray_assigned_gpus()
        self.actor = ray_actor_id()

    @classmethod
    def for_settings(cls, stage: str, settings: RenderSettings) -> "StageShell":
        """The stage as `settings` build it (backend options decided by settings.stage_options)."""
        return cls(stage, settings.backends[stage].name, settings.stage_options(stage))

    @property
    def version(self) -> str:
        return str(self.backend.version)

    def __call__(self, batch: Batch, **kwargs: Any) -> Batch:
        cpu0 = time.process_time()
        out = dict(self.backend(batch, **kwargs))
        n = len(next(iter(out.values()))) if out else 0
        out[f"{self.stage}_version"] = np.array([self.version] * n, dtype=object)
        out[f"{self.stage}_host"] = np.array([self.host] * n, dtype=object)
        out[f"{self.stage}_node"] = np.array([self.node] * n, dtype=object)
        out[f"{self.stage}_actor"] = np.array([self.actor] * n, dtype=object)
        out[f"{self.stage}_gpus"] = np.full(n, self.gpus, dtype=np.float64)
        out[f"{self.stage}_cpu_s"] = np.full(n, (time.process_time() - cpu0) / max(1, n), dtype=np.float64)
        return out


def _ray_context():
    """Ray's runtime context for this process, or None when Ray is not installed or not
    initialised here (the shell runs in a plain loop too: pipelines/core/local.py)."""
    try:
        import ray
    except ImportError:
        return None
    return ray.get_runtime_context() if ray.is_initialized() else None


def ray_node_id() -> str:
    """The Ray node id of this process, or '' outside Ray."""
    ctx = _ray_context()
    return (ctx.get_node_id() or "") if ctx else ""


def ray_actor_id() -> str:
    """The Ray actor id of this process, or '' outside an actor."""
    ctx = _ray_context()
    return (ctx.get_actor_id() or "") if ctx else ""


def ray_assigned_gpus() -> float:
    """GPUs Ray assigned to this process (a fraction for a shared GPU); 0 outside Ray."""
    ctx = _ray_context()
    if ctx is None:
        return 0.0
    try:
        return float(ctx.get_assigned_resources().get("GPU", 0.0))
    except AssertionError:  # Ray answers only in a worker; the driver process holds no GPU ask
        return 0.0


def stage_shells(settings: RenderSettings) -> dict[str, StageShell]:
    """planner, generator and verifier for an in-process render."""
    return {stage: StageShell.for_settings(stage, settings) for stage in ("planner", "generator", "verifier")}
