"""`songfarm render JOB`: run a job on Ray into its output, resuming where it left off.

    1. read and check the job file (every problem reported before anything renders);
    2. check the output is writable (a missing bucket or a read-only folder fails here);
    3. take the job's lease (pipelines/delivery/lease.py): one driver at a time per job
       folder; a second one stops with exit status 3, or with --wait waits its turn;
    4. read the manifest already there (an unreadable part is named and set aside, and its
       tracks render again), check every current row's files against one listing (with
       --verify also their SHA-256), remove files no row points to, and pick the tracks to
       render: those without a row, those whose files do not verify, those whose request
       or settings changed since (a different fingerprint; --keep-changed keeps them), plus
       `--rerender` statuses, or all of them with `--force`;
    5. connect to Ray (a local one sized for this machine, or --address), fit the pools; on an
       existing cluster check it can hold them (cluster/capacity.py: a job it never can stops
       here with exit 2, naming each stage's ask and the nodes) and, where an autoscaler runs,
       ask it ahead for the nodes a big job needs (withdrawn after the job);
    6. run the farm (pipelines.farm.driver) under a live progress display (plain lines every
       few seconds where stderr is no terminal; jobs/progress.py), then write report.html and
       print the last lines: the counts, the report, this run's log and the commands that
       render failed, rejected or missing tracks again.

Ray's own lines (ray.init's, Ray Data's plans and progress dumps, the actors' output, the C++
core's stderr) go to Ray's session files and to this run's log, <job>/logs/render-<UTC>.log
(on S3 put when the run ends), not to the terminal; --verbose shows them as Ray prints them.

Exit status (also in `songfarm render --help`):
    0    every track of the job is delivered (accepted or rejected)
    1    some tracks failed (each has a manifest row with the stage and the error)
    2    bad input: the job file, an option, an unwritable output, or pools the cluster can
         never hold (CapacityError: change the job's resources or the cluster)
    3    the store or the cluster is unavailable, or another driver holds the job: retry later
    130  interrupted (Ctrl-C or SIGTERM); the run's end is recorded as "interrupted"
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
from typing import Any, Iterable

from ..models.errors import SongfarmError
from ..models.request import TrackRequest

RERENDER_STATUSES = ("accepted", "rejected", "failed")
# Backends that can use a GPU where the cluster has one.
GPU_BACKENDS = {"diffusion", "clap", "llm"}


def gpu_stages(job) -> tuple[str, ...]:
    """The stages whose backend can use a GPU (their GPU asks are kept where a GPU is)."""
    return tuple(s for s, spec in job.settings.backends.items() if spec.name in GPU_BACKENDS)


class RenderError(SongfarmError):
    """A problem with the render command's options."""


def parse_rerender(text: str | None) -> set[str]:
    """'failed,rejected' → {'failed', 'rejected'}; unknown statuses are an error."""
    statuses = {s.strip() for s in (text or "").split(",") if s.strip()}
    unknown = sorted(statuses - set(RERENDER_STATUSES))
    if unknown:
        raise RenderError(f"--rerender {text!r}: unknown status {unknown[0]!r} (use {', '.join(RERENDER_STATUSES)})")
    return statuses


def parse_track_ids(text: str | None, tracks: list[TrackRequest]) -> set[str] | None:
    """'a,b,c' → {'a', 'b', 'c'} (None when not given); an id the job lacks is an error."""
    if text is None:
        return None
    ids = {s.strip() for s in text.split(",") if s.strip()}
    known = {t.id for t in tracks}
    unknown = sorted(ids - known)
    if not ids or unknown:
        raise RenderError(f"--tracks {text!r}: " + (f"no track {unknown[0]!r} in the job" if unknown
                                                    else "give track ids, comma-separated"))
    return ids


def select_tracks(tracks: list[TrackRequest], current: dict[str, dict], rerender: set[str] = frozenset(),
                  force: bool = False, broken: Iterable[str] = frozenset(),
                  changed: Iterable[str] = frozenset(), only: set[str] | None = None) -> list[TrackRequest]:
    """The tracks to render: those without a manifest row, those whose current row's status
    is in `rerender`, those in `broken` (files that do not verify) or `changed` (a different
    fingerprint, see changed_tracks), or every track with `force`. With `only` (--tracks),
    exactly those tracks, rendered again whatever their rows say. `current` is
    manifest.current_rows()."""
    if only is not None:
        return [t for t in tracks if t.id in only]
    if force:
        return list(tracks)
    again = set(broken) | set(changed)
    return [t for t in tracks if t.id not in current or current[t.id]["status"] in rerender or t.id in again]


def changed_tracks(tracks: list[TrackRequest], current: dict[str, dict], settings) -> list[str]:
    """Ids of the tracks whose row was rendered from another request or other settings: the
    row's `fingerprint` differs from fingerprint(request, settings). Rows without one (older
    manifests) count as unchanged."""
    from ..pipelines.core.fingerprint import fingerprint

    out = []
    for t in tracks:
        old = (current.get(t.id) or {}).get("fingerprint") or ""
        if old and old != fingerprint(t, settings):
            out.append(t.id)
    return out


def id_list(ids: Iterable[str], first: int = 5) -> str:
    """'a, b, c' or 'a, b, c, d, e and 7 more': track ids for a one-line message."""
    ids = list(ids)
    shown = ", ".join(ids[:first])
    return shown + (f" and {len(ids) - first} more" if len(ids) > first else "")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _catch_sigterm() -> Any:
    """SIGTERM (a scheduler stopping the job, `kill`) ends the run like Ctrl-C: the farm records
    it as interrupted and the lease is released. Returns the handler it replaced (None off the
    main thread, where Python cannot set one). ray.init sets its own, so call again after it."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _interrupt)


def _set_aside(storage, path: str) -> str:
    """Move an unreadable manifest part out of manifest/ (kept, for whoever wants to look)."""
    target = "unreadable/" + path
    storage.write_bytes(target, storage.read_bytes(path))
    storage.delete(path)
    return target


def render(args: argparse.Namespace) -> int:
    """Run `args.job` (see the module docstring); returns the exit status."""
    from ..pipelines.delivery.lease import Lease
    from ..pipelines.delivery.storage import open_storage
    from .jobfile import load_job
    from .progress import RunLog

    rerender = parse_rerender(getattr(args, "rerender", ""))
    job = load_job(args.job, output=getattr(args, "output", None), s3_endpoint=getattr(args, "s3_endpoint", None))
    storage = open_storage(job.location, s3_endpoint=job.s3_endpoint)
    storage.check_writable()
    log = RunLog(storage)  # opened only when this run renders something

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)
        log.line(line)

    previous = _catch_sigterm()
    lease = Lease(storage, command=f"songfarm render {args.job}", log=say)
    try:
        lease.acquire(wait=bool(getattr(args, "wait", False)))
        return _render_held(args, job, storage, lease, rerender, say, log)
    except BaseException:
        if log.opened:  # a render had begun: report what was delivered; the error's own line follows (jobs/cli.py)
            _report_what_landed(storage, job, say)
            print(f"songfarm: this run's log: {log.uri}", file=sys.stderr, flush=True)
        raise
    finally:
        _close_log(log, say)
        lease.release()  # nothing to do when it was never taken
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _report_what_landed(storage, job, say) -> None:
    """After an interrupted or failed run: the report of what the manifest holds now, so the
    morning's page exists however the night ended. The store may be what failed: then only
    a line says so, and the run's own error stands."""
    from ..pipelines.delivery.manifest import current_rows
    from .report import write_report

    try:
        say(f"songfarm: report of what was delivered: {write_report(storage, job, current_rows(storage))}")
    except Exception as exc:
        say(f"songfarm: could not write the report: {type(exc).__name__}: {exc}")


def _close_log(log, say) -> None:
    from ..pipelines.delivery.storage import StorageError

    try:
        log.close()
    except (StorageError, OSError) as exc:  # the run's outcome stands without its log
        say(f"songfarm: could not write this run's log {log.uri}: {exc}")


def _render_held(args: argparse.Namespace, job, storage, lease, rerender: set[str], say, log) -> int:
    """Steps 4-6 of the module docstring, with the job's lease held; `log` is the run's RunLog."""
    from ..cluster.connect import connect, disconnect, ray_logs, starts_local_ray
    from ..cluster.profiles import resolve
    from ..models.factory import preflight
    from ..pipelines.delivery.manifest import read_manifest_parts
    from ..pipelines.delivery.sink import Sink
    from ..pipelines.delivery.verify import verify_rows
    from ..pipelines.farm.driver import Farm, FarmConfig
    from .estimate import estimate_for_render
    from .jobfile import job_to_yaml
    from .progress import progress_display
    from .report import write_report

    manifest = read_manifest_parts(storage)
    for part in manifest.bad_parts:
        say(f"songfarm: {part.line()}; set aside as {_set_aside(storage, part.path)}")
    current = manifest.current()
    history = manifest.table.to_pylist()
    check = verify_rows(storage, current, rehash=bool(getattr(args, "verify", False)), history=history)
    broken = sorted(check.broken_tracks)
    if broken:
        say(f"songfarm: {_tracks(len(broken))} whose files do not match their manifest rows render again: "
            f"{id_list(broken)}")
    _remove_orphans(storage, check.orphans, say, "left by an earlier run")
    changed = changed_tracks(job.tracks, current, job.settings)
    keep_changed = bool(getattr(args, "keep_changed", False))
    if changed:
        say(f"songfarm: {_tracks(len(changed))} changed since they were rendered ({id_list(changed)}): "
            + ("old renders kept (--keep-changed)" if keep_changed else "rendering them again"))
    only = parse_track_ids(getattr(args, "tracks", None), job.tracks)
    todo = select_tracks(job.tracks, current, rerender, bool(getattr(args, "force", False)), broken,
                         [] if keep_changed else changed, only)
    say(f"songfarm: job {job.name}: {len(job.tracks)} tracks, {len(job.tracks) - len(todo)} already in the "
        f"manifest, {len(todo)} to render → {storage.location}")

    if todo:
        address = getattr(args, "address", None)
        if starts_local_ray(address):
            # A local cluster sees the same files as this process: a missing checkpoint or a
            # bad option fails here in a second, with one line, before Ray starts. (On a remote
            # cluster the paths are the workers'; Farm.run reports the same error from there.)
            for stage, spec in job.settings.backends.items():
                preflight(stage, spec.name, job.settings.stage_options(stage))
        verbose = bool(getattr(args, "verbose", False))
        log.open()
        t0 = time.perf_counter()
        with contextlib.ExitStack() as quiet:
            # Ray's own lines go to this run's log and Ray's session files; --verbose shows them here too.
            quiet.enter_context(ray_logs(log.handler, terminal=verbose))
            if not verbose:
                quiet.enter_context(log.native_stderr())
            cluster = connect(address, log_to_driver=verbose)
            _catch_sigterm()  # ray.init replaced ours with one that exits without cleaning up
            say(f"songfarm: log: {log.uri}" + (f" (Ray's own: {cluster.session_dir}/logs)" if cluster.session_dir
                                                else ""))
            asked: list[dict] = []
            try:
                # A Ray songfarm started here is fitted to this machine (a laptop runs a GPU job on
                # its CPUs, with a note); an existing cluster keeps the job's asks, and refuses at
                # once the ones it can never hold (one line, exit 2) instead of waiting forever.
                existing = not starts_local_ray(address)
                job.resources, notes = resolve(job.resources, cluster.cpus, cluster.gpus, gpu_stages(job),
                                               fit=not existing)
                for note in notes:
                    say(f"songfarm: {note}")
                if existing:
                    asked = _check_and_request_capacity(job.resources, len(todo), say)
                sink = Sink(storage, job.name, job.settings.delivery)
                sink.write_job_yaml(job_to_yaml(job))
                # The prediction from earlier runs (none on a first run), for the report to set
                # against what this run took.
                estimate = estimate_for_render(job, todo, cluster.cpus, cluster.gpus, local=not existing,
                                               ray_start_s=cluster.start_s)
                run_extra = {"command": render_command(args), "ray_start_s": round(cluster.start_s, 3),
                             "log": log.path, "estimate": estimate}
                config = FarmConfig(progress_bars=verbose)
                with progress_display(say, config.progress_s, live=not verbose, record=log.line) as show:
                    farm = Farm(job, sink, config, log=say, lease=lease, on_progress=show, record=log.line)
                    result = farm.run(todo, progress_extra={"total": len(job.tracks),
                                                            "skipped": len(job.tracks) - len(todo)},
                                      run_extra=run_extra)
            finally:
                if asked:
                    _withdraw_request(say)
                disconnect(cluster)
        say(f"songfarm: rendered {len(todo)} tracks in {time.perf_counter() - t0:.1f} s "
            f"(Ray start {cluster.start_s:.1f} s, {result.rounds} rounds)")

    final = read_manifest_parts(storage)
    rows = final.current()
    if todo:
        orphans = verify_rows(storage, rows, rehash=False, history=final.table.to_pylist()).orphans
        _remove_orphans(storage, orphans, say, "takes this run replaced before any row named them")
    report_uri = write_report(storage, job, rows)
    counts, missing = _outcome(job, rows)
    for line in last_lines(args, job, rows, report_uri, log.uri if log.opened else None):
        print(line)
        log.line(line)
    return 1 if counts["failed"] or missing else 0


def last_lines(args: argparse.Namespace, job, rows: dict[str, dict], report_uri: str,
               log_uri: str | None) -> list[str]:
    """The run's last lines (stdout): the counts, each failure, then what to do next: the
    report, this run's log, and the commands that render the failed, rejected or missing
    tracks again."""
    counts, missing = _outcome(job, rows)
    out = [f"job {job.name}: {counts['accepted']} accepted, {counts['rejected']} rejected, {counts['failed']} failed"
           + (f", {missing} missing" if missing else "") + f" of {len(job.tracks)} → {job.location}"]
    for t in job.tracks:
        row = rows.get(t.id)
        if row and row["status"] == "failed":
            out.append(f"  failed {t.id}: {row['error_stage']}: {row['error']}")
    out.append(f"report: {report_uri}")
    if log_uri:
        out.append(f"log: {log_uri}")
    if counts["failed"]:
        out.append(f"render the {_tracks(counts['failed'])} that failed again: "
                   f"{rerender_command(args, '--rerender', 'failed')}")
    if counts["rejected"]:
        out.append(f"try the {_tracks(counts['rejected'])} delivered as rejected again: "
                   f"{rerender_command(args, '--rerender', 'rejected')}")
    if missing:
        out.append(f"render the {_tracks(missing)} not delivered yet (resumes): {rerender_command(args)}")
    return out


def _outcome(job, rows: dict[str, dict]) -> tuple[dict[str, int], int]:
    """({status: tracks of the job with it}, tracks of the job without a row)."""
    counts = {s: sum(1 for t in job.tracks if rows.get(t.id, {}).get("status") == s) for s in RERENDER_STATUSES}
    return counts, sum(1 for t in job.tracks if t.id not in rows)


def rerender_command(args: argparse.Namespace, *options: str) -> str:
    """`songfarm render JOB` with the options that say where this job is (--output,
    --s3-endpoint, --address), then `options` (e.g. "--tracks", "a,b"), as one would type it."""
    import shlex

    argv = ["songfarm", "render", str(args.job)]
    for option in ("output", "s3_endpoint", "address"):
        if getattr(args, option, None):
            argv += ["--" + option.replace("_", "-"), str(getattr(args, option))]
    return shlex.join([*argv, *options])


def render_command(args: argparse.Namespace) -> str:
    """The command line of this run, as a person would type it again (for the run record)."""
    import shlex

    return shlex.join(["songfarm", "render", *sys.argv[2:]] if sys.argv[1:2] == ["render"]
                      else ["songfarm", "render", str(args.job)])


def _check_and_request_capacity(resources, tracks: int, say) -> list[dict]:
    """On an existing cluster: fail now when the pools can never run there (CapacityError),
    and with an autoscaler ask it ahead for the nodes the job needs. Returns what was asked."""
    from ..cluster.capacity import (autoscaler_node_types, check_capacity, fits_now, min_bundles, node_offers,
                                    request_nodes, scale_request)

    nodes = node_offers()
    node_types = autoscaler_node_types()
    check_capacity(resources, nodes, node_types)
    if node_types is None:
        return []
    # A big job asks for the pools it can keep busy; any job whose minimum pools do not fit the
    # nodes there now asks for those (the autoscaler would see the waiting actors only later).
    bundles = scale_request(resources, tracks) or ([] if fits_now(resources, nodes) else min_bundles(resources))
    if bundles:
        request_nodes(bundles)
        shapes: dict[str, int] = {}
        for b in bundles:
            key = "{" + ", ".join(f"{k}: {v:g}" for k, v in sorted(b.items())) + "}"
            shapes[key] = shapes.get(key, 0) + 1
        say(f"songfarm: asked the autoscaler for {len(bundles)} actors' resources for {_tracks(tracks)}: "
            + ", ".join(f"{shape} ×{n}" for shape, n in shapes.items()))
    return bundles


def _withdraw_request(say) -> None:
    """Withdraw the autoscaler request after the job, so its nodes can go once idle. (A driver
    that dies without this leaves the request standing; the next run's request replaces it.)"""
    from ..cluster.capacity import request_nodes

    try:
        request_nodes([])
    except Exception as exc:  # the cluster went away: its request went with it
        say(f"songfarm: could not withdraw the autoscaler request: {type(exc).__name__}: {exc}")


def _tracks(n: int) -> str:
    return f"{n} track" if n == 1 else f"{n} tracks"


def _remove_orphans(storage, orphans: list[str], say, why: str) -> None:
    """Delete files no manifest row (current or older) points to: takes written by a run that
    was killed before their row, or replaced by a better take before any row named them.
    Only the lease holder may, so no other run is between writing a file and its row."""
    if not orphans:
        return
    for path in orphans:
        storage.delete(path)
    say(f"songfarm: removed {len(orphans)} files no manifest row points to ({why}): {id_list(orphans, 3)}")
