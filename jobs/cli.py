"""The `songfarm` command line.

    songfarm plan "TEXT"                       print the plan as JSON
    songfarm take "TEXT" -o FILE [...]         render one track in-process, verify, print the verdict
    songfarm validate JOB                      check a job file, render nothing
    songfarm render JOB [--output ...]         run a job on Ray (local or a cluster)
    songfarm status OUTPUT/JOB [--verify]      counts, failures, the driver; --verify re-hashes every file
    songfarm report OUTPUT/JOB                 (re)write the job's report.html: the morning's listening room
    songfarm estimate JOB [--address ...]      predicted wall time and cost, from earlier runs or a calibration
    songfarm serve [--config FILE]             the online HTTP endpoint on Ray Serve

Exit statuses:

    0    done; for `render`, every track delivered (accepted or rejected)
    1    `render`: some tracks failed; `status --verify`: files that do not match their rows
    2    bad input (bad prompt, job file, option, unwritable output)
    3    the store or the Ray cluster is unavailable, or another driver holds the job's
         lease: nothing is wrong with the input, retry later
    130  interrupted (Ctrl-C, or SIGTERM during `render`)

Every error is one line starting with "songfarm: error:"; nothing is printed as a
traceback. Each command imports what it needs inside its function, so `plan` and `take`
never start Ray.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from ..models.errors import SongfarmError
from ..models.request import MAX_DURATION_S, MIN_DURATION_S, RequestError, TrackRequest
from ..models.settings import MAX_ATTEMPTS, MIN_SCORE

AUDIO_FORMATS = {".flac": "FLAC", ".wav": "WAV"}

RENDER_EXIT_STATUSES = """exit status:
  0    every track of the job delivered (accepted or rejected)
  1    some tracks failed (each is a manifest row with the stage and the error)
  2    bad input: the job file, an option, an unwritable output
  3    the store or the Ray cluster is unavailable, or another driver holds the job
       (its lease): retry later, or use --wait
  130  interrupted (Ctrl-C or SIGTERM); the run is recorded as interrupted"""


class UserError(SongfarmError):
    """A problem with the command line itself; printed as one line, exit status 2."""


def _request_from_args(args: argparse.Namespace) -> TrackRequest:
    row = {"id": getattr(args, "id", None) or "take", "prompt": args.text, "seed": args.seed}
    if getattr(args, "candidates", None) is not None:
        row["candidates"] = args.candidates
    if args.duration is not None:
        row["duration_s"] = args.duration
    if getattr(args, "lyrics", None):
        path = Path(args.lyrics)
        try:
            row["lyrics"] = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(f"--lyrics {args.lyrics}: cannot read ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise UserError(f"--lyrics {args.lyrics}: not UTF-8 text") from None
    try:
        return TrackRequest.from_dict(row)
    except RequestError as exc:
        first = exc.errors[0]
        name = {"prompt": "TEXT", "duration_s": "--duration", "seed": "--seed", "candidates": "--candidates"}.get(
            first.field, first.field)
        raise UserError(f"{name} {first.value!r}: {first.reason}") from None


def cmd_plan(args: argparse.Namespace) -> int:
    from ..models.factory import make_planner

    request = _request_from_args(args)
    plan = make_planner(args.planner).plan(request)
    print(plan.to_json(indent=2))
    return 0


def _check_writable(path: Path, what: str) -> None:
    """Fail before rendering when `path` could not be written (probe with a temp file:
    permission bits alone say nothing for root or read-only mounts)."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UserError(f"{what} {path}: is a folder")
    if not parent.is_dir():
        raise UserError(f"{what} {path}: folder {parent} does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".songfarm-probe-"):
            pass
    except OSError as exc:
        raise UserError(f"{what} {path}: folder {parent} is not writable ({exc.strerror})") from None


def take_settings(args: argparse.Namespace, fmt: str):
    """The RenderSettings of `songfarm take`: the defaults of models/settings.py, the
    backends and the options given. A job with the same settings renders the same track."""
    from ..models.factory import check_backend
    from ..models.settings import BackendSpec, Delivery, RenderSettings

    for stage, name in (("planner", args.planner), ("generator", args.generator), ("verifier", args.verifier)):
        check_backend(stage, name)
    settings = RenderSettings(backends={"planner": BackendSpec(args.planner), "generator": BackendSpec(args.generator),
                                        "verifier": BackendSpec(args.verifier)},
                              delivery=Delivery(format=fmt, stems=bool(args.stems), midi=bool(args.midi)))
    if args.min_score is not None:
        if not 0.0 <= args.min_score <= 1.0:
            raise UserError(f"--min-score {args.min_score!r}: must be a verifier score in [0, 1]")
        settings.min_score = args.min_score
    if args.max_attempts is not None:
        from ..models.settings import MAX_ATTEMPTS_LIMIT

        if not 1 <= args.max_attempts <= MAX_ATTEMPTS_LIMIT:
            raise UserError(f"--max-attempts {args.max_attempts!r}: must be an integer in [1, {MAX_ATTEMPTS_LIMIT}]")
        settings.max_attempts = args.max_attempts
    return settings


def cmd_take(args: argparse.Namespace) -> int:
    """One track in this process through the job lifecycle (re-render rounds included), the
    file written as a job delivers it (same bytes and tags), a manifest row with --manifest."""
    from ..pipelines.core.local import render_track
    from ..pipelines.core.shell import stage_shells
    from ..pipelines.delivery import manifest
    from ..pipelines.delivery.sink import Sink, take_tags
    from ..pipelines.delivery.storage import open_storage

    out = Path(args.output)
    suffix = out.suffix.lower()
    if suffix not in AUDIO_FORMATS:
        raise UserError(f"-o {out}: unknown audio format {suffix or '(none)'!r} (use .flac or .wav)")
    _check_writable(out, "-o")
    for option, path in (("--midi", args.midi), ("--manifest", args.manifest)):
        if path:
            _check_writable(Path(path), option)
    if args.stems:
        stems_dir = Path(args.stems)
        if stems_dir.exists() and not stems_dir.is_dir():
            raise UserError(f"--stems {stems_dir}: exists and is not a folder")
        _check_writable(stems_dir / "stem.flac" if stems_dir.is_dir() else stems_dir, "--stems")
    request = _request_from_args(args)
    settings = take_settings(args, suffix[1:])
    done = render_track(request, stage_shells(settings), settings)
    life = done.life
    files = None
    if done.take is not None:
        # The sink writes what a job delivers (content-addressed names) into a scratch folder;
        # the files are then moved to the names asked for.
        with tempfile.TemporaryDirectory(dir=out.parent if str(out.parent) else ".") as scratch:
            sink = Sink(open_storage(scratch), "take", settings.delivery)
            take = done.take
            files = sink.write_files(request.id, take, take_tags("take", request, take))
            files = _move_take_files(Path(scratch), files, out, args)
    if args.manifest:
        row = manifest.make_row(job="take", **life.manifest_values(files))
        Path(args.manifest).write_bytes(manifest.to_parquet([row]))
    report = {"output": str(out) if files else None, "status": life.status, "attempts": life.rounds,
              "takes": life.takes}
    if life.kept is not None:
        from ..models.plan import SongPlan
        from ..models.verdict import Verdict

        report.update(plan=SongPlan.from_json(life.kept["plan"]).summary(), seed=int(life.kept["seed"]),
                      duration_s=round(float(life.kept["duration_s"]), 3),
                      verdict=Verdict.from_json(life.kept["verdict"]).to_dict())
    else:
        report["error"] = f"{life.failure.get('error_stage')}: {life.failure.get('error')}"
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 1 if life.status == "failed" else 0


def _move_take_files(scratch: Path, files: dict, out: Path, args: argparse.Namespace) -> dict:
    """The sink's files → the paths `take` was asked for; the file columns follow them."""
    import os

    os.replace(scratch / files["audio_file"], out)
    files = {**files, "audio_file": out.name, "audio_uri": str(out.resolve())}
    if files.get("midi_file"):
        if args.midi:
            os.replace(scratch / files["midi_file"], args.midi)
            files.update(midi_file=Path(args.midi).name, midi_uri=str(Path(args.midi).resolve()))
        else:
            files.update(midi_file="", midi_uri="", midi_bytes=0, midi_sha256="")
    stems = json.loads(files.get("stems_json") or "{}")
    if stems:
        stems_dir = Path(args.stems)
        stems_dir.mkdir(parents=True, exist_ok=True)
        for name, stem in stems.items():
            target = stems_dir / f"{name}.flac"
            os.replace(scratch / stem["file"], target)
            stem.update(file=target.name, uri=str(target.resolve()))
        files["stems_json"] = json.dumps(stems, sort_keys=True)
    return files


def cmd_validate(args: argparse.Namespace) -> int:
    """Every check `render` makes before Ray starts: the job file, then each backend's final
    options and (unless the checkpoints live on a remote cluster) its checkpoint path."""
    from ..models.factory import preflight
    from .jobfile import load_job

    job = load_job(args.job)
    for stage, spec in job.settings.backends.items():
        preflight(stage, spec.name, job.settings.stage_options(stage), checkpoints=not args.remote_checkpoints)
    print(f"{args.job}: ok — job {job.name!r}, {len(job.tracks)} tracks → {job.location}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from .render import render

    return render(args)


def cmd_status(args: argparse.Namespace) -> int:
    from .status import status

    return status(args)


def cmd_report(args: argparse.Namespace) -> int:
    from .report import report_main

    return report_main(args)


def cmd_estimate(args: argparse.Namespace) -> int:
    from .estimate import estimate_main

    return estimate_main(args)


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve_main

    return serve_main(args)


def _add_track_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", help="the prompt, in English, Chinese or Japanese")
    p.add_argument("--duration", type=float, default=None,
                   help=f"length in seconds, {MIN_DURATION_S:g}..{MAX_DURATION_S:g} (default 30)")
    p.add_argument("--seed", type=int, default=0, help="track seed (default 0)")
    p.add_argument("--lyrics", help="a UTF-8 text file of lyrics with [verse]/[chorus] tags")
    p.add_argument("--planner", default="rules", help="planner backend (default rules)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="songfarm", description="A rendering farm for generated music.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("plan", help="print the song plan for a prompt as JSON")
    _add_track_options(p)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("take", help="render, verify and write one track in-process (no Ray)")
    _add_track_options(p)
    p.add_argument("-o", "--output", required=True, help="audio file to write (.flac or .wav)")
    p.add_argument("--candidates", type=int, default=None, help="takes per round; the best is kept (default 1)")
    p.add_argument("--min-score", type=float, default=None,
                   help=f"accept a take at or above this score (default {MIN_SCORE:g})")
    p.add_argument("--max-attempts", type=int, default=None,
                   help=f"render rounds before the best is kept (default {MAX_ATTEMPTS})")
    p.add_argument("--manifest", help="also write the track's manifest row to this Parquet file")
    p.add_argument("--id", default="take", help="the track id in tags and the manifest row (default take)")
    p.add_argument("--stems", help="folder to write per-instrument stems into")
    p.add_argument("--midi", help="file to write the MIDI score to")
    p.add_argument("--generator", default="synth", help="generator backend (default synth)")
    p.add_argument("--verifier", default="features", help="verifier backend (default features)")
    p.set_defaults(func=cmd_take)

    p = sub.add_parser("validate", help="check a job file and report every problem; renders nothing")
    p.add_argument("job", help="job file: .yaml, .jsonl (SongGeneration) or .csv")
    p.add_argument("--remote-checkpoints", action="store_true",
                   help="checkpoint paths are the cluster workers': do not look for them on this machine")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("render", help="render a job on Ray", epilog=RENDER_EXIT_STATUSES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("job", help="job file: .yaml, .jsonl (SongGeneration) or .csv")
    p.add_argument("--output", help="local folder or s3://bucket/prefix (overrides the job's)")
    p.add_argument("--s3-endpoint", help="endpoint URL of an S3-compatible store (MinIO, Ceph, R2)")
    p.add_argument("--rerender", default="", help="also re-render tracks with these statuses, e.g. failed,rejected")
    p.add_argument("--force", action="store_true", help="render every track again, replacing delivered ones")
    p.add_argument("--tracks", metavar="ID,ID,...",
                   help="render exactly these tracks again, whatever their status (the report prints such commands)")
    p.add_argument("--keep-changed", action="store_true",
                   help="keep tracks whose request or settings changed since they were rendered (default: redo them)")
    p.add_argument("--verify", action="store_true",
                   help="re-hash every delivered file first (default: check existence and size) and redo mismatches")
    p.add_argument("--wait", action="store_true",
                   help="when another driver is rendering this job, wait for it to finish instead of exiting 3")
    p.add_argument("--address", help="an existing Ray cluster: auto (RAY_ADDRESS, else the address `ray start` "
                                      "left here) or host:port of its GCS; ray:// is refused (Ray Data needs a "
                                      "driver on the cluster: use `ray job submit`). Default: a fresh local Ray")
    p.add_argument("--verbose", action="store_true",
                   help="show Ray's own log lines and progress bars on the terminal (default: only in their files)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("status", help="counts by status, failures and progress of a job")
    p.add_argument("location", help="OUTPUT/JOB: the job's folder, local or s3://")
    p.add_argument("--s3-endpoint", help="endpoint URL of an S3-compatible store")
    p.add_argument("--verify", action="store_true",
                   help="re-hash every delivered file and list mismatches, missing files and orphans (exit 1 if any)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("report", help="write the job's report.html (a page to listen to and read in the morning)")
    p.add_argument("location", help="OUTPUT/JOB: the job's folder, local or s3://")
    p.add_argument("--s3-endpoint", help="endpoint URL of an S3-compatible store")
    p.add_argument("--presign", type=float, metavar="HOURS", default=None,
                   help="for a private bucket: link the audio by presigned URLs valid this many hours "
                        "(default: relative paths, for a folder or a public bucket)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("estimate", help="predict a job's wall time and cost without rendering it")
    p.add_argument("job", help="job file: .yaml, .jsonl (SongGeneration) or .csv")
    p.add_argument("--output", help="local folder or s3://bucket/prefix (overrides the job's)")
    p.add_argument("--s3-endpoint", help="endpoint URL of an S3-compatible store")
    p.add_argument("--address", help="an existing Ray cluster to size the pools against (as for render)")
    p.add_argument("--calibrate", type=int, metavar="N", default=None,
                   help="render N short tracks in this process to measure the stages, even when earlier runs exist")
    p.set_defaults(func=cmd_estimate)

    p = sub.add_parser("serve", help="serve the stage graph over HTTP with Ray Serve")
    p.add_argument("--config", help="serve settings YAML (see pipelines/online/serve_config.yaml)")
    p.add_argument("--host", help="address to listen on (default: the settings' host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default: the settings' port, 8000)")
    p.set_defaults(func=cmd_serve)
    return parser


def exit_status(exc: SongfarmError) -> int:
    """2 for input to fix; 3 for what is worth retrying later (see the module docstring)."""
    from ..cluster.connect import ClusterError
    from ..pipelines.delivery.lease import LeaseError
    from ..pipelines.delivery.storage import StorageError

    if isinstance(exc, (ClusterError, LeaseError)) or (isinstance(exc, StorageError) and exc.unavailable):
        return 3
    return 2


def run(args: argparse.Namespace) -> int:
    """Run the parsed command; every error becomes one line on stderr and an exit status."""
    try:
        return args.func(args)
    except SongfarmError as exc:
        print(f"songfarm: error: {exc}", file=sys.stderr)
        return exit_status(exc)
    except KeyboardInterrupt:
        print("songfarm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `songfarm plan ... | head`: the reader left; not an error
        sys.stderr.close()
        return 0


def main(argv: list[str] | None = None) -> int:
    """The `songfarm` command. Called with `argv` (tests, other Python) it returns the exit
    status; as the command line itself (argv None) it ends the process."""
    status = run(build_parser().parse_args(argv))
    if argv is None and "ray" in sys.modules:
        # Ray and pyarrow tear down C++ state at interpreter shutdown (Ray's terminate handler
        # against an Arrow buffer released during finalisation), and about one run in ten then
        # aborted with exit status 134 and a C++ stack trace after a good job. Everything of
        # ours is finished and written by now (the farm flushed, the lease is released, Ray
        # is shut down), so skip finalisation: flush what was printed and leave at once.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # closed, or a reader that left
                pass
        os._exit(status)
    return status


if __name__ == "__main__":
    sys.exit(main())
