"""Job files: read a YAML, JSONL or CSV job, check all of it, return a resolved `Job`.

A YAML job (every section optional except `tracks`):

    name: demo                      # a folder name under `output`; default: the file's stem
    output: ./renders               # local folder (relative to where songfarm runs) or s3://bucket/prefix
    s3_endpoint: http://127.0.0.1:9000   # S3-compatible store (MinIO, Ceph, R2); credentials come
                                         # from the standard AWS environment, never from the job
    defaults:
      duration_s: 30                # track defaults: any request field except id and prompt
      seed: 0                       #   (duration_s, seed, candidates, bpm, key, genre, ...)
      candidates: 2
      min_score: 0.75               # job settings: acceptance threshold, render rounds per track,
      max_attempts: 3               #   and delivery (format flac|wav, sample_rate, stems, midi)
      format: flac
      sample_rate: 44100
      stems: false
      midi: true
    backends:
      planner: rules                # a backend name, or {name: ..., options: {...}}
      generator: {name: synth, options: {soundfont: /path/to/GM.sf2}}
      verifier: features
    resources:
      generator: {min_actors: 1, max_actors: 2, batch_size: 1, num_cpus: 1, num_gpus: 0}
    tracks:
      - {id: intro, prompt: "an upbeat pop song at 120 bpm", duration_s: 20}
      - file: more.csv              # JSONL or CSV rows, relative to this file's folder

A SongGeneration JSONL (`idx`, `descriptions`, `gt_lyric`, `prompt_audio_path`) or a CSV
with an `id,prompt,...` header is a job on its own, named after the file's stem.

Every problem in the job and all its rows is collected and raised together as one
`JobFileError`, each as "FILE:LINE: field: message (value)", before anything renders.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from ..models import factory
from ..models.errors import SongfarmError
from ..models.job import STAGES, BackendSpec, Job, StageResources
from ..models.request import ALIASES, MAX_ID_CHARS, RequestError, TrackRequest, safe_track_id
from .track_rows import (NO_VALUE, LineDict, LineList, Row, did_you_mean, check_row, parse_yaml, read_text,
                         plain, rows_from_csv, rows_from_jsonl)

DEFAULT_OUTPUT = "./renders"
JOB_KEYS = ("name", "output", "s3_endpoint", "defaults", "backends", "resources", "tracks")
# `defaults` keys that set the Job rather than each TrackRequest.
JOB_DEFAULTS = ("min_score", "max_attempts", "format", "sample_rate", "stems", "midi")
MAX_ATTEMPTS = 10
FORMATS = ("flac", "wav")
SAMPLE_RATES = (16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000)
MAX_SHOWN = 50  # problems listed in the message; all of them stay in JobFileError.problems
# Option names whose values job_to_yaml never writes out.
_SECRET_OPTION = re.compile(r"(key|secret|token|password|passwd|credential)", re.IGNORECASE)
_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


class JobFileError(SongfarmError, ValueError):
    """Every problem found in a job file and the files it references.

    `problems` holds one line per problem, "FILE:LINE: field: message (value)"; str() is
    "N problems in FILE:" followed by them, indented, one per line.
    """

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        shown = problems[:MAX_SHOWN]
        more = f"\n  ... and {len(problems) - MAX_SHOWN} more" if len(problems) > MAX_SHOWN else ""
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{len(problems)} {noun} in {source}:\n" + "\n".join("  " + p for p in shown) + more)


class _Problems:
    """Collects problems; sorted by file (in order of first mention) and line when raised."""

    def __init__(self):
        self.items: list[tuple[str, int, str]] = []
        self.file_order: dict[str, int] = {}

    def __call__(self, file: str, line: int | None, field: str, message: str, value: Any = NO_VALUE) -> None:
        self.file_order.setdefault(file, len(self.file_order))
        place = f"{file}:{line}" if line else file
        shown = "" if value is NO_VALUE else f" ({_shorten(value)})"
        self.items.append((file, line or 0, f"{place}: {field}: {message}{shown}"))

    def __len__(self) -> int:
        return len(self.items)

    def raise_if_any(self, source: str) -> None:
        if self.items:
            ordered = sorted(self.items, key=lambda item: (self.file_order[item[0]], item[1]))
            raise JobFileError(source, [text for _, _, text in ordered])


def load_job(path: str | Path, output: str | None = None, s3_endpoint: str | None = None) -> Job:
    """Read and check a job file (.yaml/.yml, .jsonl or .csv) and every file it references.

    `output` and `s3_endpoint` override the job's own (the command line's --output and
    --s3-endpoint). Returns the resolved Job with defaults applied; raises JobFileError
    listing every problem. Nothing is rendered and no model is loaded: backend names and
    options are checked against the backends' config classes only.
    """
    path = Path(path)
    file = str(path)
    report = _Problems()
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".jsonl", ".csv"):
        report(file, None, "file", f"unknown job file type {suffix or '(none)'!r}: use .yaml, .jsonl "
               "(SongGeneration) or .csv")
        report.raise_if_any(file)
    text = read_text(path, file, report)
    if text is None:
        report.raise_if_any(file)

    if suffix in (".jsonl", ".csv"):
        rows = (rows_from_jsonl if suffix == ".jsonl" else rows_from_csv)(text, file, report)
        job = Job(name=path.stem, output=DEFAULT_OUTPUT, tracks=[], source=file)
        _check_name(job.name, file, None, report, hint="the job is named after the file: rename the file")
        request_defaults: dict[str, Any] = {}
        if not rows and not len(report):
            report(file, None, "tracks", "empty job: no track rows")
    else:
        job, request_defaults, rows = _read_yaml_job(path, text, report, check_output=output is None)

    if output is not None:
        job.output = _check_output(output, file, None, "--output", report)
    if s3_endpoint is not None:
        job.s3_endpoint = _check_endpoint(s3_endpoint, file, None, "--s3-endpoint", report)
    job.tracks = _check_rows(rows, request_defaults, report)
    report.raise_if_any(file)
    return job


def _read_yaml_job(path: Path, text: str, report: _Problems,
                   check_output: bool) -> tuple[Job, dict[str, Any], list[Row]]:
    """The YAML job's sections, each checked (`output` only when the command line does not
    replace it); rows are read but not yet checked."""
    file = str(path)
    job = Job(name=path.stem, output=DEFAULT_OUTPUT, tracks=[], source=file)
    data = parse_yaml(text, file, report)
    if data is None and not len(report):
        report(file, None, "job", "empty job file")
    if not isinstance(data, LineDict):
        if data is not None:
            report(file, 1, "job", "must be a mapping with name, output, defaults, backends, resources and tracks",
                   data)
        return job, {}, []

    def line(key: str) -> int:
        return data.key_lines.get(key, data.line)

    for key in data:
        if key not in JOB_KEYS:
            report(file, line(key), str(key), f"unknown section{did_you_mean(str(key), JOB_KEYS)}")
    if "name" in data:
        job.name = _check_name(data["name"], file, line("name"), report)
    else:
        _check_name(job.name, file, None, report, hint="the job is named after the file: add `name:` or rename it")
    if "output" in data and check_output:
        job.output = _check_output(data["output"], file, line("output"), "output", report)
    if data.get("s3_endpoint") is not None:
        job.s3_endpoint = _check_endpoint(data["s3_endpoint"], file, line("s3_endpoint"), "s3_endpoint", report)
    request_defaults = _check_defaults(data.get("defaults"), job, file, line("defaults"), report)
    if data.get("backends") is not None:
        job.backends = _check_backends(data["backends"], file, line("backends"), report)
    if data.get("resources") is not None:
        job.resources = _check_resources(data["resources"], file, line("resources"), report)
    rows = _yaml_rows(data.get("tracks"), path, line("tracks"), report)
    return job, request_defaults, rows


def _yaml_rows(tracks: Any, path: Path, line: int, report: _Problems) -> list[Row]:
    """Inline rows and the rows of referenced files, in the order given."""
    file = str(path)
    if tracks is None:
        report(file, line, "tracks", "empty job: no `tracks` (a list of track mappings and/or {file: rows.csv})")
        return []
    if not isinstance(tracks, LineList):
        report(file, line, "tracks", "must be a list of track mappings and/or {file: rows.csv}", tracks)
        return []
    if not tracks:
        report(file, line, "tracks", "empty job: the track list is empty")
    rows: list[Row] = []
    for index, (item, item_line) in enumerate(zip(tracks, tracks.item_lines)):
        where = f"tracks[{index}]"
        if not isinstance(item, LineDict):
            report(file, item_line, where, "must be a track mapping (id, prompt, ...) or {file: rows.csv}", item)
        elif "file" in item:
            rows.extend(_referenced_rows(item, path, where, report))
        else:
            rows.append(Row(file, item.line, plain(item), item.key_lines, prefix=where + "."))
    return rows


def _referenced_rows(item: LineDict, job_path: Path, where: str, report: _Problems) -> list[Row]:
    file, line = str(job_path), item.key_lines["file"]
    for key in item:
        if key != "file":
            report(file, item.key_lines[key], f"{where}.{key}", "a file reference takes only `file`; "
                   "put track defaults under `defaults`")
    name = item["file"]
    if not isinstance(name, str) or not name.strip():
        report(file, line, f"{where}.file", "must be the path of a .jsonl or .csv file", name)
        return []
    ref = Path(name)
    ref = ref if ref.is_absolute() else job_path.parent / ref
    if ref.suffix.lower() not in (".jsonl", ".csv"):
        report(file, line, f"{where}.file", "tracks can be read from .jsonl or .csv files", name)
        return []
    text = read_text(ref, file, report, line=line, where=f"{where}.file")
    if text is None:
        return []
    known_problems = len(report)
    rows = (rows_from_jsonl if ref.suffix.lower() == ".jsonl" else rows_from_csv)(text, str(ref), report)
    if not rows and len(report) == known_problems:
        report(file, line, f"{where}.file", f"{ref} holds no track rows", name)
    return rows


def _check_rows(rows: list[Row], defaults: dict[str, Any], report: _Problems) -> list[TrackRequest]:
    """Every row checked; then ids must be unique, also ignoring case (on macOS and Windows
    disks `Intro.flac` and `intro.flac` are the same file). Rows with other problems still
    take part in the duplicate check, so one run reports everything."""
    tracks: list[TrackRequest] = []
    first: dict[str, tuple[Row, str]] = {}  # id folded to lower case → (row, id as written)
    for row in rows:
        request = check_row(row, defaults, report)
        line, field = _id_place(row)
        track_id = row.data.get(field[len(row.prefix):])
        if isinstance(track_id, int) and not isinstance(track_id, bool):
            track_id = str(track_id)  # as TrackRequest.validate does
        if isinstance(track_id, str) and track_id:
            key = track_id.casefold()
            if key in first:
                other, other_id = first[key]
                how = "duplicate track id" if other_id == track_id else "track id differs only in case from"
                report(row.file, line, field, f"{how} {other_id!r} at {other.file}:{_id_place(other)[0]}", track_id)
                continue
            first[key] = (row, track_id)
        if request is not None:
            tracks.append(request)
    return tracks


def _id_place(row: Row) -> tuple[int, str]:
    """(line, field) of a row's id as written (`id` or SongGeneration's `idx`)."""
    key = next((k for k in row.data if ALIASES.get(k, k) == "id"), "id")
    return row.line_of(key), row.prefix + key


# --- the job's own sections ---------------------------------------------------------------


def _check_name(name: Any, file: str, line: int | None, report: _Problems, hint: str = "") -> str:
    if not isinstance(name, str) or not safe_track_id(name):
        report(file, line, "name", "the job name becomes a folder name: use letters, digits, '.', '_' or '-', "
               f"at most {MAX_ID_CHARS} characters, not starting with '.'" + (f"; {hint}" if hint else ""), name)
        return str(name)
    return name


def _check_output(output: Any, file: str, line: int | None, where: str, report: _Problems) -> str:
    """A local folder or s3://bucket/prefix; credentials never belong in it."""
    if isinstance(output, str) and output.strip() and "\0" not in output:
        output = output.strip()
    else:
        report(file, line, where, "must be a local folder or s3://bucket/prefix", output)
        return str(output)
    if "://" not in output:
        if Path(output).is_file():
            report(file, line, where, "is a file; the output must be a folder", output)
        return output
    try:
        parts = urlsplit(output)
    except ValueError as exc:
        report(file, line, where, f"not a valid URI ({exc})", output)
        return output
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path:
            report(file, line, where, "a file:// URI must look like file:///absolute/folder", output)
        return output
    if parts.scheme != "s3":
        report(file, line, where, f"unsupported scheme {parts.scheme!r}: use a local folder or s3://bucket/prefix "
               "(any S3-compatible store: set s3_endpoint for MinIO, Ceph or R2)", output)
    elif "@" in parts.netloc:
        report(file, line, where, "credentials do not belong in the output URI: use the AWS environment "
               "variables or config files", "s3://***@" + parts.netloc.rsplit("@", 1)[1] + parts.path)
    elif not _S3_BUCKET.match(parts.netloc):
        report(file, line, where, "not a valid S3 bucket name (3-63 lower-case letters, digits, '.' or '-')",
               output)
    elif parts.query or parts.fragment or ".." in parts.path.split("/"):
        report(file, line, where, "an S3 prefix cannot hold '?', '#' or '..'", output)
    return output


def _check_endpoint(endpoint: Any, file: str, line: int | None, where: str, report: _Problems) -> str | None:
    parts = None
    if isinstance(endpoint, str):
        try:
            parts = urlsplit(endpoint)
            parts.port  # raises ValueError for a port out of range
        except ValueError:
            parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        report(file, line, where, "must be an http:// or https:// URL such as http://127.0.0.1:9000", endpoint)
        return None
    if parts.username or parts.password:
        report(file, line, where, "credentials do not belong in the endpoint: use the AWS environment variables "
               "or config files", f"{parts.scheme}://***@{parts.hostname}")
        return None
    return endpoint


def _check_defaults(defaults: Any, job: Job, file: str, line: int, report: _Problems) -> dict[str, Any]:
    """Sets the job's own settings from `defaults`; returns the request defaults that are valid."""
    if defaults is None:
        return {}
    if not isinstance(defaults, LineDict):
        report(file, line, "defaults", "must be a mapping such as {duration_s: 30, candidates: 2}", defaults)
        return {}
    request_defaults: dict[str, Any] = {}
    written: dict[str, str] = {}
    for key, value in defaults.items():
        at, field = defaults.key_lines[key], f"defaults.{key}"
        canonical = ALIASES.get(key, key)
        if key in JOB_DEFAULTS:
            _set_job_default(job, key, value, file, at, report)
        elif canonical in ("id", "prompt"):
            report(file, at, field, "every track needs its own id and prompt; they cannot have defaults", value)
        elif canonical in {f.name for f in dataclasses.fields(TrackRequest)}:
            request_defaults[canonical] = plain(value)
            written[canonical] = key
        else:
            known = tuple(JOB_DEFAULTS) + tuple(f.name for f in dataclasses.fields(TrackRequest)
                                                if f.name not in ("id", "prompt"))
            report(file, at, field, f"unknown default{did_you_mean(str(key), known)}", value)
    # Check the request defaults once here, not once per track.
    try:
        TrackRequest.from_dict({"id": "defaults", "prompt": "defaults", **request_defaults})
    except RequestError as exc:
        for error in exc.errors:
            key = written.get(error.field, error.field)
            report(file, defaults.key_lines.get(key, line), f"defaults.{key}", error.reason, error.value)
            request_defaults.pop(error.field, None)
    return request_defaults


def _set_job_default(job: Job, key: str, value: Any, file: str, line: int, report: _Problems) -> None:
    field = f"defaults.{key}"
    if key == "min_score":
        if not _is_number(value) or not 0.0 <= value <= 1.0:
            report(file, line, field, "must be a verifier score in [0, 1]", value)
        else:
            job.min_score = float(value)
    elif key == "max_attempts":
        if not _is_int(value) or not 1 <= value <= MAX_ATTEMPTS:
            report(file, line, field, f"must be an integer in [1, {MAX_ATTEMPTS}]", value)
        else:
            job.max_attempts = int(value)
    elif key == "format":
        if value not in FORMATS:
            report(file, line, field, f"must be one of {', '.join(FORMATS)}", value)
        else:
            job.delivery.format = value
    elif key == "sample_rate":
        if not _is_int(value) or value not in SAMPLE_RATES:
            report(file, line, field, f"must be one of {', '.join(map(str, SAMPLE_RATES))} (Hz)", value)
        else:
            job.delivery.sample_rate = int(value)
    elif key in ("stems", "midi"):
        if not isinstance(value, bool):
            report(file, line, field, "must be true or false", value)
        else:
            setattr(job.delivery, key, value)


def _check_backends(backends: Any, file: str, line: int, report: _Problems) -> dict[str, BackendSpec]:
    """Names and options checked against each backend's config class; no model is loaded."""
    specs = {stage: BackendSpec(name) for stage, name in factory.DEFAULTS.items()}
    if not isinstance(backends, LineDict):
        report(file, line, "backends", "must be a mapping of planner, generator and verifier", backends)
        return specs
    for stage, spec in backends.items():
        at, where = backends.key_lines[stage], f"backends.{stage}"
        if stage not in STAGES:
            report(file, at, where, f"unknown stage{did_you_mean(str(stage), STAGES)}")
            continue
        if isinstance(spec, str):
            name, options = spec, {}
        elif isinstance(spec, LineDict):
            extra = [key for key in spec if key not in ("name", "options")]
            for key in extra:
                report(file, spec.key_lines[key], f"{where}.{key}", "a backend takes only `name` and `options`")
            if extra:
                continue
            name, options = spec.get("name"), spec.get("options") or {}
            if not isinstance(options, dict):
                report(file, spec.key_lines.get("options", at), f"{where}.options", "must be a mapping", options)
                continue
        else:
            report(file, at, where, "must be a backend name or {name: ..., options: {...}}", spec)
            continue
        if not isinstance(name, str):
            report(file, at, f"{where}.name", "must be a backend name", name)
            continue
        try:
            factory.check_backend(stage, name)
        except factory.BackendError as exc:
            report(file, at, where, str(exc).removeprefix(f"{where}: "))
            continue
        options_line = spec.key_lines.get("options", at) if isinstance(spec, LineDict) else at
        if _check_options(stage, name, options, file, options_line, where, report):
            specs[stage] = BackendSpec(name, plain(options))
    return specs


def _check_options(stage: str, name: str, options: dict, file: str, line: int, where: str,
                   report: _Problems) -> bool:
    try:
        config_cls = factory.config_class(stage, name)
    except ImportError as exc:
        missing = exc.name or str(exc)
        if missing.startswith(factory.__package__ + "."):
            why = f"is not part of this songfarm installation (no module {missing})"
        else:
            why = f"needs {missing!r}, which is not installed on this machine"
        report(file, line, where, f"backend {name!r} {why}; its options cannot be checked")
        return False
    known = [f.name for f in dataclasses.fields(config_cls)]
    ok = True
    for key in options:
        if key not in known:
            at = options.key_lines.get(key, line) if isinstance(options, LineDict) else line
            report(file, at, f"{where}.options.{key}", f"unknown option of {name!r}{did_you_mean(str(key), known)}",
                   options[key])
            ok = False
    if ok:
        try:
            factory.build_config(config_cls, options, f"{where}.options")
        except factory.BackendError as exc:
            report(file, line, f"{where}.options", str(exc).removeprefix(f"{where}.options: "))
            ok = False
    return ok


def _check_resources(resources: Any, file: str, line: int, report: _Problems) -> dict[str, StageResources]:
    pools = {stage: StageResources() for stage in STAGES}
    if not isinstance(resources, LineDict):
        report(file, line, "resources", "must be a mapping of planner, generator and verifier", resources)
        return pools
    known = [f.name for f in dataclasses.fields(StageResources)]
    for stage, asks in resources.items():
        at, where = resources.key_lines[stage], f"resources.{stage}"
        if stage not in STAGES:
            report(file, at, where, f"unknown stage{did_you_mean(str(stage), STAGES)}")
            continue
        if not isinstance(asks, LineDict):
            report(file, at, where, f"must be a mapping of {', '.join(known)}", asks)
            continue
        pool = pools[stage]
        for key, value in asks.items():
            key_at, field = asks.key_lines[key], f"{where}.{key}"
            if key not in known:
                report(file, key_at, field, f"unknown setting{did_you_mean(str(key), known)}", value)
            elif key in ("min_actors", "max_actors", "batch_size"):
                if not _is_int(value) or not 1 <= value <= 10_000:
                    report(file, key_at, field, "must be a whole number, at least 1", value)
                else:
                    setattr(pool, key, int(value))
            elif not _is_number(value) or value < 0:
                report(file, key_at, field, "must be a number, at least 0", value)
            elif key == "num_gpus" and value > 1 and not float(value).is_integer():
                # Ray shares a GPU between actors only in fractions below one.
                report(file, key_at, field, "more than one GPU per actor must be a whole number", value)
            else:
                setattr(pool, key, float(value))
        if "max_actors" not in asks:
            pool.max_actors = max(pool.max_actors, pool.min_actors)
        elif pool.max_actors < pool.min_actors:
            report(file, asks.key_lines["max_actors"], f"{where}.max_actors",
                   f"must be at least min_actors, {pool.min_actors}", pool.max_actors)
    return pools


# --- the resolved job as YAML -------------------------------------------------------------


def job_to_yaml(job: Job) -> str:
    """The resolved job, exactly as run: defaults applied to every track, every backend
    and pool spelled out. Options named like secrets (key, token, password, ...) are
    written as "<redacted>"; credentials never reach the output. `load_job` reads it back.
    """
    data: dict[str, Any] = {"name": job.name, "output": job.output}
    if job.s3_endpoint:
        data["s3_endpoint"] = job.s3_endpoint
    data["defaults"] = {"min_score": job.min_score, "max_attempts": job.max_attempts,
                        **dataclasses.asdict(job.delivery)}
    data["backends"] = {stage: {"name": spec.name,
                                "options": {k: "<redacted>" if _SECRET_OPTION.search(k) else v
                                            for k, v in spec.options.items()}}
                        for stage, spec in job.backends.items()}
    data["resources"] = {stage: dataclasses.asdict(pool) for stage, pool in job.resources.items()}
    data["tracks"] = [{k: v for k, v in track.to_dict().items() if v is not None} for track in job.tracks]
    header = f"# The resolved job as run by songfarm (from {job.source or 'a job'}); defaults applied.\n"
    return header + yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)


class _Dumper(yaml.SafeDumper):
    """Writes multi-line text (lyrics) as a readable `|` block."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_str)


# --- small helpers ------------------------------------------------------------------------


def _shorten(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _is_int(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer())
