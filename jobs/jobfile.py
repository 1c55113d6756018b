"""Job files: read a YAML, JSONL or CSV job, check all of it, return a resolved `Job`.

A YAML job (every section optional except `tracks`):

    name: demo                      # a folder name under `output`; default: the file's stem
    output: ./renders               # local folder (relative to where songfarm runs) or s3://bucket/prefix
    s3_endpoint: http://127.0.0.1:9000   # S3-compatible store (MinIO, Ceph, R2); credentials come
                                         # from the standard AWS environment, never from the job
    defaults:
      duration_s: 30                # track defaults: any request field except id and prompt
      seed: 0                       #   (duration_s, seed, bpm, key, genre, ...)
      candidates: 2                 # takes per round: a render setting and every track's default
      min_score: 0.75               # render settings (pipelines/core/settings_file.py; defaults in
      max_attempts: 3               #   models/settings.py): acceptance threshold, render rounds per
      format: flac                  #   track, delivery (format flac|wav, sample_rate, stems, midi)
      sample_rate: 44100            #   and the CLAP verifier's contrast prompts: a list, or `job`
      stems: false                  #   for this job's own distinct prompts
      midi: true
      calibration_prompts: job
    backends:
      planner: rules                # a backend name, or {name: ..., options: {...}}
      generator: {name: synth, options: {soundfont: /path/to/GM.sf2}}
      verifier: features
    resources:
      generator: {min_actors: 1, max_actors: 2, batch_size: 1, num_cpus: 1, num_gpus: 0}
    prices:                         # optional, per hour (models/prices.py); no prices → no cost shown
      currency: USD
      per_hour: {CPU: 0.048, GPU: 2.10}
      node_types: {gpu_worker: 3.20}
    tracks:
      - {id: intro, prompt: "an upbeat pop song at 120 bpm", duration_s: 20}
      - file: more.csv              # JSONL or CSV rows, relative to this file's folder

A SongGeneration JSONL (`idx`, `descriptions`, `gt_lyric`, `prompt_audio_path`) or a CSV
with an `id,prompt,...` header is a job on its own, named after the file's stem.

Every problem in the job and all its rows is collected and raised together as one
`JobFileError`, each as "FILE:LINE: field: message (value)", before anything renders:
`songfarm validate` runs every check `songfarm render` runs before starting Ray, the
planner's rules for key, metre and instruments included (models/planners/fields.py).
Track ids and the job name are NFC-normalised, then checked (models/request.py).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from ..models.errors import SongfarmError
from ..models.job import Job
from ..models.prices import Prices
from ..models.request import (ALIASES, ID_RULE, RequestError, TrackRequest, normalise_name, safe_track_id,
                              unprintable)
from ..models.settings import JOB_PROMPTS, STAGES, RenderSettings, StageResources, job_prompts
from ..pipelines.core.settings_file import (SETTINGS_KEYS, LineDict, LineList, Problems, did_you_mean, kind_of,
                                            parse_yaml, plain, read_settings, read_text, settings_dict)
from .track_rows import Row, check_row, rows_from_csv, rows_from_jsonl

DEFAULT_OUTPUT = "./renders"
JOB_KEYS = ("name", "output", "s3_endpoint", "defaults", "backends", "resources", "prices", "tracks")
# `defaults` keys that are render settings (read by pipelines/core/settings_file.py) rather
# than track defaults; `candidates` is both: the settings' value is every track's default.
JOB_DEFAULTS = tuple(key for key in SETTINGS_KEYS if key != "backends")
MAX_POOL = 10_000  # the most actors, rows per batch, CPUs or GPUs a pool setting may ask for
MAX_PRICE = 1_000_000  # per hour: anything above is a typo (a price per month, or cents)
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


def load_job(path: str | Path, output: str | None = None, s3_endpoint: str | None = None) -> Job:
    """Read and check a job file (.yaml/.yml, .jsonl or .csv) and every file it references.

    `output` and `s3_endpoint` override the job's own (the command line's --output and
    --s3-endpoint). Returns the resolved Job with defaults applied; raises JobFileError
    listing every problem. Nothing is rendered and no model is loaded: backend names and
    options are checked against the backends' config classes only.
    """
    path = Path(path)
    file = str(path)
    report = Problems()
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".jsonl", ".csv"):
        report(file, None, "file", f"unknown job file type {suffix or '(none)'!r}: use .yaml, .jsonl "
               "(SongGeneration) or .csv")
        _raise_if_any(report, file)
    text = read_text(path, file, report)
    if text is None:
        _raise_if_any(report, file)

    wants_job_prompts = False
    if suffix in (".jsonl", ".csv"):
        rows = (rows_from_jsonl if suffix == ".jsonl" else rows_from_csv)(text, file, report)
        job = Job(name=path.stem, output=DEFAULT_OUTPUT, tracks=[], source=file)
        job.name = _check_name(job.name, file, None, report, hint="the job is named after the file: rename the file")
        request_defaults: dict[str, Any] = {}
        if not rows and not len(report):
            report(file, None, "tracks", "empty job: no track rows")
    else:
        job, request_defaults, rows, wants_job_prompts = _read_yaml_job(path, text, report,
                                                                        check_output=output is None)

    if output is not None:
        job.output = _check_output(output, file, None, "--output", report)
    if s3_endpoint is not None:
        job.s3_endpoint = _check_endpoint(s3_endpoint, file, None, "--s3-endpoint", report)
    job.tracks = _check_rows(rows, request_defaults, report)
    if wants_job_prompts:
        job.settings.calibration_prompts = job_prompts(t.prompt for t in job.tracks)
    _raise_if_any(report, file)
    return job


def _raise_if_any(report: Problems, source: str) -> None:
    if len(report):
        raise JobFileError(source, report.sorted())


def _read_yaml_job(path: Path, text: str, report: Problems,
                   check_output: bool) -> tuple[Job, dict[str, Any], list[Row], bool]:
    """The YAML job's sections, each checked (`output` only when the command line does not
    replace it); rows are read but not yet checked. The last item says whether the job
    asks for its own prompts as calibration prompts (`calibration_prompts: job`)."""
    file = str(path)
    job = Job(name=path.stem, output=DEFAULT_OUTPUT, tracks=[], source=file)
    data = parse_yaml(text, file, report)
    if data is None and not len(report):
        report(file, None, "job", "empty job file")
    if not isinstance(data, LineDict):
        if data is not None:  # not echoed: a file that is no job at all would be shown
            report(file, 1, "job", "must be a mapping with name, output, defaults, backends, resources and tracks "
                   f"(found {kind_of(data)})")
        return job, {}, [], False

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
    job.settings, wants_job_prompts = _read_job_settings(data, file, report)
    request_defaults = _check_defaults(data.get("defaults"), job.settings, file, line("defaults"), report)
    if data.get("resources") is not None:
        job.resources = _check_resources(data["resources"], file, line("resources"), report)
    if data.get("prices") is not None:
        job.prices = _check_prices(data["prices"], file, line("prices"), report)
    rows = _yaml_rows(data.get("tracks"), path, line("tracks"), report)
    return job, request_defaults, rows, wants_job_prompts


def _read_job_settings(data: LineDict, file: str, report: Problems) -> tuple[RenderSettings, bool]:
    """The render settings of a job: `backends:` and the JOB_DEFAULTS under `defaults:`,
    read by the loader the Serve config uses. Also: whether `calibration_prompts: job`."""
    view, names = LineDict(), {}
    view.line, view.key_lines = data.line, {}
    if data.get("backends") is not None:
        view["backends"], view.key_lines["backends"] = data["backends"], data.key_lines["backends"]
    defaults = data.get("defaults")
    if isinstance(defaults, LineDict):
        for key in JOB_DEFAULTS:
            if key in defaults:
                view[key], view.key_lines[key], names[key] = defaults[key], defaults.key_lines[key], f"defaults.{key}"
    settings = read_settings(view, file, report, names=names, job_file=True)
    return settings, view.get("calibration_prompts") == JOB_PROMPTS


def _yaml_rows(tracks: Any, path: Path, line: int, report: Problems) -> list[Row]:
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


def _referenced_rows(item: LineDict, job_path: Path, where: str, report: Problems) -> list[Row]:
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


def _check_rows(rows: list[Row], defaults: dict[str, Any], report: Problems) -> list[TrackRequest]:
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
            track_id = normalise_name(track_id)  # as TrackRequest.validate does: NFC and NFD are one file
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


def _check_name(name: Any, file: str, line: int | None, report: Problems, hint: str = "") -> str:
    """The job name, NFC-normalised; the same rule as track ids (models/request.py). A
    name must be text: `name: 2024` is refused (quote it), unlike a track id."""
    if isinstance(name, str):
        name = normalise_name(name)
    if not safe_track_id(name):
        report(file, line, "name", f"the job name becomes a folder name: {ID_RULE}" + (f"; {hint}" if hint else ""),
               name)
        return str(name)
    return name


def _check_output(output: Any, file: str, line: int | None, where: str, report: Problems) -> str:
    """A local folder or s3://bucket/prefix; credentials never belong in it."""
    if isinstance(output, str) and output.strip() and "\0" not in output:
        output = output.strip()
    else:
        report(file, line, where, "must be a local folder or s3://bucket/prefix", output)
        return str(output)
    reason = unprintable(output)
    if reason:
        report(file, line, where, f"must be a local folder or s3://bucket/prefix; this one {reason}", output)
        return output
    if "://" not in output:
        try:
            is_file = Path(output).is_file()
        except OSError as exc:  # a name too long for the file system
            report(file, line, where, f"not a usable folder ({exc.strerror or type(exc).__name__})", output)
            return output
        except ValueError:  # a lone surrogate cannot be a file name
            report(file, line, where, "not a usable folder (not a valid file name)", output)
            return output
        if is_file:
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


def _check_endpoint(endpoint: Any, file: str, line: int | None, where: str, report: Problems) -> str | None:
    parts = None
    if isinstance(endpoint, str) and not unprintable(endpoint):
        try:
            parts = urlsplit(endpoint)
            _ = parts.port  # raises ValueError for a port out of range
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


def _check_defaults(defaults: Any, settings: RenderSettings, file: str, line: int,
                    report: Problems) -> dict[str, Any]:
    """The valid track defaults of `defaults` (its render settings are read by
    _read_job_settings), always with `candidates`: the settings' value is every track's default."""
    request_defaults: dict[str, Any] = {"candidates": settings.candidates}
    if defaults is None:
        return request_defaults
    if not isinstance(defaults, LineDict):
        report(file, line, "defaults", "must be a mapping such as {duration_s: 30, candidates: 2}", defaults)
        return request_defaults
    written: dict[str, str] = {}
    request_fields = [f.name for f in dataclasses.fields(TrackRequest)]
    for key, value in defaults.items():
        at, field = defaults.key_lines[key], f"defaults.{key}"
        canonical = ALIASES.get(key, key)
        if key in JOB_DEFAULTS:
            continue
        if canonical in ("id", "prompt"):
            report(file, at, field, "every track needs its own id and prompt; they cannot have defaults", value)
        elif canonical in request_fields:
            request_defaults[canonical] = plain(value)
            written[canonical] = key
        else:
            known = JOB_DEFAULTS + tuple(f for f in request_fields if f not in ("id", "prompt") + JOB_DEFAULTS)
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


def _check_resources(resources: Any, file: str, line: int, report: Problems) -> dict[str, StageResources]:
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
            elif key == "resources":  # custom Ray resources per actor: {name: amount}
                if not isinstance(value, dict) or not all(
                        isinstance(k, str) and _is_number(v) and 0 <= v <= MAX_POOL for k, v in value.items()):
                    report(file, key_at, field, "must be a mapping of Ray resource names to numbers, at least 0", value)
                else:
                    pool.resources = {str(k): float(v) for k, v in value.items()}
            elif key in ("min_actors", "max_actors", "batch_size"):
                if not _is_int(value) or not 1 <= value <= MAX_POOL:
                    report(file, key_at, field, f"must be a whole number, at least 1 and at most {MAX_POOL}", value)
                else:
                    setattr(pool, key, int(value))
            elif not _is_number(value) or not 0 <= value <= MAX_POOL:
                report(file, key_at, field, f"must be a number, at least 0 and at most {MAX_POOL}", value)
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


PRICE_KEYS = ("currency", "per_hour", "node_types")


def _check_prices(prices: Any, file: str, line: int, report: Problems) -> Prices:
    """`prices:` → Prices; every problem named with its line (see models/prices.py)."""
    out = Prices()
    if not isinstance(prices, LineDict):
        report(file, line, "prices", "must be a mapping of currency, per_hour and node_types", prices)
        return out
    for key, value in prices.items():
        at, where = prices.key_lines[key], f"prices.{key}"
        if key not in PRICE_KEYS:
            report(file, at, where, f"unknown setting{did_you_mean(str(key), PRICE_KEYS)}", value)
        elif key == "currency":
            if not isinstance(value, str) or not value.strip() or len(value) > 12:
                report(file, at, where, "must be a short label such as USD or EUR", value)
            else:
                out.currency = value.strip()
        elif not isinstance(value, dict) or not value:
            what = "Ray resource names (CPU, GPU, ...)" if key == "per_hour" else "node type names"
            report(file, at, where, f"must be a mapping of {what} to prices per hour", value)
        else:
            table = {}
            for name, price in value.items():
                name_at = value.key_lines.get(name, at) if isinstance(value, LineDict) else at
                if not isinstance(name, str) or not name:
                    report(file, name_at, where, "names must be text", name)
                elif not _is_number(price) or not 0 <= price <= MAX_PRICE:
                    report(file, name_at, f"{where}.{name}", f"must be a price per hour, at least 0 and at most "
                           f"{MAX_PRICE:g}", price)
                else:
                    table[name] = float(price)
            setattr(out, key, table)
    return out


# --- the resolved job as YAML -------------------------------------------------------------


def job_to_yaml(job: Job) -> str:
    """The resolved job, exactly as run: defaults applied to every track, every backend
    and pool spelled out. Options named like secrets (key, token, password, ...) are
    written as "<redacted>"; credentials never reach the output. `load_job` reads it back.
    """
    data: dict[str, Any] = {"name": job.name, "output": job.output}
    if job.s3_endpoint:
        data["s3_endpoint"] = job.s3_endpoint
    settings = settings_dict(job.settings)
    backends = settings.pop("backends")
    data["defaults"] = settings  # the render settings, candidates included
    data["backends"] = {stage: {"name": spec["name"],
                                "options": {k: "<redacted>" if _SECRET_OPTION.search(k) else v
                                            for k, v in spec["options"].items()}}
                        for stage, spec in backends.items()}
    data["resources"] = {stage: dataclasses.asdict(pool) for stage, pool in job.resources.items()}
    if job.prices.given:
        data["prices"] = job.prices.to_dict()
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


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _is_int(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer())
