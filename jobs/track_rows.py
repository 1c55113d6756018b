"""Track rows read from YAML, JSONL and CSV with their line numbers, and checked one by one.

`jobs/jobfile.py` reads a job through these functions. Nothing here raises for bad
input: every problem goes to a `report(file, line, field, message, value)` callable so
a job file can list all of its problems at once. Line numbers are 1-based:

    YAML   the line of the key (or of the row's mapping when the field is missing)
    JSONL  the line of the row
    CSV    the line where the row starts (a quoted cell may span lines)

SongGeneration's JSONL names (`idx`, `descriptions`, `gt_lyric`, `prompt_audio_path`)
are aliases handled by `TrackRequest.from_dict`. Its `auto_prompt_audio_type` ("Pop",
"Chinese Tradition", ...; "Auto" means none) becomes the request's `genre`, and its
prompt when the row has no `descriptions`.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from ..models.request import ALIASES, RequestError, TrackRequest

# report(file, line, field, message, value) — value is left out of the message when it is NO_VALUE.
Report = Callable[..., None]
NO_VALUE = object()

REQUEST_FIELDS = tuple(f.name for f in dataclasses.fields(TrackRequest))
SONGGENERATION_STYLE = "auto_prompt_audio_type"
# CSV cells are text; these request fields (and their aliases) are numbers.
NUMERIC_FIELDS = {"duration_s": float, "seed": int, "candidates": int, "bpm": float}
_MISSING_ID = "missing-id"  # stands in for a missing id so the row's other fields are still checked
_MISSING_PROMPT = "(missing prompt)"


@dataclass
class Row:
    """One track row as read, before validation."""

    file: str  # the file as shown in messages
    line: int  # 1-based line where the row starts
    data: dict[str, Any]  # field → value, as written (aliases not yet applied)
    key_lines: dict[str, int] = field(default_factory=dict)  # field → line, where it differs from `line`
    prefix: str = ""  # field-name prefix in messages, "tracks[3]." for rows inline in a YAML job

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


# --- YAML with line numbers -------------------------------------------------------------


class LineDict(dict):
    """A YAML mapping that remembers its own line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict


class LineList(list):
    """A YAML sequence that remembers its own line and the line of each item (1-based)."""

    line: int = 0
    item_lines: list


class _LineLoader(yaml.SafeLoader):
    """PyYAML's safe loader, building LineDict/LineList and noting duplicate keys
    (which PyYAML would otherwise resolve silently to the last value)."""

    def __init__(self, stream):
        super().__init__(stream)
        self.duplicate_keys: list[tuple[int, Any, int]] = []  # (line, key, line of the first)


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)  # applies `<<: *anchor` merges
    mapping = LineDict()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, "found an unhashable key", key_node.start_mark)
        line = key_node.start_mark.line + 1
        if key in mapping:
            loader.duplicate_keys.append((line, key, mapping.key_lines[key]))
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = line
    return mapping


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    seq = LineList(loader.construct_object(child, deep=True) for child in node.value)
    seq.line = node.start_mark.line + 1
    seq.item_lines = [child.start_mark.line + 1 for child in node.value]
    return seq


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


def plain(value: Any) -> Any:
    """LineDict/LineList → dict/list, all the way down, for values kept in the Job."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def parse_yaml(text: str, file: str, report: Report) -> Any:
    """YAML text → LineDict/LineList/scalars, or None after reporting a syntax error."""
    loader = _LineLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        # PyYAML marks where it noticed the problem and, for unclosed things, where they began.
        problem, context = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
        mark = problem or context
        line = mark.line + 1 if mark is not None else None
        begun = f" (begun at line {context.line + 1})" if problem and context and context.line != problem.line else ""
        parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
        message = " ".join(str(p) for p in parts if p) or str(exc)
        report(file, line, "yaml", f"invalid YAML: {message}{begun}")
        return None
    finally:
        loader.dispose()
    for line, key, first in loader.duplicate_keys:
        report(file, line, str(key), f"given twice in one mapping (first at line {first}); YAML keeps only the last")
    return data


# --- reading files ------------------------------------------------------------------------


def read_text(path: Path, file: str, report: Report, line: int | None = None, where: str = "file") -> str | None:
    """A UTF-8 file's text (a leading BOM is dropped), or None after reporting why not.

    `line` and `where` place the problem: a referenced file's problems that are not about
    its content are reported at the line that references it.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        report(file, line, where, f"cannot read {path} ({exc.strerror or exc})")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad_line = data[: exc.start].count(b"\n") + 1
        report(str(path), bad_line, "encoding",
               f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start}; save the file as UTF-8")
        return None


def rows_from_jsonl(text: str, file: str, report: Report) -> list[Row]:
    """One JSON object per line (SongGeneration's format); blank lines are skipped."""
    rows = []
    # split("\n"), not splitlines(): JSON strings may hold U+2028 and other line separators.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            report(file, number, "json", f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(data, dict):
            report(file, number, "json", "each line must be one JSON object like {\"idx\": ..., \"descriptions\": ...}",
                   data)
            continue
        rows.append(Row(file, number, data))
    return rows


def rows_from_csv(text: str, file: str, report: Report) -> list[Row]:
    """A header row naming request fields (`id,prompt,...`), then one track per row.

    Empty cells are left out (the job's defaults apply); numeric columns are converted.
    Unknown or repeated columns are reported once, at the header.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return []
    except csv.Error as exc:
        report(file, 1, "csv", f"invalid CSV: {exc}")
        return []
    header = [h.strip() for h in header]
    columns: list[str | None] = []  # per position: the column name, or None when it is skipped
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        canonical = ALIASES.get(name, name)
        if canonical not in REQUEST_FIELDS:
            report(file, 1, name or f"column {position}",
                   f"unknown column{did_you_mean(name, REQUEST_FIELDS, extra=tuple(ALIASES))}")
            columns.append(None)
        elif canonical in seen:
            report(file, 1, name, "column given twice")
            columns.append(None)
        else:
            seen.add(canonical)
            columns.append(name)
    missing = [f for f in ("id", "prompt") if f not in seen]
    if missing:
        report(file, 1, "header", f"no {' or '.join(repr(m) for m in missing)} column; the header row must name "
               "the columns, e.g. id,prompt,duration_s", ",".join(header))
        return []

    rows = []
    row_start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            report(file, row_start, "csv", f"invalid CSV: {exc}")
            break
        start, row_start = row_start, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(columns):
            report(file, start, "row", f"{len(cells)} cells but the header names {len(columns)} columns",
                   cells[len(columns):])
        data: dict[str, Any] = {}
        for name, cell in zip(columns, cells):
            cell = cell.strip()
            if name is None or cell == "":
                continue
            convert = NUMERIC_FIELDS.get(ALIASES.get(name, name))
            if convert is None:
                data[name] = cell
                continue
            number = _number(cell, convert)
            if number is None:
                kind = "an integer" if convert is int else "a number"
                report(file, start, name, f"must be {kind}", cell)
            else:
                data[name] = number
        rows.append(Row(file, start, data))
    return rows


def _number(cell: str, convert: type) -> int | float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    if convert is int:
        return int(value) if value.is_integer() else None
    return value


# --- checking one row ---------------------------------------------------------------------


def check_row(row: Row, defaults: dict[str, Any], report: Report) -> TrackRequest | None:
    """The row as a TrackRequest with `defaults` applied, or None after reporting every
    problem: unknown fields, a field given twice (as itself and an alias), a missing id or
    prompt, and each of `TrackRequest.validate`'s findings."""
    written: dict[str, str] = {}  # canonical field → the key as written in the row
    clean: dict[str, Any] = {}
    ok = True
    style = row.data.get(SONGGENERATION_STYLE)
    for key, value in row.data.items():
        if key == SONGGENERATION_STYLE:
            continue
        canonical = ALIASES.get(key, key) if isinstance(key, str) else key
        if canonical not in REQUEST_FIELDS:
            report(row.file, row.line_of(key), row.prefix + str(key),
                   f"unknown field{did_you_mean(str(key), REQUEST_FIELDS, extra=tuple(ALIASES))}", value)
            ok = False
        elif canonical in written:
            report(row.file, row.line_of(key), row.prefix + str(key),
                   f"given twice, as {written[canonical]!r} and {key!r}", value)
            ok = False
        else:
            written[canonical] = key
            clean[canonical] = value

    if style is not None:
        if not isinstance(style, str):
            report(row.file, row.line_of(SONGGENERATION_STYLE), row.prefix + SONGGENERATION_STYLE,
                   "must be text such as \"Pop\" or \"Auto\"", style)
            ok = False
        elif style.strip() and style.strip().lower() != "auto":
            clean.setdefault("genre", style.strip())
            if _blank(clean.get("prompt")):
                clean["prompt"] = style.strip()

    placeholders = set()
    if _blank(clean.get("id")):
        report(row.file, row.line_of(written.get("id", "id")), row.prefix + written.get("id", "id"),
               "missing track id")
        clean["id"], ok = _MISSING_ID, False
        placeholders.add("id")
    if _blank(clean.get("prompt")):
        report(row.file, row.line_of(written.get("prompt", "prompt")), row.prefix + written.get("prompt", "prompt"),
               "missing prompt (free text describing the track)")
        clean["prompt"], ok = _MISSING_PROMPT, False
        placeholders.add("prompt")

    try:
        request = TrackRequest.from_dict(clean, defaults)
    except RequestError as exc:
        for error in exc.errors:
            if error.field in placeholders:
                continue
            key = written.get(error.field, error.field)
            report(row.file, row.line_of(key), row.prefix + key, error.reason, error.value)
        return None
    return request if ok else None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def did_you_mean(name: str, known: tuple[str, ...] | list[str], extra: tuple[str, ...] = ()) -> str:
    """"; did you mean 'x'?" for a likely typo, else the known names. `extra` names
    (aliases) may be suggested but are not listed."""
    close = difflib.get_close_matches(name, list(known) + list(extra), n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f" (known: {', '.join(known)})"
