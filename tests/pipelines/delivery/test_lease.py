"""pipelines/delivery/lease.py on a local folder and on moto's S3 server: acquire, refuse,
expire, take over, release, lose, and races where exactly one driver must win."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from songfarm.pipelines.delivery.lease import (LEASE_FILE, Lease, LeaseConfig, LeaseHeld, LeaseLost, Holder,
                                               machine_id, read_lease)
from songfarm.pipelines.delivery.storage import open_storage

FAST = LeaseConfig(interval_s=0.2, expiry_intervals=3, settle_s=0.05, slack_s=0.2)


def lease(store, name="songfarm render j.yaml", config=FAST):
    return Lease(store, command=name, config=config, log=lambda line: None)


def stale_holder(**changes) -> bytes:
    """A lease.json another driver left: by default on another machine, expired a minute ago."""
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    fields = dict(run_id="f" * 32, host="elsewhere", pid=1, command="songfarm render old.yaml",
                  since=past.isoformat(), heartbeat=past.isoformat(), expires=past.isoformat(), interval_s=5.0,
                  machine="another-machine")
    fields.update(changes)
    return json.dumps(fields).encode()


def test_acquire_refuse_release(store):
    first = lease(store).acquire()
    try:
        holder = read_lease(store)
        assert holder.run_id == first.run_id and holder.pid == os.getpid()
        assert holder.command == "songfarm render j.yaml"
        with pytest.raises(LeaseHeld) as err:
            lease(store, "songfarm render again.yaml").acquire()
        msg = str(err.value)
        assert "\n" not in msg and store.location in msg and f"pid {os.getpid()}" in msg
        assert f"since {holder.since}" in msg and "--wait" in msg
        first.check()  # still ours
    finally:
        first.release()
    assert not store.exists(LEASE_FILE)
    second = lease(store).acquire()
    second.release()
    second.release()  # twice is fine


def test_heartbeat_renews(store):
    held = lease(store).acquire()
    try:
        beat = read_lease(store).heartbeat
        time.sleep(FAST.interval_s * 3)
        assert read_lease(store).heartbeat > beat
        held.check()
    finally:
        held.release()


def test_expired_lease_is_taken_over(store):
    store.write_bytes(LEASE_FILE, stale_holder())
    taker = lease(store).acquire()
    try:
        assert read_lease(store).run_id == taker.run_id
    finally:
        taker.release()


def test_live_lease_on_another_machine_is_refused(store):
    future = (datetime.now(timezone.utc) + timedelta(minutes=1)).isoformat()
    store.write_bytes(LEASE_FILE, stale_holder(expires=future, heartbeat=datetime.now(timezone.utc).isoformat()))
    with pytest.raises(LeaseHeld, match="host elsewhere, pid 1"):
        lease(store).acquire()


def test_dead_pid_on_this_machine_frees_the_lease_at_once(tmp_path):
    """A driver killed with -9 on this machine: its pid is gone, so no need to wait for expiry."""
    store = open_storage(str(tmp_path / "job"))
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    future = (datetime.now(timezone.utc) + timedelta(minutes=10)).isoformat()
    store.write_bytes(LEASE_FILE, stale_holder(machine=machine_id(), pid=child.pid, expires=future))
    assert Holder.from_bytes(store.read_bytes(LEASE_FILE)).dead()
    lease(store).acquire().release()


def test_killed_driver_process_is_dead_and_its_lease_taken_over(tmp_path):
    """A real driver process holding the lease, killed with SIGKILL."""
    root = tmp_path / "job"
    script = (
        "import sys, time\n"
        "from songfarm.pipelines.delivery.lease import Lease, LeaseConfig\n"
        "from songfarm.pipelines.delivery.storage import open_storage\n"
        f"Lease(open_storage({str(root)!r}), 'songfarm render child.yaml', LeaseConfig(interval_s=0.2)).acquire()\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        assert child.stdout.readline().strip() == "held"
        store = open_storage(str(root))
        holder = read_lease(store)
        assert holder.pid == child.pid and not holder.dead() and not holder.expired()
        with pytest.raises(LeaseHeld):
            lease(store).acquire()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        assert read_lease(store).dead()  # status can say so at once
        taker = lease(store).acquire()
        assert read_lease(store).run_id == taker.run_id
        taker.release()
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=10)


def test_wait_for_the_lease(store):
    first = lease(store).acquire()
    timer = threading.Timer(0.5, first.release)
    timer.start()
    try:
        t0 = time.monotonic()
        second = lease(store).acquire(wait=True, poll_s=0.1)
        assert time.monotonic() - t0 >= 0.4 and read_lease(store).run_id == second.run_id
        second.release()
    finally:
        timer.join()
        first.release()


def test_a_lease_taken_over_is_lost(store):
    held = lease(store).acquire()
    try:
        store.write_bytes(LEASE_FILE, stale_holder(run_id="e" * 32, host="thief"))  # another run owns it now
        deadline = time.monotonic() + 5
        while not held.lost and time.monotonic() < deadline:
            time.sleep(0.05)
        assert held.lost
        with pytest.raises(LeaseLost, match="another driver took it over"):
            held.check()
    finally:
        held.release()
    assert read_lease(store).host == "thief"  # release leaves someone else's lease alone


def test_a_lease_not_renewed_cannot_commit(tmp_path):
    store = open_storage(str(tmp_path / "job"))
    held = lease(store).acquire()
    held._stop.set()  # a heartbeat that cannot reach the store, as far as check() can tell
    held._thread.join()
    time.sleep(FAST.expiry_s + 0.1)
    with pytest.raises(LeaseLost, match="not renewed"):
        held.check()
    held.release()


def race(store, n=6, settle_s=0.05):
    """n drivers trying to take the same job at the same instant → how many won."""
    config = LeaseConfig(interval_s=5, settle_s=settle_s)
    leases = [Lease(store, f"driver {i}", config, log=lambda line: None) for i in range(n)]
    barrier = threading.Barrier(n)
    results = [None] * n

    def go(i):
        barrier.wait()
        results[i] = leases[i].try_acquire() is None

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    winners = [lease for lease, won in zip(leases, results) if won]
    assert len(winners) == 1, results
    assert read_lease(store).run_id == winners[0].run_id
    winners[0].release()


def test_race_for_a_fresh_lease(store):
    race(store)


def test_race_for_an_expired_lease(store):
    store.write_bytes(LEASE_FILE, stale_holder())
    race(store)


def test_race_on_a_store_without_conditional_writes(s3_server, s3_bucket):
    """The fallback (write, then read back after a settle delay) still leaves one winner."""
    store = open_storage(f"s3://{s3_bucket}/job", s3_endpoint=s3_server.endpoint)
    store.atomic_writes = False
    race(store, n=4, settle_s=0.5)


def test_s3_conditional_writes_are_atomic(s3_server, s3_bucket):
    """moto (like AWS S3) honours If-None-Match / If-Match; the lease relies on it."""
    store = open_storage(f"s3://{s3_bucket}/job", s3_endpoint=s3_server.endpoint)
    token = store.create_exclusive("x", b"1")
    assert token and store.create_exclusive("x", b"2") is None
    assert store.replace_if("x", b"3", "\"not-the-etag\"") is None
    new = store.replace_if("x", b"4", token)
    assert new and store.read_versioned("x") == (b"4", new) and store.atomic_writes
    assert store.replace_if("x", None, new) == "" and not store.exists("x")
