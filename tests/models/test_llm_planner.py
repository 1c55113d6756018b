"""The `llm` planner: a tiny random-weight causal LM loaded from a local folder, and the
validation that keeps the model's valid fields and repairs the rest from the rules planner.

A random model answers with noise, so the end-to-end tests check the repair path and the
plumbing; the field-by-field rules are tested on written answers through `merge_answer`.
"""

import dataclasses
import json
import shutil

import numpy as np
import pytest

from songfarm.models.checkpoints import CheckpointError
from songfarm.models.factory import BackendError, make_planner
from songfarm.models.planners.llm import ANSWER_SCHEMA, merge_answer, parse_answer
from songfarm.models.request import TrackRequest
from songfarm.models.stages import new_row

import neural_fixtures as nf


@pytest.fixture(scope="module")
def rules():
    return make_planner("rules")


@pytest.fixture(scope="module")
def lm_folder(tmp_path_factory):
    return nf.save_causal_lm(tmp_path_factory.mktemp("ckpt") / "tiny-lm")


@pytest.fixture(scope="module")
def planner(lm_folder):
    return make_planner("llm", {"checkpoint": str(lm_folder), "max_new_tokens": 24})


def request(prompt="a new track for the studio reel", **kw):  # states nothing: every field is open
    return TrackRequest.from_dict({"id": "t", "prompt": prompt, "duration_s": 30, **kw})


def answer(**fields):
    base = {"bpm": 84, "tonic": "D", "mode": "minor", "time_signature": "3/4", "genre": "jazz",
            "moods": ["calm", "melancholic"], "instruments": ["piano", "acoustic bass"], "sections": []}
    base.update(fields)
    return "Here is the plan:\n```json\n" + json.dumps(base) + "\n```\nEnjoy!"


def test_valid_fields_are_kept_and_marked_model(rules):
    req = request()
    plan = merge_answer(answer(), req, rules.plan(req), rules.plan)
    assert plan.bpm == 84 and plan.key == "D minor" and plan.time_signature == "3/4"
    assert plan.genre == "jazz" and "calm" in plan.moods  # moods go through the rules vocabulary
    assert "piano" in plan.instruments
    for key in ("bpm", "tonic", "mode", "genre", "moods", "instruments"):
        assert plan.sources.get(key) == "model", (key, plan.sources)
    # The rest is derived from the kept fields: a 30-s song at 84 BPM in 3/4.
    assert abs(plan.planned_s - 30) <= plan.bar_s
    plan.check()


def test_invalid_fields_are_repaired_from_the_rules_plan(rules):
    req = request()
    base = rules.plan(req)
    bad = answer(bpm=999, tonic="H", mode="dorian", time_signature="11/8", moods="sad",
                 instruments=["theremin", "piano"])
    plan = merge_answer(bad, req, base, rules.plan)
    # The valid fields still count (genre), and the repaired ones are what the rules planner
    # decides given them: a jazz tempo, not the 999 the model wrote.
    assert plan.genre == "jazz" and plan.sources["genre"] == "model"
    expected = rules.plan(dataclasses.replace(req, genre="jazz", instruments=["piano"]))
    assert (plan.bpm, plan.key, plan.time_signature) == (expected.bpm, expected.key, expected.time_signature)
    assert plan.sources.get("bpm") != "model" and plan.sources.get("tonic") != "model"
    assert "piano" in plan.instruments and "theremin" not in plan.instruments
    notes = " ".join(plan.conflicts)
    for word in ("bpm=999", "'H'", "time_signature='11/8'", "moods=", "theremin"):
        assert word in notes, word


def test_no_json_gives_the_rules_plan(rules):
    req = request()
    base = rules.plan(req)
    plan = merge_answer("I think a slow song would be nice.", req, base, rules.plan)
    assert plan.to_dict() | {"conflicts": []} == base.to_dict() | {"conflicts": []}
    assert any("held no JSON" in c for c in plan.conflicts)
    assert "model" not in plan.sources.values()


def test_stated_values_win_over_the_model(rules):
    req = request("an upbeat pop song in E major at 128 bpm")
    plan = merge_answer(answer(bpm=90, tonic="C", mode="major"), req, rules.plan(req), rules.plan)
    assert plan.bpm == 128 and plan.key == "E major"
    assert plan.sources["bpm"] != "model"
    assert any("bpm=90" in c and "disagrees" in c for c in plan.conflicts)
    overridden = request(bpm=100)
    plan = merge_answer(answer(bpm=84), overridden, rules.plan(overridden), rules.plan)
    assert plan.bpm == 100 and plan.sources["bpm"] == "override"


def test_model_sections_used_when_valid_and_the_right_length(rules):
    req = request(bpm=120, time_signature="4/4")  # 30 s at 120 BPM in 4/4: 15 bars of 2 s
    base = rules.plan(req)
    bars = [4, 7, 4][: 3] if base.total_bars == 15 else None
    assert bars, base.total_bars
    sections = [{"name": n, "bars": b, "energy": e, "chords": ["Dm"] * b}
                for n, b, e in zip(["intro", "chorus", "outro"], bars, [0.2, 0.9, 0.3])]
    plan = merge_answer(answer(sections=sections), req, base, rules.plan)
    assert [s.name for s in plan.sections] == ["intro", "chorus", "outro"] and plan.sources["sections"] == "model"
    too_long = [dict(s, bars=s["bars"] * 2, chords=s["chords"] * 2) for s in sections]
    plan = merge_answer(answer(sections=too_long), req, base, rules.plan)
    assert plan.sources.get("sections") != "model" and any("add up to 30 bars" in c for c in plan.conflicts)
    bad_chord = [dict(sections[0], chords=["Xq7"] * 4)] + sections[1:]
    plan = merge_answer(answer(sections=bad_chord), req, base, rules.plan)
    assert plan.sources.get("sections") != "model" and any("chords" in c for c in plan.conflicts)


def test_parse_answer_finds_the_first_object():
    assert parse_answer('prose {"a": "a } brace", "b": {"c": 1}} more {"d": 2}') == {"a": "a } brace",
                                                                                      "b": {"c": 1}}
    assert parse_answer("{broken {\"ok\": true}") == {"ok": True}
    assert parse_answer("[1, 2]") is None and parse_answer("") is None
    assert set(ANSWER_SCHEMA["required"]) >= {"bpm", "tonic", "mode", "sections"}


def test_tiny_model_end_to_end(planner, lm_folder):
    req = request()
    plan = planner.plan(req)
    plan.check()
    assert plan.planner.startswith("llm-0.1 tiny-lm@sha256:") and "rules" in plan.planner
    assert set(plan.sources.values()) <= {"stated", "override", "inferred", "default", "model"}
    assert plan.conflicts  # a random model's answer is repaired, and the plan says so
    assert planner.plan(req).to_json() == plan.to_json()  # greedy decoding: the same plan again
    # Through the batch adapter, as the farm and Serve call it.
    batch = {k: np.array([v], dtype=object) for k, v in new_row(req).items()}
    out = planner(batch)
    assert out["status"][0] == "ok" and json.loads(out["plan"][0])["planner"] == plan.planner


def test_missing_or_corrupt_checkpoint_fails_at_construction(lm_folder, tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint: required"):
        make_planner("llm", {})
    with pytest.raises(CheckpointError, match="lm: does not exist"):
        make_planner("llm", {"checkpoint": str(tmp_path / "lm")})
    broken = tmp_path / "broken"
    shutil.copytree(lm_folder, broken)
    weights = next(broken.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:64])
    with pytest.raises(CheckpointError, match="broken: cannot load"):
        make_planner("llm", {"checkpoint": str(broken)})
    with pytest.raises(BackendError, match="temperature=5"):
        make_planner("llm", {"checkpoint": str(lm_folder), "temperature": 5})
