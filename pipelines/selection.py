"""The re-render rule, shared by the batch farm and the online endpoint so both pick the
same take for the same request: which take is accepted, which is best within a round,
and how each take tried is summarised in the manifest's `takes_json`.

A take here is a row of the verifier's output batch (models/stages.py columns).
"""

from __future__ import annotations

from typing import Any

from ..models.verdict import Verdict


def _str(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def accepted(take: dict[str, Any], min_score: float) -> bool:
    """The verifier accepts the take and its score reaches the job's (or request's) min_score."""
    return bool(take.get("accepted")) and float(take.get("score", 0.0)) >= min_score


def round_best(takes: list[dict[str, Any]]) -> dict[str, Any]:
    """The pick within one attempt: highest score, ties to the earliest candidate."""
    return max(takes, key=lambda t: (float(t["score"]), -int(t["candidate"])))


def take_summary(take: dict[str, Any], min_score: float) -> dict[str, Any]:
    """One entry of takes_json: what was tried and why it was not kept."""
    ok = _str(take.get("status", "ok")) == "ok"
    reason = Verdict.from_json(_str(take["verdict"])).reason() if ok and take.get("verdict") else ""
    return {"attempt": int(take["attempt"]), "candidate": int(take.get("candidate", -1)),
            "seed": int(take.get("seed", -1)), "score": float(take.get("score", 0.0)) if ok else None,
            "accepted": ok and accepted(take, min_score), "reason": reason,
            "error": "" if ok else f"{_str(take.get('error_stage', ''))}: {_str(take.get('error', ''))}"}
