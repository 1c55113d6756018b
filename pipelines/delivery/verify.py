"""Do a job's files match its manifest? `songfarm status --verify` and every `songfarm render`.

A manifest row is the commit of a track's files (pipelines/delivery/sink.py): it names each
file (audio_file, midi_file, stems_json) with its size and SHA-256. Verifying a job checks,
against ONE listing of the job folder, that every file a current row names exists
with that size, and with `rehash` reads each file back and compares its SHA-256. Files no
row at all points to are orphans: takes an interrupted run wrote before their row, or a
rejected take a better one replaced before any row named it. Files of superseded rows (a
re-render, a changed request) are history, not orphans: a delivered file is never removed.
Temp files of an atomic write (`.tmp-*`) are neither.

    report = verify_rows(storage, current_rows(storage), rehash=True, history=read_manifest(storage).to_pylist())
    report.broken_tracks   # track ids to render again
    report.orphans         # paths nobody points to
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterable

CONTENT_DIRS = ("audio/", "midi/", "stems/")


@dataclass
class FileRef:
    """One file a manifest row points to."""

    track_id: str
    path: str  # relative to the job folder
    size: int  # bytes the row says (0: not recorded, size not checked)
    sha256: str  # hex the row says ('' when not recorded)


@dataclass
class Problem:
    kind: str  # "missing", "size", "sha256" or "orphan"
    path: str
    track_id: str = ""  # '' for an orphan
    detail: str = ""

    def line(self) -> str:
        track = f" (track {self.track_id})" if self.track_id else ""
        what = {"missing": "missing", "size": "size mismatch", "sha256": "sha256 mismatch",
                "orphan": "orphan"}[self.kind]
        return f"{what} {self.path}{track}" + (f": {self.detail}" if self.detail else "")


@dataclass
class VerifyReport:
    tracks: int = 0  # rows whose files were checked
    files: int = 0  # files checked
    rehashed: bool = False  # whether SHA-256 was compared (else existence and size only)
    problems: list[Problem] = field(default_factory=list)

    @property
    def broken_tracks(self) -> set[str]:
        """Tracks with a file missing or not matching its row: they render again."""
        return {p.track_id for p in self.problems if p.kind != "orphan"}

    @property
    def orphans(self) -> list[str]:
        return [p.path for p in self.problems if p.kind == "orphan"]

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        how = "size and sha256" if self.rehashed else "existence and size"
        bad = len(self.broken_tracks)
        return (f"verify ({how}): {self.files} files of {self.tracks} tracks; "
                f"{bad} track{'s' if bad != 1 else ''} with bad files, {len(self.orphans)} orphan files")


def _path_of(storage, row: dict[str, Any], file_col: str, uri_col: str, fallback: str) -> str:
    """The row's relative path for a file: its *_file column (current manifests), else its URI
    made relative (older ones), else the fixed name older sinks used."""
    rel = row.get(file_col) or ""
    if rel:
        return rel
    uri = row.get(uri_col) or ""
    return (storage.relpath(uri) if uri else None) or fallback


def row_files(storage, row: dict[str, Any]) -> list[FileRef]:
    """Every file a manifest row points to (none for a failed track)."""
    tid = row["track_id"]
    out: list[FileRef] = []
    if row.get("audio_file") or row.get("audio_uri"):
        fmt = row.get("audio_format") or "flac"
        out.append(FileRef(tid, _path_of(storage, row, "audio_file", "audio_uri", f"audio/{tid}.{fmt}"),
                           int(row.get("audio_bytes") or 0), row.get("audio_sha256") or ""))
    if row.get("midi_file") or row.get("midi_uri"):
        out.append(FileRef(tid, _path_of(storage, row, "midi_file", "midi_uri", f"midi/{tid}.mid"),
                           int(row.get("midi_bytes") or 0), row.get("midi_sha256") or ""))
    stems = json.loads(row.get("stems_json") or "{}")
    for name, stem in sorted(stems.items()):
        out.append(FileRef(tid, _path_of(storage, stem, "file", "uri", f"stems/{tid}/{name}.flac"),
                           int(stem.get("bytes") or 0), stem.get("sha256") or ""))
    return out


def list_content(storage) -> dict[str, int]:
    """path → size of every file under audio/, midi/ and stems/ (temp files left out), from
    one listing of the job folder: on S3 a few LIST pages instead of a HEAD per file."""
    return {path: size for path, size in storage.list_sizes("").items() if path.startswith(CONTENT_DIRS)}


def verify_rows(storage, rows: dict[str, dict[str, Any]] | Iterable[dict[str, Any]], rehash: bool = True,
                orphans: bool = True, history: Iterable[dict[str, Any]] = ()) -> VerifyReport:
    """Check the files of `rows` (manifest.current_rows(), or a list of rows) against one listing
    of the job folder; with `rehash` also read every file and compare its SHA-256. With
    `orphans`, files under audio/, midi/, stems/ that neither `rows` nor `history` (the older
    rows of the manifest: superseded takes stay delivered files) points to are reported."""
    rows = list(rows.values()) if isinstance(rows, dict) else list(rows)
    listing = list_content(storage)
    report = VerifyReport(rehashed=rehash)
    pointed: set[str] = {ref.path for row in history for ref in row_files(storage, row)}
    for row in rows:
        refs = row_files(storage, row)
        report.tracks += bool(refs)
        for ref in refs:
            report.files += 1
            pointed.add(ref.path)
            size = listing.get(ref.path)
            if size is None:
                report.problems.append(Problem("missing", ref.path, ref.track_id))
            elif ref.size and size != ref.size:
                report.problems.append(Problem("size", ref.path, ref.track_id,
                                               f"{size} bytes, the manifest says {ref.size}"))
            elif rehash and ref.sha256:
                try:
                    digest = hashlib.sha256(storage.read_bytes(ref.path)).hexdigest()
                except FileNotFoundError:  # deleted since the listing
                    report.problems.append(Problem("missing", ref.path, ref.track_id))
                    continue
                if digest != ref.sha256:
                    report.problems.append(Problem("sha256", ref.path, ref.track_id,
                                                   f"{digest[:12]}…, the manifest says {ref.sha256[:12]}…"))
    if orphans:
        report.problems += [Problem("orphan", path, detail="no manifest row points to it")
                            for path in sorted(set(listing) - pointed)]
    return report
