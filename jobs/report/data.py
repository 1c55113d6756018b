"""The page's model: manifest rows + run records + the job → one plain `ReportData`.

Everything the page shows is decided here, as plain numbers, text and lists; plots.py draws
from it and page.py lays it out. The track table is a list of JSON-ready dicts (`tracks`),
embedded in the page once and drawn a page at a time by its script.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from ...models.job import Job
from ...models.plan import SongPlan
from ...models.prices import Prices
from ...models.settings import STAGES
from .commands import render_base, rerender_command
from .links import Links
from .usage import Usage, gpu_by_node, held_hours, job_prices, prices_text, run_cost, usage_of

STATUSES = ("accepted", "rejected", "failed", "missing")  # "missing": in the job, no manifest row yet
PICTURE_KEY_CHARS = 16  # hex digits of the audio's SHA-256 that key its picture in the page


@dataclass
class Group:
    """Tracks that failed, or were rejected, for one reason, and the command that redoes them."""

    kind: str  # "failed" or "rejected"
    title: str  # the reason shared: "planner: unknown key …", "tempo, key failed"
    tracks: list[dict[str, str]]  # [{id, detail}]: each track's own error or reason
    command: str  # songfarm render ... --tracks id,id


@dataclass
class Plotted:
    """What the plots draw, per track."""

    scores: dict[str, list[float]] = field(default_factory=dict)  # status → scores of delivered takes
    tempo: list[tuple[float, float, bool]] = field(default_factory=list)  # (planned, measured bpm, check passed)
    landed: list[tuple[datetime, str]] = field(default_factory=list)  # (rendered_at UTC, status)


@dataclass
class ReportData:
    job: str
    location: str
    made_at: str  # ISO UTC
    min_score: float
    max_attempts: int
    total: int  # tracks of the job (plus rows of tracks no longer in it)
    counts: dict[str, int]  # status (STATUSES) → tracks
    accept_rate: float | None  # accepted / tracks with a row
    attempts: dict[int, int]  # rounds a track needed → tracks
    backends: list[dict[str, Any]]  # [{stage, name, version, model, tracks}]
    usage: Usage
    prices: Prices
    cost: float | None  # over every run; None without prices
    runs: list[dict[str, Any]]  # one view per run record, oldest first
    wall_s: float | None  # summed over the runs; None when no run was recorded
    estimates: list[dict[str, Any]]  # [{run, rows: [{field, estimate, actual, ratio}]}]
    groups: list[Group]
    checks: list[str]  # check names seen, for the filter
    tracks: list[dict[str, Any]]  # the table's rows, JSON-ready
    gpu_nodes: dict[str, dict[str, float]]  # node → stage → GPU seconds
    plotted: Plotted
    notes: list[str] = field(default_factory=list)

    @property
    def cost_per_track(self) -> float | None:
        return self.cost / self.usage.tracks if self.cost is not None and self.usage.tracks else None

    @property
    def prices_text(self) -> str:
        return prices_text(self.prices)

    @property
    def cost_per_audio_minute(self) -> float | None:
        return self.usage.per_audio_minute(self.cost) if self.cost is not None else None


def build_report(job: Job, rows: dict[str, dict[str, Any]], runs: list[dict[str, Any]], links: Links,
                 job_yaml: str | None = None) -> ReportData:
    """The model of the page. `rows` is manifest.current_rows(), `runs` runs.read_runs(),
    `job_yaml` a local path of the job's job.yaml (for the re-render command; None on S3)."""
    job_ids = [t.id for t in job.tracks]
    ordered = [rows[i] for i in job_ids if i in rows] + [rows[i] for i in sorted(set(rows) - set(job_ids))]
    missing = [t for t in job.tracks if t.id not in rows]
    tracks = [track_view(r, links) for r in ordered]
    tracks += [{"id": t.id, "status": "missing", "prompt": t.prompt, "checks": [], "takes": [], "stems": []}
               for t in missing]
    counts = {s: 0 for s in STATUSES} | Counter(t["status"] for t in tracks)
    usage = usage_of(ordered)
    prices = job_prices(job.prices, runs)
    run_costs = [run_cost(run, prices) for run in runs]
    base = render_base(job, runs, job_yaml)
    return ReportData(
        job=job.name, location=links.storage.location, made_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        min_score=job.settings.min_score, max_attempts=job.settings.max_attempts, total=len(tracks), counts=counts,
        accept_rate=counts["accepted"] / len(ordered) if ordered else None,
        attempts=dict(sorted(Counter(int(r["attempts"] or 0) for r in ordered).items())),
        backends=backends_of(ordered), usage=usage, prices=prices,
        cost=sum(c for c in run_costs if c is not None) if prices.given and runs else None,
        runs=[run_view(run, cost) for run, cost in zip(runs, run_costs)],
        wall_s=sum(float(r.get("wall_s") or 0.0) for r in runs) if runs else None,
        estimates=[e for e in (estimate_view(run, ordered, prices) for run in runs) if e],
        groups=groups_of(ordered, base), checks=sorted({c["name"] for t in tracks for c in t["checks"]}),
        tracks=tracks, gpu_nodes=gpu_by_node(ordered, runs), plotted=plotted_of(ordered, tracks),
        notes=[links.note] if links.note else [])


def track_view(row: dict[str, Any], links: Links) -> dict[str, Any]:
    """One manifest row → the table's row: what is shown, and what sorting and filtering read."""
    verdict = json.loads(row["verdict_json"]) if row.get("verdict_json") else {}
    kept = (row.get("take_attempt"), row.get("take_candidate"))
    takes = [{"round": int(t["attempt"]) + 1, "candidate": int(t.get("candidate", 0)), "score": t.get("score"),
              "kept": (t["attempt"], t.get("candidate")) == kept, "accepted": bool(t.get("accepted")),
              "why": t.get("reason") or t.get("error") or ""}
             for t in json.loads(row.get("takes_json") or "[]")]
    stems = json.loads(row.get("stems_json") or "{}")
    failed = row["status"] == "failed"
    return {
        "id": row["track_id"], "status": row["status"], "prompt": row.get("prompt") or "",
        "plan": plan_view(row.get("plan_json") or ""), "score": row.get("score"),
        "checks": [check_view(c) for c in verdict.get("checks", [])], "attempts": int(row.get("attempts") or 0),
        "takes": takes, "audio": "" if failed else links.src(row.get("audio_file") or ""),
        "duration_s": row.get("duration_s"), "midi": links.src(row.get("midi_file") or ""),
        "stems": [{"name": name, "src": links.src(s["file"])} for name, s in sorted(stems.items())],
        "pic": picture_key(row), "error": f"{row.get('error_stage')}: {row.get('error')}" if failed else "",
        "rendered_at": _iso(row.get("rendered_at")),
    }


def picture_key(row: dict[str, Any]) -> str:
    """The key of a track's picture in the page ('' for a track without audio)."""
    if row.get("status") == "failed" or not row.get("audio_file"):
        return ""
    return str(row.get("audio_sha256") or "")[:PICTURE_KEY_CHARS]


def plan_view(plan_json: str) -> dict[str, Any] | None:
    """The plan in brief: tempo, key, metre, genre and the sections with their bars."""
    if not plan_json:
        return None
    plan = SongPlan.from_json(plan_json)
    return {"bpm": plan.bpm, "key": plan.key, "metre": plan.time_signature, "genre": plan.genre,
            "sections": " · ".join(f"{s.name} {s.bars}" for s in plan.sections), "bars": plan.total_bars}


def check_view(check: dict[str, Any]) -> dict[str, Any]:
    """A check as the table shows it; the verifier's detail only where the check failed (where
    it says why), which keeps a 5,000-row page's JSON to about half."""
    passed = bool(check.get("passed"))
    return {"name": check["name"], "measured": shown(check.get("measured")), "expected": shown(check.get("expected")),
            "unit": check.get("unit") or "", "passed": passed, "detail": "" if passed else check.get("detail") or ""}


def shown(value: Any) -> str:
    """A measured or expected value as text, with the digits that matter (117.4 bpm, -14.02 LUFS, 0.031)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else str(value)
    if isinstance(value, int) or float(value).is_integer():
        return f"{value:g}"
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) >= 1 else f"{value:.3g}"


def backends_of(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each backend and version that rendered tracks (the generator with its model), and how many."""
    seen: Counter = Counter()
    for r in rows:
        for stage in STAGES:
            if r.get(stage):
                model = (r.get("model") or "") if stage == "generator" else ""
                seen[(stage, r[stage], r.get(f"{stage}_version") or "", model)] += 1
    return [{"stage": s, "name": n, "version": v, "model": m, "tracks": c} for (s, n, v, m), c in sorted(seen.items())]


def run_view(run: dict[str, Any], cost: float | None) -> dict[str, Any]:
    counts = run.get("counts") or {}
    return {"started_at": run.get("started_at") or "", "ended_at": run.get("ended_at") or "",
            "state": run.get("state") or "?", "wall_s": run.get("wall_s"), "ray_start_s": run.get("ray_start_s"),
            "first_take_s": run.get("first_take_s"), "rounds": run.get("rounds"), "to_render": run.get("to_render"),
            "counts": ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none",
            "command": run.get("command") or "", "cost": cost}


# The estimate's stage names → the run record's stage_s names (pipelines/delivery/runs.py).
RUN_STAGE_S = {"planner": "plan", "generator": "generate", "verifier": "verify"}


def estimate_view(run: dict[str, Any], rows: list[dict[str, Any]], prices: Prices) -> dict[str, Any] | None:
    """The run's estimate (jobs/estimate.py Estimate.to_dict(), made before it started) set
    against what the run measured, figure by figure; None for a run without one. `rows` are
    the manifest rows; those that landed during the run are its tracks."""
    est = run.get("estimate")
    if not isinstance(est, dict) or not est:
        return None
    landed = [r for r in rows if _during(r.get("rendered_at"), run)]
    stage_s, cpu_s, pools = run.get("stage_s") or {}, run.get("stage_cpu_s") or {}, run.get("pools") or {}
    resource_hours, node_hours = held_hours(run, prices) if prices.given else ({}, {})
    pairs = [("tracks", est.get("tracks"), run.get("to_render")),
             ("seconds of audio", est.get("audio_s"),
              sum(float(r.get("duration_s") or 0) for r in landed if r["status"] != "failed") if landed else None),
             ("wall seconds, Ray start included", est.get("wall_s"),
              float(run.get("wall_s") or 0) + float(run.get("ray_start_s") or 0) if "wall_s" in run else None),
             ("Ray start seconds", (est.get("startup_s") or {}).get("ray"), run.get("ray_start_s")),
             ("rounds", est.get("rounds"), run.get("rounds")),
             ("rounds per track", est.get("attempts"),
              sum(int(r.get("attempts") or 0) for r in landed) / len(landed) if landed else None)]
    for stage in STAGES:
        pool = pools.get(stage) or pools.get("fused") or {}  # a fused pool's actors ran every stage
        pairs += [(f"{stage} wall seconds", (est.get("stage_s") or {}).get(stage), stage_s.get(RUN_STAGE_S[stage])),
                  (f"{stage} CPU seconds", (est.get("stage_cpu_s") or {}).get(stage), cpu_s.get(stage)),
                  (f"{stage} actors", (est.get("actors") or {}).get(stage), pool.get("actors"))]
    for kind, got in (("resource_hours", resource_hours), ("node_hours", node_hours)):
        pairs += [(f"{name} hours held", hours, got.get(name)) for name, hours in (est.get(kind) or {}).items()]
    pairs.append(("cost", est.get("cost"), run_cost(run, prices)))
    return {"run": run.get("started_at") or run.get("path", ""), "source": est.get("source") or "",
            "detail": est.get("source_detail") or "", "made_at": est.get("made_at") or "",
            "rows": [{"field": name, "estimate": shown(e), "actual": shown(a),
                      "ratio": a / e if _number(a) and _number(e) and e else None}
                     for name, e, a in pairs if e is not None]}


def _during(stamp: Any, run: dict[str, Any]) -> bool:
    """Whether a row's rendered_at falls within the run (its started_at .. ended_at)."""
    try:
        start, end = (datetime.fromisoformat(str(run[k])) for k in ("started_at", "ended_at"))
    except (KeyError, ValueError):
        return False
    return isinstance(stamp, datetime) and start <= stamp <= end + timedelta(seconds=1)  # ended_at is whole seconds


def groups_of(rows: list[dict[str, Any]], base: list[str]) -> list[Group]:
    """Failed tracks grouped by stage and error (numbers and quoted values aside), rejected
    tracks by the checks that failed; each group with the command that renders it again."""
    grouped: dict[tuple[str, str], list[dict[str, str]]] = {}
    for r in rows:
        if r["status"] == "failed":
            key = ("failed", f"{r.get('error_stage') or '?'}: {_shape(r.get('error') or '')}")
            detail = f"{r.get('error_stage')}: {r.get('error')}"
        elif r["status"] == "rejected":
            key, detail = ("rejected", _rejected_for(r)), _kept_reason(r)
        else:
            continue
        grouped.setdefault(key, []).append({"id": r["track_id"], "detail": detail})
    order = sorted(grouped.items(), key=lambda kv: (kv[0][0] != "failed", -len(kv[1]), kv[0][1]))
    return [Group(kind, title, tracks, rerender_command(base, [t["id"] for t in tracks]))
            for (kind, title), tracks in order]


def _rejected_for(row: dict[str, Any]) -> str:
    verdict = json.loads(row["verdict_json"]) if row.get("verdict_json") else {}
    failed = [c["name"] for c in verdict.get("checks", []) if not c.get("passed")]
    return f"{', '.join(failed)} failed" if failed else "score below min_score"


def _kept_reason(row: dict[str, Any]) -> str:
    """Why the delivered take of a rejected track was not accepted (its takes_json reason)."""
    kept = (row.get("take_attempt"), row.get("take_candidate"))
    for take in json.loads(row.get("takes_json") or "[]"):
        if (take.get("attempt"), take.get("candidate")) == kept and take.get("reason"):
            return str(take["reason"])
    return f"score {row.get('score') or 0:.3f}"


def plotted_of(rows: list[dict[str, Any]], views: list[dict[str, Any]]) -> Plotted:
    """The plots' series from the rows and their table views (same order; the views' plans are parsed)."""
    out = Plotted()
    for r, view in zip(rows, views):
        if r.get("rendered_at") is not None:
            out.landed.append((r["rendered_at"], r["status"]))
        if r["status"] == "failed":
            continue
        if r.get("score") is not None:
            out.scores.setdefault(r["status"], []).append(float(r["score"]))
        plan = view["plan"]
        if plan and r.get("check_tempo_measured") is not None:
            out.tempo.append((float(plan["bpm"]), float(r["check_tempo_measured"]), bool(r.get("check_tempo_passed"))))
    return out


def _shape(error: str) -> str:
    """An error with its particulars (numbers, quoted values) set aside, so alike errors group."""
    return re.sub(r"'[^']*'|\"[^\"]*\"|-?\d+(?:\.\d+)?", "…", " ".join(error.split()))[:200]


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _iso(stamp: Any) -> str:
    return stamp.isoformat(timespec="seconds") if isinstance(stamp, datetime) else str(stamp or "")
