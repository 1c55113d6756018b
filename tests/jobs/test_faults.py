"""Exactly once, whatever happens: `songfarm render` as a real process, killed, doubled,
starved of its store, stopped with SIGTERM, handed a truncated manifest part.

Every render here is `python -m songfarm.jobs.cli render` in a session of its own, with its
own local Ray (127.0.0.1, 2 CPUs); cleanup kills every process of that session, never any
other Ray. Each case ends with a plain re-run and `status --verify`: every track delivered
once, files matching rows. Ray start-up costs ~5 s, so the cases share renders where they can.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from songfarm.jobs.cli import main
from songfarm.pipelines.delivery import manifest
from songfarm.pipelines.delivery.lease import LEASE_FILE
from songfarm.pipelines.delivery.storage import open_storage

from conftest import free_port
from processes import kill_session

pytestmark = pytest.mark.slow

TIMEOUT_S = 120  # the most one render may take here
RESOURCES = {"planner": {"min_actors": 1, "max_actors": 1, "batch_size": 1, "num_cpus": 0.1},
             "generator": {"min_actors": 1, "max_actors": 1, "batch_size": 1, "num_cpus": 0.5},
             "verifier": {"min_actors": 1, "max_actors": 1, "batch_size": 1, "num_cpus": 0.5}}
TRACKS = [{"id": "pop", "prompt": "an upbeat pop song in C major at 120 bpm", "seed": 1},
          {"id": "lofi", "prompt": "a calm lo-fi beat in A minor at 80 bpm", "seed": 1},
          {"id": "waltz", "prompt": "a folk waltz in G major at 96 bpm", "seed": 1}]
# What a crash leaves on stderr: a Python traceback, or a C++ abort at shutdown (exit 134).
CRASH_MARKS = ("Traceback", "terminate called", "*** SIG", "Aborted", "core dumped", "Fatal Python error",
               "Stack trace")


def write_job(folder: Path, output: Path | str, name: str = "faults", tracks=TRACKS, **defaults) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "output": str(output), "resources": RESOURCES, "tracks": tracks,
                                    "defaults": {"duration_s": 4, "max_attempts": 1, **defaults}}))
    return path


class Driver:
    """One `songfarm` process in a new session, output to files."""

    def __init__(self, folder: Path, *argv: str, env: dict | None = None):
        self.folder = folder
        n = len(list(folder.glob("driver-*.err")))
        self.out_path, self.err_path = folder / f"driver-{n}.out", folder / f"driver-{n}.err"
        environ = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # never a shared test Ray
        environ.update(SONGFARM_RAY_NODE_IP="127.0.0.1", SONGFARM_RAY_NUM_CPUS="2",
                       SONGFARM_RAY_OBJECT_STORE_MB="200", PYTHONUNBUFFERED="1", **(env or {}))
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "songfarm.jobs.cli", *argv], stdout=out, stderr=err,
                                         env=environ, start_new_session=True)
        self.pid = self.proc.pid

    @property
    def err(self) -> str:
        return self.err_path.read_text()

    @property
    def out(self) -> str:
        return self.out_path.read_text()

    def wait(self, timeout: float = TIMEOUT_S) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"songfarm did not finish in {timeout} s; stderr:\n{self.err[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the driver and everything of its session (its Ray), and reap the driver."""
        kill_session(self.pid)
        self.proc.wait(timeout=30)


@pytest.fixture
def drivers():
    started: list[Driver] = []
    yield started
    for d in started:
        d.kill()


def start(drivers, folder, *argv, env=None) -> Driver:
    d = Driver(folder, *argv, env=env)
    drivers.append(d)
    return d


def wait_until(predicate, driver: Driver, timeout: float = TIMEOUT_S, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if driver.proc.poll() is not None:
            pytest.fail(f"songfarm ended (exit {driver.proc.returncode}) before {what}; stderr:\n{driver.err[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout} s; stderr:\n{driver.err[-3000:]}")
        time.sleep(0.02)


def frozen_when(driver: Driver, predicate):
    """A wait_until predicate: once `predicate` holds, freeze the driver (SIGSTOP) and look
    again; true if it still holds (the state to kill in is kept), else the driver goes on
    (SIGCONT): it moved past that state just before it stopped."""
    def check() -> bool:
        if not predicate():
            return False
        os.kill(driver.pid, signal.SIGSTOP)
        if predicate():
            return True
        os.kill(driver.pid, signal.SIGCONT)
        return False
    return check


def assert_clean(driver: Driver) -> None:
    err = driver.err
    assert not [m for m in CRASH_MARKS if m in err], err[-3000:]


def render_ok(drivers, folder, job, *argv) -> Driver:
    d = start(drivers, folder, "render", str(job), *argv)
    assert d.wait() == 0, d.err[-3000:]
    assert_clean(d)
    return d


def audio_files(store) -> set[str]:
    return {p for p in store.list("audio/") if p.endswith(".flac")}


def assert_delivered_once(store, capsys, track_ids) -> None:
    """`status --verify` passes, and the manifest has exactly one row per track (the killed
    runs committed nothing twice)."""
    capsys.readouterr()
    code = main(["status", store.location, "--verify"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "not delivered 0" in out and "every file matches its row" in out and "0 orphan files" in out, out
    ids = manifest.read_manifest(store).column("track_id").to_pylist()
    assert sorted(ids) == sorted(track_ids), ids
    assert not store.exists(LEASE_FILE)


def status_text(store, capsys) -> str:
    capsys.readouterr()
    main(["status", store.location])
    return capsys.readouterr().out


@pytest.fixture(scope="module")
def delivered(tmp_path_factory):
    """One good render of the three-track job (stderr checked), reused as a starting point."""
    folder = tmp_path_factory.mktemp("delivered")
    job = write_job(folder, folder / "renders")
    d = Driver(folder, "render", str(job))
    try:
        assert d.wait() == 0, d.err[-3000:]
        assert_clean(d)
    finally:
        d.kill()
    return folder / "renders" / "faults"


def copy_of(delivered: Path, tmp_path: Path) -> tuple[Path, object]:
    """A copy of the delivered job folder and its job file, in tmp_path."""
    shutil.copytree(delivered, tmp_path / "renders" / "faults")
    return write_job(tmp_path, tmp_path / "renders"), open_storage(str(tmp_path / "renders" / "faults"))


def test_render_redoes_what_does_not_verify_or_changed(delivered, tmp_path, drivers, capsys):
    """After the module fixture's good render: a missing MIDI file, an audio file with other
    bytes of the same size (only --verify's hash sees it) and an edited prompt each make
    their track render again; the run exits 0 with a clean stderr (no traceback, no C++
    abort at shutdown), like the fixture's."""
    job, store = copy_of(delivered, tmp_path)
    rows = manifest.current_rows(store)
    store.delete(rows["pop"]["midi_file"])
    data = bytearray(store.read_bytes(rows["lofi"]["audio_file"]))
    data[-1] ^= 1
    store.write_bytes(rows["lofi"]["audio_file"], bytes(data))
    edited = [dict(t) for t in TRACKS]
    edited[2]["prompt"] += ", with a fiddle"
    job = write_job(tmp_path, tmp_path / "renders", tracks=edited)

    d = render_ok(drivers, tmp_path, job, "--verify")
    assert "2 tracks whose files do not match their manifest rows render again: lofi, pop" in d.err
    assert "1 track changed since they were rendered (waltz): rendering them again" in d.err
    assert "0 already in the manifest, 3 to render" in d.err and "job faults: " in d.out
    assert_delivered_once(store, capsys, [t["id"] for t in TRACKS] * 2)  # two runs, one row each


def test_kill_9_before_any_file(tmp_path, drivers, capsys):
    job = write_job(tmp_path, tmp_path / "renders")
    store = open_storage(str(tmp_path / "renders" / "faults"))
    d = start(drivers, tmp_path, "render", str(job))
    wait_until(lambda: store.exists(LEASE_FILE), d, what="lease.json")
    d.kill()
    assert not audio_files(store)
    assert "driver: dead" in status_text(store, capsys)  # its pid is gone: dead at once
    render_ok(drivers, tmp_path, job)
    assert_delivered_once(store, capsys, [t["id"] for t in TRACKS])


def test_kill_9_between_a_file_and_its_row(tmp_path, drivers, capsys):
    # Six 20 s tracks: they land one by one over seconds, while their rows wait in the sink's
    # buffer (written every few seconds), so files without rows show for a while.
    tracks = [{**t, "id": f"{t['id']}-{i}"} for i in range(2) for t in TRACKS]
    job = write_job(tmp_path, tmp_path / "renders", tracks=tracks, duration_s=20)
    store = open_storage(str(tmp_path / "renders" / "faults"))

    def file_without_row():
        files = audio_files(store)
        if not files:
            return False
        named = set(manifest.read_manifest(store).column("audio_file").to_pylist())
        return bool(files - named)

    d = start(drivers, tmp_path, "render", str(job))
    # The driver writes rows every few seconds: frozen as soon as a file without its row shows.
    wait_until(frozen_when(d, file_without_row), d, what="an audio file without its row")
    d.kill()
    assert file_without_row()  # the kill did land in the gap
    d = render_ok(drivers, tmp_path, job)
    assert "files no manifest row points to" in d.err  # the orphan was cleared
    assert_delivered_once(store, capsys, [t["id"] for t in tracks])


def test_kill_9_during_a_re_render(tmp_path, drivers, capsys):
    # min_score 1.0: the 4-s lo-fi tracks never reach it (a 3-s plan is too short for the felt
    # tempo to be heard right) and render round after round (up to 10), 6 takes a round; the
    # cinematic one (seed 1) reaches it after re-renders of its own (synth 0.2: in round 4,
    # 2 takes a round). Fused actors run a track's every round and hand on its kept take. The
    # driver is frozen (SIGSTOP) as soon as a kept take is written while a track is still
    # without its row, then killed; a longer track would be accepted in round 1 (score 1.0)
    # and land with the others, leaving no middle to kill in.
    tracks = [{"id": "epic", "prompt": "an epic cinematic theme in D minor", "seed": 1},
              {**TRACKS[1], "candidates": 6}, {**TRACKS[1], "id": "lofi2", "seed": 2, "candidates": 6}]
    job = write_job(tmp_path, tmp_path / "renders", tracks=tracks, min_score=1.0, max_attempts=10)
    store = open_storage(str(tmp_path / "renders" / "faults"))
    d = start(drivers, tmp_path, "render", str(job))

    def in_the_middle() -> bool:
        return bool(audio_files(store)) and len(manifest.current_rows(store)) < len(tracks)

    wait_until(frozen_when(d, in_the_middle), d, what="a kept take while a track is still rendering")
    d.kill()
    assert in_the_middle(), manifest.current_rows(store)  # killed in the middle of the job
    render_ok(drivers, tmp_path, job)
    assert_delivered_once(store, capsys, ["epic", "lofi", "lofi2"])
    rows = manifest.current_rows(store)
    assert rows["lofi"]["status"] == "rejected" and rows["lofi"]["attempts"] == 10
    assert rows["epic"]["status"] == "accepted" and rows["epic"]["take_attempt"] >= 1  # after a re-render


def test_two_drivers_at_once(tmp_path, drivers, capsys):
    job = write_job(tmp_path, tmp_path / "renders")
    store = open_storage(str(tmp_path / "renders" / "faults"))
    a, b = start(drivers, tmp_path, "render", str(job)), start(drivers, tmp_path, "render", str(job))
    deadline = time.monotonic() + TIMEOUT_S
    while a.proc.poll() is None and b.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    loser, winner = (a, b) if a.proc.poll() is not None else (b, a)
    assert loser.wait() == 3, loser.err
    lines = loser.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("songfarm: error:") and "another driver" in lines[0], lines
    assert f"pid {winner.pid}" in lines[0] and "since" in lines[0]
    waiter = start(drivers, tmp_path, "render", str(job), "--wait")  # waits for the winner, then has nothing to do
    assert winner.wait() == 0, winner.err[-3000:]
    assert waiter.wait() == 0, waiter.err[-3000:]
    assert "waiting for the job's lease" in waiter.err and "3 already in the manifest, 0 to render" in waiter.err
    assert_clean(winner)
    assert_delivered_once(store, capsys, [t["id"] for t in TRACKS])


def test_a_truncated_manifest_part(delivered, tmp_path, drivers, capsys):
    job, store = copy_of(delivered, tmp_path)
    # Split the manifest in two parts (pop | lofi, waltz), then cut the second one short.
    [part] = store.list("manifest/")
    rows = manifest.read_manifest(store).to_pylist()
    store.delete(part)
    first = [r for r in rows if r["track_id"] == "pop"]
    store.write_bytes("manifest/part-1.parquet", manifest.to_parquet(first))
    data = manifest.to_parquet([r for r in rows if r["track_id"] != "pop"])
    store.write_bytes("manifest/part-2.parquet", data[: len(data) // 2])

    text = status_text(store, capsys)
    assert "manifest part manifest/part-2.parquet is unreadable" in text and "Traceback" not in text
    d = render_ok(drivers, tmp_path, job)
    assert "manifest part manifest/part-2.parquet is unreadable" in d.err
    assert "1 already in the manifest, 2 to render" in d.err
    after = manifest.current_rows(store)
    assert after["pop"]["rendered_at"] == first[0]["rendered_at"]  # the readable part's track was kept
    assert_delivered_once(store, capsys, ["pop", "lofi", "waltz"])  # the bad part was set aside


def test_sigterm_is_an_interrupt(tmp_path, drivers, capsys):
    job = write_job(tmp_path, tmp_path / "renders")
    store = open_storage(str(tmp_path / "renders" / "faults"))
    d = start(drivers, tmp_path, "render", str(job))
    wait_until(lambda: bool(audio_files(store)), d, what="the first audio file")
    os.kill(d.pid, signal.SIGTERM)
    assert d.wait() == 130, d.err[-3000:]
    assert "songfarm: interrupted" in d.err and "Traceback" not in d.err
    text = status_text(store, capsys)
    assert "last run: interrupted" in text and "driver:" not in text, text  # lease released
    assert not store.exists(LEASE_FILE)
    assert "songfarm: report of what was delivered: " in d.err  # the morning's page, however the night ended
    assert store.exists("report.html")


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail(f"nothing listens on 127.0.0.1:{port}")


def test_store_outage_exits_3_in_one_line(tmp_path, drivers, s3_server):
    """moto's S3 server in a process of its own: stopped (SIGSTOP) mid-render, then killed so
    that it refuses connections. s3_server only provides the credentials in the environment."""
    import boto3

    port = free_port()
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_port(port)
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket="outage")
        job = write_job(tmp_path, "s3://outage/renders")
        # Two tries of 2 s each per store call: the outage outlasts them in seconds, not minutes.
        d = start(drivers, tmp_path, "render", str(job), "--s3-endpoint", endpoint,
                  env={"SONGFARM_STORE_RETRIES": "2", "SONGFARM_STORE_TIMEOUT_S": "2"})

        def an_audio_object():
            page = client.list_objects_v2(Bucket="outage", Prefix="renders/faults/audio/")
            return bool(page.get("Contents"))

        wait_until(an_audio_object, d, what="an audio object in the bucket")
        os.kill(moto.pid, signal.SIGSTOP)  # requests now hang until their timeout
        time.sleep(1.0)
        os.kill(moto.pid, signal.SIGKILL)  # and then the store refuses connections
        moto.wait(timeout=10)
        assert d.wait() == 3, d.err[-3000:]
        errors = [line for line in d.err.splitlines() if line.startswith("songfarm: error:")]
        assert len(errors) == 1 and "store unavailable" in errors[0] and endpoint in errors[0], d.err[-3000:]
        assert "Traceback" not in d.err
    finally:
        if moto.poll() is None:
            os.killpg(moto.pid, signal.SIGKILL)
            moto.wait(timeout=10)
