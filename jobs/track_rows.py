"""Track rows read from JSONL and CSV with their line numbers, and checked one by one.

`jobs/jobfile.py` reads a job through these functions (YAML, file reading and the problem
reporting live in pipelines/core/settings_file.py, shared with the Serve config). Nothing
here raises for bad input: every problem goes to a `report(file, line, field, message,
value)` callable so a job file can list all of its problems at once. Line numbers are
1-based:

    YAML   the line of the key (or of the row's mapping when the field is missing)
    JSONL  the line of the row
    CSV    the line where the row starts; for a quoted cell that runs across lines when
           it should not (a missing closing quote), the line where the quote opened

Parsing is strict, so a typo cannot turn into a different job: a CSV row must have as
many cells as the header names, a quote left open is an error rather than a cell that
swallows the rest of the file, and a JSON object may not give a key twice.

SongGeneration's JSONL names (`idx`, `descriptions`, `gt_lyric`, `prompt_audio_path`)
are aliases handled by `TrackRequest.from_dict`. Its `auto_prompt_audio_type` ("Pop",
"Chinese Tradition", ...; "Auto" means none) becomes the request's `genre`, and its
prompt when the row has no `descriptions`.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..models.request import ALIASES, RequestError, TrackRequest
from ..pipelines.core.settings_file import Report, did_you_mean

REQUEST_FIELDS = tuple(f.name for f in dataclasses.fields(TrackRequest))
SONGGENERATION_STYLE = "auto_prompt_audio_type"
# CSV cells are text; these request fields (and their aliases) are numbers.
NUMERIC_FIELDS = {"duration_s": float, "seed": int, "candidates": int, "bpm": float}
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_JSON_SPACE = " \t\r\n"
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


def rows_from_jsonl(text: str, file: str, report: Report) -> list[Row]:
    """One JSON object per line (SongGeneration's format); blank lines are skipped."""
    rows = []
    # Lines end in \n, \r\n or \r (JSON text never holds a raw CR or LF inside a string),
    # but not at U+2028 and the other separators splitlines() knows: JSON strings may hold them.
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        if not line.strip(_JSON_SPACE):  # str.strip() would also drop \x1c..\x1f, not JSON whitespace
            continue
        repeated: list[str] = []
        try:
            data = json.loads(line, object_pairs_hook=functools.partial(_json_object, repeated=repeated))
        except json.JSONDecodeError as exc:
            report(file, number, "json", f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        except (ValueError, RecursionError) as exc:  # a 5000-digit number, arrays nested 10**5 deep
            report(file, number, "json", f"invalid JSON: cannot read it ({type(exc).__name__})")
            continue
        for key in dict.fromkeys(repeated):
            report(file, number, key, "given twice in one JSON object; JSON keeps only the last")
        if not isinstance(data, dict):
            report(file, number, "json", "each line must be one JSON object like {\"idx\": ..., \"descriptions\": ...}"
                   f" (found {_json_kind(data)})")
            continue
        if not repeated:
            rows.append(Row(file, number, data))
    return rows


def _json_object(pairs: list[tuple[str, Any]], repeated: list[str]) -> dict[str, Any]:
    """json's object_pairs_hook: a dict, noting each key given more than once."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            repeated.append(key)
        data[key] = value
    return data


def _json_kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "true/false", type(None): "null"}.get(type(value), "a number")


def rows_from_csv(text: str, file: str, report: Report) -> list[Row]:
    """A header row naming request fields (`id,prompt,...`), then one track per row.

    Empty cells are left out (the job's defaults apply); numeric columns are converted.
    Unknown or repeated columns are reported once, at the header. Every row must have the
    header's number of cells; a quoted cell may span lines (lyrics), but one that makes its
    row malformed, or never closes, is reported at the line where its quote opened.
    """
    lines = io.StringIO(text, newline="").readlines()  # the lines csv counts in line_num
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return []
    except csv.Error as exc:
        _csv_error(exc, lines, 1, reader.line_num, file, report)
        return []
    header = [h.strip() for h in header]
    present = {ALIASES.get(name, name) for name in header}
    missing = [f for f in ("id", "prompt") if f not in present]
    if missing:
        # One problem, and the header is not echoed: in a file that is not a track CSV at
        # all, its "columns" are just its first line.
        first = lines[0] if lines else ""
        other = next((f" (this one seems to separate them with {name}: use commas)" for mark, name in
                      ((";", "';'"), ("\t", "tabs"), ("|", "'|'")) if mark in first and "," not in first), "")
        report(file, 1, "header", f"no {' or '.join(repr(m) for m in missing)} column; the header row must name "
               "the columns, separated by commas, e.g. id,prompt,duration_s" + other)
        return []
    columns: list[str | None] = []  # per position: the column name, or None when it is skipped
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        canonical = ALIASES.get(name, name)
        if canonical not in REQUEST_FIELDS:
            hint = (": rows cannot reference other files; list every file under the YAML job's `tracks`"
                    if name == "file" else did_you_mean(name, REQUEST_FIELDS, extra=tuple(ALIASES)))
            report(file, 1, name or f"column {position}", f"unknown column{hint}")
            columns.append(None)
        elif canonical in seen:
            report(file, 1, name, "column given twice")
            columns.append(None)
        else:
            seen.add(canonical)
            columns.append(name)

    rows = []
    row_start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            _csv_error(exc, lines, row_start, reader.line_num, file, report)
            break
        start, row_start = row_start, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(columns):
            opened, _ = _quotes(lines, start, reader.line_num)
            if opened is not None:
                report(file, opened, "csv", f"a quoted cell opened on this line runs on to line {reader.line_num}, "
                       f"leaving its row {len(cells)} cells for the header's {len(columns)}: is a closing quote "
                       "missing?")
            else:
                report(file, start, "row", f"{len(cells)} cells but the header names {len(columns)} columns"
                       + (" (leave a cell empty with ',,' rather than leaving it out)" if len(cells) < len(columns)
                          else ""))
            continue
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


def _csv_error(exc: csv.Error, lines: list[str], start: int, end: int, file: str, report: Report) -> None:
    """A csv.Error in the row from line `start` to line `end`: an unclosed quote is placed
    where it opened (the csv module only knows where it gave up)."""
    opened, open_at_eof = _quotes(lines, start, len(lines))
    if opened is not None and opened <= end:
        until = "the end of the file" if open_at_eof else f"line {end}"
        report(file, opened, "csv", f"a quoted cell opened on this line runs on to {until} ({exc}): "
               "is a closing quote missing?")
    else:
        report(file, start, "csv", f"invalid CSV: {exc}")


def _quotes(lines: list[str], start: int, end: int) -> tuple[int | None, bool]:
    """Scanning lines `start`..`end` (1-based) as csv does: the line where the first quoted
    cell still open at the end of its line began (None: no cell spans lines), and whether a
    quoted cell is still open after line `end`."""
    quoted, opened, first = False, None, None
    for number in range(start, min(end, len(lines)) + 1):
        line, i, at_cell_start = lines[number - 1], 0, not quoted
        while i < len(line):
            char = line[i]
            if quoted:
                if char == '"':
                    if line[i + 1:i + 2] == '"':
                        i += 1  # "" is a quote inside the cell
                    else:
                        quoted = False
            elif char == '"' and at_cell_start:
                quoted, opened = True, number
            at_cell_start = not quoted and char == ","
            i += 1
        if quoted and first is None:
            first = opened
    return first, quoted


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
            hint = (": rows cannot reference other files; list every file under the YAML job's `tracks`"
                    if key == "file" else did_you_mean(str(key), REQUEST_FIELDS, extra=tuple(ALIASES)))
            report(row.file, row.line_of(key), row.prefix + str(key), f"unknown field{hint}", value)
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
