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
    """Ray cannot be reached (--address / RAY_ADDRESS) or a local Ray cannot start: worth
    retrying later (`songfarm render` exits 3), not a mistake in the job."""


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


def _env_number(name: str) -> float | None:
    text = os.environ.get(name)
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise SongfarmError(f"{name}={text!r}: not a number") from None


def connect(address: str | None = None, num_cpus: int | None = None,
            object_store_mb: int | None = None, node_ip: str | None = None) -> ClusterInfo:
    """Connect this process to Ray.

    `address`: "auto", "ray://host:10001" or "host:6379" for an existing cluster; None →
    the RAY_ADDRESS environment variable if set, else start a local Ray with `num_cpus`
    (default: SONGFARM_RAY_NUM_CPUS, else every core here), `object_store_mb` (default:
    SONGFARM_RAY_OBJECT_STORE_MB, else Ray's choice), `node_ip` (default:
    SONGFARM_RAY_NODE_IP, e.g. 127.0.0.1 on a machine whose host name does not resolve)
    and no dashboard. Returns the cluster's size; ClusterError when Ray cannot be had.
    """
    import ray

    t0 = time.perf_counter()
    local, started = False, not ray.is_initialized()
    if started:
        if not starts_local_ray(address):
            address = address or os.environ["RAY_ADDRESS"]
            _check_reachable(address)
            try:
                ray.init(address=address)
            except Exception as exc:  # ConnectionError, TimeoutError, RuntimeError, ValueError …
                _shutdown_quietly()
                raise ClusterError(f"cannot connect to the Ray cluster at {address!r}: {_one_line(exc)}") from None
        else:
            local = True
            kwargs = {}
            object_store_mb = object_store_mb or _env_number("SONGFARM_RAY_OBJECT_STORE_MB")
            if object_store_mb:
                kwargs["object_store_memory"] = int(object_store_mb) * 1024 * 1024
            node_ip = node_ip or os.environ.get("SONGFARM_RAY_NODE_IP")
            if node_ip:
                kwargs["_node_ip_address"] = node_ip
            cpus = num_cpus or _env_number("SONGFARM_RAY_NUM_CPUS") or os.cpu_count() or 1
            try:
                # address="local": a new Ray of our own, never one a `ray start` left running here.
                ray.init(address="local", num_cpus=int(cpus), include_dashboard=False, **kwargs)
            except Exception as exc:  # a full /tmp, ports in use, a raylet that died at start
                _shutdown_quietly()
                raise ClusterError(f"cannot start a local Ray: {_one_line(exc)}") from None
    start_s = time.perf_counter() - t0 if started else 0.0
    res = ray.cluster_resources()
    ctx = ray.get_runtime_context()
    return ClusterInfo(address=str(getattr(ctx, "gcs_address", "") or ""), local=local,
                       cpus=float(res.get("CPU", 0.0)), gpus=float(res.get("GPU", 0.0)),
                       object_store_bytes=float(res.get("object_store_memory", 0.0)), start_s=start_s)


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail in seconds when nothing answers at a host:port address: ray.init itself retries
    an unreachable GCS for minutes. ("auto" and other forms are left to ray.init.)"""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ClusterError(f"cannot connect to the Ray cluster at {address!r}: nothing answers at {host}:{port} "
                           f"({exc.strerror or exc})") from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def _shutdown_quietly() -> None:
    import ray

    try:
        ray.shutdown()
    except Exception:
        pass  # nothing more to clean up than what failed to start


def disconnect(info: ClusterInfo) -> None:
    """Shut down a Ray this process started; leave a shared or remote one alone."""
    import ray

    if info.local and ray.is_initialized():
        ray.shutdown()
