"""Connecting to Ray: a local Ray sized for this machine, or an existing cluster.

Nothing here runs at import time; `connect()` is called by `songfarm render` (and the
benchmark) just before the pipeline runs. An already-connected Ray (a test session, a
notebook) is reused as it is.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from ..models.errors import SongfarmError


class ClusterError(SongfarmError):
    """The Ray cluster named by --address / RAY_ADDRESS cannot be reached."""


@dataclass
class ClusterInfo:
    address: str  # the GCS address of the cluster we are connected to
    local: bool  # True when connect() started it in this process
    cpus: float  # CPUs the cluster has in total
    gpus: float  # GPUs the cluster has in total
    object_store_bytes: float  # object store memory of the cluster
    start_s: float  # seconds ray.init took (0 when it was already connected)


def starts_local_ray(address: str | None = None) -> bool:
    """Whether `connect(address)` starts Ray on this machine (no address, no RAY_ADDRESS):
    then the cluster sees this machine's files, so checkpoint paths can be checked here."""
    return not (address or os.environ.get("RAY_ADDRESS"))


def connect(address: str | None = None, num_cpus: int | None = None,
            object_store_mb: int | None = None) -> ClusterInfo:
    """Connect this process to Ray.

    `address`: "auto", "ray://host:10001" or "host:6379" for an existing cluster; None →
    the RAY_ADDRESS environment variable if set, else start a local Ray with `num_cpus`
    (default: every core here) and no dashboard. Returns the cluster's size.
    """
    import ray

    t0 = time.perf_counter()
    local, started = False, not ray.is_initialized()
    if started:
        if not starts_local_ray(address):
            address = address or os.environ["RAY_ADDRESS"]
            try:
                ray.init(address=address)
            except (ConnectionError, TimeoutError, ValueError) as exc:
                raise ClusterError(f"cannot connect to the Ray cluster at {address!r}: {exc}") from None
        else:
            local = True
            kwargs = {}
            if object_store_mb:
                kwargs["object_store_memory"] = int(object_store_mb) * 1024 * 1024
            ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, **kwargs)
    start_s = time.perf_counter() - t0 if started else 0.0
    res = ray.cluster_resources()
    ctx = ray.get_runtime_context()
    return ClusterInfo(address=str(getattr(ctx, "gcs_address", "") or ""), local=local,
                       cpus=float(res.get("CPU", 0.0)), gpus=float(res.get("GPU", 0.0)),
                       object_store_bytes=float(res.get("object_store_memory", 0.0)), start_s=start_s)


def disconnect(info: ClusterInfo) -> None:
    """Shut down a Ray this process started; leave a shared or remote one alone."""
    import ray

    if info.local and ray.is_initialized():
        ray.shutdown()
