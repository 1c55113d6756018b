"""Session fixtures: one small shared Ray instance, and an S3-compatible server on loopback.

Both start lazily, only when a test asks for them: `ray_session` costs ~6 s of start-up
on 2 cores (DESIGN.md §7), so every Ray test of the session shares it. The S3 server is
moto's ThreadedMotoServer on 127.0.0.1 with a free port, reached over real HTTP through
boto3 with an explicit endpoint — the same code path as MinIO or AWS in production.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

# The whole suite renders with the bundled TimGM6mb SoundFont, even on a machine that has a
# larger one in the standard place (models/generators/synth.py choose_soundfont): the
# variable reaches the Ray workers and the `songfarm` subprocesses the tests start.
os.environ.setdefault("SONGFARM_SOUNDFONT",
                      str(Path(importlib.util.find_spec("pretty_midi").origin).parent / "TimGM6mb.sf2"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The session's shared Ray: 2 CPUs, no dashboard, a small object store.
SESSION_RAY = {"num_cpus": 2, "include_dashboard": False, "object_store_memory": 300 * 1024 * 1024,
               "configure_logging": False, "log_to_driver": False}


@pytest.fixture(scope="session")
def ray_session():
    """ONE shared Ray for the session (SESSION_RAY)."""
    import ray

    if not ray.is_initialized():
        ray.init(**SESSION_RAY)
    yield ray
    ray.shutdown()


@contextlib.contextmanager
def own_ray_cluster():
    """For a test module that runs a Ray cluster of its own: the session's shared Ray is
    shut down first, 127.0.0.1 stays 127.0.0.1 meanwhile (cluster.connect.loopback_only),
    and the shared Ray is started again afterwards if it was running (its fixture has
    already run, so later tests expect it connected)."""
    import ray

    from songfarm.cluster.connect import loopback_only

    was = ray.is_initialized()
    ray.shutdown()
    try:
        with loopback_only():
            yield
    finally:
        ray.shutdown()
        if was:
            ray.init(**SESSION_RAY)


@dataclass
class S3Server:
    endpoint: str  # http://127.0.0.1:PORT
    port: int
    server: object  # moto.server.ThreadedMotoServer

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def new_bucket(self) -> str:
        name = f"songfarm-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name


_S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on 127.0.0.1 and fake credentials in the environment (restored after)."""
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in [*_S3_ENV, "AWS_SESSION_TOKEN", "AWS_PROFILE"]}
    os.environ.update(_S3_ENV)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield S3Server(endpoint=f"http://127.0.0.1:{port}", port=port, server=server)
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def s3_bucket(s3_server) -> str:
    """A fresh empty bucket on the session's S3 server."""
    return s3_server.new_bucket()


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    """The storage of one job folder, on both back ends: a local folder, and a prefix in a
    fresh bucket on moto's S3 server (a test taking `store` runs once on each)."""
    from songfarm.pipelines.delivery.storage import open_storage

    if request.param == "local":
        return open_storage(str(tmp_path / "job"))
    s3 = request.getfixturevalue("s3_server")
    return open_storage(f"s3://{s3.new_bucket()}/out/job", s3_endpoint=s3.endpoint)
