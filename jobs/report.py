"""report.html: a plain page beside the audio — counts, and one table row per track.

Links to the audio are relative (`audio/<id>.flac`), so the page works wherever the job
folder is opened or copied to, on disk or served from a bucket.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from typing import Any

from ..models.job import Job

REPORT_FILE = "report.html"

_STYLE = """body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
.accepted{color:#060}.rejected{color:#a60}.failed{color:#b00}.missing{color:#666}.fail{color:#b00}"""


def _checks(row: dict[str, Any]) -> str:
    """'tempo ok, key FAIL (A minor vs C major)' from the verdict JSON."""
    if not row.get("verdict_json"):
        return ""
    parts = []
    for c in json.loads(row["verdict_json"]).get("checks", []):
        if c.get("passed"):
            parts.append(html.escape(c["name"]))
        else:
            parts.append(f'<span class="fail">{html.escape(c["name"])} ✗ '
                         f'({html.escape(str(c.get("measured")))} vs {html.escape(str(c.get("expected")))})</span>')
    return ", ".join(parts)


def render_report(job: Job, rows: dict[str, dict[str, Any]]) -> str:
    """The page's HTML for `job`'s tracks given the current manifest rows (track_id → row)."""
    ids = [t.id for t in job.tracks] + sorted(set(rows) - {t.id for t in job.tracks})
    counts: dict[str, int] = {}
    lines = []
    for tid in ids:
        row = rows.get(tid)
        status = row["status"] if row else "missing"
        counts[status] = counts.get(status, 0) + 1
        e = html.escape
        if row is None:
            lines.append(f'<tr><td>{e(tid)}</td><td class="missing">not rendered yet</td>' + "<td></td>" * 5 + "</tr>")
            continue
        audio = (f'<a href="{e(row["audio_file"])}">{e(row["audio_file"])}</a>' if row.get("audio_file") else "")
        score = "" if row.get("score") is None else f'{row["score"]:.2f}'
        detail = _checks(row) if status != "failed" else e(f'{row["error_stage"]}: {row["error"]}')
        lines.append(f'<tr><td>{e(tid)}</td><td class="{e(status)}">{e(status)}</td><td>{score}</td>'
                     f'<td>{row.get("attempts") or ""}</td><td>{(row.get("duration_s") or 0):.1f} s</td>'
                     f"<td>{detail}</td><td>{audio}</td></tr>")
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    made = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>songfarm: {html.escape(job.name)}</title>"
            f"<style>{_STYLE}</style></head><body>\n<h1>{html.escape(job.name)}</h1>\n"
            f"<p>{len(ids)} tracks: {html.escape(summary)}. Generated audio (songfarm); report written {made}.</p>\n"
            "<table><tr><th>track</th><th>status</th><th>score</th><th>attempts</th><th>length</th>"
            "<th>checks / error</th><th>audio</th></tr>\n" + "\n".join(lines) + "\n</table></body></html>\n")


def write_report(storage, job: Job, rows: dict[str, dict[str, Any]]) -> str:
    """Write `<job>/report.html`; returns its URI."""
    return storage.write_bytes(REPORT_FILE, render_report(job, rows).encode("utf-8"))
