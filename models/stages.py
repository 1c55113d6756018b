"""The three stage interfaces and their batch adapters.

Each backend subclasses one of `Planner`, `Generator`, `Verifier` and implements one plain
method (`plan`, `generate`, `verify`) on the vocabulary classes. The base class provides
`__call__(batch) -> batch` in Ray Data's numpy batch format (column name → numpy array),
so the same object runs in a loop, in a Ray Data actor pool and behind Ray Serve.

Batch columns (one row per track until the generator, one row per take after it):

    track_id     str    the request id
    request      str    TrackRequest JSON
    attempt      int    0-based re-render round
    seeds        str    JSON list of the round's take seeds, one per candidate (models.request.take_seed)
    status       str    "ok", or "failed" once any stage raised for this row
    error        str    the exception message of the failing stage ("" when ok)
    error_stage  str    "planner" / "generator" / "verifier" ("" when ok)
    error_field  str    the request field a user error names ("" otherwise)       (errors as data:
    error_value  str    that field's bad value as JSON ("" when none)              never parsed from text)
    plan         str    SongPlan JSON                            (added by the planner)
    plan_s       float  planner wall seconds for this row
    candidate    int    take index within the attempt (-1 on a failed row; generator)
    seed         int    the take's seed
    audio        bytes  FLAC, 24-bit, or packed float32 PCM (models/take.py; b"" on a failed row)
    sample_rate  int    Hz
    duration_s   float  audio length in seconds
    midi         bytes  Standard MIDI File (b"" when the generator has no score)
    stems        bytes  zip of <stem>.flac (b"" unless the generator keeps stems)
    generator    str    backend name
    model        str    model id / version
    generate_s   float  wall seconds for this take
    verdict      str    Verdict JSON ("" on a failed row)        (added by the verifier)
    score        float  verdict score in [0, 1]
    accepted     bool
    verify_s     float  verifier wall seconds for this take

Errors never escape a batch: an exception for one row marks that row failed and the rest
go on (Ray Data drops a whole block when a batch raises; DESIGN.md §7).
"""

from __future__ import annotations

import json
import time
import traceback
from typing import Any

import numpy as np

from .errors import SongfarmError
from .plan import SongPlan
from .request import TrackRequest, take_seed
from .take import Take, decode_audio, encode_audio, pack_stems
from .verdict import Verdict

Batch = dict[str, np.ndarray]


def rows_of(batch: Batch) -> list[dict[str, Any]]:
    """A numpy batch → rows of plain Python values (numpy scalars unwrapped). The one codec
    between rows and batches, with `batch_of`: stages, the farm, Serve and the benchmark use it."""
    n = len(next(iter(batch.values()))) if batch else 0
    return [{k: _plain(v[i]) for k, v in batch.items()} for i in range(n)]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def batch_of(rows: list[dict[str, Any]], like: Batch | None = None) -> Batch:
    """Rows → a numpy batch: bool / int64 / float64 columns where every value is one, object
    columns otherwise; keeps every column of `like` even when `rows` is empty."""
    names = list((like or {}).keys())
    for r in rows:
        for k in r:
            if k not in names:
                names.append(k)
    out: Batch = {}
    for k in names:
        values = [r.get(k) for r in rows]
        if values and all(isinstance(v, (bool, np.bool_)) for v in values):
            out[k] = np.array(values, dtype=bool)
        elif values and all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in values):
            out[k] = np.array(values, dtype=np.int64)
        elif values and all(isinstance(v, (float, np.floating)) for v in values):
            out[k] = np.array(values, dtype=np.float64)
        else:
            arr = np.empty(len(values), dtype=object)
            arr[:] = values
            out[k] = arr
    return out


def _fail(row: dict[str, Any], stage: str, exc: BaseException) -> None:
    row["status"] = "failed"
    row["error"] = f"{type(exc).__name__}: {exc}"
    row["error_stage"] = stage
    field, value = error_field(exc)
    row["error_field"], row["error_value"] = field, "" if value is None else json.dumps(value, default=str)
    # Keep the traceback in the worker's log; the manifest gets the one-line message.
    # (print_exception, not print_exc: batched generators hand over exceptions already caught.)
    traceback.print_exception(exc)


def error_field(exc: BaseException) -> tuple[str, Any]:
    """(request field, bad value) of a user error: RequestError's first FieldError, a
    SongfarmError's `field` / `value` ("request" when it names none); ("", None) for
    anything else, which is the backend's failure, not the user's."""
    errors = getattr(exc, "errors", None)
    if errors:
        return str(errors[0].field), errors[0].value
    if isinstance(exc, SongfarmError):  # the user's to fix, whether or not it names a field
        return str(getattr(exc, "field", "") or "request"), getattr(exc, "value", None)
    return "", None


def _ok(row: dict[str, Any]) -> bool:
    return str(row.get("status", "ok")) == "ok"


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def new_row(request: TrackRequest, attempt: int = 0) -> dict[str, Any]:
    """The first columns of a track's row in round `attempt`, as the planner gets them; the
    seeds of the round's candidates come from models.request.take_seed."""
    seeds = [take_seed(request.seed, attempt, c) for c in range(request.candidates)]
    return {"track_id": request.id, "request": request.to_json(), "attempt": int(attempt),
            "seeds": json.dumps(seeds), "status": "ok", "error": "", "error_stage": "",
            "error_field": "", "error_value": ""}


class Planner:
    """Text → SongPlan."""

    name = "planner"
    version = "0"

    def plan(self, request: TrackRequest) -> SongPlan:
        raise NotImplementedError

    def __call__(self, batch: Batch) -> Batch:
        rows = rows_of(batch)
        for row in rows:
            row.setdefault("status", "ok")
            row.setdefault("error", "")
            row.setdefault("error_stage", "")
            row.setdefault("error_field", "")
            row.setdefault("error_value", "")
            row["plan"] = ""
            row["plan_s"] = 0.0
            if not _ok(row):
                continue
            t0 = time.perf_counter()
            try:
                row["plan"] = self.plan(TrackRequest.from_json(_str(row["request"]))).to_json()
            except Exception as exc:  # one bad row must not kill the batch
                _fail(row, "planner", exc)
            row["plan_s"] = time.perf_counter() - t0
        return batch_of(rows, batch)


class Generator:
    """SongPlan → takes. `generate` renders one take per seed."""

    name = "generator"
    version = "0"
    keep_stems = False  # put stems into the batch (the sink writes them) — set by config

    def generate(self, plan: SongPlan, request: TrackRequest, seeds: list[int], attempt: int = 0) -> list[Take]:
        raise NotImplementedError

    def takes_for(self, plan: SongPlan, request: TrackRequest, attempt: int = 0) -> list[Take]:
        """All candidates of one attempt, with seeds derived from the track seed."""
        seeds = [take_seed(request.seed, attempt, c) for c in range(request.candidates)]
        return self.generate(plan, request, seeds, attempt)

    def generate_batch(self, work: list[tuple[SongPlan, TrackRequest, list[int], int]]) -> list[list[Take] | Exception]:
        """Several tracks at once: each (plan, request, seeds, attempt) → its takes, or the
        exception that failed that track alone. This default renders one track at a time;
        backends that batch across tracks (diffusion) override it."""
        results: list[list[Take] | Exception] = []
        for plan, request, seeds, attempt in work:
            try:
                results.append(self.generate(plan, request, seeds, attempt))
            except Exception as exc:  # one bad track must not fail the others
                results.append(exc)
        return results

    def __call__(self, batch: Batch, audio_encoding: str = "flac") -> Batch:
        """Track rows → take rows. `audio_encoding` is how each take's audio travels on:
        "flac" (the farm: small in the object store) or "pcm" (Serve: no encode or decode
        on one request's critical path); see models/take.py."""
        rows = rows_of(batch)
        work: dict[int, tuple[SongPlan, TrackRequest, list[int], int]] = {}  # row index → one track's work
        for i, row in enumerate(rows):
            if _ok(row):
                try:
                    request = TrackRequest.from_json(_str(row["request"]))
                    plan = SongPlan.from_json(_str(row["plan"]))
                    attempt = int(row["attempt"])
                    seeds = [int(s) for s in json.loads(_str(row["seeds"]))] if row.get("seeds") else \
                        [take_seed(request.seed, attempt, c) for c in range(request.candidates)]
                    work[i] = (plan, request, seeds, attempt)
                except Exception as exc:
                    _fail(row, "generator", exc)
        t0 = time.perf_counter()
        results = dict(zip(work, self.generate_batch(list(work.values())))) if work else {}
        per_take_s = (time.perf_counter() - t0) / max(1, sum(len(r) for r in results.values() if isinstance(r, list)))
        out: list[dict[str, Any]] = []
        for i, row in enumerate(rows):
            result = results.get(i)
            if isinstance(result, list):
                out.extend({**row, **self.take_columns(take, per_take_s, audio_encoding)} for take in result)
                continue
            if isinstance(result, Exception):
                _fail(row, "generator", result)
            out.append({**row, "candidate": -1, "seed": -1, "audio": b"", "sample_rate": 0, "duration_s": 0.0,
                        "midi": b"", "stems": b"", "generator": self.name, "model": "", "generate_s": 0.0})
        return batch_of(out, batch)

    def take_columns(self, take: Take, seconds: float, audio_encoding: str = "flac") -> dict[str, Any]:
        return {
            "candidate": int(take.candidate),
            "seed": int(take.seed),
            "audio": encode_audio(take.audio, take.sample_rate, audio_encoding),
            "sample_rate": int(take.sample_rate),
            "duration_s": float(take.duration_s),
            "midi": take.midi or b"",
            "stems": pack_stems(take.stems, take.sample_rate) if self.keep_stems else b"",
            "generator": take.generator,
            "model": take.model,
            "generate_s": float(take.seconds or seconds),
        }


class Verifier:
    """Take + plan (+ the request's prompt) → Verdict."""

    name = "verifier"
    version = "0"

    def verify(self, take: Take, plan: SongPlan, request: TrackRequest) -> Verdict:
        raise NotImplementedError

    def __call__(self, batch: Batch) -> Batch:
        rows = rows_of(batch)
        for row in rows:
            row["verdict"], row["score"], row["accepted"], row["verify_s"] = "", 0.0, False, 0.0
            if not _ok(row):
                continue
            t0 = time.perf_counter()
            try:
                request = TrackRequest.from_json(_str(row["request"]))
                plan = SongPlan.from_json(_str(row["plan"]))
                audio, sr = decode_audio(bytes(row["audio"]))
                take = Take(track_id=request.id, attempt=int(row["attempt"]), candidate=int(row["candidate"]),
                            seed=int(row["seed"]), audio=audio, sample_rate=sr,
                            generator=_str(row["generator"]), model=_str(row["model"]))
                verdict = self.verify(take, plan, request)
                row["verdict"], row["score"], row["accepted"] = (
                    verdict.to_json(), float(verdict.score), bool(verdict.accepted))
            except Exception as exc:
                _fail(row, "verifier", exc)
            row["verify_s"] = time.perf_counter() - t0
        return batch_of(rows, batch)
