"""From a laptop to a cluster, on one machine: a `ray start --head` on 127.0.0.1 with token
authentication, joined by `songfarm render --address auto | host:port`, left alone by a plain
`songfarm render`, and given a job through its job API with `ray job submit`.

The head is started the way the README says, from this venv (its workers run this venv's
Python, so the installed songfarm is there; a real cluster has it in its image), with its own
--temp-dir, free ports and a token file of its own (RAY_AUTH_MODE=token,
RAY_AUTH_TOKEN_PATH), never the user's ~/.ray/auth_token. RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
keeps Ray 2.60 from turning 127.0.0.1 into the machine's external address, so every
connection stays on loopback. `ray stop` would stop every Ray on the machine (the test
session's too): the head is stopped by killing its session and whatever mentions its temp dir.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from songfarm.pipelines.delivery import manifest
from songfarm.pipelines.delivery.storage import open_storage

from conftest import free_port
from processes import kill_session

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent  # the venv: ray, songfarm
ROOT = Path(__file__).resolve().parents[2]  # the checkout
TIMEOUT_S = 120  # the most one render or one `ray` command may take here
RESOURCES = {"planner": {"min_actors": 1, "max_actors": 1, "batch_size": 1, "num_cpus": 0.1},
             "generator": {"min_actors": 1, "max_actors": 1, "batch_size": 1, "num_cpus": 0.5},
             "verifier": {"min_actors": 1, "max_actors": 1, "batch_size": 1, "num_cpus": 0.5}}
TRACKS = [{"id": "pop", "prompt": "an upbeat pop song in C major at 120 bpm", "seed": 1},
          {"id": "lofi", "prompt": "a calm lo-fi beat in A minor at 80 bpm", "seed": 1}]
CRASH_MARKS = ("Traceback", "ValueError", "terminate called", "*** SIG", "Aborted", "Fatal Python error")


def write_job(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump({"name": "remote", "output": str(folder / "renders"), "resources": RESOURCES,
                                    "tracks": TRACKS,
                                    "defaults": {"duration_s": 3, "max_attempts": 1, "candidates": 1}}))
    return path


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any Ray address or token settings, this venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "SONGFARM_RAY_"))}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", PYTHONUNBUFFERED="1", **extra)
    return env


def run(argv: list, env: dict, cwd: Path | None = None, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    """A command in a session of its own; on a timeout everything of that session is killed."""
    proc = subprocess.Popen([str(a) for a in argv], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_session(proc.pid)
        out, err = proc.communicate(timeout=30)
        pytest.fail(f"{argv[:3]} did not finish in {timeout} s; stderr:\n{err[-3000:]}")
    kill_session(proc.pid)  # a local Ray the command started and left behind
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@dataclass
class Head:
    temp: Path  # RAY_TMPDIR for clients: `ray start --temp-dir {temp}/ray` leaves its address file there
    gcs: int
    dashboard: int
    env: dict  # the token settings a client of this head needs

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcs}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.dashboard}"

    def job_ids(self) -> list[str]:
        done = run([BIN / "ray", "job", "list", "--address", self.api], self.env)
        assert done.returncode == 0, done.stderr[-3000:]
        return sorted(set(re.findall(r"(?:job_id|submission_id)='([^']+)'", done.stdout + done.stderr)))


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    folder = tmp_path_factory.mktemp("head")
    token = folder / "auth_token"
    token.write_text(uuid.uuid4().hex)
    # Short: Ray's socket paths under the temp dir must fit in 107 bytes.
    temp = Path(tempfile.mkdtemp(prefix="sfray-", dir="/tmp"))
    gcs, dashboard = free_port(), free_port()
    env = clean_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token), RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    log = folder / "ray-start.log"
    with open(log, "w") as out:  # a file, not a pipe: the daemons keep it open
        start = subprocess.Popen([BIN / "ray", "start", "--head", "--temp-dir", temp / "ray",
                                  "--node-ip-address", "127.0.0.1", "--port", str(gcs), "--include-dashboard", "true",
                                  "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard),
                                  "--ray-client-server-port", str(free_port()), "--num-cpus", "2",
                                  # Its default, 52365, is taken by any other Ray's agent on this machine.
                                  "--dashboard-agent-listen-port", str(free_port()),
                                  "--disable-usage-stats"], env=env, stdout=out, stderr=out, start_new_session=True)
    try:
        assert start.wait(timeout=TIMEOUT_S) == 0, log.read_text()[-3000:]
        yield Head(temp=temp, gcs=gcs, dashboard=dashboard, env=env)
    finally:
        if start.poll() is None:
            start.kill()
            start.wait(timeout=30)
        kill_session(start.pid, mention=str(temp))
        shutil.rmtree(temp, ignore_errors=True)


def songfarm(*argv, env: dict, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return run([BIN / "songfarm", *argv], env, cwd=cwd)


def assert_clean(done: subprocess.CompletedProcess) -> None:
    assert not [m for m in CRASH_MARKS if m in done.stderr], done.stderr[-3000:]


def errors(done: subprocess.CompletedProcess) -> list[str]:
    """The error lines of a songfarm run that failed (after its progress lines), checked clean."""
    assert_clean(done)
    return [line for line in done.stderr.splitlines() if line.startswith("songfarm: error:")]


def test_addresses_songfarm_cannot_use_say_so_in_one_line(tmp_path):
    """No cluster here (an empty Ray temp dir, or one whose address file names a stopped
    cluster; no RAY_ADDRESS): `--address auto` says so in one line, exit 3. ray:// (Ray
    Client cannot run Ray Data) and http:// (the job API) are refused in one line, exit 2.
    None of them waits for a cluster."""
    job = write_job(tmp_path)
    env = clean_env(RAY_TMPDIR=str(tmp_path / "no-ray"))
    done = songfarm("render", job, "--address", "auto", env=env)
    lines = errors(done)
    assert done.returncode == 3 and len(lines) == 1, done.stderr[-3000:]
    assert lines[0].startswith("songfarm: error: no Ray cluster is running here (") and "ray start" in lines[0]
    stale = tmp_path / "no-ray" / "ray" / "ray_current_cluster"  # left by a `ray start` long stopped
    stale.parent.mkdir(parents=True)
    stale.write_text(f"127.0.0.1:{free_port()}")
    done = songfarm("render", job, "--address", "auto", env=env)
    lines = errors(done)
    assert done.returncode == 3 and len(lines) == 1 and "nothing answers there" in lines[0], done.stderr[-3000:]
    for address, words in (("ray://127.0.0.1:10001", "Ray Client"), ("http://127.0.0.1:8265", "job API")):
        done = songfarm("render", job, env=clean_env(RAY_ADDRESS=address))
        lines = errors(done)
        assert done.returncode == 2 and len(lines) == 1, done.stderr[-3000:]
        assert lines[0].startswith(f"songfarm: error: RAY_ADDRESS={address}: ") and words in lines[0], lines


def run_log(job_dir: Path) -> str:
    """The text of the job's newest run log (`<job>/logs/render-<UTC>.log`)."""
    return sorted((job_dir / "logs").glob("render-*.log"))[-1].read_text()


def test_auto_and_host_port_join_the_head(head, tmp_path):
    """--address auto finds the head from the address file `ray start` left; --address
    host:port names it. Both render there (the head's job list grows), exit 0, no traceback."""
    before = head.job_ids()
    env = {**head.env, "RAY_TMPDIR": str(head.temp), "SONGFARM_RAY_NODE_IP": "127.0.0.1"}
    for address, out in (("auto", "by-auto"), (head.address, "by-address")):
        done = songfarm("render", write_job(tmp_path), "--address", address, "--output", tmp_path / out, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        assert_clean(done)
        assert f"Connecting to existing Ray cluster at address: {head.address}" in run_log(tmp_path / out / "remote")
        assert "job remote: " in done.stdout, done.stdout
        assert len(manifest.current_rows(open_storage(str(tmp_path / out / "remote")))) == 2
    assert len(head.job_ids()) == len(before) + 2


def test_the_default_is_a_fresh_local_ray_beside_a_head(head, tmp_path):
    """With the head's address file in the Ray temp dir (as any `ray start` leaves it), a plain
    `songfarm render` still starts a local Ray of its own: exit 0, no ValueError, and the
    head never saw the job."""
    before = head.job_ids()
    env = clean_env(RAY_TMPDIR=str(head.temp), SONGFARM_RAY_NODE_IP="127.0.0.1", SONGFARM_RAY_NUM_CPUS="2",
                    SONGFARM_RAY_OBJECT_STORE_MB="200")
    assert (head.temp / "ray" / "ray_current_cluster").read_text().strip() == head.address
    done = songfarm("render", write_job(tmp_path), "--output", tmp_path / "renders", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_clean(done)
    ray_lines = run_log(tmp_path / "renders" / "remote")  # Ray's own lines go to the run's log, not the terminal
    assert "Started a local Ray instance" in ray_lines and "Connecting to existing" not in ray_lines
    assert head.job_ids() == before


def test_ray_job_submit_through_the_job_api(head, tmp_path):
    """`ray job submit --working-dir <the checkout>` to the head's job API with its token, as
    the README says: the entrypoint `songfarm render` joins the cluster (Ray sets RAY_ADDRESS
    for it), the job succeeds, and `songfarm status` reads the result from a copy of the
    output alone, with no Ray settings at all. Without the token the job API refuses."""
    job, out = write_job(tmp_path), tmp_path / "renders"
    submit = [BIN / "ray", "job", "submit", "--address", head.api, "--submission-id", "songfarm-remote",
              "--working-dir", ROOT, "--runtime-env-json", '{"env_vars": {"SONGFARM_RAY_NODE_IP": "127.0.0.1"}}',
              "--", "songfarm", "render", job, "--output", out]
    deadline = time.monotonic() + TIMEOUT_S
    done = run(submit, head.env, cwd=ROOT)
    # Just after `ray start` the head's agent may not have registered yet: Ray says "try again later".
    while "No available agent to submit job" in done.stderr and time.monotonic() < deadline:
        time.sleep(2)
        done = run(submit, head.env, cwd=ROOT)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    status = run([BIN / "ray", "job", "status", "--address", head.api, "songfarm-remote"], head.env)
    assert "succeeded" in status.stdout + status.stderr, status.stdout + status.stderr
    logs = run([BIN / "ray", "job", "logs", "--address", head.api, "songfarm-remote"], head.env).stdout
    assert "Traceback" not in logs, logs
    assert f"Connecting to existing Ray cluster at address: {head.address}" in run_log(out / "remote")
    assert "job remote: " in logs, logs[-3000:]
    assert sorted(manifest.read_manifest(open_storage(str(out / "remote"))).column("track_id").to_pylist()) == \
        ["lofi", "pop"]

    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(out / "remote", elsewhere / "remote")
    done = songfarm("status", elsewhere / "remote", "--verify", env=clean_env(), cwd=elsewhere)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tracks 2: " in done.stdout and "failed 0, not delivered 0" in done.stdout, done.stdout

    refused = run([BIN / "ray", "job", "list", "--address", head.api], clean_env(RAY_AUTH_MODE="disabled"))
    assert refused.returncode != 0 and "Unauthorized" in refused.stdout + refused.stderr
