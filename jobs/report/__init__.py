"""report.html: the morning's listening room for one job — what came out, what it cost, what to redo.

`songfarm render` writes it at the end of every run (interrupted ones too) and `songfarm
report OUTPUT/JOB` writes it again from the job folder alone, local or S3. It is one file
that works offline and wherever it is copied: styles, script, plots and pictures are inside
it, and the audio is linked by relative paths (`audio/...`), or by presigned URLs with
`--presign HOURS` for a private bucket.

    data.py      manifest rows + run records + the job → ReportData, the page's plain model
    usage.py     CPU and GPU seconds per stage, and the cost of what the pools held
    commands.py  the `songfarm render ... --tracks a,b` that redoes exactly some tracks
    links.py     relative paths or presigned URLs
    previews.py  a spectrogram picture per track, cached in previews/ by the audio's SHA-256
    plots.py     matplotlib figures as SVG data: URIs
    page.py      jinja2 → the HTML (templates/report.html.j2, report.css, report.js)
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any, Iterable

from ...models.job import Job
from .links import Links, ReportError

REPORT_FILE = "report.html"

__all__ = ["REPORT_FILE", "ReportError", "report_main", "write_report"]


def write_report(storage, job: Job, rows: dict[str, dict[str, Any]], presign_hours: float | None = None,
                 notes: Iterable[str] = ()) -> str:
    """Write `<job>/report.html` for `job`'s tracks and their current manifest rows (track_id →
    row, manifest.current_rows()); returns its URI. Run records are read from the job folder."""
    from ...pipelines.delivery.runs import read_runs
    from .data import build_report
    from .page import render_page
    from .plots import plots
    from .previews import pictures

    local_yaml = None if storage.location.startswith("s3://") else storage.uri("job.yaml")
    data = build_report(job, rows, read_runs(storage), Links(storage, presign_hours), job_yaml=local_yaml)
    images, picture_notes = pictures(storage, list(rows.values()))
    data.notes += [*notes, *picture_notes]
    return storage.write_bytes(REPORT_FILE, render_page(data, plots(data), images).encode("utf-8"))


def report_main(args: argparse.Namespace) -> int:
    """`songfarm report LOCATION [--s3-endpoint URL] [--presign HOURS]`: (re)write the report
    of the job at LOCATION from what its folder holds (job.yaml, manifest/, runs/)."""
    from ...pipelines.delivery.manifest import read_manifest_parts
    from ...pipelines.delivery.runs import RUNS_DIR
    from ...pipelines.delivery.storage import open_storage

    storage = open_storage(args.location, s3_endpoint=getattr(args, "s3_endpoint", None))
    manifest = read_manifest_parts(storage)
    rows = manifest.current()
    job, notes = read_job(storage)
    if job is None and not rows and not storage.list(RUNS_DIR):
        raise ReportError(f"{args.location}: no songfarm job here (no job.yaml, manifest/ or runs/)")
    if job is None:
        name = storage.location.rstrip("/").rsplit("/", 1)[-1]
        job = Job(name=name, output=storage.location[: -len(name)].rstrip("/") or ".", tracks=[])
    notes += [part.line() for part in manifest.bad_parts]
    uri = write_report(storage, job, rows, presign_hours=getattr(args, "presign", None), notes=notes)
    print(f"report: {uri}")
    return 0


def read_job(storage) -> tuple[Job | None, list[str]]:
    """The job as run, from its job.yaml (read back through the job-file loader), and a note
    when there is none or it no longer loads (the report then lists the manifest's tracks)."""
    from ...models.errors import SongfarmError
    from ..jobfile import load_job

    try:
        text = storage.read_bytes("job.yaml")
    except FileNotFoundError:
        return None, ["No job.yaml in the job folder: tracks not rendered yet cannot be listed."]
    with tempfile.TemporaryDirectory(prefix="songfarm-report-") as scratch:
        path = Path(scratch) / "job.yaml"
        path.write_bytes(text)
        try:
            job = load_job(path)
        except SongfarmError as exc:
            first = str(exc).replace(str(path), "job.yaml").splitlines()
            return None, [f"job.yaml does not load ({' '.join(line.strip() for line in first[:2])}): "
                          "only tracks with manifest rows are listed."]
    job.source = ""  # the scratch copy; the re-render command comes from the run records or job.yaml
    return job, []
