"""The job lease: one driver at a time owns a job's output.

Two drivers rendering into the same job folder would each deliver the same tracks and
could commit rows for files the other replaced. So `songfarm render` first takes the
lease, an object `lease.json` in the job's storage (local folder or S3), and holds it
while it renders:

    {"run_id": "…", "host": "…", "pid": 123, "command": "songfarm render …",
     "since": "2026-…Z", "heartbeat": "2026-…Z", "expires": "2026-…Z", "interval_s": 5.0, …}

- Taking it is race-safe: a fresh lease is created only where none exists (O_EXCL locally,
  `If-None-Match: *` on S3); an expired one is replaced only if it is still the version
  read (a lock file locally, `If-Match: <ETag>` on S3), then read back after a short
  settle delay. Of two drivers starting together exactly one wins.
- A heartbeat thread renews it every `interval_s`; it expires `expiry_intervals`
  intervals after the last renewal, so a driver killed with -9 frees the job within
  seconds. On the same machine a dead holder's pid is noticed at once.
- A driver that finds the lease taken by another run (it expired while this one was
  stalled) marks it lost; `check()` raises `LeaseLost` and the farm stops before it
  commits another row.
- It is released (deleted) on a normal exit and on an interrupt.

A second driver gets `LeaseHeld` (exit status 3, "retry later") naming the holder, or
with `acquire(wait=True)` waits until the lease is free.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from ...models.errors import SongfarmError

LEASE_FILE = "lease.json"


class LeaseError(SongfarmError):
    """The job's lease cannot be had or was lost: another driver, or a store that is down.
    Worth retrying later (exit status 3)."""


class LeaseHeld(LeaseError):
    """Another live driver holds the job's lease."""


class LeaseLost(LeaseError):
    """This driver no longer holds the lease: another run took it, or it could not be renewed."""


@dataclass
class LeaseConfig:
    interval_s: float = 5.0  # seconds between heartbeats
    expiry_intervals: float = 3.0  # the lease expires this many intervals after the last heartbeat
    settle_s: float = 0.5  # wait before reading back a takeover (a racing writer lands by then)
    slack_s: float = 2.0  # `status` calls a holder on another machine dead after interval_s + slack_s

    @property
    def expiry_s(self) -> float:
        return self.interval_s * self.expiry_intervals


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds")


def _parse_time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def machine_id() -> str:
    """Which process table a pid belongs to: the boot id and pid namespace (two containers
    may share a host name but not this), or the host name where /proc has neither."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        return f"{boot}:{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return socket.gethostname()


def _proc_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (None without /proc): with the pid
    it names one process, even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]  # a zombie has exited already


def pid_alive(pid: int, start: str | None = None) -> bool:
    """Whether process `pid` (started at `start`, when known) still runs on this machine."""
    if start is not None and os.path.isdir("/proc/self"):
        return _proc_start(pid) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    return True


@dataclass
class Holder:
    """What lease.json says."""

    run_id: str  # random, one per driver run
    host: str
    pid: int
    command: str  # the command line, for the message a second driver gets
    since: str  # ISO time the lease was taken
    heartbeat: str  # ISO time of the last renewal
    expires: str  # ISO time it lapses without a renewal
    interval_s: float
    machine: str = ""  # machine_id() of the holder
    pid_start: str | None = None  # _proc_start() of the holder

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), indent=1, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Holder":
        d = json.loads(data)
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in names})

    def heartbeat_age_s(self, now: datetime | None = None) -> float | None:
        t = _parse_time(self.heartbeat)
        return None if t is None else ((now or _now()) - t).total_seconds()

    def same_machine(self) -> bool:
        return bool(self.machine) and self.machine == machine_id()

    def expired(self, now: datetime | None = None) -> bool:
        """Free to take: past its expiry, or its process is gone (checked on the same machine)."""
        expires = _parse_time(self.expires)
        if expires is None or (now or _now()) >= expires:
            return True
        return self.same_machine() and not pid_alive(self.pid, self.pid_start)

    def dead(self, slack_s: float = LeaseConfig.slack_s, now: datetime | None = None) -> bool:
        """For `status`: the process is gone (same machine), or it missed a heartbeat."""
        if self.same_machine():
            return not pid_alive(self.pid, self.pid_start)
        age = self.heartbeat_age_s(now)
        return age is None or age > self.interval_s + slack_s

    def describe(self, now: datetime | None = None) -> str:
        age = self.heartbeat_age_s(now)
        beat = "?" if age is None else f"{max(0.0, age):.0f} s ago"
        return (f"host {self.host}, pid {self.pid}, run {self.run_id[:8]} ({self.command or '?'}) since {self.since}, "
                f"last heartbeat {beat}")


def read_lease(storage) -> Holder | None:
    """The holder lease.json names, or None when there is none (or it cannot be parsed)."""
    try:
        return Holder.from_bytes(storage.read_bytes(LEASE_FILE))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        return None


class Lease:
    """This driver's claim on a job folder. Use as a context manager, or acquire()/release():

        with Lease(storage, command="songfarm render job.yaml").acquire(wait=False) as lease:
            ...
            lease.check()  # before each commit: raises LeaseLost if another run has the job now
    """

    def __init__(self, storage, command: str = "", config: LeaseConfig | None = None,
                 log: Callable[[str], None] | None = None):
        self.storage = storage
        self.command = command or " ".join(["songfarm", *sys.argv[1:]])
        self.config = config or LeaseConfig()
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.run_id = uuid.uuid4().hex
        self.since = ""
        self.held = False
        self._token: str | None = None  # version of lease.json we last wrote
        self._renewed = 0.0  # monotonic time of the last successful write
        self._lost = ""  # why the lease was lost ('' while held)
        self._error = ""  # the last renewal error (store trouble), for the LeaseLost message
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # renewals (heartbeat thread) vs release (main thread)

    # The lease's content, fresh for each write.
    def _holder(self) -> Holder:
        now = _now()
        return Holder(run_id=self.run_id, host=socket.gethostname(), pid=os.getpid(), command=self.command,
                      since=self.since or _iso(now), heartbeat=_iso(now),
                      expires=_iso(datetime.fromtimestamp(now.timestamp() + self.config.expiry_s, timezone.utc)),
                      interval_s=self.config.interval_s, machine=machine_id(), pid_start=_proc_start(os.getpid()))

    def _read(self) -> tuple[Holder | None, str | None, bytes | None]:
        """(holder, token, raw bytes) of lease.json; (None, None, None) when there is none."""
        try:
            data, token = self.storage.read_versioned(LEASE_FILE)
        except FileNotFoundError:
            return None, None, None
        try:
            return Holder.from_bytes(data), token, data
        except (ValueError, TypeError):
            return None, token, data  # empty or cut short: being created right now, or left broken

    def _won(self, settle: bool) -> bool:
        """Read back after our write: still ours? (With settle, a racing writer has landed by then.)"""
        if settle:
            time.sleep(self.config.settle_s)
        holder, current, _ = self._read()
        if holder is None or holder.run_id != self.run_id:
            return False
        self._token, self._renewed, self.held = current, time.monotonic(), True
        return True

    def try_acquire(self) -> Holder | None:
        """One attempt: None when this run now holds the lease, else the live holder."""
        self.since = _iso(_now())
        broken_seen: str | None = None
        while True:
            holder, token, raw = self._read()
            if raw is None:
                new = self.storage.create_exclusive(LEASE_FILE, self._holder().to_bytes())
                if new is not None and self._won(settle=not self.storage.atomic_writes):
                    return None
                continue  # someone created it first (or our retried put had landed): look again
            if holder is not None and holder.run_id == self.run_id:  # ours, e.g. a retried put
                self._token, self._renewed, self.held = token, time.monotonic(), True
                return None
            if holder is None:
                # Unparsable: a lease being written this instant, or one left broken. Look twice
                # a settle delay apart; the same broken bytes both times count as expired.
                if broken_seen != token:
                    broken_seen = token
                    time.sleep(self.config.settle_s)
                    continue
            elif not holder.expired():
                return holder
            new = self.storage.replace_if(LEASE_FILE, self._holder().to_bytes(), token)
            if new is not None and self._won(settle=True):
                self.log("songfarm: took over the job's lease from a driver that is gone"
                         + (f" ({holder.describe()})" if holder else ""))
                return None
            # Lost the race for it (or it changed under us): look again.

    def acquire(self, wait: bool = False, poll_s: float | None = None) -> "Lease":
        """Take the lease and start the heartbeat. A live holder: LeaseHeld, or with `wait`
        poll every `poll_s` (default: the heartbeat interval) until it is free."""
        announced = False
        while True:
            holder = self.try_acquire()
            if holder is None:
                break
            if not wait:
                raise LeaseHeld(f"{self.storage.location}: the job is being rendered by another driver ("
                                f"{holder.describe()}); retry later, or wait for it with --wait")
            if not announced:
                self.log(f"songfarm: waiting for the job's lease ({holder.describe()})")
                announced = True
            time.sleep(poll_s or self.config.interval_s)
        self._stop.clear()
        self._thread = threading.Thread(target=self._heartbeat, name="songfarm-lease", daemon=True)
        self._thread.start()
        return self

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.config.interval_s):
            try:
                self.renew()
            except Exception as exc:  # the store is down: check() decides when that costs the lease
                self._error = " ".join(str(exc).split())
            if self._lost:
                self.log(f"songfarm: lost the job's lease: {self._lost}")
                return

    def renew(self) -> None:
        """One heartbeat: rewrite lease.json if it is still the version we wrote."""
        with self._lock:
            if not self.held or self._lost:
                return
            new = self.storage.replace_if(LEASE_FILE, self._holder().to_bytes(), self._token)
            if new is None:  # changed since our last write: by whom?
                holder, token, _ = self._read()
                if holder is not None and holder.run_id == self.run_id:
                    self._token = token  # ours (a retried write whose answer was lost); renew next time
                    return
                self._lost = ("another driver took it over (" + holder.describe() + ")" if holder
                              else "lease.json was removed")
                return
            self._token, self._renewed, self._error = new, time.monotonic(), ""

    @property
    def lost(self) -> bool:
        """True once the heartbeat found the lease taken by another run (or removed)."""
        return bool(self._lost)

    def check(self) -> None:
        """Raise LeaseLost unless this run still holds the lease: call before committing rows.
        No I/O: it reads what the heartbeat found, and whether the last renewal is older than
        the expiry (then another driver may take the job at any moment)."""
        if self._lost:
            raise LeaseLost(f"{self.storage.location}: this run lost the job's lease: {self._lost}")
        if not self.held:
            raise LeaseLost(f"{self.storage.location}: this run does not hold the job's lease")
        stale = time.monotonic() - self._renewed
        if stale > self.config.expiry_s:
            raise LeaseLost(f"{self.storage.location}: the job's lease was not renewed for {stale:.0f} s"
                            + (f" ({self._error})" if self._error else ""))

    assert_held = check

    def release(self) -> None:
        """Stop the heartbeat and delete lease.json if it is still ours; safe to call twice."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.config.interval_s + 30)
        with self._lock:
            if not self.held:
                return
            self.held = False
            if self._lost:
                return
            try:
                holder, token, _ = self._read()
                if holder is not None and holder.run_id == self.run_id:
                    self.storage.replace_if(LEASE_FILE, None, token)
            except Exception as exc:  # a store that is down: keep the error that got us here
                self.log(f"songfarm: could not release the job's lease (it expires by itself in "
                         f"{self.config.expiry_s:.0f} s): {' '.join(str(exc).split())}")

    def __enter__(self) -> "Lease":
        if not self.held:
            self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
JobLease = Lease  # the name the farm driver's docs use
