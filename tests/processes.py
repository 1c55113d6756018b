"""Finding and stopping the processes a test started, from /proc (Linux).

Tests that run `songfarm` or `ray start` as subprocesses start each in a session of its own
(start_new_session=True); everything that process starts (its local Ray: raylet, GCS,
workers) stays in that session, so killing the session stops it all. Never `ray stop`: it
would stop the test session's own Ray and any other on the machine.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Callable


def pids_where(match: Callable[[int, str], bool]) -> list[int]:
    """Pids of the processes for which match(session id, command line) is true."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()  # after "(comm)": state, ppid, pgrp, session, ...
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
        except OSError:
            continue
        if match(int(fields[3]), cmdline):
            pids.append(int(entry))
    return pids


def session_pids(sid: int) -> list[int]:
    """Every process of session `sid` (a driver and the Ray it started)."""
    return pids_where(lambda session, _: session == sid)


def kill_session(sid: int, mention: str | None = None, wait_s: float = 15.0) -> None:
    """SIGKILL every process of session `sid`, and any whose command line mentions
    `mention`; wait until they are gone (at most `wait_s`)."""
    def ours(session: int, cmdline: str) -> bool:
        return session == sid or (mention is not None and mention in cmdline)

    for pid in pids_where(ours):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + wait_s
    while pids_where(ours) and time.monotonic() < deadline:
        time.sleep(0.1)
