"""`songfarm status OUTPUT/JOB`: counts by status, the failures, and a running job's progress.

Reads only what the farm leaves in the job folder — the manifest (newest row per
track), job.yaml (which tracks the job has) and progress.json (the driver's heartbeat) —
so it works on a finished job, a running one, or one whose driver died.
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


def status_lines(rows: dict[str, dict[str, Any]], track_ids: list[str] | None,
                 progress: dict[str, Any] | None, location: str) -> list[str]:
    """The report `status` prints, as lines."""
    counts: dict[str, int] = {}
    for row in rows.values():
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    name = (progress or {}).get("job") or location.rstrip("/").rsplit("/", 1)[-1]
    lines = [f"job {name} at {location}"]
    total = len(track_ids) if track_ids is not None else (progress or {}).get("total", len(rows))
    not_yet = sum(1 for t in track_ids if t not in rows) if track_ids is not None else max(0, total - len(rows))
    lines.append(f"  tracks {total}: accepted {counts.get('accepted', 0)}, rejected {counts.get('rejected', 0)}, "
                 f"failed {counts.get('failed', 0)}, not delivered {not_yet}")
    if progress:
        state, age = progress.get("state", "?"), _age_s(progress.get("heartbeat"))
        if state == "running" and age is not None and age > STALE_S:
            state = f"running? no heartbeat for {age / 60:.0f} min — the driver may have died; run again to resume"
        eta = progress.get("eta_s")
        lines.append(f"  last run: {state}; this run done {progress.get('done', 0)} / failed "
                     f"{progress.get('failed', 0)} / remaining {progress.get('remaining', 0)} of "
                     f"{progress.get('to_render', 0)}" + (f", ETA {eta:.0f} s" if eta and state == "running" else "")
                     + f" (round {progress.get('round', 0)}/{progress.get('max_attempts', 0)}, "
                     f"heartbeat {progress.get('heartbeat', '?')})")
    failed = sorted((tid, r) for tid, r in rows.items() if r["status"] == "failed")
    if failed:
        lines.append("  failures:")
        lines += [f"    {tid}: {r['error_stage']}: {r['error']}" for tid, r in failed]
    return lines


def status(args: argparse.Namespace) -> int:
    """Print the status of the job at `args.location` (OUTPUT/JOB, local or s3://)."""
    from ..pipelines.manifest import current_rows
    from ..pipelines.sink import read_progress
    from ..pipelines.storage import open_storage

    storage = open_storage(args.location, s3_endpoint=getattr(args, "s3_endpoint", None))
    rows = current_rows(storage)
    progress = read_progress(storage)
    track_ids = _job_track_ids(storage)
    if not rows and progress is None and track_ids is None:
        raise StatusError(f"{args.location}: no songfarm job here (no manifest/, job.yaml or progress.json)")
    print("\n".join(status_lines(rows, track_ids, progress, storage.location)))
    return 0
