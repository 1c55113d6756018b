"""`songfarm status OUTPUT/JOB [--verify]`: counts by status, the failures, and the driver.

Reads only what the farm leaves in the job folder — the manifest (newest row per
track), job.yaml (which tracks the job has), progress.json (the driver's counts) and
lease.json (which driver holds the job, and its heartbeat) — so it works on a finished
job, a running one, or one whose driver died:

    running      a driver holds the lease and its heartbeat is fresh (host, pid, since)
    dead         the lease is still there but its driver is gone: its pid has exited (same
                 machine) or it missed a heartbeat; run the job again to resume
    finished / interrupted / failed   how the last run ended (progress.json)

An unreadable manifest part is named, one line each. With --verify every current row's
files are read back and compared with the row (size, SHA-256), and files no row points
to are listed; the exit status is then 1 when anything does not match.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from typing import Any

import yaml

from ..models.errors import SongfarmError

STALE_S = 120  # a "running" job whose heartbeat is older than this has probably lost its driver


class StatusError(SongfarmError):
    """The location holds no songfarm job."""


def _job_track_ids(storage) -> list[str] | None:
    try:
        data = yaml.safe_load(storage.read_bytes("job.yaml"))
    except FileNotFoundError:
        return None
    return [str(t["id"]) for t in (data or {}).get("tracks") or []]


def _age_s(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return (datetime.now(timezone.utc) - datetime.fromisoformat(stamp)).total_seconds()
    except ValueError:
        return None


def driver_state(progress: dict[str, Any] | None, holder=None) -> str:
    """running / dead / how the last run ended, from progress.json and lease.json."""
    if holder is not None:
        return "dead" if holder.dead() else "running"
    state = (progress or {}).get("state", "?")
    age = _age_s((progress or {}).get("heartbeat"))
    if state == "running" and age is not None and age > STALE_S:
        # No lease (a driver of an older songfarm) and no heartbeat for a long while.
        return f"running? no heartbeat for {age / 60:.0f} min — the driver may have died; run again to resume"
    return state


def status_lines(rows: dict[str, dict[str, Any]], track_ids: list[str] | None,
                 progress: dict[str, Any] | None, location: str, holder=None, bad_parts=()) -> list[str]:
    """The report `status` prints, as lines. `holder` is lease.read_lease(), `bad_parts`
    manifest.read_manifest_parts().bad_parts."""
    counts: dict[str, int] = {}
    for row in rows.values():
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    name = (progress or {}).get("job") or location.rstrip("/").rsplit("/", 1)[-1]
    lines = [f"job {name} at {location}"]
    total = len(track_ids) if track_ids is not None else (progress or {}).get("total", len(rows))
    not_yet = sum(1 for t in track_ids if t not in rows) if track_ids is not None else max(0, total - len(rows))
    lines.append(f"  tracks {total}: accepted {counts.get('accepted', 0)}, rejected {counts.get('rejected', 0)}, "
                 f"failed {counts.get('failed', 0)}, not delivered {not_yet}")
    state = driver_state(progress, holder)
    if progress:
        eta = progress.get("eta_s")
        lines.append(f"  last run: {state}; this run done {progress.get('done', 0)} / failed "
                     f"{progress.get('failed', 0)} / remaining {progress.get('remaining', 0)} of "
                     f"{progress.get('to_render', 0)}" + (f", ETA {eta:.0f} s" if eta and state == "running" else "")
                     + f" (round {progress.get('round', 0)}/{progress.get('max_attempts', 0)}, "
                     f"heartbeat {progress.get('heartbeat', '?')})")
    if holder is not None and state == "running":
        lines.append(f"  driver: running — {holder.describe()}")
    elif holder is not None:
        age = holder.heartbeat_age_s()
        lines.append(f"  driver: dead — last heartbeat {age or 0:.0f} s ago (host {holder.host}, pid {holder.pid}, "
                     f"since {holder.since}); run the job again to resume")
    lines += [f"  {part.line()}" for part in bad_parts]
    failed = sorted((tid, r) for tid, r in rows.items() if r["status"] == "failed")
    if failed:
        lines.append("  failures:")
        lines += [f"    {tid}: {r['error_stage']}: {r['error']}" for tid, r in failed]
    return lines


def status(args: argparse.Namespace) -> int:
    """Print the status of the job at `args.location` (OUTPUT/JOB, local or s3://)."""
    from ..pipelines.delivery.lease import read_lease
    from ..pipelines.delivery.manifest import read_manifest_parts
    from ..pipelines.delivery.sink import read_progress
    from ..pipelines.delivery.storage import open_storage
    from ..pipelines.delivery.verify import verify_rows

    storage = open_storage(args.location, s3_endpoint=getattr(args, "s3_endpoint", None))
    manifest = read_manifest_parts(storage)
    rows = manifest.current()
    progress = read_progress(storage)
    holder = read_lease(storage)
    track_ids = _job_track_ids(storage)
    if not rows and progress is None and track_ids is None and holder is None and not manifest.bad_parts:
        raise StatusError(f"{args.location}: no songfarm job here (no manifest/, job.yaml or progress.json)")
    print("\n".join(status_lines(rows, track_ids, progress, storage.location, holder, manifest.bad_parts)))
    if not getattr(args, "verify", False):
        return 0
    report = verify_rows(storage, rows, rehash=True, history=manifest.table.to_pylist())
    print(f"  {report.summary()}")
    print("\n".join(f"    {p.line()}" for p in report.problems) or "    every file matches its row")
    return 0 if report.ok and not manifest.bad_parts else 1
