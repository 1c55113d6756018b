"""`songfarm estimate`: costs from earlier runs' manifest rows (written here with make_row), a
calibration render at toy size, the model's arithmetic, the CLI's output with and without
prices, and bad input. No Ray: without --address the estimate sizes against this machine."""

import dataclasses
import json

import pytest
import yaml

from songfarm.jobs.cli import main
from songfarm.jobs.estimate import (Cluster, Costs, Estimate, StageCost, calibrate, calibration_lengths,
                                    estimate_for_render, measure_from_history, predict)
from songfarm.jobs.jobfile import load_job
from songfarm.models.factory import backend_version
from songfarm.models.prices import Prices, priced_hours
from songfarm.models.settings import STAGES
from songfarm.pipelines.delivery import manifest
from songfarm.pipelines.delivery.runs import write_run
from songfarm.pipelines.delivery.storage import open_storage

PRICES = {"currency": "EUR", "per_hour": {"CPU": 0.5}}


def job_file(tmp_path, tracks=4, duration=10, prices=None, name="j", **defaults):
    data = {"name": name, "output": str(tmp_path / "out"),
            "defaults": {"duration_s": duration, "candidates": 2, "max_attempts": 2, **defaults},
            "resources": {s: {"min_actors": 1, "max_actors": 1, "num_cpus": 0.5} for s in STAGES},
            "tracks": [{"id": f"t{i}", "prompt": "a calm piano piece"} for i in range(tracks)]}
    if prices:
        data["prices"] = prices
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def versions(**override):
    """The backend columns of a row rendered with the default backends."""
    out = {}
    for stage, name in (("planner", "rules"), ("generator", "synth"), ("verifier", "features")):
        out[stage] = name
        out[f"{stage}_version"] = override.get(stage, backend_version(stage, name))
    return out


def history_row(tid, duration, attempts=1, candidates=2, old=False, **over):
    """A delivered track whose takes cost: planner 0.01 s per round; generator 0.5 s + 0.1 s
    per s of audio per take; verifier 0.2 s + 0.05 s per s; CPU half of that."""
    takes = [{"attempt": a, "candidate": c} for a in range(attempts) for c in range(candidates)]
    gen, ver = 0.5 + 0.1 * duration, 0.2 + 0.05 * duration
    cols = {"generate_s": gen, "verify_s": ver, "plan_s": 0.01}
    if not old:  # rows older than the usage columns have only the delivered take's seconds
        cols.update(planner_wall_s=0.01 * attempts, generator_wall_s=gen * len(takes), verifier_wall_s=ver * len(takes),
                    planner_cpu_s=0.005 * attempts, generator_cpu_s=gen / 2 * len(takes),
                    verifier_cpu_s=ver / 2 * len(takes))
    return manifest.make_row(track_id=tid, job="old", status="accepted", attempts=attempts, duration_s=float(duration),
                             takes_json=json.dumps(takes), **{**cols, **versions(), **over})


def write_history(folder, rows, runs=()):
    storage = open_storage(str(folder))
    storage.write_bytes(manifest.part_name(), manifest.to_parquet(rows))
    for i, run in enumerate(runs):
        write_run(storage, f"runs/run-{i}.json", run)


def run_record(first_take_s, wall_s, state="finished"):
    """A run record (pipelines/delivery/runs.py) of a one-round run: generator 10 s, verifier 4 s."""
    return {"state": state, "ray_start_s": 5.0, "first_take_s": first_take_s, "wall_s": wall_s, "rounds": 1,
            "to_render": 3,
            "stage_s": {"plan": 0.1, "generate": 10.0, "verify": 4.0, "sink": 0.5},
            "stage_cpu_s": {"planner": 0.0, "generator": 5.0, "verifier": 2.0},
            "pools": {s: {"actors": 1} for s in STAGES}, "nodes": {"n1": {"ip": "", "resources": {"CPU": 2.0}}}}


def test_history_fits_costs_from_every_job_folder_with_the_same_backends(tmp_path):
    job = load_job(job_file(tmp_path))
    out = tmp_path / "out"
    write_history(out / "j", [history_row("a", 10, attempts=2), history_row("b", 30)],
                  runs=[run_record(9.0, 30.0), run_record(25.0, 20.0), run_record(1.0, 2.0, state="interrupted")])
    # Another job under the same output root: its rows count; those of another generator version do not.
    write_history(out / "other", [history_row("c", 20, old=True),
                                  history_row("d", 5, generator_version="0-other", generator_wall_s=999.0)])
    costs = measure_from_history(job)
    assert costs.source == "history" and "3 tracks" in costs.detail and "j, other" in costs.detail
    gen = costs.wall["generator"]
    assert gen.fixed_s == pytest.approx(0.5) and gen.per_audio_s == pytest.approx(0.1)
    assert costs.wall["verifier"].seconds(40) == pytest.approx(0.2 + 0.05 * 40)
    assert costs.wall["planner"].seconds(10) == pytest.approx(0.01)
    assert costs.cpu["generator"].seconds(10) == pytest.approx(0.75)  # the old row has no CPU column: not used
    assert costs.reach == pytest.approx([1.0, 1 / 3]) and costs.attempts == pytest.approx(4 / 3)
    assert costs.ray_start_s == 5.0
    # The first take came after the actor start-up and one typical (20 s, 2-take) track's way
    # through: 9 s - 7.41 s; in the second run what the model leaves of its wall time is less:
    # 20 s - 10 s (the generator's work) - 2.41 s (the tail: the planner and the verifier).
    # The rest of the first run (30 - 10 - 2.41 - 1.59 s) is 160 % overhead on 10 s of
    # streaming, the second run has none. The interrupted run is not used.
    way, tail = 0.01 + 2 * 2.5 + 2 * 1.2, 0.01 + 2 * 1.2
    assert costs.actor_start_s == pytest.approx(((9.0 - way) + (20.0 - 10.0 - tail)) / 2)
    assert costs.overhead == pytest.approx((30.0 - 10.0 - tail - (9.0 - way)) / 10.0 / 2)


def test_no_history_and_odd_history(tmp_path):
    job = load_job(job_file(tmp_path))
    assert measure_from_history(job) is None  # no output folder yet
    write_history(tmp_path / "out" / "x", [history_row("a", 10, generator="diffusion")])
    (tmp_path / "out" / "j" / "manifest").mkdir(parents=True)
    (tmp_path / "out" / "j" / "manifest" / "part-bad.parquet").write_bytes(b"not parquet")
    assert measure_from_history(job) is None
    assert estimate_for_render(job, job.tracks, 2, 0) is None


TOY_COSTS = Costs(wall={"planner": StageCost(0.0, 0.01), "generator": StageCost(1.0, 0.1),
                        "verifier": StageCost(0.0, 0.05)},
                  cpu={s: StageCost() for s in STAGES}, reach=[1.0, 0.5, 0.01], source="history", detail="toy",
                  ray_start_s=5.0, actor_start_s=2.0, overhead=0.0)


def test_the_model_streams_through_the_slowest_stage():
    """Separate pools (the generator asks for nodes of its own kind: a custom resource)."""
    job = load_job_dict({"duration_s": 10, "candidates": 1, "max_attempts": 3})
    job.resources["generator"].resources = {"gen": 1.0}
    costs = TOY_COSTS
    cluster = Cluster("toy", cpus=8, gpus=0, nodes=[{"CPU": 8.0, "gen": 2.0}], local=True)
    est = predict(job, job.tracks, costs, cluster)
    # 10 tracks: generator 2 s a take, 2 actors (max_actors 2) → 10 s a round; verifier 0.5 s, planner 0.1 s.
    assert est.actors == {"planner": 1, "generator": 2, "verifier": 1} and est.bottleneck == "generator"
    assert est.rounds == 2  # a third round would hold 0.1 tracks
    tail = 0.1 + 0.5  # batches of 1: one track's way through the planner and the verifier
    assert est.wall_s == pytest.approx(5.0 + 2 * 2.0 + (10.0 + tail) + (5.0 + tail), abs=0.1)
    assert est.stage_s["generator"] == pytest.approx(1.5 * 20.0)
    slower = predict(job, job.tracks, dataclasses.replace(costs, overhead=0.5), cluster)
    assert slower.wall_s == pytest.approx(5.0 + 2 * 2.0 + 1.5 * 15.0 + 2 * tail, abs=0.1)
    job.resources["planner"].batch_size = 4  # the planner hands on 4 tracks at a time
    assert predict(job, job.tracks, costs, cluster).wall_s == pytest.approx(est.wall_s + 2 * 3 * tail, abs=0.1)
    assert est.cost is None and est.currency is None
    assert Estimate.from_dict(json.loads(json.dumps(est.to_dict()))) == est


def test_fused_stages_stream_every_stage_through_one_pool():
    """Pools that ask for the same kind of node fuse (pipelines/farm/round.fused_pool): the three
    1-CPU minimum pools become 3 actors that each run a track's every round."""
    job = load_job_dict({"duration_s": 10, "candidates": 1, "max_attempts": 3})
    cluster = Cluster("toy", cpus=8, gpus=0, nodes=[{"CPU": 8.0}], local=True)
    est = predict(job, job.tracks, TOY_COSTS, cluster)
    assert est.actors == {"planner": 3, "generator": 3, "verifier": 3} and est.rounds == 2
    one_round = 10 * (0.1 + 2.0 + 0.5) / 3  # every stage's work over the pool, no stage's tail
    assert est.wall_s == pytest.approx(5.0 + 2.0 + one_round * 1.5, abs=0.1)  # the actors start once


def load_job_dict(defaults):
    from songfarm.models.job import Job
    from songfarm.models.request import TrackRequest
    from songfarm.models.settings import RenderSettings, StageResources

    tracks = [TrackRequest(id=f"t{i}", prompt="p", duration_s=defaults["duration_s"],
                           candidates=defaults["candidates"]) for i in range(10)]
    res = {s: StageResources(min_actors=1, max_actors=2 if s == "generator" else 1, num_cpus=1.0) for s in STAGES}
    return Job(name="toy", output="/nowhere", tracks=tracks, resources=res,
               settings=RenderSettings(max_attempts=defaults["max_attempts"]))


def test_cpu_bound_and_prices():
    job = load_job_dict({"duration_s": 10, "candidates": 1, "max_attempts": 1})
    job.prices = Prices(per_hour={"CPU": 3600.0})  # 1 per CPU-second: easy to check
    costs = Costs(wall={s: StageCost(1.0, 0.0) for s in STAGES}, cpu={s: StageCost(1.0, 0.0) for s in STAGES},
                  reach=[1.0], source="calibration", detail="toy", ray_start_s=0.0, actor_start_s=0.0, overhead=0.0)
    one_cpu = Cluster("toy", cpus=1, gpus=0, nodes=[{"CPU": 1.0}], local=True)
    est = predict(job, job.tracks, costs, one_cpu)
    # 30 CPU seconds of work on 1 CPU is longer than the stream (30 s over the fused pool's
    # 3 actors: 10 s), and a fused pool has no stage's tail: 30 s.
    assert est.wall_s == pytest.approx(30.0) and est.actors["generator"] == 3
    assert est.cost == pytest.approx(3 * 30.0) and est.currency == "USD"  # 3 actors × 1 CPU held
    assert est.resource_hours == {"CPU": pytest.approx(3 * 30.0 / 3600, abs=1e-4)}
    job.resources["generator"].resources = {"gen": 1.0}  # separate pools: the tail of 2 s comes back
    est = predict(job, job.tracks, costs, Cluster("toy", cpus=1, gpus=0, nodes=[{"CPU": 1.0, "gen": 1.0}], local=True))
    assert est.wall_s == pytest.approx(32.0) and est.actors["generator"] == 1  # no room for a second one
    assert est.cost == pytest.approx(3 * 32.0)


def test_priced_node_types_bill_whole_nodes():
    prices = Prices(per_hour={"CPU": 1.0}, node_types={"gpu_worker": 10.0})
    pools = {"planner": {"actors": 1, "num_cpus": 1.0}, "generator": {"actors": 2, "num_cpus": 1.0, "num_gpus": 1.0,
                                                                      "resources": {"gpu_worker": 0.5}}}
    nodes = [{"CPU": 4.0}, {"CPU": 8.0, "GPU": 1.0, "gpu_worker": 1.0}, {"CPU": 8.0, "GPU": 1.0, "gpu_worker": 1.0}]
    hours, node_hours = priced_hours(prices, pools, nodes, 3600.0)
    assert hours == {"CPU": 1.0} and node_hours == {"gpu_worker": 2.0}
    assert prices.cost(hours, node_hours) == pytest.approx(21.0)


def test_calibration_at_toy_size(tmp_path):
    job = load_job(job_file(tmp_path, tracks=1, duration=3, candidates=1, max_attempts=1))
    assert calibration_lengths(job, 1) == [3.0]
    costs = calibrate(job, 1)
    assert costs.source == "calibration" and "1 track" in costs.detail and "3 s of audio" in costs.detail
    assert costs.wall["generator"].seconds(3) > 0 and costs.wall["verifier"].seconds(3) > 0
    assert costs.reach == [1.0] and costs.ray_start_s is None
    assert calibration_lengths(load_job(job_file(tmp_path, duration=60)), 3) == [15.0, 22.5, 30.0]


def test_cli_from_history_with_and_without_prices(tmp_path, capsys):
    write_history(tmp_path / "out" / "j", [history_row("t0", 10), history_row("old", 20, attempts=2)])
    assert main(["estimate", str(job_file(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "job j: 4 tracks, 0.7 min of audio" in out and "to render now: 3 tracks, 0.5 min" in out
    assert "cluster: this machine" in out and "generator synth" in out and "asks {CPU: 0.5} per actor × 1–1" in out
    assert "measured (history): 2 tracks of earlier runs" in out and "predicted:" in out
    assert "cost: not priced" in out

    assert main(["estimate", str(job_file(tmp_path, prices=PRICES))]) == 0
    out = capsys.readouterr().out
    assert "cost: EUR " in out and "CPU " in out


def test_cli_calibrates_without_history(tmp_path, capsys):
    path = job_file(tmp_path, tracks=2, duration=2, candidates=1, max_attempts=1)
    assert main(["estimate", str(path), "--calibrate", "1"]) == 0
    out = capsys.readouterr().out
    assert "measured (calibration): calibration: 1 track of the job's prompts (2 s of audio)" in out
    assert "predicted:" in out and "for 2 tracks" in out


@pytest.mark.parametrize("args, message", [
    (["--calibrate", "0"], "--calibrate 0: give a number of tracks in [1, 20]"),
    (["--calibrate", "21"], "--calibrate 21: give a number of tracks in [1, 20]"),
])
def test_bad_calibrate(tmp_path, capsys, args, message):
    assert main(["estimate", str(job_file(tmp_path)), *args]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"songfarm: error: {message}"


def test_unknown_job_file(tmp_path, capsys):
    assert main(["estimate", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("songfarm: error:") and "missing.yaml" in err and "Traceback" not in err


def test_estimate_for_render_stores_a_dict(tmp_path):
    job = load_job(job_file(tmp_path))
    write_history(tmp_path / "out" / "j", [history_row("x", 10)])
    d = estimate_for_render(job, job.tracks, 2, 0, ray_start_s=3.0)
    assert d["source"] == "history" and d["tracks"] == 4 and d["audio_s"] == 40.0
    assert d["startup_s"]["ray"] == 3.0 and set(d["stage_s"]) == set(STAGES) and d["wall_s"] > 0
    assert json.loads(json.dumps(d)) == d
