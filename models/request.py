"""A track request: one row of a job file, the input of the planner.

Field names follow DESIGN.md §2. SongGeneration's names (`idx`, `descriptions`,
`gt_lyric`, `prompt_audio_path`) are accepted as aliases by `TrackRequest.from_dict`.
Validation collects every problem as a `FieldError` (field, value, reason) so a job
file can report all of them at once, each with its file and line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from .errors import SongfarmError
from .planners import fields as plannable
from .settings import CANDIDATES

# Limits a studio would expect; a job's `defaults` cannot exceed them.
MIN_DURATION_S = 2.0
MAX_DURATION_S = 600.0
MAX_CANDIDATES = 16
MAX_PROMPT_CHARS = 4000
MAX_LYRICS_CHARS = 20000
MAX_ID_CHARS = 128
# A file name is at most 255 bytes on common file systems: audio/<track_id>.flac must fit
# (128 CJK characters are 384 bytes in UTF-8).
MAX_ID_BYTES = 240
MIN_BPM = 30.0
MAX_BPM = 300.0
DEFAULT_DURATION_S = 30.0  # when neither the request nor its prompt gives a length

# Track ids and job names become file and folder names (audio/<track_id>.flac): letters,
# digits and . _ - only, not starting with a dot, bounded length. CJK letters are allowed
# (\w is Unicode-aware); whitespace and control characters, a trailing newline included,
# are not (fullmatch: `$` would let "abc\n" through).
_SAFE_ID = re.compile(rf"(?!\.)[\w.\-]{{1,{MAX_ID_CHARS}}}")
ID_RULE = (f"use letters, digits, '.', '_' or '-', at most {MAX_ID_CHARS} characters ({MAX_ID_BYTES} bytes "
           "in UTF-8), not starting with '.', no path separators, '..', spaces or control characters")

ALIASES = {
    "idx": "id",
    "descriptions": "prompt",
    "description": "prompt",
    "gt_lyric": "lyrics",
    "prompt_audio_path": "reference_audio",
    "duration": "duration_s",
    "tempo": "bpm",
}


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of one request; the job parser adds file and line."""

    field: str
    value: Any
    reason: str

    def __str__(self) -> str:
        shown = repr(self.value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        return f"{self.field}={shown}: {self.reason}"


class RequestError(SongfarmError, ValueError):
    """Raised by `TrackRequest.from_dict` with every problem found."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


def normalise_name(name: str) -> str:
    """A track id or job name in Unicode NFC, the form it is checked and stored in: `café`
    typed on macOS (NFD, e + combining accent) and elsewhere (NFC) is one name, one file."""
    return unicodedata.normalize("NFC", name)


def safe_track_id(track_id: str) -> bool:
    """Whether `track_id` (already NFC, see normalise_name) can be a file or folder name."""
    return (isinstance(track_id, str) and _SAFE_ID.fullmatch(track_id) is not None and ".." not in track_id
            and len(track_id.encode("utf-8")) <= MAX_ID_BYTES)


@dataclass
class TrackRequest:
    id: str  # unique in the job; becomes a file name
    prompt: str  # free text, English, Chinese or Japanese
    lyrics: str | None = None  # with [verse]/[chorus]-style section tags
    duration_s: float | None = None  # target length in seconds; None → stated in the prompt, else 30
    seed: int = 0  # the track seed; re-render seeds derive from it (take_seed)
    candidates: int = CANDIDATES  # takes rendered per attempt; the verifier keeps the best
    # Explicit overrides: win over anything the planner reads in the prompt.
    bpm: float | None = None
    key: str | None = None  # "F# minor", "Eb", "a小调"
    time_signature: str | None = None  # "3/4"
    genre: str | None = None
    moods: list[str] | None = None
    instruments: list[str] | None = None
    reference_audio: str | None = None  # path or URI; recorded, used by backends that take it

    @classmethod
    def from_dict(cls, row: dict[str, Any], defaults: dict[str, Any] | None = None) -> "TrackRequest":
        """Build from a job row, applying aliases and `defaults`; raises RequestError.

        Unknown fields are errors (a typo like `duraton_s` must not be silently ignored).
        """
        merged: dict[str, Any] = dict(defaults or {})
        errors: list[FieldError] = []
        known = {f.name for f in dataclasses.fields(cls)}
        for name, value in row.items():
            canonical = ALIASES.get(name, name)
            if canonical not in known:
                errors.append(FieldError(name, value, f"unknown field (known: {', '.join(sorted(known))})"))
                continue
            merged[canonical] = value
        merged = {k: v for k, v in merged.items() if k in known}
        if "id" not in merged or merged["id"] in (None, ""):
            errors.append(FieldError("id", merged.get("id"), "missing track id"))
        if "prompt" not in merged or merged["prompt"] is None:
            errors.append(FieldError("prompt", merged.get("prompt"), "missing prompt"))
        if errors:
            raise RequestError(errors)
        request = cls(**merged)
        errors = request.validate()
        if errors:
            raise RequestError(errors)
        return request

    def validate(self) -> list[FieldError]:
        """Every problem with this request; empty when it is fine. Normalises ints in place."""
        errors: list[FieldError] = []
        if isinstance(self.id, int) and not isinstance(self.id, bool):
            self.id = str(self.id)
        if isinstance(self.id, str):
            self.id = normalise_name(self.id)
        if not safe_track_id(self.id):
            errors.append(FieldError("id", self.id, f"track ids become file names: {ID_RULE}"))
        for name in ("prompt", "lyrics", "key", "time_signature", "genre", "reference_audio"):
            reason = unprintable(getattr(self, name))
            if reason:
                errors.append(FieldError(name, getattr(self, name), reason))
        for name in ("moods", "instruments"):
            value = getattr(self, name)
            reason = next((r for r in map(unprintable, value) if r), None) if isinstance(value, list) else None
            if reason:
                errors.append(FieldError(name, value, reason))
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            errors.append(FieldError("prompt", self.prompt, "prompt must be non-empty text"))
        elif len(self.prompt) > MAX_PROMPT_CHARS:
            errors.append(FieldError("prompt", self.prompt, f"longer than {MAX_PROMPT_CHARS} characters"))
        if self.lyrics is not None and not isinstance(self.lyrics, str):
            errors.append(FieldError("lyrics", self.lyrics, "lyrics must be text"))
        elif self.lyrics and len(self.lyrics) > MAX_LYRICS_CHARS:
            errors.append(FieldError("lyrics", self.lyrics, f"longer than {MAX_LYRICS_CHARS} characters"))
        if self.duration_s is None:
            pass
        elif not _is_number(self.duration_s) or not MIN_DURATION_S <= float(self.duration_s) <= MAX_DURATION_S:
            errors.append(FieldError("duration_s", self.duration_s,
                                     f"must be a number of seconds in [{MIN_DURATION_S:g}, {MAX_DURATION_S:g}]"))
        else:
            self.duration_s = float(self.duration_s)
        if not _is_int(self.seed) or not 0 <= int(self.seed) < 2**32:
            errors.append(FieldError("seed", self.seed, "must be an integer in [0, 2**32)"))
        else:
            self.seed = int(self.seed)
        if not _is_int(self.candidates) or not 1 <= int(self.candidates) <= MAX_CANDIDATES:
            errors.append(FieldError("candidates", self.candidates, f"must be an integer in [1, {MAX_CANDIDATES}]"))
        else:
            self.candidates = int(self.candidates)
        if self.bpm is not None:
            if not _is_number(self.bpm) or not MIN_BPM <= float(self.bpm) <= MAX_BPM:
                errors.append(FieldError("bpm", self.bpm, f"must be a number in [{MIN_BPM:g}, {MAX_BPM:g}]"))
            else:
                self.bpm = float(self.bpm)
        for name in ("key", "time_signature", "genre", "reference_audio"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                errors.append(FieldError(name, value, "must be text"))
        # What the planner reads in key, time_signature and instruments: its own rules
        # (models/planners/fields.py), so a value that passes here also plans.
        if isinstance(self.key, str):
            errors += _plannable("key", self.key, plannable.read_key)
        if isinstance(self.time_signature, str):
            errors += _plannable("time_signature", self.time_signature, plannable.read_time_signature)
        for name in ("moods", "instruments"):
            value = getattr(self, name)
            if isinstance(value, str):
                setattr(self, name, [v.strip() for v in re.split(r"[,，、]", value) if v.strip()])
            elif value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                errors.append(FieldError(name, value, "must be a list of text"))
        if isinstance(self.instruments, list) and all(isinstance(v, str) for v in self.instruments):
            for word in self.instruments:
                errors += _plannable("instruments", word, plannable.read_instrument)
        return errors

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TrackRequest":
        return cls(**json.loads(text))


def take_seed(track_seed: int, attempt: int, candidate: int) -> int:
    """The seed of one take: attempt 0, candidate 0 uses the track seed itself, so a
    request rendered once with seed N is the same audio everywhere (CLI, farm, Serve).
    Later takes derive a 32-bit seed from (track seed, attempt, candidate)."""
    if attempt == 0 and candidate == 0:
        return int(track_seed)
    digest = hashlib.sha256(f"{int(track_seed)}:{attempt}:{candidate}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _plannable(name: str, value: str, read) -> list[FieldError]:
    try:
        read(value)
    except ValueError as exc:
        return [FieldError(name, value, str(exc))]
    return []


def unprintable(value: Any) -> str | None:
    """Why text cannot be kept as it is: a control character (other than tab and line
    breaks), which ends up in tags, manifests and terminals, or a lone surrogate, which is
    not Unicode and cannot be written as UTF-8. None when it is fine or not text."""
    if not isinstance(value, str):
        return None
    bad = _UNPRINTABLE.search(value)
    if bad is None:
        return None
    what = "a lone surrogate" if "\ud800" <= bad.group() <= "\udfff" else "a control character"
    return f"holds {what} ({bad.group()!r} at position {bad.start()}): not plain text"


_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and value.is_integer()
