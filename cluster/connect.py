"""Connecting to Ray: a local Ray sized for this machine, or an existing cluster.

Nothing here runs at import time; `connect()` is called by `songfarm render` (and the
benchmark) just before the pipeline runs. An already-connected Ray (a test session, a
notebook) is reused as it is.

    no address, no RAY_ADDRESS   a new local Ray of our own, even where a `ray start` left its
                                 address file (ray.init(address="local"))
    "auto"                       RAY_ADDRESS, else the cluster the last `ray start` here wrote to
                                 <temp dir>/ray/ray_current_cluster; one line when none answers
    "host:6379"                  that cluster's GCS (RAY_ADDRESS likewise)
    "ray://…", "http://…"        refused in one line: Ray Client cannot run Ray Data pipelines
                                 (ray-project/ray#48682), and http:// is the job API, for
                                 `ray job submit`

Ray's log lines: `ray_logs()` sends the driver's Ray and Ray Data Python log lines to a
handler of the caller's (the job's log file) and, unless asked, keeps them off the terminal;
`connect(log_to_driver=False)` leaves the actors' output in the session's worker-*.out/.err
files instead of forwarding it here.

The node IP: Ray 2.60 picks the machine's external address, and turns an explicit
127.0.0.1 into it too; with SONGFARM_RAY_NODE_IP=127.0.0.1 connect() keeps this process and
the Ray it starts on loopback (_keep_loopback), for a local Ray and for joining a head
started on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass

from ..models.errors import SongfarmError


class ClusterError(SongfarmError):
    """Ray cannot be reached (--address / RAY_ADDRESS) or a local Ray cannot start: worth
    retrying later (`songfarm render` exits 3), not a mistake in the job."""


class AddressError(SongfarmError):
    """An address songfarm cannot render through (ray://, http://): fix it (exit 2)."""


LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class ClusterInfo:
    address: str  # the GCS address of the cluster we are connected to
    local: bool  # True when connect() started it in this process
    cpus: float  # CPUs the cluster has in total
    gpus: float  # GPUs the cluster has in total
    object_store_bytes: float  # object store memory of the cluster
    start_s: float  # seconds ray.init took (0 when it was already connected)
    session_dir: str = ""  # this machine's folder of the Ray session (its logs/ hold Ray's own logs)


def starts_local_ray(address: str | None = None) -> bool:
    """Whether `connect(address)` starts Ray on this machine (no address, no RAY_ADDRESS):
    then the cluster sees this machine's files, so checkpoint paths can be checked here."""
    return not (address or os.environ.get("RAY_ADDRESS"))


def local_cpus() -> float:
    """The CPUs a local Ray gets: SONGFARM_RAY_NUM_CPUS, else this machine's cores."""
    return _env_number("SONGFARM_RAY_NUM_CPUS") or os.cpu_count() or 1


def _env_number(name: str) -> float | None:
    text = os.environ.get(name)
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise SongfarmError(f"{name}={text!r}: not a number") from None


def connect(address: str | None = None, num_cpus: int | None = None,
            object_store_mb: int | None = None, node_ip: str | None = None, log_to_driver: bool = True) -> ClusterInfo:
    """Connect this process to Ray.

    `address`: "auto" or "host:6379" for an existing cluster (see the module docstring);
    None → the RAY_ADDRESS environment variable if set, else start a local Ray with `num_cpus`
    (default: SONGFARM_RAY_NUM_CPUS, else every core here), `object_store_mb` (default:
    SONGFARM_RAY_OBJECT_STORE_MB, else Ray's choice), `node_ip` (default:
    SONGFARM_RAY_NODE_IP, e.g. 127.0.0.1 on a machine whose host name does not resolve)
    and no dashboard. `log_to_driver`: print what the actors print here (Ray's default), or
    leave it in the session's worker log files. Returns the cluster's size; ClusterError when
    Ray cannot be had.
    """
    import ray

    t0 = time.perf_counter()
    local, started = False, not ray.is_initialized()
    if started:
        node_ip = node_ip or os.environ.get("SONGFARM_RAY_NODE_IP")
        if not starts_local_ray(address):
            target = _cluster_address(address)
            if node_ip in LOOPBACK:
                _keep_loopback()  # a head started on 127.0.0.1 (see _keep_loopback)
            _check_reachable(target)
            try:
                # "auto" stays "auto": ray.init finds the same cluster (RAY_ADDRESS, else the
                # address file), and only through the file turns token auth on by itself when
                # ~/.ray/auth_token exists; any other address needs RAY_AUTH_MODE=token.
                ray.init(address=address or target, log_to_driver=log_to_driver)
            except Exception as exc:  # ConnectionError, TimeoutError, RuntimeError, ValueError …
                _shutdown_quietly()
                raise ClusterError(f"cannot connect to the Ray cluster at {target!r}: {_one_line(exc)}"
                                   + _token_hint()) from None
        else:
            local = True
            kwargs = {}
            object_store_mb = object_store_mb or _env_number("SONGFARM_RAY_OBJECT_STORE_MB")
            if object_store_mb:
                kwargs["object_store_memory"] = int(object_store_mb) * 1024 * 1024
            if node_ip:
                kwargs["_node_ip_address"] = node_ip
                if node_ip in LOOPBACK:
                    _keep_loopback()
            cpus = num_cpus or local_cpus()
            try:
                # address="local": a new Ray of our own, never one a `ray start` left running here.
                ray.init(address="local", num_cpus=int(cpus), include_dashboard=False, log_to_driver=log_to_driver,
                         **kwargs)
            except Exception as exc:  # a full /tmp, ports in use, a raylet that died at start
                _shutdown_quietly()
                raise ClusterError(f"cannot start a local Ray: {_one_line(exc)}") from None
    start_s = time.perf_counter() - t0 if started else 0.0
    res = ray.cluster_resources()
    ctx = ray.get_runtime_context()
    return ClusterInfo(address=str(getattr(ctx, "gcs_address", "") or ""), local=local,
                       cpus=float(res.get("CPU", 0.0)), gpus=float(res.get("GPU", 0.0)),
                       object_store_bytes=float(res.get("object_store_memory", 0.0)), start_s=start_s,
                       session_dir=_session_dir())


def _session_dir() -> str:
    """The Ray session's folder on this machine ('' when Ray does not say). Ray has no public
    call for it; Ray Data finds its own log folder the same way (ray.data._internal.logging)."""
    import ray

    node = getattr(ray._private.worker, "_global_node", None)
    try:
        return node.get_session_dir_path() if node is not None else ""
    except Exception:  # a Ray that changed its internals: the path is a convenience only
        return ""


# The driver's Python loggers of Ray: "ray" (ray.init and the core: "Started a local Ray
# instance", the token-authentication notice) and "ray.data" (each execution's plan, its
# progress lines on a non-terminal, tips; all of it also in the session's logs/ray-data/).
# Neither propagates; each writes to stderr through its own ray._private.log.PlainRayHandler.
RAY_LOGGERS = ("ray", "ray.data")


@contextlib.contextmanager
def ray_logs(handler: logging.Handler | None = None, terminal: bool = False):
    """Inside: the driver's Ray log lines (RAY_LOGGERS) also go to `handler`, and to the
    terminal only with `terminal`; after: as before. Enter it before connect(): ray.init
    logs while it starts."""
    import ray.data  # noqa: F401  importing it configures the "ray.data" logger, which would undo ours
    from ray._private.log import PlainRayHandler

    saved = {name: list(logging.getLogger(name).handlers) for name in RAY_LOGGERS}
    for name in RAY_LOGGERS:
        logger = logging.getLogger(name)
        if not terminal:
            for h in [h for h in logger.handlers if isinstance(h, PlainRayHandler)]:
                logger.removeHandler(h)
        # A logger left with no handler at all would print its warnings through logging's last resort.
        logger.addHandler(handler or logging.NullHandler())
    try:
        yield
    finally:
        for name, handlers in saved.items():
            logging.getLogger(name).handlers[:] = handlers


def address_file() -> str:
    """Where `ray start` leaves the address of the cluster it started (Ray's own rule:
    $RAY_TMPDIR, else $TMPDIR, else /tmp, then ray/ray_current_cluster)."""
    tmp = os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or "/tmp"
    return os.path.join(tmp, "ray", "ray_current_cluster")


def _cluster_address(address: str | None) -> str:
    """The host:port of the cluster that `address` (or RAY_ADDRESS) names; AddressError for
    forms songfarm cannot render through, ClusterError when "auto" finds no cluster here."""
    given = f"--address {address}" if address else f"RAY_ADDRESS={os.environ['RAY_ADDRESS']}"
    address = address or os.environ["RAY_ADDRESS"]
    if address == "auto":
        env = os.environ.get("RAY_ADDRESS", "")
        if env and env != "auto":
            address, given = env, f"RAY_ADDRESS={env}"
        else:
            address = _last_ray_start()
    if address.startswith("ray://"):
        raise AddressError(f"{given}: Ray Client (ray://) cannot run the farm's Ray Data pipeline; give the "
                           f"cluster's GCS address (host:6379), or submit the render with `ray job submit`")
    if address.startswith(("http://", "https://")):
        raise AddressError(f"{given}: that is the job API (the dashboard), for `ray job submit`; "
                           f"songfarm render joins a cluster at its GCS address (host:6379) or with auto")
    return address


def _last_ray_start() -> str:
    """The address in the file the last `ray start` here left, if a cluster answers there."""
    path = address_file()
    try:
        with open(path) as f:
            address = f.read().strip()
    except OSError:
        raise ClusterError(f"no Ray cluster is running here (no RAY_ADDRESS, and no {path} from a `ray start`): "
                           f"start one with `ray start --head`, or leave out --address for a local Ray") from None
    if not _answers(address):
        raise ClusterError(f"no Ray cluster is running here (the last `ray start` wrote {address} to {path}, and "
                           f"nothing answers there): start one with `ray start --head`, or leave out --address")
    return address


@contextlib.contextmanager
def loopback_only():
    """Inside: Ray keeps 127.0.0.1 node IPs as they are (`_keep_loopback`); after: as before.
    For processes that host in-process loopback clusters for a while (the cluster tests)."""
    import ray._private.ray_constants as ray_constants

    saved = os.environ.get(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR), ray_constants.ENABLE_RAY_CLUSTER
    _keep_loopback()
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved[1]
        if saved[0] is None:
            os.environ.pop(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR, None)
        else:
            os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = saved[0]


def _keep_loopback() -> None:
    """Keep a loopback node IP loopback. Ray 2.60 replaces 127.0.0.1 with the machine's
    external address (services.resolve_ip_for_localhost) unless multi-node clusters are off
    (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, its setting for one-machine Rays on macOS and
    Windows): read at import in this process, from the environment in those Ray starts.
    A head started that way takes no other nodes; a real cluster uses the nodes' own IPs."""
    import ray._private.ray_constants as ray_constants

    os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False


def _token_hint() -> str:
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "token":
        return ""
    return " (a cluster with token authentication needs RAY_AUTH_MODE=token and its token: see README)"


def _answers(address: str, timeout_s: float = 5.0) -> bool:
    try:
        _check_reachable(address, timeout_s)
    except ClusterError:
        return False
    return True


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail in seconds when nothing answers at a host:port address: ray.init itself retries
    an unreachable GCS for minutes."""
    import socket

    host, sep, port = address.rpartition(":")
    host = host.strip("[]")
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
