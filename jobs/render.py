"""`songfarm render JOB`: run a job on Ray into its output, resuming where it left off.

    1. read and check the job file (every problem reported before anything renders);
    2. check the output is writable (a missing bucket or a read-only folder fails here);
    3. read the manifest already there and pick the tracks to render: those without a
       row, plus `--rerender` statuses, or all of them with `--force`;
    4. connect to Ray (a local one sized for this machine, or --address), fit the pools;
    5. run the farm (pipelines.batch), then write report.html and print a summary.

Exit status: 0 when every track of the job is delivered (accepted or rejected), 1 when
some tracks failed, 2 for problems the user can fix (bad job, unwritable output, ...).
"""

from __future__ import annotations

import argparse
import sys
import time

from ..models.errors import SongfarmError
from ..models.request import TrackRequest

RERENDER_STATUSES = ("accepted", "rejected", "failed")
# Backends that can use a GPU where the cluster has one.
GPU_BACKENDS = {"diffusion", "clap", "llm"}


class RenderError(SongfarmError):
    """A problem with the render command's options."""


def parse_rerender(text: str | None) -> set[str]:
    """'failed,rejected' → {'failed', 'rejected'}; unknown statuses are an error."""
    statuses = {s.strip() for s in (text or "").split(",") if s.strip()}
    unknown = sorted(statuses - set(RERENDER_STATUSES))
    if unknown:
        raise RenderError(f"--rerender {text!r}: unknown status {unknown[0]!r} (use {', '.join(RERENDER_STATUSES)})")
    return statuses


def select_tracks(tracks: list[TrackRequest], current: dict[str, dict], rerender: set[str] = frozenset(),
                  force: bool = False) -> list[TrackRequest]:
    """The tracks to render: those without a manifest row, those whose current row's status
    is in `rerender`, or every track with `force`. `current` is manifest.current_rows()."""
    if force:
        return list(tracks)
    return [t for t in tracks if t.id not in current or current[t.id]["status"] in rerender]


def render(args: argparse.Namespace) -> int:
    """Run `args.job` (see the module docstring); returns the exit status."""
    from ..cluster.connect import connect, disconnect, starts_local_ray
    from ..cluster.profiles import resolve
    from ..models.factory import preflight
    from ..pipelines.batch import Farm, stage_options
    from ..pipelines.manifest import current_rows
    from ..pipelines.sink import Sink
    from ..pipelines.storage import open_storage
    from .jobfile import job_to_yaml, load_job
    from .report import write_report

    rerender = parse_rerender(getattr(args, "rerender", ""))
    job = load_job(args.job, output=getattr(args, "output", None), s3_endpoint=getattr(args, "s3_endpoint", None))
    storage = open_storage(job.location, s3_endpoint=job.s3_endpoint)
    storage.check_writable()
    current = current_rows(storage)
    todo = select_tracks(job.tracks, current, rerender, bool(getattr(args, "force", False)))
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    say(f"songfarm: job {job.name}: {len(job.tracks)} tracks, {len(job.tracks) - len(todo)} already in the "
        f"manifest, {len(todo)} to render → {storage.location}")

    if todo:
        address = getattr(args, "address", None)
        if starts_local_ray(address):
            # A local cluster sees the same files as this process: a missing checkpoint or a
            # bad option fails here in a second, with one line, before Ray starts. (On a remote
            # cluster the paths are the workers'; Farm.run reports the same error from there.)
            for stage, spec in job.backends.items():
                preflight(stage, spec.name, stage_options(job, stage))
        t0 = time.perf_counter()
        cluster = connect(address)
        try:
            gpu_stages = tuple(s for s, spec in job.backends.items() if spec.name in GPU_BACKENDS)
            job.resources, notes = resolve(job.resources, cluster.cpus, cluster.gpus, gpu_stages)
            for note in notes:
                say(f"songfarm: {note}")
            sink = Sink(storage, job.name, job.delivery)
            sink.write_job_yaml(job_to_yaml(job))
            result = Farm(job, sink).run(todo, progress_extra={"total": len(job.tracks),
                                                               "skipped": len(job.tracks) - len(todo)})
        finally:
            disconnect(cluster)
        say(f"songfarm: rendered {len(todo)} tracks in {time.perf_counter() - t0:.1f} s "
            f"(Ray start {cluster.start_s:.1f} s, {result.rounds} rounds)")

    rows = current_rows(storage)
    report_uri = write_report(storage, job, rows)
    counts = {s: sum(1 for t in job.tracks if rows.get(t.id, {}).get("status") == s) for s in RERENDER_STATUSES}
    missing = sum(1 for t in job.tracks if t.id not in rows)
    print(f"job {job.name}: {counts['accepted']} accepted, {counts['rejected']} rejected, {counts['failed']} failed"
          + (f", {missing} missing" if missing else "") + f" of {len(job.tracks)} → {storage.location}")
    for t in job.tracks:
        row = rows.get(t.id)
        if row and row["status"] == "failed":
            print(f"  failed {t.id}: {row['error_stage']}: {row['error']}")
    print(f"report: {report_uri}")
    return 1 if counts["failed"] or missing else 0
