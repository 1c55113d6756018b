"""The `clap` verifier: a tiny transformers ClapModel folder and a tiny original-format
laion-clap checkpoint, both loaded offline through the same code as real checkpoints;
and a tiny job through the farm with `diffusion` + `clap`.
"""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from songfarm.models.checkpoints import CheckpointError
from songfarm.models.factory import BackendError, make_verifier
from songfarm.models.request import TrackRequest
from songfarm.models.take import Take
from songfarm.models.verifiers.clap import CONTRAST_PROMPTS, clap_windows

import neural_fixtures as nf

PROMPTS = ["a relaxed lo-fi beat", "an epic orchestral trailer", "a fast punk rock song"]


@pytest.fixture(scope="module")
def clap_folder(tmp_path_factory):
    return nf.save_clap(tmp_path_factory.mktemp("ckpt") / "clap-tiny")


@pytest.fixture(scope="module")
def verifier(clap_folder):
    return make_verifier("clap", {"checkpoint": str(clap_folder), "calibration_prompts": PROMPTS,
                                  "min_similarity": -1.0, "min_margin": -2.0})


def toy_take(seconds=5.0, rate=44100, seed=0):
    """A synthesised take: a chord of sines with a pulse, at -14 LUFS-ish level."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    tone = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 3
    pulse = (np.sin(2 * np.pi * 2 * t) > 0.9) * rng.normal(0, 0.3, t.size)
    audio = (0.2 * tone + 0.1 * pulse).astype(np.float32)
    return Take("t", 0, 0, 1, np.stack([audio, audio]), rate, "synth", "test")


def request(prompt=PROMPTS[0]):
    return TrackRequest.from_dict({"id": "t", "prompt": prompt})


def test_verdict_has_clap_checks_beside_the_features_checks(verifier):
    take, plan = toy_take(), nf.toy_plan((1, 1))
    verdict = verifier.verify(take, plan, request())
    names = [c.name for c in verdict.checks]
    assert {"tempo", "key", "loudness", "clap", "clap_margin"} <= set(names)
    clap, margin = verdict.check("clap"), verdict.check("clap_margin")
    assert -1 <= clap.measured <= 1 and clap.unit == "cosine" and clap.passed
    assert 0 <= verdict.score <= 1 and verdict.verifier.startswith("clap-0.1 clap-tiny@")
    # The margin is the similarity to the own prompt minus the mean over the job's other prompts.
    audio = verifier.audio_embedding(take.audio, take.sample_rate)
    sims = verifier.text_embeddings(PROMPTS) @ audio
    assert clap.measured == pytest.approx(sims[0], abs=1e-4)
    assert margin.measured == pytest.approx(sims[0] - sims[1:].mean(), abs=1e-4)
    # Deterministic: fixed windows, no random crops.
    again = verifier.verify(take, plan, request())
    assert again.check("clap").measured == clap.measured and again.score == verdict.score


def test_thresholds_decide_and_reject(clap_folder):
    strict = make_verifier("clap", {"checkpoint": str(clap_folder), "min_similarity": 0.999, "features": False})
    verdict = strict.verify(toy_take(), nf.toy_plan((1, 1)), request())
    assert [c.name for c in verdict.checks] == ["clap", "clap_margin"]
    assert not verdict.check("clap").passed and not verdict.accepted
    assert "clap" in verdict.reason()
    # Without other prompts in the job, the margin is taken over the built-in contrast set.
    assert f"over the mean of {len(CONTRAST_PROMPTS)} other prompts" in verdict.check("clap_margin").detail


def test_fixed_windows_cover_long_audio():
    rate, window = 48000, 96000
    audio = np.random.default_rng(1).normal(size=(2, rate * 11)).astype(np.float32)
    mono = audio.mean(axis=0)
    windows = clap_windows(audio, rate, rate, window, max_windows=4)
    assert windows.shape == (4, window) and windows.dtype == np.float32
    assert np.allclose(windows[0], mono[:window]) and np.allclose(windows[-1], mono[-window:])  # whole take covered
    resampled = clap_windows(audio[:, : 44100 * 11 // 12], 44100, rate, window, max_windows=4)
    assert resampled.shape == (1, 44000)  # 0.92 s at 44.1 kHz → 48 kHz: one window, padded by the model
    few = clap_windows(np.zeros((1, rate * 3)), rate, rate, window, max_windows=12)
    assert few.shape == (2, window)  # 3 s in 2-s windows: two, the second ending at the end


def test_long_takes_are_scored_over_windows(clap_folder):
    v = make_verifier("clap", {"checkpoint": str(clap_folder), "max_windows": 3, "features": False})
    take = toy_take(seconds=9.0)
    first = v.verify(take, nf.toy_plan((2, 2)), request())
    second = v.verify(take, nf.toy_plan((2, 2)), request())
    assert first.to_dict()["checks"] == second.to_dict()["checks"]


def test_missing_or_corrupt_checkpoint_fails_at_construction(clap_folder, tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint: required"):
        make_verifier("clap", {})
    with pytest.raises(CheckpointError, match="nope: does not exist"):
        make_verifier("clap", {"checkpoint": str(tmp_path / "nope")})
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        make_verifier("clap", {"checkpoint": str(tmp_path / "empty")})
    with pytest.raises(CheckpointError, match="missing roberta-base, bert-base-uncased, facebook/bart-base"):
        make_verifier("clap", {"checkpoint": str(clap_folder / "model.safetensors"),
                               "text_models": str(tmp_path / "empty")})
    with pytest.raises(BackendError, match="text='lyrics'"):
        make_verifier("clap", {"checkpoint": str(clap_folder), "text": "lyrics"})


@pytest.fixture(scope="module")
def laion(tmp_path_factory):
    root = tmp_path_factory.mktemp("laion")
    text_models = nf.save_laion_text_models(root / "text-models")
    return nf.save_laion_checkpoint(root / "music_tiny.pt", text_models), text_models


def test_laion_clap_checkpoint_offline(laion, tmp_path):
    checkpoint, text_models = laion
    v = make_verifier("clap", {"checkpoint": str(checkpoint), "laion_amodel": "HTSAT-tiny",
                               "text_models": str(text_models), "calibration_prompts": PROMPTS,
                               "min_similarity": -1.0, "min_margin": -2.0, "features": False})
    assert type(v.model).__name__ == "LaionClap" and v.model.window_samples == 480000
    take = toy_take(seconds=3.0)
    verdict = v.verify(take, nf.toy_plan((1, 1)), request())
    clap = verdict.check("clap")
    assert -1 <= clap.measured <= 1 and verdict.accepted
    assert v.verify(take, nf.toy_plan((1, 1)), request()).check("clap").measured == clap.measured
    assert verdict.verifier.startswith("clap-0.1 music_tiny.pt@sha256:")
    # torchvision stays out of the process (its wheel does not import beside CPU torch).
    import sys

    assert "torchvision" not in sys.modules or hasattr(sys.modules["torchvision"], "__version__")
    # The wrong architecture for the weights: a clear error naming the checkpoint.
    with pytest.raises(CheckpointError, match="music_tiny.pt: cannot load"):
        make_verifier("clap", {"checkpoint": str(checkpoint), "laion_amodel": "HTSAT-base",
                               "text_models": str(text_models)})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(checkpoint.read_bytes()[:4096])  # an interrupted copy
    with pytest.raises(CheckpointError, match="truncated.pt: cannot load"):
        make_verifier("clap", {"checkpoint": str(truncated), "laion_amodel": "HTSAT-tiny",
                               "text_models": str(text_models)})


@pytest.mark.slow
def test_laion_clap_offline_from_the_hugging_face_cache(laion, tmp_path):
    # The other way docs/neural.md gives: text models in a hub cache, workers offline. The
    # hub reads HF_HUB_CACHE / HF_HUB_OFFLINE when it is imported, so this runs in a fresh
    # process, as a Ray worker would start.
    checkpoint, text_models = laion
    cache = nf.hf_cache_from(text_models, tmp_path / "hf-cache")
    script = (
        "from songfarm.models.factory import make_verifier\n"
        "from songfarm.models.request import TrackRequest\n"
        "import sys, numpy as np; sys.path[:0] = [sys.argv[2], sys.argv[3]]\n"
        "import neural_fixtures as nf, test_clap as tc\n"
        "v = make_verifier('clap', {'checkpoint': sys.argv[1], 'laion_amodel': 'HTSAT-tiny', 'features': False,"
        " 'min_similarity': -1.0, 'min_margin': -2.0})\n"
        "print('CLAP', v.verify(tc.toy_take(3.0), nf.toy_plan((1, 1)), tc.request()).check('clap').measured)\n"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HF_HOME": str(tmp_path / "hf-home")}
    done = subprocess.run([sys.executable, "-c", script, str(checkpoint), str(Path(__file__).parent),
                           str(Path(__file__).parents[1])], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    measured = float(done.stdout.split("CLAP", 1)[1])
    assert -1 <= measured <= 1


@pytest.mark.slow
def test_tiny_job_through_the_farm_with_diffusion_and_clap(ray_session, tmp_path, clap_folder, capsys):
    from songfarm.jobs.cli import main
    from songfarm.pipelines.delivery.manifest import current_rows
    from songfarm.pipelines.delivery.storage import open_storage

    sa = nf.save_stable_audio(tmp_path / "stable-audio-tiny")
    prompts = ["a relaxed lo-fi beat in A minor at 80 bpm", "an upbeat pop song in C major at 120 bpm"]
    job = {
        "name": "neural", "output": str(tmp_path / "renders"),
        "defaults": {"duration_s": 6, "max_attempts": 1, "candidates": 2},
        "backends": {"generator": {"name": "diffusion", "options": {"checkpoint": str(sa), "steps": 2}},
                     "verifier": {"name": "clap", "options": {"checkpoint": str(clap_folder),
                                                              "calibration_prompts": prompts}}},
        "resources": {"planner": {"min_actors": 1, "max_actors": 1, "batch_size": 2, "num_cpus": 0.1},
                      "generator": {"min_actors": 1, "max_actors": 1, "batch_size": 2, "num_cpus": 0.5},
                      "verifier": {"min_actors": 1, "max_actors": 1, "batch_size": 2, "num_cpus": 0.5}},
        "tracks": [{"id": f"n{i}", "prompt": p, "seed": i} for i, p in enumerate(prompts)],
    }
    path = tmp_path / "neural.yaml"
    path.write_text(yaml.safe_dump(job))
    code = main(["render", str(path)])
    out, err = capsys.readouterr()
    rows = current_rows(open_storage(str(tmp_path / "renders" / "neural")))
    assert sorted(rows) == ["n0", "n1"], (code, out, err[-2000:])
    for row in rows.values():
        assert row["status"] in ("accepted", "rejected"), row.get("error")
        assert row["generator"] == "diffusion" and row["model"].startswith("stable-audio-tiny@")
        verdict = json.loads(row["verdict_json"])
        assert {"clap", "clap_margin", "tempo"} <= {c["name"] for c in verdict["checks"]}
        audio, sr = sf.read(io.BytesIO(open_storage(str(tmp_path / "renders" / "neural")).read_bytes(
            row["audio_file"])), always_2d=True)
        assert sr == 44100 and audio.shape[1] == 2 and np.isfinite(audio).all()


def test_a_job_can_give_a_clap_verifier_its_own_prompts_to_calibrate_against(tmp_path):
    from songfarm.jobs.jobfile import load_job
    from songfarm.models.settings import CALIBRATION_PROMPTS

    tracks = [{"id": f"t{i}", "prompt": f"prompt {i % 70}"} for i in range(80)]
    path = tmp_path / "j.yaml"
    job = {"name": "j", "output": str(tmp_path / "out"), "tracks": tracks, "defaults": {"calibration_prompts": "job"},
           "backends": {"verifier": {"name": "clap", "options": {"checkpoint": "/m"}}}}
    path.write_text(yaml.safe_dump(job))
    options = load_job(path).settings.stage_options("verifier")
    assert options["calibration_prompts"] == [f"prompt {i}" for i in range(CALIBRATION_PROMPTS)]  # distinct, capped
    assert options["checkpoint"] == "/m" and options["min_score"] == 0.0  # the threshold is the lifecycle's
    # Without it, the backend's built-in contrast set, as online.
    del job["defaults"]
    path.write_text(yaml.safe_dump(job))
    assert "calibration_prompts" not in load_job(path).settings.stage_options("verifier")
    # A verifier that names its own calibration prompts keeps them.
    job["backends"]["verifier"]["options"]["calibration_prompts"] = ["a tuba solo"]
    path.write_text(yaml.safe_dump(job))
    assert load_job(path).settings.stage_options("verifier")["calibration_prompts"] == ["a tuba solo"]
