"""The batch farm end to end on the shared test Ray: real backends, tiny tracks, real storage.

Covers: a job to disk and to S3 (moto over HTTP) with a manifest that round-trips, report
and status; a failing row isolated; a generator actor killed mid-job; a driver killed
mid-job and resumed; rejected tracks re-rendered; an S3 store that goes down mid-job.
"""

import dataclasses
import hashlib
import io
import json
import re
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest
import soundfile as sf
import yaml
from mutagen.flac import FLAC

from songfarm.jobs.cli import main
from songfarm.jobs.jobfile import load_job
from songfarm.models.errors import SongfarmError
from songfarm.pipelines.farm.driver import Farm, FarmConfig
from songfarm.pipelines.delivery.manifest import current_rows, read_manifest
from songfarm.pipelines.delivery.sink import GENERATED_NOTICE, Sink
from songfarm.pipelines.delivery.storage import RetryConfig, StorageError, open_storage

from conftest import free_port

# Small pools so each round's actors start quickly on 2 cores.
RESOURCES = {"planner": {"min_actors": 1, "max_actors": 1, "batch_size": 1, "num_cpus": 0.1},
             "generator": {"min_actors": 1, "max_actors": 1, "batch_size": 1, "num_cpus": 0.5},
             "verifier": {"min_actors": 1, "max_actors": 1, "batch_size": 1, "num_cpus": 0.5}}
PROMPTS = ["an upbeat pop song in C major at 120 bpm", "a calm lo-fi beat in A minor at 80 bpm",
           "a folk waltz in G major, 3/4, 96 bpm", "a driving rock song in E minor at 140 bpm"]


def write_job(tmp_path: Path, name: str, n: int, defaults: dict | None = None, backends: dict | None = None,
              extra_tracks: list | None = None) -> Path:
    tracks = [{"id": f"{name}-{i}", "prompt": PROMPTS[i % len(PROMPTS)], "seed": i} for i in range(n)]
    job = {"name": name, "output": str(tmp_path / "renders"),
           "defaults": {"duration_s": 4, "max_attempts": 1, **(defaults or {})},
           "resources": RESOURCES, "tracks": tracks + (extra_tracks or [])}
    if backends:
        job["backends"] = backends
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(job, allow_unicode=True))
    return path


def check_delivered(store, row):
    """A delivered row's files exist and match the row."""
    data = store.read_bytes(row["audio_file"])
    assert hashlib.sha256(data).hexdigest() == row["audio_sha256"] and len(data) == row["audio_bytes"]
    audio, sr = sf.read(io.BytesIO(data), always_2d=True)
    assert sr == row["sample_rate"] == 44100 and abs(len(audio) / sr - row["duration_s"]) < 1e-3
    tags = FLAC(io.BytesIO(data))
    assert tags["SONGFARM_TRACK_ID"] == [row["track_id"]] and tags["GENERATED"] == [GENERATED_NOTICE]
    assert tags["SONGFARM_SEED"] == [str(row["take_seed"])] and tags["DESCRIPTION"] == [row["prompt"]]
    assert tags["SONGFARM_GENERATOR"] == [row["generator"]] and tags["SONGFARM_MODEL"] == [row["model"]]


def test_job_to_disk_with_a_failing_row(ray_session, tmp_path, capsys):
    job = write_job(tmp_path, "disk", 3, defaults={"candidates": 2, "stems": True})
    code = main(["render", str(job)])
    out, err = capsys.readouterr()
    assert code == 0, err
    store = open_storage(str(tmp_path / "renders" / "disk"))
    # One more track whose planner raises: `validate` refuses this key (tests/jobs/test_validation.py),
    # so it is handed to the farm directly, as a stage failing on one row at run time would be.
    resolved = load_job(job)
    bad = dataclasses.replace(resolved.tracks[0], id="bad-key", key="H# dorian-ish")
    result = Farm(resolved, Sink(store, resolved.name, resolved.settings.delivery),
                  FarmConfig(progress_bars=False)).run([bad])
    assert result.counts["failed"] == 1 and result.failures[0][:2] == ("bad-key", "planner")
    rows = current_rows(store)
    assert sorted(rows) == ["bad-key", "disk-0", "disk-1", "disk-2"]
    assert rows["bad-key"]["status"] == "failed" and rows["bad-key"]["error_stage"] == "planner"
    assert "H#" in rows["bad-key"]["error"]
    for tid in ("disk-0", "disk-1", "disk-2"):
        row = rows[tid]
        assert row["status"] in ("accepted", "rejected") and row["attempts"] == 1
        check_delivered(store, row)
        takes = json.loads(row["takes_json"])
        assert [(t["attempt"], t["candidate"]) for t in takes] == [(0, 0), (0, 1)]  # best of 2
        assert row["take_seed"] in [t["seed"] for t in takes]
        assert row["check_tempo_measured"] > 0 and row["check_tempo_expected"] > 0
        assert isinstance(row["check_key_measured"], str) and row["check_tempo_passed"] in (True, False)
        assert row["planner"] == "rules" and row["generator"] == "synth" and row["verifier"] == "features"
        assert row["generator_version"] and row["node"] and row["generate_s"] > 0 and row["verify_s"] > 0
        assert row["midi_file"].startswith(f"midi/{tid}.") and store.read_bytes(row["midi_file"])[:4] == b"MThd"
        stems = json.loads(row["stems_json"])
        assert stems and all(store.exists(s["file"]) and s["file"].startswith(f"stems/{tid}/") for s in stems.values())
    # job.yaml is the resolved job and loads back as the same job.
    again = load_job(tmp_path / "renders" / "disk" / "job.yaml")
    assert sorted(t.id for t in again.tracks) == ["disk-0", "disk-1", "disk-2"] and again.settings.delivery.stems
    report = store.read_bytes("report.html").decode()
    assert rows["disk-0"]["audio_file"] in report  # the page's row data names the file (relative path)

    # status: counts and the failure with its error.
    assert main(["status", str(tmp_path / "renders" / "disk")]) == 0
    out, _ = capsys.readouterr()
    assert "failed 1" in out and "bad-key: planner:" in out and "not delivered 0" in out

    # Running the same job again renders nothing and writes no new rows.
    parts = store.list("manifest/")
    assert main(["render", str(job)]) == 0
    _, err = capsys.readouterr()
    assert "0 to render" in err and store.list("manifest/") == parts


def test_job_to_s3_round_trips(ray_session, s3_server, s3_bucket, tmp_path, capsys):
    job = write_job(tmp_path, "s3job", 2)
    output = f"s3://{s3_bucket}/renders"
    code = main(["render", str(job), "--output", output, "--s3-endpoint", s3_server.endpoint])
    _, err = capsys.readouterr()
    assert code == 0, err
    store = open_storage(f"{output}/s3job", s3_endpoint=s3_server.endpoint)
    rows = current_rows(store)
    assert sorted(rows) == ["s3job-0", "s3job-1"]
    for row in rows.values():
        assert row["audio_uri"] == f"{output}/s3job/{row['audio_file']}"
        assert re.fullmatch(rf"audio/{row['track_id']}\.[0-9a-f]{{12}}\.flac", row["audio_file"])
        check_delivered(store, row)
    keys = {o["Key"] for o in s3_server.client().list_objects_v2(Bucket=s3_bucket)["Contents"]}
    assert {"renders/s3job/job.yaml", "renders/s3job/report.html", "renders/s3job/progress.json"} <= keys
    assert main(["status", f"{output}/s3job", "--s3-endpoint", s3_server.endpoint]) == 0
    out, _ = capsys.readouterr()
    assert "tracks 2:" in out and "last run: finished" in out


def _generator_pids(ray) -> list[int]:
    """Pids of this cluster's live actors that render takes: a generator pool's, or the fused
    pool's where the stages share one (Ray titles the process after the actor)."""
    from ray._private.internal_api import get_state_from_address

    state = get_state_from_address(ray.get_runtime_context().gcs_address)
    pids = [a["Pid"] for a in state.actor_table(None, actor_state_name="ALIVE").values() if a["Pid"]]
    out = []
    for pid in pids:
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "GeneratorActor" in title or "FusedActor" in title:
            out.append(pid)
    return out


def test_killed_generator_actor_is_replaced(ray_session, tmp_path):
    job = load_job(write_job(tmp_path, "crash", 12, defaults={"duration_s": 8}))
    store = open_storage(job.location)
    killed: list[int] = []

    def kill_once_a_track_lands():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not killed:
            if store.list("audio/"):
                for pid in _generator_pids(ray_session):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_once_a_track_lands, daemon=True)
    killer.start()
    result = Farm(job, Sink(store, job.name, job.settings.delivery), FarmConfig(progress_bars=False)).run(job.tracks)
    killer.join(timeout=5)
    assert killed, "no generator actor was found to kill"
    assert result.counts["failed"] == 0 and result.delivered == 12
    table = read_manifest(store)
    ids = table.column("track_id").to_pylist()
    assert sorted(ids) == sorted(f"crash-{i}" for i in range(12))  # every track exactly once
    for row in current_rows(store).values():
        check_delivered(store, row)


def test_stage_that_cannot_start_stops_the_job_with_its_reason(ray_session, tmp_path):
    """On a remote cluster the checkpoint is only checked where the actors run: the actor's
    constructor error reaches the caller as the one-line SongfarmError, not a Ray traceback."""
    backends = {"verifier": {"name": "clap", "options": {"checkpoint": str(tmp_path / "no-clap")}}}
    job = load_job(write_job(tmp_path, "nostart", 1, backends=backends))
    store = open_storage(job.location)
    with pytest.raises(SongfarmError, match=r"backends.verifier \(clap\): checkpoint .*no-clap: does not exist"):
        Farm(job, Sink(store, job.name, job.settings.delivery), FarmConfig(progress_bars=False)).run(job.tracks)
    assert current_rows(store) == {}  # nothing delivered, nothing half-written


# Ray's own lines: Ray core's (every job) and Ray Data's (jobs with a pool per stage; a
# fused pool is plain actors, pipelines/farm/fused_pool.py).
RAY_CORE_LINES = ("Connecting to existing Ray cluster", "\tINFO ")
RAY_LINES = (*RAY_CORE_LINES, "core_worker.cc", "Execution plan of Dataset", "Running Dataset", "\tWARNING ")


def test_rays_lines_go_to_the_runs_log_and_to_the_terminal_only_with_verbose(ray_session, tmp_path):
    """`songfarm render` as its own driver process (joining the session's Ray, so the C++
    core's once-per-process core_worker.cc line comes from it), without and with --verbose."""
    job = write_job(tmp_path, "quiet", 1)
    address = ray_session.get_runtime_context().gcs_address

    def render(*options):
        done = subprocess.run([sys.executable, "-m", "songfarm.jobs.cli", "render", str(job), "--address", address,
                               *options], capture_output=True, text=True, timeout=240, start_new_session=True)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout, done.stderr

    out, err = render()
    assert not [line for line in err.splitlines() if any(ray in line for ray in RAY_LINES)], err
    assert err.startswith("songfarm: job quiet: 1 tracks") and all(line.startswith("songfarm: ") for line in
                                                                     err.splitlines())
    [log] = (tmp_path / "renders" / "quiet" / "logs").glob("render-*.log")
    assert out.splitlines()[-1] == f"log: {log}" and "report: " in out
    text = log.read_text()
    assert all(ray in text for ray in RAY_CORE_LINES) and "songfarm: job quiet finished" in text
    assert "songfarm: placement generator: 1 nodes" in text  # kept for the record, not shown

    _, err = render("--force", "--verbose")
    assert all(ray in err for ray in RAY_CORE_LINES), err  # Ray's own lines, as before


def test_killed_driver_resumes_without_duplicates(ray_session, tmp_path, capsys):
    job = write_job(tmp_path, "resume", 16, defaults={"duration_s": 10})
    store = open_storage(str(tmp_path / "renders" / "resume"))
    address = ray_session.get_runtime_context().gcs_address
    log = open(tmp_path / "driver.log", "w")
    driver = subprocess.Popen([sys.executable, "-m", "songfarm.jobs.cli", "render", str(job), "--address", address],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and driver.poll() is None and len(current_rows(store)) < 2:
            time.sleep(0.2)
        assert driver.poll() is None, (tmp_path / "driver.log").read_text()[-3000:]
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
        log.close()
    before = current_rows(store)
    assert 2 <= len(before) < 16

    assert main(["render", str(job)]) == 0
    _, err = capsys.readouterr()
    assert f"{len(before)} already in the manifest, {16 - len(before)} to render" in err
    ids = read_manifest(store).column("track_id").to_pylist()
    assert sorted(ids) == sorted(f"resume-{i}" for i in range(16))  # one row per track, no duplicates
    after = current_rows(store)
    for tid, row in before.items():
        assert after[tid]["rendered_at"] == row["rendered_at"]  # delivered tracks were not redone
    for row in after.values():
        check_delivered(store, row)


def test_rejected_tracks_are_rerendered(ray_session, tmp_path, capsys):
    # A tempo tolerance no render can meet: every take is rejected, both rounds.
    strict = {"verifier": {"name": "features", "options": {"tempo_tolerance": 1e-6}}}
    job = write_job(tmp_path, "picky", 2, defaults={"max_attempts": 2}, backends=strict)
    assert main(["render", str(job)]) == 0  # rejected tracks are still delivered
    capsys.readouterr()
    store = open_storage(str(tmp_path / "renders" / "picky"))
    first = current_rows(store)
    for row in first.values():
        assert row["status"] == "rejected" and row["attempts"] == 2
        takes = json.loads(row["takes_json"])
        assert [t["attempt"] for t in takes] == [0, 1] and all("tempo" in t["reason"] for t in takes)
        assert len({t["seed"] for t in takes}) == 2  # the re-render used a new seed
        check_delivered(store, row)

    # A plain re-run renders nothing; --rerender rejected renders them again.
    assert main(["render", str(job)]) == 0
    assert "0 to render" in capsys.readouterr().err
    assert main(["render", str(job), "--rerender", "rejected"]) == 0
    again = current_rows(store)
    assert all(r["status"] == "rejected" and r["rendered_at"] > first[r["track_id"]]["rendered_at"]
               for r in again.values())

    # The same job with a lenient verifier: its tracks changed (their fingerprint covers the
    # backend options and min_score). --keep-changed keeps the old renders; a plain run redoes them.
    lenient = {"verifier": {"name": "features", "options": {"required": []}}}
    job = write_job(tmp_path, "picky", 2, defaults={"max_attempts": 2, "min_score": 0.0}, backends=lenient)
    assert main(["render", str(job), "--keep-changed"]) == 0
    assert "0 to render" in capsys.readouterr().err
    assert main(["render", str(job)]) == 0
    assert "2 tracks changed" in capsys.readouterr().err
    after = current_rows(store)
    assert {r["status"] for r in after.values()} == {"accepted"}
    assert all(r["attempts"] == 1 and r["fingerprint"] != again[r["track_id"]]["fingerprint"] for r in after.values())
    assert len(read_manifest(store)) == 6  # three runs, one row per track each; readers keep the newest


def test_store_down_mid_job_fails_clearly_and_keeps_what_was_delivered(ray_session, s3_server, tmp_path):
    """A store of its own (s3_server gives the credentials), stopped once a manifest part lands."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    fast = RetryConfig(attempts=3, backoff_s=0.1, max_backoff_s=0.2, connect_timeout_s=1)

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="fragile")
    job = load_job(write_job(tmp_path, "outage", 16, defaults={"duration_s": 10}), output="s3://fragile/out",
                   s3_endpoint=endpoint)
    store = open_storage(job.location, s3_endpoint=endpoint, retry=fast)
    watcher_store = open_storage(job.location, s3_endpoint=endpoint, retry=fast)
    stopped = threading.Event()

    def stop_once_a_manifest_part_lands():  # the store goes away in the middle of the job
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not watcher_store.list("manifest/"):
            time.sleep(0.1)
        server.stop()
        stopped.set()

    watcher = threading.Thread(target=stop_once_a_manifest_part_lands, daemon=True)
    watcher.start()
    restarted = None
    try:
        with pytest.raises(StorageError) as err:
            Farm(job, Sink(store, job.name, job.settings.delivery), FarmConfig(progress_bars=False)).run(job.tracks)
        assert stopped.is_set()
        assert "s3://fragile/out/outage" in str(err.value) and endpoint in str(err.value)
        assert "failed 3 times" in str(err.value)
        restarted = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        restarted.start()  # moto keeps its buckets in-process: the store comes back as it was
        rows = current_rows(store)
        assert 1 <= len(rows) < 16  # what was delivered before the outage is intact
        for row in rows.values():
            check_delivered(store, row)
    finally:
        watcher.join(timeout=5)
        if not stopped.is_set():
            server.stop()
        if restarted is not None:
            restarted.stop()


def test_fused_and_separate_pools_deliver_the_same_tracks(ray_session, tmp_path):
    """CPU-only stages fuse into one pool (a track's round in one process, takes as PCM, only
    the round's best take's audio leaves the actor); a pool per stage sends every take as
    FLAC. The decisions, the takes kept and the delivered bytes are the same either way."""
    job = load_job(write_job(tmp_path, "fuse", 3, defaults={"candidates": 2, "max_attempts": 2}))
    delivered = {}
    for fuse in (True, False):
        store = open_storage(f"{tmp_path}/{'fused' if fuse else 'separate'}")
        Farm(job, Sink(store, job.name, job.settings.delivery), FarmConfig(progress_bars=False, fuse=fuse),
             log=lambda line: None).run(job.tracks)
        rows = current_rows(store)
        for row in rows.values():
            check_delivered(store, row)
        [record] = [json.loads(store.read_bytes(p)) for p in store.list("runs/")]
        assert record["fused"] is fuse and ("fused" in record["pools"]) is fuse
        delivered[fuse] = {tid: (r["status"], r["attempts"], r["take_seed"], r["audio_sha256"], round(r["score"], 3))
                           for tid, r in rows.items()}
    assert delivered[True] == delivered[False] and len(delivered[True]) == 3
