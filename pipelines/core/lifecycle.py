"""One track's life, from request to manifest row: the only owner of the re-render rule.

Every driver renders a track the same way: the farm (Ray Data, pipelines/farm), the endpoint
(Ray Serve, pipelines/online), `songfarm take` and the benchmark's loop (pipelines/core/local.py).
They differ only in how a round's takes are rendered and verified:

    life = TrackLifecycle(request, settings)
    while (row := life.next_round()) is not None:     # the track row of the next round: its seeds
        takes = verify(generate(plan(row)))           # one verified row per candidate (models/stages.py)
        decision = life.close_round(takes)            # "accept" | "rerender" | "reject" | "fail"
        if decision.new_best: ...                     # the farm writes this take's files now
    values = life.manifest_values(files)              # the manifest row of the outcome

The rule, round by round (round k = attempt k, 0-based, seeds from models.request.take_seed
through models.stages.new_row):

- the round's best take is its highest score, ties to the earliest candidate;
- a take is accepted when the verifier's checks pass and its score reaches `min_score`
  (the threshold is applied here, not in the verifier: settings.stage_options);
- an accepted best take ends the track with status "accepted";
- otherwise the best take of all rounds so far is kept (a later round must beat it), and
  the track renders again; after `max_attempts` rounds the kept take is delivered "rejected";
- a round with no usable take (a stage raised for every candidate) ends the track: "rejected"
  with the kept take when an earlier round left one, else "failed" with the stage's error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ...models.request import TrackRequest
from ...models.settings import RenderSettings
from ...models.stages import new_row
from ...models.verdict import Verdict
from ..delivery import manifest
from .fingerprint import fingerprint

DECISIONS = ("accept", "rerender", "reject", "fail")
# stage → the take column of its wall seconds
STAGE_WALL = {"planner": "plan_s", "generator": "generate_s", "verifier": "verify_s"}
# Columns of a verified take row kept after its round (everything but the big audio, MIDI, stems).
LIGHT = ("track_id", "request", "attempt", "status", "error", "error_stage", "error_field", "error_value",
         "plan", "plan_s", "candidate", "seed", "sample_rate", "duration_s", "generator", "model", "generate_s",
         "verdict", "score", "accepted", "verify_s", "planner_version", "generator_version", "verifier_version",
         "generator_host", "planner_node", "generator_node", "verifier_node", "planner_cpu_s", "generator_cpu_s",
         "verifier_cpu_s", "planner_gpus", "generator_gpus", "verifier_gpus")


def _str(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v if v is not None else "")


def usable(take: dict[str, Any]) -> bool:
    """A take no stage failed on."""
    return _str(take.get("status", "ok")) == "ok"


def accepted(take: dict[str, Any], min_score: float) -> bool:
    """The verifier's checks pass and the score reaches min_score."""
    return usable(take) and bool(take.get("accepted")) and float(take.get("score") or 0.0) >= min_score


def round_best(takes: list[dict[str, Any]]) -> dict[str, Any]:
    """The pick within one round: highest score, ties to the earliest candidate."""
    return max(takes, key=lambda t: (float(t["score"]), -int(t["candidate"])))


def light(take: dict[str, Any]) -> dict[str, Any]:
    return {k: take.get(k) for k in LIGHT}


@dataclass
class Decision:
    kind: str  # one of DECISIONS
    new_best: bool  # this round's best take is now the one kept: the farm writes its files now
    take: dict[str, Any] | None  # the round's best usable take (full row, audio included), if any


class TrackLifecycle:
    """The rounds of one track and their outcome; plain Python, no Ray, no I/O."""

    def __init__(self, request: TrackRequest, settings: RenderSettings):
        self.request = request
        self.settings = settings
        self.rounds = 0  # rounds closed so far
        self.takes: list[dict[str, Any]] = []  # takes_json: one summary per take tried
        self.kept: dict[str, Any] | None = None  # the best usable take so far (LIGHT columns)
        self.status: str | None = None  # accepted / rejected / failed once done
        self.failure: dict[str, Any] | None = None  # the failed row (LIGHT) when status is "failed"
        self.stage_s = {"plan": 0.0, "generate": 0.0, "verify": 0.0}  # wall s over every take
        self.stage_cpu_s = {"planner": 0.0, "generator": 0.0, "verifier": 0.0}  # CPU s over every take
        self.stage_gpu_s = {"planner": 0.0, "generator": 0.0, "verifier": 0.0}  # GPU s held over every take

    @property
    def done(self) -> bool:
        return self.status is not None

    @property
    def min_score(self) -> float:
        return float(self.settings.min_score)

    def next_round(self) -> dict[str, Any] | None:
        """The track row of the next round (request, attempt, seeds), or None when done."""
        if self.done or self.rounds >= self.settings.max_attempts:
            return None
        return new_row(self.request, self.rounds)

    def close_round(self, takes: list[dict[str, Any]]) -> Decision:
        """All verified takes of the current round are in (a failed planner or generator gives
        one failed row): decide, and return what the driver must do."""
        takes = sorted(takes, key=lambda r: int(r.get("candidate", -1)))
        self.rounds += 1
        self.takes += [self._summary(t) for t in takes]
        self._count(takes)
        good = [t for t in takes if usable(t)]
        last = self.rounds >= self.settings.max_attempts
        if not good:
            if self.kept is not None:
                return self._end("reject", None)
            self.failure = light(takes[0]) if takes else {"error_stage": "farm", "error": "no takes"}
            return self._end("fail", None)
        best = round_best(good)
        if accepted(best, self.min_score):
            self.kept = light(best)
            return self._end("accept", best, new_best=True)
        new_best = self.kept is None or float(best["score"]) > float(self.kept["score"])
        if new_best:
            self.kept = light(best)
        if last:
            return self._end("reject", best, new_best)
        return Decision("rerender", new_best, best)

    def fail(self, stage: str, error: str) -> None:
        """End the track as failed from outside the stages (the sink could not write it, the
        pipeline never returned it). A kept take from an earlier round is not delivered."""
        self.kept = None
        self.failure = {"error_stage": stage, "error": error}
        self.status = "failed"

    def _end(self, kind: str, take: dict[str, Any] | None, new_best: bool = False) -> Decision:
        self.status = {"accept": "accepted", "reject": "rejected", "fail": "failed"}[kind]
        return Decision(kind, new_best, take)

    def _summary(self, take: dict[str, Any]) -> dict[str, Any]:
        """One entry of takes_json: what was tried and why it was not kept."""
        ok = usable(take)
        score = float(take.get("score") or 0.0) if ok else None
        reason = ""
        if ok and take.get("verdict"):
            reason = Verdict.from_json(_str(take["verdict"])).reason()
            if not reason and score is not None and score < self.min_score:
                reason = f"score {score:.3f} below min_score {self.min_score:g}"
        return {"attempt": int(take["attempt"]), "candidate": int(take.get("candidate", -1)),
                "seed": int(take.get("seed", -1)), "score": score, "accepted": accepted(take, self.min_score),
                "reason": reason, "error": "" if ok else f"{_str(take.get('error_stage'))}: {_str(take.get('error'))}"}

    def _count(self, takes: list[dict[str, Any]]) -> None:
        """Add the round's wall, CPU and GPU seconds per stage (one plan serves every candidate)."""
        for t in takes:
            for stage, wall in STAGE_WALL.items():
                share = 1.0 / len(takes) if stage == "planner" else 1.0
                wall_s = float(t.get(wall) or 0.0) * share
                self.stage_s[wall.removesuffix("_s")] += wall_s
                self.stage_cpu_s[stage] += float(t.get(f"{stage}_cpu_s") or 0.0) * share
                self.stage_gpu_s[stage] += wall_s * float(t.get(f"{stage}_gpus") or 0.0)

    def usage_values(self) -> dict[str, float]:
        """The manifest's usage columns: wall, CPU and GPU seconds per stage over every take."""
        out = {}
        for stage, wall in STAGE_WALL.items():
            out[f"{stage}_wall_s"] = self.stage_s[wall.removesuffix("_s")]
            out[f"{stage}_cpu_s"] = self.stage_cpu_s[stage]
            out[f"{stage}_gpu_s"] = self.stage_gpu_s[stage]
        return out

    def manifest_values(self, files: dict[str, Any] | None = None) -> dict[str, Any]:
        """The manifest row of the outcome (pipelines/delivery/manifest.py columns, less `job`
        and `rendered_at`). `files` are the chosen take's file columns from Sink.write_files."""
        if not self.done:
            raise RuntimeError(f"track {self.request.id}: manifest row asked for before the track was decided")
        r, b = self.request, self.settings.backends
        row = self.kept if self.status != "failed" else (self.failure or {})
        values: dict[str, Any] = {
            "track_id": r.id, "status": self.status, "prompt": r.prompt, "request_json": r.to_json(),
            "fingerprint": fingerprint(r, self.settings), "plan_json": _str(row.get("plan")), "seed": r.seed,
            "attempts": self.rounds, "takes_json": json.dumps(self.takes, ensure_ascii=False),
            "planner": b["planner"].name, "generator": b["generator"].name, "verifier": b["verifier"].name,
            "planner_version": _str(row.get("planner_version")),
            "generator_version": _str(row.get("generator_version")),
            "verifier_version": _str(row.get("verifier_version")), "model": _str(row.get("model")),
            "plan_s": float(row.get("plan_s") or 0.0), "node": _str(row.get("generator_host")),
            **{f"{stage}_node": _str(row.get(f"{stage}_node")) for stage in ("planner", "generator", "verifier")},
            **self.usage_values(),
        }
        if self.status == "failed":
            return {**values, "error": _str(row.get("error")), "error_stage": _str(row.get("error_stage")),
                    "take_attempt": -1, "take_candidate": -1, "take_seed": -1, "stems_json": "{}"}
        verdict = _str(row.get("verdict"))
        return {**values, "take_attempt": int(row["attempt"]), "take_candidate": int(row["candidate"]),
                "take_seed": int(row["seed"]), "score": float(row["score"]), "verdict_json": verdict,
                **manifest.check_columns(verdict), **(files or {}),
                "generate_s": float(row.get("generate_s") or 0.0), "verify_s": float(row.get("verify_s") or 0.0)}
