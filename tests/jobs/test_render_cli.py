"""`songfarm render` / `status` checks that need no Ray: options, output, resume selection, profiles."""

import argparse

import pytest
import yaml

from songfarm.cluster.profiles import fit_to_cluster, laptop, resolve
from songfarm.jobs.cli import main
from songfarm.jobs.jobfile import load_job
from songfarm.jobs.render import (RenderError, changed_tracks, id_list, last_lines, parse_rerender, parse_track_ids,
                                  select_tracks)
from songfarm.jobs.status import status_lines
from songfarm.models.settings import StageResources
from songfarm.models.request import TrackRequest


def job_file(tmp_path, output):
    path = tmp_path / "j.yaml"
    path.write_text(yaml.safe_dump({"name": "j", "output": str(output), "tracks": [{"id": "a", "prompt": "pop"}]}))
    return path


def test_unwritable_output_fails_before_rendering(tmp_path, capsys):
    (tmp_path / "blocker").write_text("a file where the output folder should be")
    # The job file's own check or the storage probe: either way one clear line, exit 2.
    for output in (tmp_path / "blocker", tmp_path / "blocker" / "below"):
        assert main(["render", str(job_file(tmp_path, output))]) == 2
        err = capsys.readouterr().err
        assert err.startswith("songfarm: error:") and "Traceback" not in err
        assert "is a file" in err or "cannot write" in err


def test_missing_bucket_fails_before_rendering(tmp_path, capsys, s3_server):
    code = main(["render", str(job_file(tmp_path, "s3://no-such-bucket/out")), "--s3-endpoint", s3_server.endpoint])
    err = capsys.readouterr().err
    assert code == 2 and "s3://no-such-bucket/out/j" in err and "does not exist" in err and s3_server.endpoint in err


def test_missing_checkpoint_fails_before_ray_starts(tmp_path, capsys):
    path = tmp_path / "neural.yaml"
    path.write_text(yaml.safe_dump({
        "name": "neural", "output": str(tmp_path / "out"), "tracks": [{"id": "a", "prompt": "pop"}],
        "backends": {"generator": {"name": "diffusion", "options": {"checkpoint": str(tmp_path / "no-model")}}}}))
    assert main(["render", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"songfarm: error: backends.generator (diffusion): checkpoint {tmp_path / 'no-model'}: does not exist" in err
    assert "Traceback" not in err and not (tmp_path / "out" / "neural" / "manifest").exists()


def test_bad_rerender_status(tmp_path, capsys):
    assert main(["render", str(job_file(tmp_path, tmp_path / "out")), "--rerender", "failed,broken"]) == 2
    assert "--rerender 'failed,broken': unknown status 'broken'" in capsys.readouterr().err


def test_tracks_option_renders_exactly_those_tracks_whatever_their_status():
    tracks = [TrackRequest(id=i, prompt="p") for i in ("a", "b", "c")]
    current = {"a": {"status": "accepted"}, "b": {"status": "rejected"}}
    only = parse_track_ids("a, c", tracks)
    assert [t.id for t in select_tracks(tracks, current, only=only)] == ["a", "c"]
    assert parse_track_ids(None, tracks) is None
    with pytest.raises(RenderError, match="--tracks 'a,zz': no track 'zz' in the job"):
        parse_track_ids("a,zz", tracks)
    with pytest.raises(RenderError, match="give track ids"):
        parse_track_ids(",", tracks)


def test_select_tracks_for_resume():
    tracks = [TrackRequest(id=i, prompt="p") for i in ("a", "b", "c", "d")]
    current = {"a": {"status": "accepted"}, "b": {"status": "rejected"}, "c": {"status": "failed"}}
    ids = lambda ts: [t.id for t in ts]  # noqa: E731
    assert ids(select_tracks(tracks, current)) == ["d"]  # only tracks without a row
    assert ids(select_tracks(tracks, current, parse_rerender("failed,rejected"))) == ["b", "c", "d"]
    assert ids(select_tracks(tracks, current, set(), force=True)) == ["a", "b", "c", "d"]


def test_last_lines_say_what_to_do_next(tmp_path):
    path = tmp_path / "j.yaml"
    path.write_text(yaml.safe_dump({"name": "j", "output": str(tmp_path / "out"),
                                    "tracks": [{"id": i, "prompt": "pop"} for i in ("a", "b", "c", "d")]}))
    job = load_job(path)
    args = argparse.Namespace(job=str(path), output="s3://bucket/night shift", s3_endpoint="http://127.0.0.1:9000",
                              address=None)
    rows = {"a": {"status": "accepted"}, "b": {"status": "rejected"},
            "c": {"status": "failed", "error_stage": "generator", "error": "RuntimeError: boom"}}
    base = f"songfarm render {path} --output 's3://bucket/night shift' --s3-endpoint http://127.0.0.1:9000"
    assert last_lines(args, job, rows, "/out/j/report.html", "/out/j/logs/render-1.log") == [
        f"job j: 1 accepted, 1 rejected, 1 failed, 1 missing of 4 → {job.location}",
        "  failed c: generator: RuntimeError: boom",
        "report: /out/j/report.html",
        "log: /out/j/logs/render-1.log",
        f"render the 1 track that failed again: {base} --rerender failed",
        f"try the 1 track delivered as rejected again: {base} --rerender rejected",
        f"render the 1 track not delivered yet (resumes): {base}",
    ]
    done = {t: {"status": "accepted"} for t in "abcd"}  # all well: the report, and no log when none was written
    assert last_lines(args, job, done, "/out/j/report.html", None) == [
        f"job j: 4 accepted, 0 rejected, 0 failed of 4 → {job.location}", "report: /out/j/report.html"]


def test_status_of_a_folder_without_a_job(tmp_path, capsys):
    assert main(["status", str(tmp_path)]) == 2
    assert "no songfarm job here" in capsys.readouterr().err


def test_status_lines_flag_a_dead_driver():
    rows = {"a": {"status": "accepted"}, "b": {"status": "failed", "error_stage": "planner", "error": "PlanError: x"}}
    progress = {"job": "j", "state": "running", "done": 1, "failed": 1, "remaining": 1, "to_render": 3,
                "heartbeat": "2020-01-01T00:00:00+00:00", "round": 1, "max_attempts": 2}
    text = "\n".join(status_lines(rows, ["a", "b", "c"], progress, "/out/j"))
    assert "accepted 1, rejected 0, failed 1, not delivered 1" in text
    assert "the driver may have died" in text and "b: planner: PlanError: x" in text


def test_profiles_fit_two_cores():
    pools = laptop(2)
    assert sum(p.min_actors * p.num_cpus for p in pools.values()) <= 2
    assert sum(p.max_actors * p.num_cpus for p in pools.values()) <= 2  # both pools at full size fit too
    # The built-in default (1 CPU per stage, 3 in all) takes the laptop profile on 2 CPUs.
    resolved, notes = resolve({s: StageResources() for s in pools}, cpus=2, gpus=0)
    assert resolved == pools and notes == []
    # A job's own asks are kept, scaled down only when the minimum pools cannot start.
    big = {s: StageResources(num_cpus=2, num_gpus=1) for s in pools}
    fitted, notes = fit_to_cluster(big, cpus=2, gpus=0)
    assert sum(p.num_cpus for p in fitted.values()) <= 2 and all(p.num_gpus == 0 for p in fitted.values())
    assert any("no GPU" in n for n in notes) and any("num_cpus 2 →" in n for n in notes)


def test_select_tracks_redoes_broken_and_changed():
    tracks = [TrackRequest(id=i, prompt="p") for i in ("a", "b", "c", "d")]
    current = {i: {"status": "accepted"} for i in ("a", "b", "c")}
    ids = lambda ts: [t.id for t in ts]  # noqa: E731
    assert ids(select_tracks(tracks, current, broken={"b"}, changed=["c"])) == ["b", "c", "d"]


def test_changed_tracks_by_fingerprint():
    from songfarm.models.settings import RenderSettings
    from songfarm.pipelines.core.fingerprint import fingerprint

    settings = RenderSettings()
    a, b, c = (TrackRequest(id=i, prompt="pop") for i in ("a", "b", "c"))
    current = {"a": {"fingerprint": fingerprint(a, settings)},
               "b": {"fingerprint": fingerprint(TrackRequest(id="b", prompt="jazz"), settings)},
               "c": {"fingerprint": ""}}  # an older manifest: counts as unchanged
    assert changed_tracks([a, b, c], current, settings) == ["b"]
    settings.min_score = 0.1  # a setting that decides the outcome changes every fingerprint
    assert changed_tracks([a, b, c], current, settings) == ["a", "b"]
    assert id_list([f"t{i}" for i in range(8)]) == "t0, t1, t2, t3, t4 and 3 more"


def test_exit_statuses_in_help_and_for_each_error(capsys):
    from songfarm.cluster.connect import ClusterError
    from songfarm.jobs.cli import exit_status
    from songfarm.pipelines.delivery.lease import LeaseHeld
    from songfarm.pipelines.delivery.storage import StorageError

    with pytest.raises(SystemExit):
        main(["render", "--help"])
    out = capsys.readouterr().out
    assert all(f"  {code}  " in out for code in (0, 1, 2, 3, 130)) and "--wait" in out
    assert exit_status(StorageError("down", unavailable=True)) == 3 and exit_status(StorageError("denied")) == 2
    assert exit_status(ClusterError("no ray")) == 3 and exit_status(LeaseHeld("held")) == 3


def test_a_held_lease_refuses_a_second_driver_in_one_line(tmp_path, capsys):
    from songfarm.pipelines.delivery.lease import Lease
    from songfarm.pipelines.delivery.storage import open_storage

    lease = Lease(open_storage(str(tmp_path / "out" / "j")), command="songfarm render first.yaml").acquire()
    try:
        assert main(["render", str(job_file(tmp_path, tmp_path / "out"))]) == 3
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "songfarm render first.yaml" in err and f"since {lease.since}" in err
    finally:
        lease.release()


def test_status_shows_the_driver_and_bad_parts(tmp_path, capsys):
    from songfarm.pipelines.delivery.lease import Lease, LeaseConfig
    from songfarm.pipelines.delivery.storage import open_storage

    store = open_storage(str(tmp_path / "j"))
    store.write_bytes("manifest/part-1.parquet", b"PAR1 cut short")
    lease = Lease(store, command="songfarm render j.yaml", config=LeaseConfig(interval_s=0.2)).acquire()
    try:
        assert main(["status", str(tmp_path / "j")]) == 0
        out = capsys.readouterr().out
        assert "driver: running — host" in out and "since" in out
        assert out.count("manifest part manifest/part-1.parquet is unreadable") == 1 and "Traceback" not in out
    finally:
        lease.release()
    assert main(["status", str(tmp_path / "j"), "--verify"]) == 1  # the bad part is something wrong
    assert "driver:" not in capsys.readouterr().out  # released: nobody holds the job


def test_status_lines_for_a_dead_driver_with_a_lease():
    from datetime import datetime, timedelta, timezone

    from songfarm.pipelines.delivery.lease import Holder

    beat = (datetime.now(timezone.utc) - timedelta(seconds=30)).isoformat()
    holder = Holder(run_id="r" * 32, host="node7", pid=4242, command="songfarm render j.yaml", since=beat,
                    heartbeat=beat, expires=beat, interval_s=5.0, machine="elsewhere")
    progress = {"job": "j", "state": "running", "heartbeat": beat}
    text = "\n".join(status_lines({}, ["a"], progress, "/out/j", holder))
    assert "last run: dead" in text and "driver: dead — last heartbeat 30 s ago (host node7, pid 4242" in text


def test_unreachable_cluster_exits_3_in_one_line(tmp_path, capsys):
    import sys

    from conftest import free_port

    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        pytest.skip("a shared Ray is connected in this process: render would use it")
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    assert main(["render", str(job_file(tmp_path, tmp_path / "out")), "--address", address]) == 3
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (f"songfarm: error: cannot connect to the Ray cluster at '{address}': nothing answers at "
                       f"{address} (Connection refused)")
    assert not (tmp_path / "out" / "j" / "lease.json").exists()  # released on the way out
