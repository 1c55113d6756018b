"""The `diffusion` generator on tiny random-weight Stable Audio and ACE-Step pipelines.

The checkpoints are built offline (tests/neural_fixtures.py), saved with save_pretrained
and loaded by the generator through `from_pretrained(path, local_files_only=True)`, the
same code that loads a real checkpoint. Toy sizes: a 4-second window at 2 kHz for Stable
Audio, 200 Hz for ACE-Step, 2 denoising steps.
"""

import logging
import shutil

import numpy as np
import pytest
import torch

from songfarm.models import devices, loudness
from songfarm.models.checkpoints import CheckpointError
from songfarm.models.factory import BackendError, make_generator
from songfarm.models.generators import long_form
from songfarm.models.request import TrackRequest, take_seed
from songfarm.models.stages import new_row

import neural_fixtures as nf

RATE = 22050  # the takes' sample rate in these tests (the model renders at 2 kHz / 200 Hz)


@pytest.fixture(scope="module")
def stable_audio(tmp_path_factory):
    return nf.save_stable_audio(tmp_path_factory.mktemp("ckpt") / "stable-audio-tiny")


@pytest.fixture(scope="module")
def ace_step(tmp_path_factory):
    return nf.save_ace_step(tmp_path_factory.mktemp("ckpt") / "ace-step-tiny")


@pytest.fixture(scope="module")
def generator(stable_audio):
    return make_generator("diffusion", {"checkpoint": str(stable_audio), "steps": 2, "sample_rate": RATE,
                                        "crossfade_s": 1.0})


def request(track_id="t", seed=1, candidates=1, **kw):
    return TrackRequest.from_dict({"id": track_id, "prompt": "a relaxed lo-fi beat", "seed": seed,
                                   "candidates": candidates, **kw})


def test_stable_audio_takes_are_normalised_stereo_at_the_job_rate(generator):
    plan = nf.toy_plan((1, 2, 1))  # 8 s at 120 BPM: longer than the 4-s window
    takes = generator.generate(plan, request(), [7, 8])
    assert [t.seed for t in takes] == [7, 8] and [t.candidate for t in takes] == [0, 1]
    for take in takes:
        assert take.audio.shape == (2, int(round(plan.planned_s * RATE))) and take.audio.dtype == np.float32
        assert take.sample_rate == RATE and take.generator == "diffusion"
        assert take.model.startswith("stable-audio-tiny@sha256:")
        assert np.isfinite(take.audio).all()
        # Normalised like the synth: at the target loudness, unless the true-peak ceiling stops
        # the gain first (random weights make very peaky, bass-heavy noise).
        lufs, peak = loudness.integrated_lufs(take.audio, RATE), loudness.true_peak_db(take.audio)
        assert peak <= loudness.TRUE_PEAK_CEILING_DB + 0.1
        assert abs(lufs - loudness.TARGET_LUFS) < 1.0 or peak > loudness.TRUE_PEAK_CEILING_DB - 0.5
    assert not np.array_equal(takes[0].audio, takes[1].audio)


def test_same_seed_same_audio_in_any_batch(generator):
    plan = nf.toy_plan((1, 1))
    first = generator.generate(plan, request(), [5])[0]
    again = generator.generate(plan, request(), [5])[0]
    assert np.array_equal(first.audio, again.audio)
    # Rendered beside another track and another candidate: its own generator, the same noise.
    batch = generator.generate_batch([(nf.toy_plan((1, 1), bpm=100), request("u", seed=2), [2], 0),
                                      (plan, request(), [9, 5], 0)])
    assert np.allclose(batch[1][1].audio, first.audio, atol=1e-4)
    assert not np.allclose(batch[1][0].audio, first.audio, atol=1e-2)


def test_tracks_and_candidates_share_pipeline_calls(generator):
    plans = [nf.toy_plan((1, 1)), nf.toy_plan((1, 1), genre="jazz")]  # same length, different captions
    calls = generator.calls
    out = generator.generate_batch([(plans[0], request("a"), [1, 2], 0), (plans[1], request("b"), [3, 4], 0)])
    assert generator.calls == calls + 1  # four waveforms, one call (num_waveforms_per_prompt=2)
    assert [len(takes) for takes in out] == [2, 2]


def test_long_songs_are_cut_at_section_boundaries():
    plan = nf.toy_plan((2, 4, 6, 2))  # 28 s at 120 BPM, bars of 2 s
    segs = long_form.segments(plan, window_s=10.0, crossfade_s=2.0)
    starts = {0.0}
    t = 0.0
    for s in plan.sections:
        t += s.bars * plan.bar_s
        starts.add(round(t, 6))
    bar_starts = {round(i * plan.bar_s, 6) for i in range(plan.total_bars + 1)}
    for seg in segs:
        assert seg.render_s <= 10.0 + 1e-9
        assert round(seg.start_s, 6) in bar_starts  # a long section is cut at a bar line
    assert segs[-1].end_s == pytest.approx(plan.planned_s) and segs[-1].tail_s == 0
    assert sum(p.bars for seg in segs for p in seg.sections) == plan.total_bars
    # Joining: each piece lands at its start; the overlap is an equal-power crossfade.
    rate = 100
    pieces = [np.full((2, int(round(seg.render_s * rate))), i + 1.0, np.float32) for i, seg in enumerate(segs)]
    song = long_form.join(pieces, segs, rate)
    assert song.shape == (2, int(round(plan.planned_s * rate)))
    boundary = int(round(segs[1].start_s * rate))
    assert song[0, boundary - 1] == pytest.approx(1.0) and song[0, int(round(segs[1].end_s * rate)) - 1] == 2.0
    assert song[0, boundary] == pytest.approx(1.0)  # the fade starts at the boundary …
    assert song[0, boundary + 2 * rate - 1] == pytest.approx(2.0, abs=0.05)  # … and ends a crossfade later


def test_ace_step_takes_tempo_key_and_lyrics(ace_step):
    gen = make_generator("diffusion", {"checkpoint": str(ace_step), "steps": 2, "guidance_scale": 3.0,
                                       "sample_rate": RATE})
    assert gen.kind == "ace_step" and gen.model_rate == 200 and gen.window_s == 600.0
    base = gen.generate(nf.toy_plan((1, 1)), request(), [3])[0]
    assert base.audio.shape == (2, int(round(nf.toy_plan((1, 1)).planned_s * RATE)))
    # bpm / keyscale / lyrics reach the model: the same seed renders different audio.
    faster = gen.generate(nf.toy_plan((1, 1), bpm=150), request(), [3])[0]
    minor = gen.generate(nf.toy_plan((1, 1), tonic="A", mode="minor"), request(), [3])[0]
    sung = gen.generate(nf.toy_plan((1, 1), lyrics=("hello there", None)), request(), [3])[0]
    same = gen.generate(nf.toy_plan((1, 1)), request(), [3])[0]
    assert np.array_equal(base.audio, same.audio)
    n = min(base.audio.shape[1], faster.audio.shape[1])
    assert not np.allclose(base.audio[:, :n], faster.audio[:, :n], atol=1e-3)
    assert not np.allclose(base.audio, minor.audio, atol=1e-3)
    assert not np.allclose(base.audio, sung.audio, atol=1e-3)


def test_batch_columns_isolate_a_bad_row(generator):
    good = request("good", seed=4, candidates=2)
    rows = [{**new_row(good), "plan": nf.toy_plan((1, 1)).to_json()},
            {**new_row(request("bad")), "plan": "{not json"}]
    batch = {k: np.array([r[k] for r in rows], dtype=object) for k in rows[0]}
    out = generator(batch)
    assert list(out["track_id"]) == ["good", "good", "bad"]
    assert list(out["status"]) == ["ok", "ok", "failed"] and out["error_stage"][2] == "generator"
    assert list(out["seed"][:2]) == [take_seed(4, 0, 0), take_seed(4, 0, 1)]
    assert all(len(a) > 1000 for a in out["audio"][:2]) and out["audio"][2] == b""
    assert out["model"][0].startswith("stable-audio-tiny@")


def test_out_of_memory_halves_the_batch_then_fails_one_item():
    seen = []

    def run(items):
        seen.append(len(items))
        if len(items) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [x * 10 for x in items]

    assert devices.run_halving(list(range(7)), run) == [x * 10 for x in range(7)]
    assert seen == [7, 4, 2, 2, 3, 2, 1]

    def always(items):
        raise RuntimeError("CUDA error: out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        devices.run_halving([1, 2], always)

    def big_three(items):  # item 3 never fits; the others do, alone or in pairs
        if 3 in items:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return [x * 10 for x in items]

    out = devices.run_halving([1, 2, 3, 4], big_three, isolate=True)
    assert out[:2] == [10, 20] and out[3] == 40
    assert isinstance(out[2], RuntimeError) and "out of memory even for a single item" in str(out[2])

    def broken(items):
        seen.append("broken")
        raise ValueError("not memory")

    seen.clear()
    with pytest.raises(ValueError):
        devices.run_halving([1, 2, 3], broken)
    assert seen == ["broken"]  # other errors are not retried


def test_out_of_memory_in_a_generator_call_fails_only_the_track_that_never_fits(stable_audio, generator):
    from songfarm.models.generators.diffusion import DiffusionConfig, DiffusionGenerator

    class SmallGpu(DiffusionGenerator):
        """A GPU that holds two waveforms per call, and never the second track's."""

        def _call(self, pieces):
            if len(pieces) > 2 or any(p.track == 1 for p in pieces):
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")
            return super()._call(pieces)

    small = SmallGpu(DiffusionConfig(checkpoint=str(stable_audio), steps=2, sample_rate=RATE))
    plan = nf.toy_plan((1, 1))
    out = small.generate_batch([(plan, request("a"), [1, 2], 0), (plan, request("b"), [3], 0),
                                (plan, request("c"), [4, 5], 0)])
    assert small.splits >= 2
    assert [len(out[0]), len(out[2])] == [2, 2]
    assert isinstance(out[1], RuntimeError) and "out of memory" in str(out[1])
    # Split or not, a take is the same audio.
    alone = generator.generate(plan, request("c"), [5])[0]
    assert np.allclose(out[2][1].audio, alone.audio, atol=1e-4)


def test_missing_or_corrupt_checkpoint_fails_at_construction(stable_audio, tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint: required"):
        make_generator("diffusion", {})
    missing = tmp_path / "nowhere"
    with pytest.raises(CheckpointError, match=f"{missing}: does not exist"):
        make_generator("diffusion", {"checkpoint": str(missing)})
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no model_index.json"):
        make_generator("diffusion", {"checkpoint": str(tmp_path / "empty")})
    broken = tmp_path / "broken"
    shutil.copytree(stable_audio, broken)
    weights = next((broken / "transformer").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:100])  # a truncated download
    with pytest.raises(CheckpointError, match=r"broken: cannot load"):
        make_generator("diffusion", {"checkpoint": str(broken)})
    other = tmp_path / "other"
    shutil.copytree(stable_audio, other)
    index = other / "model_index.json"
    index.write_text(index.read_text().replace("StableAudioPipeline", "StableDiffusionPipeline"))
    with pytest.raises(CheckpointError, match="'StableDiffusionPipeline' is not supported"):
        make_generator("diffusion", {"checkpoint": str(other)})
    with pytest.raises(CheckpointError, match="holds a StableAudioPipeline"):
        make_generator("diffusion", {"checkpoint": str(stable_audio), "pipeline": "ace_step"})


def test_bad_options_name_the_option(stable_audio):
    with pytest.raises(BackendError, match="unknown option 'stepz'"):
        make_generator("diffusion", {"checkpoint": str(stable_audio), "stepz": 3})
    with pytest.raises(BackendError, match="steps=0"):
        make_generator("diffusion", {"checkpoint": str(stable_audio), "steps": 0})
    with pytest.raises(BackendError, match="pipeline='musicgen'"):
        make_generator("diffusion", {"checkpoint": str(stable_audio), "pipeline": "musicgen"})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback")
def test_cpu_fallback_warns_and_cuda_without_gpu_is_an_error(caplog):
    with caplog.at_level(logging.WARNING, logger="songfarm.devices"):
        assert devices.choose_device("auto", "here").type == "cpu"
    assert "no CUDA GPU here; running on the CPU" in caplog.text
    with pytest.raises(devices.DeviceError, match="device='cuda': no CUDA GPU"):
        devices.choose_device("cuda", "here")
    with caplog.at_level(logging.WARNING, logger="songfarm.devices"):
        assert devices.choose_dtype("fp16", torch.device("cpu"), "here") == torch.float32
    assert "dtype=fp16 on the CPU; using fp32" in caplog.text


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_half_precision_on_the_gpu(stable_audio):
    gen = make_generator("diffusion", {"checkpoint": str(stable_audio), "steps": 2, "sample_rate": RATE,
                                       "device": "cuda", "dtype": "fp16"})
    assert gen.dtype == torch.float16 and gen.pipe.transformer.dtype == torch.float16
    takes = gen.generate(nf.toy_plan((1, 1)), request(), [1, 2])
    assert all(np.isfinite(t.audio).all() and t.audio.shape[0] == 2 for t in takes)
    again = gen.generate(nf.toy_plan((1, 1)), request(), [1])[0]
    assert np.array_equal(again.audio, takes[0].audio)
