"""The one re-render rule (pipelines/core/lifecycle.py), on hand-made verified take rows."""

from __future__ import annotations

import json

import pytest

from songfarm.models.request import TrackRequest, take_seed
from songfarm.models.settings import RenderSettings
from songfarm.models.verdict import Check, Verdict
from songfarm.pipelines.core.lifecycle import TrackLifecycle


def request(candidates: int = 2) -> TrackRequest:
    return TrackRequest.from_dict({"id": "t1", "prompt": "a calm waltz", "seed": 7, "candidates": candidates})


def take(attempt: int, candidate: int, score: float, passed: bool = True, status: str = "ok") -> dict:
    verdict = Verdict(score=score, accepted=passed, checks=[Check("tempo", 120.0, 120.0, 0.02, passed=passed)])
    return {"track_id": "t1", "attempt": attempt, "candidate": candidate, "seed": 100 * attempt + candidate,
            "status": status, "error": "boom" if status != "ok" else "", "error_stage": "generator" if status != "ok"
            else "", "plan": "{}", "verdict": verdict.to_json() if status == "ok" else "", "score": score,
            "accepted": passed, "generator_version": "1", "generator_host": "h", "model": "m", "duration_s": 3.0,
            "sample_rate": 44100}


def test_each_round_row_carries_the_seeds_of_its_candidates():
    life = TrackLifecycle(request(candidates=3), RenderSettings(max_attempts=2))
    row = life.next_round()
    assert row["attempt"] == 0 and json.loads(row["seeds"]) == [take_seed(7, 0, c) for c in range(3)]
    assert json.loads(row["seeds"])[0] == 7  # the request's own seed first: the same audio everywhere
    life.close_round([take(0, 0, 0.1), take(0, 1, 0.2)])
    assert json.loads(life.next_round()["seeds"]) == [take_seed(7, 1, c) for c in range(3)]


def test_accepted_best_take_ends_the_track_at_once():
    life = TrackLifecycle(request(), RenderSettings(min_score=0.7, max_attempts=3))
    d = life.close_round([take(0, 0, 0.8), take(0, 1, 0.9)])
    assert (d.kind, d.new_best, d.take["candidate"]) == ("accept", True, 1)
    assert life.status == "accepted" and life.next_round() is None
    row = life.manifest_values({"audio_file": "audio/t1.x.flac"})
    assert (row["take_attempt"], row["take_candidate"], row["attempts"], row["score"]) == (0, 1, 1, 0.9)
    assert row["audio_file"] == "audio/t1.x.flac" and len(row["fingerprint"]) == 64


def test_min_score_is_the_lifecycles_threshold_not_the_verifiers():
    """A take whose checks pass is still re-rendered below the settings' min_score."""
    life = TrackLifecycle(request(), RenderSettings(min_score=0.95, max_attempts=2))
    d = life.close_round([take(0, 0, 0.9), take(0, 1, 0.9)])
    assert d.kind == "rerender" and d.new_best and d.take["candidate"] == 0  # ties to the earliest
    assert "below min_score" in life.takes[0]["reason"]


def test_a_later_round_must_beat_the_kept_take_and_the_last_round_delivers_it_rejected():
    life = TrackLifecycle(request(), RenderSettings(min_score=0.99, max_attempts=3))
    assert life.close_round([take(0, 0, 0.5), take(0, 1, 0.6)]).new_best
    d = life.close_round([take(1, 0, 0.6), take(1, 1, 0.4)])  # equal is not better
    assert (d.kind, d.new_best) == ("rerender", False)
    d = life.close_round([take(2, 0, 0.55), take(2, 1, 0.58, passed=False)])
    assert (d.kind, d.new_best) == ("reject", False) and life.status == "rejected"
    row = life.manifest_values({})
    assert (row["take_attempt"], row["take_candidate"], row["attempts"]) == (0, 1, 3)
    assert len(json.loads(row["takes_json"])) == 6


def test_a_round_without_usable_takes_fails_or_delivers_the_kept_take():
    life = TrackLifecycle(request(1), RenderSettings())
    assert life.close_round([take(0, -1, 0.0, status="failed")]).kind == "fail"
    row = life.manifest_values()
    assert (row["status"], row["error_stage"], row["error"], row["take_seed"]) == ("failed", "generator", "boom", -1)

    life = TrackLifecycle(request(1), RenderSettings(min_score=0.99))
    life.close_round([take(0, 0, 0.5)])
    assert life.close_round([take(1, -1, 0.0, status="failed")]).kind == "reject"
    assert life.manifest_values({})["take_attempt"] == 0


def test_a_failing_take_beside_a_good_one_is_only_recorded():
    life = TrackLifecycle(request(), RenderSettings(min_score=0.5))
    d = life.close_round([take(0, 0, 0.0, status="failed"), take(0, 1, 0.7)])
    assert d.kind == "accept" and d.take["candidate"] == 1
    assert life.takes[0]["error"] == "generator: boom" and life.takes[0]["score"] is None


def test_usage_columns_sum_every_take_of_every_round():
    """Wall, CPU and GPU seconds per stage over all takes: one plan serves a round's candidates,
    and GPU seconds are the wall seconds times the GPUs the actor held."""
    from songfarm.pipelines.delivery import manifest

    life = TrackLifecycle(request(), RenderSettings(min_score=0.99, max_attempts=2))
    usage = {"plan_s": 0.2, "planner_cpu_s": 0.1, "generate_s": 2.0, "generator_cpu_s": 1.5, "generator_gpus": 0.5,
             "verify_s": 0.4, "verifier_cpu_s": 0.3, "verifier_gpus": 0.25}
    life.close_round([{**take(0, c, 0.5), **usage} for c in range(2)])
    life.close_round([{**take(1, c, 0.6), **usage} for c in range(2)])
    row = life.manifest_values({})
    assert row["planner_wall_s"] == pytest.approx(0.4) and row["planner_cpu_s"] == pytest.approx(0.2)
    assert row["generator_wall_s"] == pytest.approx(8.0) and row["generator_cpu_s"] == pytest.approx(6.0)
    assert row["generator_gpu_s"] == pytest.approx(4.0) and row["verifier_gpu_s"] == pytest.approx(0.4)
    assert row["planner_gpu_s"] == 0.0
    assert manifest.make_row(job="j", **row)["generator_gpu_s"] == pytest.approx(4.0)
