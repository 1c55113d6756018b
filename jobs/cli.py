"""The `songfarm` command line.

    songfarm plan "TEXT"                       print the plan as JSON
    songfarm take "TEXT" -o FILE [...]         render one track in-process, verify, print the verdict
    songfarm validate JOB                      check a job file, render nothing
    songfarm render JOB [--output ...]         run a job on Ray (local or a cluster)
    songfarm status OUTPUT/JOB                 counts, failures and progress of a job
    songfarm serve [--config FILE]             the online HTTP endpoint on Ray Serve

Errors the user can fix (bad prompt, bad file, bad option) print one line starting with
"songfarm: error:" and exit 2; nothing else is printed as a traceback. Each command
imports what it needs inside its function, so `plan` and `take` never start Ray.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

from ..models.errors import SongfarmError
from ..models.request import MAX_DURATION_S, MIN_DURATION_S, RequestError, TrackRequest

AUDIO_FORMATS = {".flac": "FLAC", ".wav": "WAV"}


class UserError(SongfarmError):
    """A problem with the command line itself; printed as one line, exit status 2."""


def _request_from_args(args: argparse.Namespace) -> TrackRequest:
    row = {"id": "take", "prompt": args.text, "seed": args.seed, "candidates": getattr(args, "candidates", 1)}
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


def cmd_take(args: argparse.Namespace) -> int:
    from ..models.factory import check_backend, config_class, make_generator, make_planner, make_verifier
    from ..models.take import encode_flac, encode_wav

    for stage, name in (("planner", args.planner), ("generator", args.generator), ("verifier", args.verifier)):
        check_backend(stage, name)

    out = Path(args.output)
    suffix = out.suffix.lower()
    if suffix not in AUDIO_FORMATS:
        raise UserError(f"-o {out}: unknown audio format {suffix or '(none)'!r} (use .flac or .wav)")
    _check_writable(out, "-o")
    if args.midi:
        _check_writable(Path(args.midi), "--midi")
    if args.stems:
        stems_dir = Path(args.stems)
        if stems_dir.exists() and not stems_dir.is_dir():
            raise UserError(f"--stems {stems_dir}: exists and is not a folder")
        _check_writable(stems_dir / "stem.flac" if stems_dir.is_dir() else stems_dir, "--stems")
    request = _request_from_args(args)

    planner, verifier = make_planner(args.planner), make_verifier(args.verifier)
    # Only generators with stems (synth) have the option; others simply deliver none.
    has_stems = "stems" in {f.name for f in dataclasses.fields(config_class("generator", args.generator))}
    generator = make_generator(args.generator, {"stems": True} if args.stems and has_stems else None)
    plan = planner.plan(request)
    takes = generator.takes_for(plan, request)
    verdicts = [verifier.verify(t, plan, request) for t in takes]
    best = max(range(len(takes)), key=lambda i: verdicts[i].score)
    take, verdict = takes[best], verdicts[best]

    data = encode_flac(take.audio, take.sample_rate) if suffix == ".flac" else encode_wav(take.audio, take.sample_rate)
    out.write_bytes(data)
    if args.midi and take.midi:
        Path(args.midi).write_bytes(take.midi)
    if args.stems and take.stems:
        stems_dir = Path(args.stems)
        stems_dir.mkdir(parents=True, exist_ok=True)
        for name, audio in take.stems.items():
            (stems_dir / f"{name}.flac").write_bytes(encode_flac(audio, take.sample_rate))
    print(json.dumps({"output": str(out), "plan": plan.summary(), "seed": take.seed,
                      "duration_s": round(take.duration_s, 3), "verdict": verdict.to_dict()},
                     ensure_ascii=False, indent=2))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from .jobfile import load_job

    job = load_job(args.job)
    print(f"{args.job}: ok — job {job.name!r}, {len(job.tracks)} tracks → {job.location}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from .render import render

    return render(args)


def cmd_status(args: argparse.Namespace) -> int:
    from .status import status

    return status(args)


def cmd_serve(args: argparse.Namespace) -> int:
    from ..pipelines.serve_app import serve_main

    return serve_main(args)


def _add_track_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", help="the prompt, in English or Chinese")
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
    p.add_argument("--candidates", type=int, default=1, help="takes to render; the best is kept")
    p.add_argument("--stems", help="folder to write per-instrument stems into")
    p.add_argument("--midi", help="file to write the MIDI score to")
    p.add_argument("--generator", default="synth", help="generator backend (default synth)")
    p.add_argument("--verifier", default="features", help="verifier backend (default features)")
    p.set_defaults(func=cmd_take)

    p = sub.add_parser("validate", help="check a job file and report every problem; renders nothing")
    p.add_argument("job", help="job file: .yaml, .jsonl (SongGeneration) or .csv")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("render", help="render a job on Ray")
    p.add_argument("job", help="job file: .yaml, .jsonl (SongGeneration) or .csv")
    p.add_argument("--output", help="local folder or s3://bucket/prefix (overrides the job's)")
    p.add_argument("--s3-endpoint", help="endpoint URL of an S3-compatible store (MinIO, Ceph, R2)")
    p.add_argument("--rerender", default="", help="also re-render tracks with these statuses, e.g. failed,rejected")
    p.add_argument("--force", action="store_true", help="render every track again, replacing delivered ones")
    p.add_argument("--address", help="Ray cluster address (default: start a local Ray)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("status", help="counts by status, failures and progress of a job")
    p.add_argument("location", help="OUTPUT/JOB: the job's folder, local or s3://")
    p.add_argument("--s3-endpoint", help="endpoint URL of an S3-compatible store")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("serve", help="serve the stage graph over HTTP with Ray Serve")
    p.add_argument("--config", help="serve settings YAML (see pipelines/serve_config.yaml)")
    p.add_argument("--host", help="address to listen on (default: the settings' host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default: the settings' port, 8000)")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SongfarmError as exc:
        print(f"songfarm: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("songfarm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `songfarm plan ... | head`: the reader left; not an error
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
