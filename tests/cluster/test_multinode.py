"""The farm on a multi-node Ray cluster on one machine (ray.cluster_utils.Cluster: each node a
real raylet): placement by resource asks, a GPU node lost mid-job, pools growing onto new nodes,
and the fused pool (test D, on nodes of its own) growing onto one node and outliving another.

The nodes, all on 127.0.0.1:

    head       1 CPU                     the driver and Ray Data's bookkeeping; no stage fits here
    cpu        1 CPU, {"cpu_pool": 1}    the planner pool (its ask names cpu_pool)
    gpu-N      2 CPUs, 3 logical GPUs    generators (1 GPU each) and the verifier (a quarter GPU)

There is no CUDA here, so a "GPU" actor runs its embedded backend on the CPU; what the test
checks is where Ray put it, from the `<stage>_node` columns of the manifest.

GPU nodes are big enough for every GPU actor of a job at once (2 generators + the verifier:
2.25 GPUs): an actor whose node died is restarted by Ray, and its in-flight batches wait for
that restart, so the surviving node must have room for it. Test C's generator asks a whole
CPU instead, so one generator and the verifier fill a node and the pool can only grow onto a
node that joins.

The tests run in order and share the cluster: A on one GPU node; B adds a second and removes
one mid-job; C starts from the one left and adds another mid-job.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import yaml

from songfarm.jobs.jobfile import load_job
from songfarm.models.settings import StageResources
from songfarm.pipelines.delivery.manifest import current_rows, read_manifest
from songfarm.pipelines.delivery.sink import Sink, SinkConfig
from songfarm.pipelines.delivery.storage import open_storage
from songfarm.pipelines.delivery.verify import verify_rows
from songfarm.pipelines.farm.driver import Farm, FarmConfig

from conftest import own_ray_cluster

pytestmark = pytest.mark.slow

IP = "127.0.0.1"
CPU_NODE = {"num_cpus": 1, "resources": {"cpu_pool": 1}}
GPU_NODE = {"num_cpus": 2, "num_gpus": 3}
PROMPTS = ["an upbeat pop song in C major at 120 bpm", "a calm lo-fi beat in A minor at 80 bpm",
           "a folk waltz in G major, 3/4, 96 bpm", "a driving rock song in E minor at 140 bpm"]
# The asks: the planner on CPU nodes only, a generator per GPU, the verifier on a GPU share.
PLANNER = StageResources(min_actors=1, max_actors=1, batch_size=1, num_cpus=0.1, resources={"cpu_pool": 0.1})
VERIFIER = StageResources(min_actors=1, max_actors=1, batch_size=1, num_cpus=0.2, num_gpus=0.25)
WAIT_S = 120  # bound on any wait for the job to reach a point


@pytest.fixture(scope="module")
def cluster():
    """head + CPU node + one GPU node, with this process connected; afterwards the session's
    shared local Ray (tests/conftest.py) is started again if it was running before."""
    import ray
    from ray.cluster_utils import Cluster

    # Ray 2.60 turns a 127.0.0.1 address into the machine's external IP, where this loopback
    # GCS does not listen, unless multi-node mode is off (own_ray_cluster); that setting is
    # only read there (and by the `ray start` CLI), so the in-process nodes still join.
    with own_ray_cluster():
        # Quick health checks, so a removed node is declared dead in seconds, not ~30 s.
        head = {"num_cpus": 1, "node_ip_address": IP, "include_dashboard": False,
                "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 4}}
        c = Cluster(initialize_head=True, head_node_args=head)
        try:
            c.cpu_node = c.add_node(node_ip_address=IP, **CPU_NODE)
            c.gpu_nodes = [c.add_node(node_ip_address=IP, **GPU_NODE)]
            c.wait_for_nodes()
            ray.init(address=c.address, _node_ip_address=IP, configure_logging=False, log_to_driver=False)
            yield c
        finally:
            ray.shutdown()
            c.shutdown()


def gpu_node_ids() -> set[str]:
    import ray

    return {n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("GPU", 0) > 0}


def make_job(tmp_path: Path, name: str, n: int, generator: StageResources, duration_s: float = 3):
    """A job of `n` tiny tracks (embedded backends) with the test's resource asks."""
    tracks = [{"id": f"{name}-{i}", "prompt": PROMPTS[i % len(PROMPTS)], "seed": i} for i in range(n)]
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "output": str(tmp_path / "renders"),
                                    "defaults": {"duration_s": duration_s, "max_attempts": 1}, "tracks": tracks}))
    job = load_job(path)
    # Custom resources are set here, not in the job file (jobs/jobfile.py reads numbers only).
    job.resources = {"planner": PLANNER, "generator": generator, "verifier": VERIFIER}
    return job


class Run:
    """A Farm run in a thread (so the test can change the cluster meanwhile), rows flushed one by one."""

    def __init__(self, job):
        self.job = job
        self.store = open_storage(job.location)
        self.lines: list[str] = []
        self.result = None
        self.error: BaseException | None = None
        sink = Sink(self.store, job.name, job.settings.delivery, SinkConfig(flush_rows=1))
        self.farm = Farm(job, sink, FarmConfig(progress_s=0.5, progress_bars=False), log=self.lines.append)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.result = self.farm.run(self.job.tracks)
        except BaseException as exc:  # handed to the test
            self.error = exc

    def wait_for_rows(self, n: int) -> dict:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and self.thread.is_alive():
            rows = current_rows(self.store)
            if len(rows) >= n:
                return rows
            time.sleep(0.2)
        raise AssertionError(f"fewer than {n} rows; error {self.error!r}; log {self.lines[-10:]}")

    def finish(self):
        self.thread.join(timeout=WAIT_S * 2)
        assert not self.thread.is_alive(), f"the job did not finish; log {self.lines[-10:]}"
        assert self.error is None, f"{self.error!r}; log {self.lines[-10:]}"
        return self.result


def check_delivered_once(run: Run, n: int) -> dict:
    ids = read_manifest(run.store).column("track_id").to_pylist()
    assert sorted(ids) == sorted(f"{run.job.name}-{i}" for i in range(n))  # every track exactly once
    rows = current_rows(run.store)
    assert {r["status"] for r in rows.values()} <= {"accepted", "rejected"}
    report = verify_rows(run.store, rows, rehash=True)
    assert not report.broken_tracks, report.summary()
    return rows


def test_stages_run_where_their_asks_place_them(cluster, tmp_path):
    generator = StageResources(min_actors=1, max_actors=1, batch_size=1, num_cpus=0.5, num_gpus=1)
    run = Run(make_job(tmp_path, "placed", 4, generator))
    result = run.finish()
    rows = check_delivered_once(run, 4)
    gpu_node, cpu_node = cluster.gpu_nodes[0].node_id, cluster.cpu_node.node_id
    for row in rows.values():
        assert row["generator_node"] == gpu_node and row["planner_node"] == cpu_node
        assert row["verifier_node"] in gpu_node_ids()
        assert row["node"]  # the host name, shared by every node here
    assert result.placement["generator"] == {gpu_node: 4} and result.placement["planner"] == {cpu_node: 4}
    assert set(result.placement["verifier"]) <= gpu_node_ids()
    assert result.lost_nodes == {} and result.retried_takes == {}
    assert any(line.startswith("songfarm: placement generator: 1 nodes") for line in run.lines)
    print("placed placement", result.placement)


def test_a_gpu_node_lost_mid_job(cluster, tmp_path):
    cluster.gpu_nodes.append(cluster.add_node(node_ip_address=IP, **GPU_NODE))
    cluster.wait_for_nodes()
    generator = StageResources(min_actors=1, max_actors=2, batch_size=1, num_cpus=0.5, num_gpus=1)
    run = Run(make_job(tmp_path, "lossy", 10, generator, duration_s=4))
    delivered = run.wait_for_rows(2)
    # Remove a GPU node a generator ran on (the last delivered row's), while tracks remain.
    busy = next(r["generator_node"] for r in sorted(delivered.values(), key=lambda r: r["rendered_at"],
                                                     reverse=True))
    lost = next(node for node in cluster.gpu_nodes if node.node_id == busy)
    cluster.remove_node(lost)
    cluster.gpu_nodes.remove(lost)
    result = run.finish()
    assert len(delivered) < 10  # the node went while work was left
    check_delivered_once(run, 10)
    assert set(result.lost_nodes) == {lost.node_id} and result.lost_nodes[lost.node_id] == IP
    assert any(f"node {lost.node_id} ({IP}) lost during the job" in line for line in run.lines)
    assert any(line.startswith("songfarm: retried work: ") for line in run.lines)
    print("lossy placement", result.placement, "lost", result.lost_nodes, "retried", result.retried_takes)


def test_generator_pool_grows_onto_a_joining_gpu_node(cluster, tmp_path):
    assert len(cluster.gpu_nodes) == 1  # what test B left
    first = cluster.gpu_nodes[0].node_id
    # A whole CPU per generator: with the verifier beside it the node is full, so a second
    # generator can only start on a node that joins.
    generator = StageResources(min_actors=1, max_actors=2, batch_size=1, num_cpus=1.0, num_gpus=1)
    # Enough work that the pool is still busy once the node has joined and an actor started
    # there (~10 s here, on 2 busy cores): a 15 s track renders in ~0.5 s, a 30 s one in ~1 s.
    run = Run(make_job(tmp_path, "grows", 40, generator, duration_s=30))
    run.wait_for_rows(1)
    cluster.gpu_nodes.append(cluster.add_node(node_ip_address=IP, **GPU_NODE))
    joined = cluster.gpu_nodes[-1].node_id
    result = run.finish()
    rows = check_delivered_once(run, 40)
    generators = {r["generator_node"] for r in rows.values()}
    assert generators == {first, joined}, result.placement
    assert set(result.placement["generator"]) == {first, joined}
    assert any(f"node {joined} ({IP}) joined" in line for line in run.lines)
    print("grows placement", result.placement)


def test_fused_pool_grows_onto_a_joining_node_and_outlives_a_lost_one(cluster, tmp_path):
    """Test D: every stage on CPU nodes with {"fused": 1}, so they fuse into one pool of plain
    actors (pipelines/farm/fused_pool.py), one actor a node. The pool starts on F1, grows onto
    F2 when it joins, and when F1 is removed mid-job its tracks go on F2: none lost, none twice."""
    fused_node = {"num_cpus": 1, "resources": {"fused": 1}}
    ask = StageResources(min_actors=1, max_actors=2, batch_size=1, num_cpus=1.0, resources={"fused": 1})
    job = make_job(tmp_path, "fused", 40, ask, duration_s=20)
    job.resources = {stage: ask for stage in ("planner", "generator", "verifier")}
    f1 = cluster.add_node(node_ip_address=IP, **fused_node)
    cluster.wait_for_nodes()
    run = Run(job)
    run.wait_for_rows(1)
    f2 = cluster.add_node(node_ip_address=IP, **fused_node)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and not any(
            r["generator_node"] == f2.node_id for r in current_rows(run.store).values()):
        time.sleep(0.2)
    delivered_before_loss = len(current_rows(run.store))
    assert delivered_before_loss < 40, "the job ended before F1 could be removed"
    cluster.remove_node(f1)
    result = run.finish()
    rows = check_delivered_once(run, 40)
    assert {r["generator_node"] for r in rows.values()} == {f1.node_id, f2.node_id}, result.placement
    assert any(line.startswith("songfarm: pools: fused ") for line in run.lines), run.lines[:5]
    assert set(result.lost_nodes) == {f1.node_id}
    assert any(f"node {f1.node_id} ({IP}) lost during the job" in line for line in run.lines)
    print("fused placement", result.placement, "lost", result.lost_nodes, "retried", result.retried_takes)
