"""A job on a cluster that must grow: Ray's autoscaler with its fake multi-node provider.

- A head with 1 CPU and a GPU worker type (min 0, max 2): a job whose generator asks for a
  GPU makes the autoscaler launch a GPU worker, the job completes, and once the idle timeout
  has passed the worker is released. Both moments are printed (run with -s to see them).
- The same job on a plain head-only cluster (no autoscaler) stops at start with exit 2 and
  one line naming what each stage asks and what the cluster offers, in seconds.
- The bundles asked of the autoscaler, from a job's size and its pools (no Ray).

Why not ray.cluster_utils.AutoscalingCluster itself: its start() and shutdown() run
`ray stop --force`, which kills every Ray process of this user on the machine (other test
sessions' too), and Ray 2.60's wheel lacks the fake provider's example.yaml it reads (the
constructor raises FileNotFoundError). So this builds the same thing with owned processes:
a head node of ray.cluster_utils.Cluster (whose shutdown kills only its own processes)
running the autoscaler monitor on a config like AutoscalingCluster's, all on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from songfarm.cluster.capacity import (CapacityError, check_capacity, fits_now, min_bundles, scale_request,
                                       stage_ask)
from songfarm.models.settings import StageResources

from conftest import free_port, own_ray_cluster

# Ray's fake multi-node provider, named as an "external" one: as "fake_multinode" the
# autoscaler would read its defaults from the example.yaml this wheel lacks.
FAKE_PROVIDER = "ray.autoscaler._private.fake_multi_node.node_provider.FakeMultiNodeProvider"
IDLE_TIMEOUT_MIN = 0.1  # 6 s, as Ray's own fake multi-node example uses
GPU_WORKER = {"resources": {"CPU": 1, "GPU": 1, "object_store_memory": 100 * 1024 * 1024}, "node_config": {},
              "min_workers": 0, "max_workers": 2}
# The generator wants a GPU (only the GPU worker has one); planner and verifier fit the 1-CPU head.
RESOURCES = {"planner": {"min_actors": 1, "max_actors": 1, "batch_size": 1, "num_cpus": 0.1},
             "generator": {"min_actors": 1, "max_actors": 1, "batch_size": 1, "num_cpus": 0.5, "num_gpus": 1},
             "verifier": {"min_actors": 1, "max_actors": 1, "batch_size": 1, "num_cpus": 0.5}}


def autoscaler_config(gcs_address: str) -> dict:
    """What AutoscalingCluster generates from Ray's fake_multi_node/example.yaml, written out."""
    return {
        "cluster_name": "songfarm-fake", "max_workers": 2, "upscaling_speed": 1.0,
        "idle_timeout_minutes": IDLE_TIMEOUT_MIN,
        "provider": {"type": "external", "module": FAKE_PROVIDER,
                     "use_node_id_as_ip": True, "disable_node_updaters": True, "disable_launch_config_check": True,
                     "gcs_address": gcs_address},
        "available_node_types": {"ray.head.default": {"resources": {"CPU": 1}, "node_config": {}, "max_workers": 0},
                                 "gpu_worker": GPU_WORKER},
        "head_node_type": "ray.head.default", "auth": {}, "docker": {}, "file_mounts": {},
        "cluster_synced_files": [], "file_mounts_sync_continuously": False, "rsync_exclude": [],
        "rsync_filter": [], "initialization_commands": [], "setup_commands": [], "head_setup_commands": [],
        "worker_setup_commands": [], "head_start_ray_commands": [], "worker_start_ray_commands": [],
    }


def start_head(num_cpus: int, autoscaling_config: str | None = None, port: int | None = None):
    """A head node on 127.0.0.1 whose processes are children of this one (cluster.shutdown()
    ends exactly those). The monitor inherits the environment set around its start."""
    from ray.cluster_utils import Cluster

    args = {"num_cpus": num_cpus, "node_ip_address": "127.0.0.1", "include_dashboard": False,
            "object_store_memory": 150 * 1024 * 1024}
    env = {}
    if autoscaling_config:
        args.update(autoscaling_config=autoscaling_config, gcs_server_port=port)
        # As AutoscalingCluster.start: the fake provider refuses to run without RAY_FAKE_CLUSTER,
        # and a 1 s autoscaler loop.
        env = {"RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return Cluster(initialize_head=True, head_node_args=args)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def session_processes(session_dir: str) -> list[int]:
    """Pids of processes belonging to one Ray session (their command line names its folder):
    the fake worker nodes the monitor started, which outlive it if it is killed first."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if session_dir in cmdline:
            pids.append(int(proc.name))
    return pids


def shutdown(cluster) -> None:
    """Disconnect, then end the head's processes and any worker node left of its session."""
    import ray

    session_dir = cluster.head_node.get_session_dir_path() if cluster.head_node else ""
    ray.shutdown()
    cluster.shutdown()
    for pid in session_processes(session_dir) if session_dir else []:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass  # already gone


@pytest.fixture(scope="module")
def no_shared_ray():
    """These tests connect to clusters of their own, all on 127.0.0.1: leave the session's
    shared Ray (if an earlier test started one) and, after, start it again as
    tests/conftest.py does.

    Ray 2.60 turns a 127.0.0.1 address into the machine's external IP
    (resolve_ip_for_localhost), where a loopback GCS does not listen, so ray.init would wait
    for minutes, unless multi-node mode is off (as tests/cluster/test_multinode.py does). The
    environment variable also reaches the autoscaler monitor, so the fake provider's worker
    nodes, which take Ray's guess at this machine's address, start on 127.0.0.1 too."""
    with own_ray_cluster():
        yield


def write_job(tmp_path: Path, name: str, n: int = 3) -> Path:
    prompts = ["an upbeat pop song in C major at 120 bpm", "a calm lo-fi beat in A minor at 80 bpm",
               "a folk waltz in G major, 3/4, 96 bpm"]
    job = {"name": name, "output": str(tmp_path / "renders"), "defaults": {"duration_s": 3, "max_attempts": 1},
           "resources": RESOURCES,
           "tracks": [{"id": f"{name}-{i}", "prompt": prompts[i % 3], "seed": i} for i in range(n)]}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def wait_for(predicate, timeout_s: float, every_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every_s)
    return None


def gpu_nodes() -> list[dict]:
    import ray

    return [n for n in ray.nodes() if n["Alive"] and n["Resources"].get("GPU", 0) > 0]


@pytest.mark.slow
def test_autoscaler_launches_gpu_workers_and_releases_them(no_shared_ray, tmp_path, capsys):
    import threading

    import ray
    from ray._private import ray_constants
    from ray.experimental.internal_kv import _internal_kv_get

    from songfarm.cluster.capacity import autoscaler_node_types
    from songfarm.jobs.cli import main
    from songfarm.pipelines.delivery.manifest import current_rows
    from songfarm.pipelines.delivery.storage import open_storage

    port = free_port()
    fd, config_path = tempfile.mkstemp(prefix="songfarm-autoscaler-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(autoscaler_config(f"127.0.0.1:{port}"), f)
    cluster = start_head(1, config_path, port)
    try:
        ray.init(address=cluster.address, configure_logging=False, log_to_driver=False)
        # The monitor publishes its status once it has seen the nodes' load (a few seconds).
        assert wait_for(lambda: _internal_kv_get(ray_constants.DEBUG_AUTOSCALING_STATUS), 60), \
            "the autoscaler monitor never reported (see the session's logs/monitor.*)"
        assert wait_for(lambda: autoscaler_node_types() == [], 30), "the autoscaler was not detected"
        assert gpu_nodes() == []  # head only

        launched: list[float] = []
        t0 = time.monotonic()

        def watch():  # the first moment a GPU node is alive
            if wait_for(gpu_nodes, 240, 0.25):
                launched.append(time.monotonic() - t0)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        code = main(["render", str(write_job(tmp_path, "grow")), "--address", cluster.address])
        done_s = time.monotonic() - t0
        out, err = capsys.readouterr()
        assert code == 0, err[-3000:]
        watcher.join(timeout=5)
        assert launched, "no GPU node appeared"
        # The head cannot hold the GPU generator, so the minimum pools were asked for ahead.
        assert "asked the autoscaler for 3 actors' resources for 3 tracks:" in err
        assert "{CPU: 0.5, GPU: 1} ×1" in err
        rows = current_rows(open_storage(str(tmp_path / "renders" / "grow")))
        assert sorted(rows) == ["grow-0", "grow-1", "grow-2"]
        assert {r["status"] for r in rows.values()} <= {"accepted", "rejected"}

        # The request was withdrawn after the job: the idle GPU worker goes after the timeout.
        assert wait_for(lambda: not gpu_nodes(), 90, 0.5), "the GPU worker was not released within 90 s"
        released_s = time.monotonic() - t0
        with capsys.disabled():
            print(f"\nautoscaler: GPU worker up {launched[0]:.1f} s after the job started; job done at "
                  f"{done_s:.1f} s; worker released at {released_s:.1f} s "
                  f"(idle timeout {IDLE_TIMEOUT_MIN * 60:.0f} s)")
    finally:
        shutdown(cluster)
        os.unlink(config_path)


@pytest.mark.slow
def test_cluster_that_cannot_fit_the_job_fails_at_start(no_shared_ray, tmp_path, capsys):
    import ray
    from ray._private import ray_constants
    from ray.experimental.internal_kv import _internal_kv_get

    from songfarm.cluster.capacity import autoscaler_node_types
    from songfarm.jobs.cli import main

    cluster = start_head(2)
    try:
        ray.init(address=cluster.address, configure_logging=False, log_to_driver=False)
        # A hand-started head runs the same monitor with a read-only provider: no autoscaler.
        wait_for(lambda: _internal_kv_get(ray_constants.DEBUG_AUTOSCALING_STATUS), 20)
        assert autoscaler_node_types() is None
        ray.shutdown()  # `songfarm render --address` connects as a user's driver would
        t0 = time.monotonic()
        code = main(["render", str(write_job(tmp_path, "nofit")), "--address", cluster.address])
        elapsed = time.monotonic() - t0
        _, err = capsys.readouterr()
        assert code == 2 and elapsed < 60, err[-3000:]
        line = err.strip().splitlines()[-1]
        assert line.startswith("songfarm: error: resources: ")
        assert "generator asks {GPU: 1, CPU: 0.5} per actor × 1" in line
        assert "planner asks {CPU: 0.1}" in line and "verifier asks {CPU: 0.5}" in line
        assert "the cluster offers nodes {CPU: 2} ×1 (no GPU)" in line
        assert "lower resources.generator.num_gpus to 0" in line and "start an autoscaler" in line
        assert not (tmp_path / "renders" / "nofit" / "audio").exists()  # nothing rendered
    finally:
        shutdown(cluster)


def pools(**changes) -> dict[str, StageResources]:
    out = {s: StageResources(**r) for s, r in RESOURCES.items()}
    for stage, fields in changes.items():
        for k, v in fields.items():
            setattr(out[stage], k, v)
    return out


def test_bundles_asked_of_the_autoscaler_follow_the_job_size():
    grow = pools(generator={"max_actors": 4}, verifier={"max_actors": 2})
    # A job no bigger than twice what the minimum pools take at once asks for nothing ahead.
    assert scale_request(grow, 1) == []
    # 3 tracks: 3 generators (not the 4 allowed: no more than the job's tracks), 2 verifiers.
    bundles = scale_request(grow, 3)
    assert bundles.count({"CPU": 0.5, "GPU": 1.0}) == 3 and bundles.count({"CPU": 0.5}) == 2
    assert bundles.count({"CPU": 0.1}) == 1 and len(bundles) == 6
    # A big job: every pool at its max_actors.
    assert scale_request(grow, 100).count({"CPU": 0.5, "GPU": 1.0}) == 4
    # Batches count: 2 rows per call → 10 tracks keep 5 generator actors busy, capped at 4.
    batched = pools(generator={"max_actors": 8, "batch_size": 2})
    assert scale_request(batched, 10).count({"CPU": 0.5, "GPU": 1.0}) == 5
    # Pools that cannot grow (min == max) never make a job "big".
    assert scale_request(pools(), 1000) == []
    assert min_bundles(pools()) == [{"CPU": 0.1}, {"CPU": 0.5, "GPU": 1.0}, {"CPU": 0.5}]


def test_capacity_check_without_ray():
    gpu_job = pools()
    head = [{"CPU": 2.0}]
    with pytest.raises(CapacityError) as err:
        check_capacity(gpu_job, head, None)
    assert "generator asks {GPU: 1, CPU: 0.5} per actor × 1" in str(err.value) and "\n" not in str(err.value)
    check_capacity(gpu_job, head, [])  # an autoscaler of unknown shape is trusted
    check_capacity(gpu_job, head, [{"name": "gpu_worker", "resources": {"CPU": 1.0, "GPU": 1.0}, "max_workers": 2}])
    with pytest.raises(CapacityError, match="its autoscaler adds cpu_worker {CPU: 4}"):
        check_capacity(gpu_job, head, [{"name": "cpu_worker", "resources": {"CPU": 4.0}, "max_workers": 2}])
    # Per node: 1.5 CPUs per actor fits no 1-CPU node, though the cluster has 2 CPUs.
    wide = pools(generator={"num_gpus": 0, "num_cpus": 1.5})
    with pytest.raises(CapacityError, match="lower resources.generator.num_cpus"):
        check_capacity(wide, [{"CPU": 1.0}, {"CPU": 1.0}], None)
    # Each actor fits a node, but the minimum pools together need more CPUs than there are.
    many = pools(generator={"num_gpus": 0, "min_actors": 4, "max_actors": 4})
    with pytest.raises(CapacityError, match="× 4.*lower the min_actors or num_cpus of the pools"):
        check_capacity(many, [{"CPU": 1.0}], None)
    check_capacity(pools(generator={"num_gpus": 0}), [{"CPU": 2.0}], None)
    # Custom resources (StageResources.resources, where the settings have it) count as asks.
    custom = pools(generator={"num_gpus": 0})
    custom["generator"].resources = {"tpu_slice": 1}
    assert stage_ask(custom["generator"]) == {"CPU": 0.5, "tpu_slice": 1.0}
    with pytest.raises(CapacityError, match="drop resources.generator tpu_slice"):
        check_capacity(custom, [{"CPU": 2.0}], None)
    assert fits_now(pools(generator={"num_gpus": 0}), [{"CPU": 1.0}, {"CPU": 0.5}])
    assert not fits_now(gpu_job, [{"CPU": 2.0}])

