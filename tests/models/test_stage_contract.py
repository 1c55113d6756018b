"""The batch contract every stage backend keeps, checked on every backend the factory knows.

A stage object is called as `stage(batch) -> batch` in Ray Data's numpy batch format
(models/stages.py), by a Ray Data actor pool, a Serve replica or a plain loop. Whatever the
backend, four things must hold for the farm to be correct:

  (a) the same rows and seeds give the same output (resume and re-render rely on it);
  (b) a batch gives what its rows give one by one (batch size is a tuning knob, not a result);
  (c) a failing row is marked failed with its stage and never changes its neighbours
      (Ray Data drops a whole block when a batch raises, DESIGN.md §7);
  (d) the stage's declared output columns are all there, one value per row.

Embedded backends are built with `make(stage, name, options)`; neural ones from tiny
random-weight checkpoints built offline (tests/neural_fixtures.py), once per session.
Inputs for later stages come from the embedded backends of the earlier ones.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from songfarm.models import factory
from songfarm.models.request import TrackRequest
from songfarm.models.stages import batch_of, new_row, rows_of
from songfarm.models.take import decode_audio

# torchsde's Brownian interval warns about float round-off at the schedule's ends on every call.
pytestmark = pytest.mark.filterwarnings("ignore:Should have:UserWarning")

# Every (stage, backend) the factory can build. A backend added to factory._BACKENDS without
# an entry here fails test_every_factory_backend_is_covered.
BACKENDS = [("planner", "rules"), ("planner", "llm"), ("generator", "synth"), ("generator", "diffusion"),
            ("verifier", "features"), ("verifier", "clap")]
NEURAL = {"llm": ["torch", "transformers"], "diffusion": ["torch", "diffusers", "transformers"],
          "clap": ["torch", "transformers"]}

# The columns each stage adds, as models/stages.py's docstring table declares them; each
# stage's output holds its own and every earlier stage's.
_ROW = {"track_id", "request", "attempt", "seeds", "status", "error", "error_stage", "error_field", "error_value"}
_PLANNER = {"plan", "plan_s"}
_GENERATOR = {"candidate", "seed", "audio", "sample_rate", "duration_s", "midi", "stems", "generator", "model",
              "generate_s"}
_VERIFIER = {"verdict", "score", "accepted", "verify_s"}
OUTPUT_COLUMNS = {
    "planner": _ROW | _PLANNER,
    "generator": _ROW | _PLANNER | _GENERATOR,
    "verifier": _ROW | _PLANNER | _GENERATOR | _VERIFIER,
}
TIMING = {"plan_s", "generate_s", "verify_s"}  # wall seconds: the only columns allowed to differ run to run

# A batch of distinct short tracks: different prompts, seeds, languages, and one with two candidates.
REQUESTS = [
    {"id": "waltz", "prompt": "a gentle waltz in F major, 96 bpm, piano", "duration_s": 3, "seed": 3},
    {"id": "lofi", "prompt": "lo-fi hip hop beat for studying", "duration_s": 2, "seed": 11, "candidates": 2},
    {"id": "guofeng", "prompt": "国风 古筝 笛子, 舒缓, 每分钟72拍", "duration_s": 3, "seed": 5},
]


def _options(name: str, tmp_path_factory) -> dict[str, Any]:
    """The options each backend is built with: toy checkpoints and few steps for the neural ones."""
    import neural_fixtures as nf

    folder = tmp_path_factory.mktemp(f"ckpt-{name}")
    if name == "llm":
        return {"checkpoint": str(nf.save_causal_lm(folder / "tiny-lm")), "max_new_tokens": 16, "device": "cpu"}
    if name == "diffusion":
        return {"checkpoint": str(nf.save_stable_audio(folder / "stable-audio-tiny")), "steps": 2,
                "sample_rate": 22050, "crossfade_s": 1.0, "device": "cpu"}
    if name == "clap":
        return {"checkpoint": str(nf.save_clap(folder / "clap-tiny")), "device": "cpu",
                "calibration_prompts": [r["prompt"] for r in REQUESTS], "min_similarity": -1.0, "min_margin": -2.0}
    return {}


@pytest.fixture(scope="session", params=BACKENDS, ids=[f"{s}-{n}" for s, n in BACKENDS])
def backend(request, tmp_path_factory):
    """(stage, name, stage object), built once per session (pytest groups tests by param)."""
    stage, name = request.param
    for module in NEURAL.get(name, []):
        pytest.importorskip(module)
    return stage, name, factory.make(stage, name, _options(name, tmp_path_factory))


def to_batch(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Rows → Ray Data's numpy batch format, through the one codec the pipelines use."""
    return batch_of(rows)


def to_rows(batch: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    lengths = {k: len(v) for k, v in batch.items()}
    assert len(set(lengths.values())) <= 1, f"columns of different lengths: {lengths}"
    return rows_of(batch)


@pytest.fixture(scope="session")
def embedded():
    return {stage: factory.make(stage) for stage in factory.STAGES}


@pytest.fixture(scope="session")
def inputs(embedded) -> dict[str, list[dict[str, Any]]]:
    """Good input rows for each stage: new rows → rules plans → synth takes."""
    planner_in = [new_row(TrackRequest.from_dict(r)) for r in REQUESTS]
    generator_in = to_rows(embedded["planner"](to_batch(planner_in)))
    verifier_in = to_rows(embedded["generator"](to_batch(generator_in)))
    for rows in (generator_in, verifier_in):
        assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    return {"planner": planner_in, "generator": generator_in, "verifier": verifier_in}


# Two ways each stage's input can be bad: one the stage's batch adapter meets while decoding
# the row, one only the backend itself meets (the plan parses, the composer or model fails).
CORRUPTIONS = {
    "planner": ["truncated request JSON", "request at 5000 bpm"],
    "generator": ["truncated plan JSON", "plan at 0 bpm"],
    "verifier": ["not audio", "truncated plan JSON"],
}


def corrupt(stage: str, kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """A copy of a good input row that this stage must fail on."""
    bad = dict(row, track_id="corrupt")
    if kind == "truncated request JSON":
        bad["request"] = '{"id": "corrupt", "prompt": '
    elif kind == "request at 5000 bpm":  # parses (requests are validated at job load); no plan can hold it
        bad["request"] = json.dumps({**json.loads(row["request"]), "id": "corrupt", "bpm": 5000})
    elif kind == "truncated plan JSON":
        bad["plan"] = '{"bpm": "fast", "sections": ['
    elif kind == "plan at 0 bpm":
        bad["plan"] = json.dumps({**json.loads(row["plan"]), "bpm": 0})
    elif kind == "not audio":
        bad["audio"] = b"fLaC" + b"\x00\x17not audio" * 20
    else:
        raise AssertionError(kind)
    return bad


def outcome(row: dict[str, Any]) -> dict[str, Any]:
    """A row without its wall times (the verdict's `seconds` too): what must be reproducible."""
    out = {k: v for k, v in row.items() if k not in TIMING}
    if out.get("verdict"):
        verdict = json.loads(out["verdict"])
        verdict.pop("seconds", None)
        out["verdict"] = verdict
    return out


def assert_same_rows(got: list[dict], want: list[dict], audio_atol: float = 0.0) -> None:
    """Equal outcomes row by row; with `audio_atol`, audio is compared decoded, to that tolerance
    (a backend that batches tracks through one model call may differ in the last bits)."""
    assert [r["track_id"] for r in got] == [r["track_id"] for r in want]
    for g, w in zip(got, want):
        g, w = outcome(g), outcome(w)
        if audio_atol and g.get("audio") and w.get("audio"):
            (ga, gsr), (wa, wsr) = decode_audio(bytes(g.pop("audio"))), decode_audio(bytes(w.pop("audio")))
            assert gsr == wsr and ga.shape == wa.shape
            np.testing.assert_allclose(ga, wa, atol=audio_atol, err_msg=f"audio of {g['track_id']}")
        assert g == w, f"row {g['track_id']} differs: " + ", ".join(
            k for k in sorted(set(g) | set(w)) if g.get(k) != w.get(k))


def batch_atol(name: str) -> float:
    # The diffusion generator renders the batch's tracks through shared pipeline calls: the
    # same seeds give the same noise, but batched matmuls may round differently (test_diffusion.py).
    return 1e-4 if name == "diffusion" else 0.0


def test_every_factory_backend_is_covered():
    assert sorted(BACKENDS) == sorted(factory._BACKENDS)


def test_same_seed_same_output(backend, inputs):
    stage, name, obj = backend
    rows = inputs[stage]
    first, again = to_rows(obj(to_batch(rows))), to_rows(obj(to_batch(rows)))
    assert all(r["status"] == "ok" for r in first), [r["error"] for r in first]
    assert_same_rows(again, first)  # audio bytes, plans and verdicts exactly equal
    if stage == "generator":
        # The seed is what makes a take: the same plan in a round with other seeds, other audio.
        request = TrackRequest.from_json(rows[0]["request"])
        request.seed = 99
        reseeded = dict(rows[0], **new_row(request, rows[0]["attempt"]))
        other = to_rows(obj(to_batch([reseeded])))
        assert other[0]["seed"] != first[0]["seed"] and other[0]["audio"] != first[0]["audio"]


def test_batch_equals_rows_one_by_one(backend, inputs):
    stage, name, obj = backend
    rows = inputs[stage]
    together = to_rows(obj(to_batch(rows)))
    alone = [out for row in rows for out in to_rows(obj(to_batch([row])))]
    assert_same_rows(together, alone, audio_atol=batch_atol(name))


@pytest.mark.parametrize("kind", [0, 1], ids=["adapter", "backend"])
def test_failing_row_leaves_neighbours_alone(backend, inputs, kind):
    stage, name, obj = backend
    kind = CORRUPTIONS[stage][kind]
    good = inputs[stage][:2]
    mixed = to_rows(obj(to_batch([good[0], corrupt(stage, kind, good[0]), good[1]])))
    failed = [r for r in mixed if r["track_id"] == "corrupt"]
    assert len(failed) == 1, "a failed row stays one row"
    bad = failed[0]
    assert bad["status"] == "failed" and bad["error_stage"] == stage and bad["error"], bad
    empty = {"planner": {"plan": ""}, "generator": {"audio": b"", "candidate": -1},
             "verifier": {"verdict": "", "accepted": False}}[stage]
    assert {k: bad[k] for k in empty} == empty
    # The neighbours: exactly what the batch without the bad row gives, and what each gives alone.
    neighbours = [r for r in mixed if r["track_id"] != "corrupt"]
    assert_same_rows(neighbours, to_rows(obj(to_batch(good))))
    alone = [out for row in good for out in to_rows(obj(to_batch([row])))]
    assert_same_rows(neighbours, alone, audio_atol=batch_atol(name))


def test_failed_rows_pass_through_untouched(backend, inputs):
    """A row an earlier stage failed is carried on, with that stage's error, and not processed."""
    stage, name, obj = backend
    good = inputs[stage][0]
    earlier = dict(good, track_id="earlier", status="failed", error="ValueError: upstream", error_stage="planner")
    out = to_rows(obj(to_batch([good, earlier])))
    carried = [r for r in out if r["track_id"] == "earlier"]
    assert len(carried) == 1
    assert (carried[0]["status"], carried[0]["error_stage"], carried[0]["error"]) == (
        "failed", "planner", "ValueError: upstream")


def test_declared_output_columns(backend, inputs):
    stage, name, obj = backend
    rows = inputs[stage]
    batch = obj(to_batch([rows[0], corrupt(stage, CORRUPTIONS[stage][0], rows[0])]))
    missing = OUTPUT_COLUMNS[stage] - set(batch)
    assert not missing, f"{stage} ({name}) lacks columns {sorted(missing)}"
    assert len({len(v) for v in batch.values()}) == 1
    for row in to_rows(batch):
        assert row["status"] in ("ok", "failed")
        for key in TIMING & OUTPUT_COLUMNS[stage]:
            assert isinstance(row[key], float) and row[key] >= 0, (key, row[key])
        if stage != "planner":
            assert isinstance(row["audio"], bytes) and isinstance(row["candidate"], int)
        if stage == "verifier":
            assert isinstance(row["accepted"], bool) and 0.0 <= row["score"] <= 1.0
        if row["status"] == "ok":
            assert row["error"] == "" and row["error_stage"] == ""
            if stage == "generator":
                audio, sr = decode_audio(row["audio"])
                assert sr == row["sample_rate"] and audio.ndim == 2
                assert row["duration_s"] == pytest.approx(audio.shape[1] / sr, abs=1e-3)
            if stage == "verifier":
                assert json.loads(row["verdict"])["score"] == pytest.approx(row["score"])
