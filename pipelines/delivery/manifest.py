"""The manifest: one typed Parquet row per delivered track, documented here and only here.

Rows are written in small parts, `<job>/manifest/part-<UTC time>-<random>.parquet`, as
tracks land (DESIGN.md §4). A re-run appends parts; readers keep the newest row per
`track_id` (by `rendered_at`, then part name). Columns are stable: a change adds columns,
never renames them, and readers fill columns missing from older parts with nulls.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

MANIFEST_DIR = "manifest/"
STATUSES = ("accepted", "rejected", "failed")

# Checks with a column of their own: check_<name>_measured / _expected (typed below) and
# check_<name>_passed. Other checks a verifier reports are still in `verdict_json`.
CHECK_TYPES: dict[str, pa.DataType] = {
    "tempo": pa.float64(),  # bpm
    "key": pa.string(),  # "A minor"
    "time_signature": pa.string(),  # "3/4"
    "duration": pa.float64(),  # s
    "loudness": pa.float64(),  # LUFS integrated
    "true_peak": pa.float64(),  # dBTP
    "silence": pa.float64(),  # share of the track that is silent
    "clipping": pa.float64(),  # share of clipped samples
    "energy": pa.float64(),  # correlation of the section energy contour with the plan
    "structure": pa.float64(),  # section boundaries found vs planned
    "clap": pa.float64(),  # CLAP text-audio similarity
}

# The usage columns <stage>_<kind>_s: what each stage cost a track, summed over every take.
USAGE = [(stage, kind, what) for stage in ("planner", "generator", "verifier")
         for kind, what in (("wall", "wall seconds"), ("cpu", "CPU seconds"),
                            ("gpu", "GPU seconds held (wall × the GPUs Ray assigned its actor; 0 on CPU)"))]
USAGE_COLUMNS = tuple(f"{stage}_{kind}_s" for stage, kind, _ in USAGE)

# (name, type, what it holds). The order is the file's column order.
COLUMNS: list[tuple[str, pa.DataType, str]] = [
    ("track_id", pa.string(), "the request id; the key of the manifest"),
    ("job", pa.string(), "the job name"),
    ("status", pa.string(), "accepted / rejected (best take delivered, never accepted) / failed (no audio)"),
    ("error", pa.string(), "the exception message of the failing stage; '' unless failed"),
    ("error_stage", pa.string(), "planner / generator / verifier / sink; '' unless failed"),
    ("prompt", pa.string(), "the request's prompt, for reading the manifest without parsing JSON"),
    ("request_json", pa.string(), "the TrackRequest as JSON"),
    ("fingerprint", pa.string(),
     "hex SHA-256 of the request, the backends with their options and versions, and every render setting "
     "that changes the audio (pipelines/core/fingerprint.py); a changed request renders again"),
    ("plan_json", pa.string(), "the SongPlan as JSON ('' when planning failed)"),
    ("seed", pa.int64(), "the track seed of the request"),
    ("attempts", pa.int32(), "render rounds run for this track (1 .. max_attempts)"),
    ("take_attempt", pa.int32(), "round of the delivered take (0-based; -1 when failed)"),
    ("take_candidate", pa.int32(), "candidate index of the delivered take within its round (-1 when failed)"),
    ("take_seed", pa.int64(), "seed of the delivered take (request.take_seed; -1 when failed)"),
    ("takes_json", pa.string(),
     "every take rendered: [{attempt, candidate, seed, score, accepted, reason, error}], reason = Verdict.reason()"),
    ("score", pa.float64(), "verifier score of the delivered take in [0, 1] (null when failed)"),
    ("verdict_json", pa.string(), "the delivered take's Verdict as JSON ('' when failed)"),
    *[(f"check_{name}_{part}", typ, f"the {name} check: {part}")
      for name, t in CHECK_TYPES.items() for part, typ in (("measured", t), ("expected", t), ("passed", pa.bool_()))],
    ("audio_file", pa.string(),
     "path of the master relative to the job folder, audio/<track_id>.<sha256[:12]>.<format>: a new take "
     "gets a new name, so a delivered file is never changed in place (pipelines/delivery/sink.py)"),
    ("audio_uri", pa.string(), "absolute path or s3:// URI of the master"),
    ("audio_format", pa.string(), "flac or wav"),
    ("audio_bytes", pa.int64(), "size of the master in bytes"),
    ("audio_sha256", pa.string(), "hex SHA-256 of the master file as written (tags included)"),
    ("sample_rate", pa.int32(), "Hz of the delivered master"),
    ("channels", pa.int32(), "channels of the delivered master"),
    ("duration_s", pa.float64(), "length of the delivered master in seconds"),
    ("midi_file", pa.string(), "path of the MIDI file relative to the job folder ('' when not delivered)"),
    ("midi_uri", pa.string(), "URI of the MIDI file ('' when not delivered)"),
    ("midi_bytes", pa.int64(), "size of the MIDI file (0 when none)"),
    ("midi_sha256", pa.string(), "hex SHA-256 of the MIDI file ('' when none)"),
    ("stems_json", pa.string(),
     "{stem: {file, uri, bytes, sha256}} of stems/<track_id>/<stem>.<sha256[:12]>.flac ('{}' when none)"),
    ("planner", pa.string(), "planner backend name"),
    ("planner_version", pa.string(), "planner backend version"),
    ("generator", pa.string(), "generator backend name"),
    ("generator_version", pa.string(), "generator backend version"),
    ("model", pa.string(), "generator model id / version (e.g. SoundFont or checkpoint)"),
    ("verifier", pa.string(), "verifier backend name"),
    ("verifier_version", pa.string(), "verifier backend version"),
    ("plan_s", pa.float64(), "planner wall seconds (last round)"),
    ("generate_s", pa.float64(), "generator wall seconds of the delivered take"),
    ("verify_s", pa.float64(), "verifier wall seconds of the delivered take"),
    ("sink_s", pa.float64(), "seconds spent writing this track's files"),
    *[(f"{stage}_{kind}_s", pa.float64(), f"{stage} {what} over every take of the track, all rounds")
      for stage, kind, what in USAGE],
    ("node", pa.string(), "host name of the node that rendered the delivered take"),
    ("planner_node", pa.string(), "Ray node id of the planner actor of the delivered take ('' outside Ray)"),
    ("generator_node", pa.string(), "Ray node id of the generator actor of the delivered take ('' outside Ray)"),
    ("verifier_node", pa.string(), "Ray node id of the verifier actor of the delivered take ('' outside Ray)"),
    ("rendered_at", pa.timestamp("us", tz="UTC"), "when the row was written (UTC); the newest row wins"),
]

SCHEMA = pa.schema([pa.field(name, typ, metadata={"doc": doc}) for name, typ, doc in COLUMNS])


def _default(typ: pa.DataType) -> Any:
    if pa.types.is_string(typ):
        return ""
    if pa.types.is_integer(typ):
        return 0
    return None


def check_columns(verdict_json: str) -> dict[str, Any]:
    """check_<name>_measured / _expected / _passed for the checks in CHECK_TYPES (others stay in JSON)."""
    out: dict[str, Any] = {}
    if not verdict_json:
        return out
    for check in json.loads(verdict_json).get("checks", []):
        typ = CHECK_TYPES.get(check.get("name"))
        if typ is None:
            continue
        for part in ("measured", "expected"):
            out[f"check_{check['name']}_{part}"] = _cast(check.get(part), typ)
        out[f"check_{check['name']}_passed"] = bool(check.get("passed"))
    return out


def _cast(value: Any, typ: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_string(typ):
        return str(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None  # a verifier that reports text for a numeric check: kept in verdict_json only


def make_row(**values: Any) -> dict[str, Any]:
    """A full manifest row: every column present, unknown names refused, defaults filled."""
    unknown = set(values) - set(SCHEMA.names)
    if unknown:
        raise KeyError(f"not manifest columns: {sorted(unknown)}")
    row = {name: values.get(name, _default(typ)) for name, typ, _ in COLUMNS}
    if row["rendered_at"] is None:
        row["rendered_at"] = datetime.now(timezone.utc)
    return row


def to_parquet(rows: list[dict[str, Any]]) -> bytes:
    """Rows (from make_row) → one Parquet file's bytes with the manifest schema."""
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def part_name() -> str:
    """A new part's path: sortable by time, unique across drivers."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"{time.time() % 1:.6f}"[1:]
    return f"{MANIFEST_DIR}part-{stamp}-{uuid.uuid4().hex[:8]}.parquet"


@dataclass
class BadPart:
    """A manifest part that cannot be read: empty, truncated, or not a manifest table."""

    path: str  # relative to the job folder, manifest/part-....parquet
    reason: str  # one line

    def line(self) -> str:
        return f"manifest part {self.path} is unreadable ({self.reason}): skipped, its tracks render again"


@dataclass
class ManifestRead:
    """What reading a job's manifest found: the rows of every good part, and the bad parts."""

    table: pa.Table  # every row of every readable part, in write order
    bad_parts: list[BadPart] = field(default_factory=list)

    def current(self) -> dict[str, dict[str, Any]]:
        """track_id → its newest row (as a dict)."""
        rows = self.table.to_pylist()  # parts come sorted by name, i.e. by write time
        newest: dict[str, dict[str, Any]] = {}
        for i, row in enumerate(rows):
            row["_order"] = (row["rendered_at"], i)
            old = newest.get(row["track_id"])
            if old is None or row["_order"] >= old["_order"]:
                newest[row["track_id"]] = row
        for row in newest.values():
            del row["_order"]
        return newest


def _read_part(data: bytes) -> pa.Table:
    """One part's bytes → a table with the manifest's columns; raises ValueError when it is not one."""
    if not data:
        raise ValueError("empty file")
    table = pq.read_table(pa.BufferReader(data))
    if "track_id" not in table.column_names:
        raise ValueError("no track_id column")
    # Unify with the schema now, so a part with a column of the wrong type is this part's
    # problem rather than an error when all the parts are put together.
    return pa.concat_tables([SCHEMA.empty_table(), table], promote_options="default")


def read_manifest_parts(storage) -> ManifestRead:
    """Every row of every part (schemas unified), in write order, and the parts that could not
    be read (a part cut short by a full disk or a copy, an empty file): those are named and
    skipped, never an error, so their tracks simply have no row and render again."""
    tables, bad = [], []
    for path in storage.list(MANIFEST_DIR):
        if not path.endswith(".parquet"):
            continue
        try:
            tables.append(_read_part(storage.read_bytes(path)))
        except FileNotFoundError:
            continue  # deleted since the listing
        except (pa.ArrowException, ValueError, OSError) as exc:  # ArrowInvalid is a ValueError
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            bad.append(BadPart(path, reason))
    if not tables:
        return ManifestRead(SCHEMA.empty_table(), bad)
    return ManifestRead(pa.concat_tables([SCHEMA.empty_table()] + tables, promote_options="default"), bad)


def read_manifest(storage) -> pa.Table:
    """Every row of every readable part (schemas unified), in write order; empty table with SCHEMA
    when none. Unreadable parts are skipped; read_manifest_parts() names them."""
    return read_manifest_parts(storage).table


def current_rows(storage) -> dict[str, dict[str, Any]]:
    """track_id → its newest manifest row (as a dict), the state a resume and `status` start from.
    Unreadable parts are skipped; read_manifest_parts(storage).bad_parts names them."""
    return read_manifest_parts(storage).current()
