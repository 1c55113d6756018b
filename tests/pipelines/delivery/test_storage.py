"""pipelines/delivery/storage.py on a local folder and on moto's S3 server over HTTP."""

import threading
import time

import pytest

from songfarm.pipelines.delivery.storage import LocalStorage, RetryConfig, S3Storage, StorageError, open_storage

from conftest import free_port

FAST = RetryConfig(attempts=3, backoff_s=0.05, max_backoff_s=0.1, connect_timeout_s=1, read_timeout_s=5)


def exercise(store):
    """The same checks for every backend: write, read, exists, list, delete."""
    uri = store.write_bytes("audio/a.flac", b"one")
    store.write_bytes("audio/b.flac", b"two")
    store.write_bytes("manifest/part-1.parquet", b"p")
    assert uri.endswith("audio/a.flac")
    assert store.read_bytes("audio/a.flac") == b"one"
    assert store.exists("audio/b.flac") and not store.exists("audio/c.flac")
    assert store.list("audio/") == ["audio/a.flac", "audio/b.flac"]
    assert store.list("manifest/") == ["manifest/part-1.parquet"]
    assert store.list("nothing/") == []
    store.write_bytes("audio/a.flac", b"replaced")
    assert store.read_bytes("audio/a.flac") == b"replaced"
    store.delete("audio/b.flac")
    assert store.list("audio/") == ["audio/a.flac"]
    with pytest.raises(FileNotFoundError):
        store.read_bytes("audio/missing.flac")
    store.check_writable()


def test_local_storage(tmp_path):
    store = open_storage(str(tmp_path / "out" / "job"))
    assert isinstance(store, LocalStorage)
    exercise(store)
    assert not [p for p in (tmp_path / "out" / "job" / "audio").iterdir() if p.name.startswith(".tmp-")]


def test_unsafe_paths_and_schemes_are_refused(tmp_path):
    store = open_storage(str(tmp_path))
    for bad in ("../x", "a/../../x", "/etc/passwd", ""):
        with pytest.raises(StorageError, match="unsafe"):
            store.write_bytes(bad, b"x")
    with pytest.raises(StorageError, match="unsupported scheme 'gs'"):
        open_storage("gs://bucket/x")


def test_local_not_writable_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError, match="cannot write"):
        open_storage(str(tmp_path / "file" / "job")).check_writable()


def test_s3_storage_over_http(s3_server, s3_bucket):
    store = open_storage(f"s3://{s3_bucket}/renders/job", s3_endpoint=s3_server.endpoint)
    assert isinstance(store, S3Storage)
    exercise(store)
    assert store.uri("audio/a.flac") == f"s3://{s3_bucket}/renders/job/audio/a.flac"
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert "renders/job/audio/a.flac" in keys


def test_s3_endpoint_from_environment(s3_server, s3_bucket, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    store = open_storage(f"s3://{s3_bucket}/x")
    store.write_bytes("a", b"1")
    assert store.read_bytes("a") == b"1"


def test_s3_missing_bucket_fails_at_once(s3_server):
    store = open_storage("s3://no-such-bucket-here/job", s3_endpoint=s3_server.endpoint, retry=FAST)
    t0 = time.monotonic()
    with pytest.raises(StorageError, match="bucket 'no-such-bucket-here' does not exist") as err:
        store.check_writable()
    assert not err.value.unavailable
    assert time.monotonic() - t0 < 5  # not retried: nothing transient about it


def test_s3_store_down_names_the_store_after_retries(s3_server):
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    store = open_storage("s3://bucket/job", s3_endpoint=endpoint, retry=FAST)
    with pytest.raises(StorageError) as err:
        store.write_bytes("audio/a.flac", b"x")
    msg = str(err.value)
    assert "s3://bucket/job" in msg and endpoint in msg and "failed 3 times" in msg and "Connect" in msg
    assert err.value.unavailable  # transient all the way: worth trying again later (Serve: 503)


def test_s3_transient_outage_is_retried(s3_bucket):
    """A store that drops out for a moment: the write waits it out with backoff and succeeds."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="flaky")
    store = open_storage("s3://flaky/job", s3_endpoint=endpoint,
                         retry=RetryConfig(attempts=8, backoff_s=0.1, max_backoff_s=0.4, connect_timeout_s=1))
    store.write_bytes("before", b"1")
    server.stop()  # moto keeps its buckets in-process, so the restarted server still has them
    restarted = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    timer = threading.Timer(0.5, restarted.start)
    timer.start()
    try:
        store.write_bytes("after", b"2")  # first tries are refused, a later one lands
        assert store.read_bytes("after") == b"2" and store.read_bytes("before") == b"1"
    finally:
        timer.join()
        restarted.stop()


def test_local_files_honour_the_umask(tmp_path):
    """mkstemp makes 0600 files; delivered files get what the umask allows (0644 under 022).
    The module reads the umask once at import, so check in a fresh process with umask 022."""
    import subprocess
    import sys

    script = ("import os, sys\nos.umask(0o022)\n"
              "from songfarm.pipelines.delivery.storage import open_storage\n"
              "store = open_storage(sys.argv[1])\n"
              "store.write_bytes('audio/a.flac', b'x')\nstore.create_exclusive('lease.json', b'{}')\n")
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "job")], check=True, timeout=60)
    for path in ("audio/a.flac", "lease.json"):
        assert (tmp_path / "job" / path).stat().st_mode & 0o777 == 0o644, path


def test_list_sizes_and_relpath(tmp_path, s3_server, s3_bucket):
    for store in (open_storage(str(tmp_path / "job")),
                  open_storage(f"s3://{s3_bucket}/out/job", s3_endpoint=s3_server.endpoint)):
        store.write_bytes("audio/a.flac", b"one")
        store.write_bytes("stems/a/bass.flac", b"three")
        assert store.list_sizes("audio/") == {"audio/a.flac": 3}
        assert store.list_sizes("stems/") == {"stems/a/bass.flac": 5}
        assert store.relpath(store.uri("stems/a/bass.flac")) == "stems/a/bass.flac"
        assert store.relpath("s3://elsewhere/x.flac") is None


def test_local_conditional_writes(tmp_path):
    store = open_storage(str(tmp_path / "job"))
    token = store.create_exclusive("lease.json", b"1")
    assert token and store.create_exclusive("lease.json", b"2") is None
    assert store.read_versioned("lease.json") == (b"1", token)
    assert store.replace_if("lease.json", b"3", "stale-token") is None
    new = store.replace_if("lease.json", b"4", token)
    assert new and store.read_bytes("lease.json") == b"4"
    assert store.replace_if("lease.json", None, new) == "" and not store.exists("lease.json")
    assert store.replace_if("lease.json", b"5", new) is None  # gone: nothing to replace
    assert store.list("") == []  # the lock file beside it is not content


def test_retries_from_the_environment(monkeypatch):
    monkeypatch.setenv("SONGFARM_STORE_RETRIES", "2")
    monkeypatch.setenv("SONGFARM_STORE_TIMEOUT_S", "1.5")
    config = RetryConfig.from_env()
    assert config.attempts == 2 and config.connect_timeout_s == config.read_timeout_s == 1.5
    assert config.backoff_s == RetryConfig().backoff_s
    monkeypatch.setenv("SONGFARM_STORE_RETRIES", "many")
    with pytest.raises(StorageError, match="SONGFARM_STORE_RETRIES"):
        RetryConfig.from_env()
