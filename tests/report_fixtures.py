"""Toy jobs for the report's tests and its benchmark (bench/bench_report.py); no tests here.

A job is rendered for real, in this process (no Ray): each track goes through the stage
shells and the lifecycle (pipelines/core/local.py) and lands through the Sink, as the farm
delivers it. A run record like the farm's is written beside it (what the farm measures
needs Ray; its fields are pipelines/delivery/runs.py's).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from songfarm.jobs.jobfile import job_to_yaml, load_job
from songfarm.models.job import Job
from songfarm.models.request import TrackRequest
from songfarm.models.settings import RenderSettings
from songfarm.pipelines.core.local import render_track
from songfarm.pipelines.core.shell import stage_shells
from songfarm.pipelines.delivery import runs
from songfarm.pipelines.delivery.manifest import current_rows
from songfarm.pipelines.delivery.sink import Sink, take_tags

PROMPTS = {"calm": "a calm lo-fi beat in A minor at 80 bpm", "pop": "an upbeat pop song in C major at 120 bpm",
           "waltz": "a folk waltz in G major, 3/4, 96 bpm"}
# Both tables given: job.yaml writes an empty one as {} and load_job refuses that (reported to the integrator).
PRICES = {"currency": "EUR", "per_hour": {"CPU": 0.05, "GPU": 2.0}, "node_types": {"gpu_worker": 3.0}}
# What an estimate made before the run might have said (fields: jobs/estimate.py Estimate.to_dict()).
ESTIMATE = {"tracks": 5, "audio_s": 15.0, "wall_s": 20.0, "startup_s": {"ray": 6.0, "actors": 4.0}, "rounds": 1,
            "attempts": 1.0, "stage_s": {"planner": 0.1, "generator": 1.5, "verifier": 1.5},
            "stage_cpu_s": {"planner": 0.1, "generator": 1.5, "verifier": 1.5},
            "actors": {"planner": 1, "generator": 1, "verifier": 1}, "source": "calibration",
            "source_detail": "3 tracks rendered in this process", "cost": 0.0004, "currency": "EUR",
            "resource_hours": {"CPU": 0.008}, "node_hours": {}, "made_at": "2026-12-01T22:00:00+00:00"}


def write_job_file(folder: Path, name: str, tracks: list[dict], prices: dict | None = None) -> Path:
    """A YAML job file of 3-second tracks, one round each."""
    data = {"name": name, "output": str(folder / "renders"), "defaults": {"duration_s": 3, "max_attempts": 1},
            "tracks": tracks}
    if prices:
        data["prices"] = prices
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def picky(settings: RenderSettings) -> RenderSettings:
    """The same settings with a verifier no take can satisfy (a loudness target of -40 LUFS,
    and loudness is a required check): its tracks are delivered "rejected"."""
    out = copy.deepcopy(settings)
    out.backends["verifier"].options["target_lufs"] = -40.0
    return out


def render_in_process(job: Job, storage, requests: list[TrackRequest], settings: RenderSettings | None = None) -> None:
    """Render `requests` (tracks of `job`) in this process into `storage`, as the farm delivers them."""
    settings = settings or job.settings
    shells = stage_shells(settings)
    sink = Sink(storage, job.name, settings.delivery)
    sink.write_job_yaml(job_to_yaml(job))
    for request in requests:
        done = render_track(request, shells, settings)
        files = None
        if done.take is not None:
            take = done.take
            files = sink.write_files(request.id, take, take_tags(job.name, request, take))
        sink.add_row(done.life.manifest_values(files))
    sink.flush()


def write_run_record(storage, job: Job, command: str, estimate: dict | None = None, state: str = "finished") -> None:
    """A run record of the tracks now in the manifest (wall time from their rendered_at)."""
    rows = current_rows(storage)
    stamps = sorted(r["rendered_at"] for r in rows.values())
    end = stamps[-1] if stamps else datetime.now(timezone.utc)
    start = (stamps[0] if stamps else end) - timedelta(seconds=2)
    counts: dict[str, int] = {}
    for r in rows.values():
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    pools = {stage: {"actors": 1, "min_actors": 1, "max_actors": 1, "num_cpus": 1.0, "num_gpus": 0.0,
                     "resources": {}, "batch_size": 1} for stage in ("planner", "generator", "verifier")}
    record = {"job": job.name, "state": state, "command": command, "started_at": start.isoformat(timespec="seconds"),
              "ended_at": end.isoformat(timespec="seconds"), "wall_s": (end - start).total_seconds(),
              "ray_start_s": 0.0, "first_take_s": 1.0, "to_render": len(rows), "total": len(job.tracks),
              "skipped": 0, "rounds": job.settings.max_attempts, "counts": counts,
              "stage_s": {"plan": 0.1, "generate": 1.0, "verify": 1.0, "sink": 0.1},
              "stage_cpu_s": {s: sum(float(r[f"{s}_cpu_s"] or 0) for r in rows.values()) for s in pools},
              "pools": pools, "nodes": {}, "placement": {}, "lost_nodes": {}, "retried_takes": {},
              "estimate": estimate, "prices": job.prices.to_dict() if job.prices.given else None}
    runs.write_run(storage, runs.run_name(), record)


def mixed_job(folder: Path, storage=None):
    """A job with every kind of outcome, rendered into `storage` (default: its own output):
    accepted (calm-*), rejected (loud-*, a verifier no take satisfies), failed (bad-key, whose
    planner gets key H#: the job file refuses it, so it is handed to the planner directly, as a
    stage failing on one row at run time would be) and never rendered (later, whose prompt tries to end the page's
    script element). Returns (job, storage, job file)."""
    from songfarm.pipelines.delivery.storage import open_storage

    tracks = [{"id": "calm-0", "prompt": PROMPTS["calm"], "seed": 1}, {"id": "calm-1", "prompt": PROMPTS["pop"]},
              {"id": "loud-0", "prompt": PROMPTS["waltz"]}, {"id": "loud-1", "prompt": PROMPTS["pop"], "seed": 3},
              {"id": "bad-key", "prompt": "a song in E major"},
              {"id": "later", "prompt": "</script><script>document.title='owned'</script> a quiet nocturne"}]
    path = write_job_file(folder, "night", tracks, prices=PRICES)
    job = load_job(path)
    storage = storage or open_storage(job.location)
    track = {t.id: t for t in job.tracks}
    render_in_process(job, storage, [track["calm-0"], track["calm-1"], dataclasses.replace(track["bad-key"], key="H#")])
    render_in_process(job, storage, [track["loud-0"], track["loud-1"]], picky(job.settings))
    write_run_record(storage, job, f"songfarm render {path} --rerender failed", estimate=ESTIMATE)
    return job, storage, path


def page_json(html: str, element_id: str):
    """The JSON a report page carries in <script type="application/json" id=element_id>:
    "rows-data" (the track table's rows) or "pictures-data" (picture key → data: URI)."""
    opening = f'<script type="application/json" id="{element_id}">'
    start = html.index(opening) + len(opening)
    return json.loads(html[start:html.index("</script>", start)])


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # a line per request on stderr is noise


@contextlib.contextmanager
def serve_folder(folder: str | Path):
    """A job folder served over HTTP on 127.0.0.1 (as a bucket or a file server serves it): its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
