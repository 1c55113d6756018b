"""The true-peak bounds that let models/loudness.py oversample only a few blocks: they must
never fall below what resample_poly's 4x oversampling gives, on real renders and on the
signals built to defeat them, and the peak found through them must equal the whole-signal
computation exactly. Also the helpers the speed-ups of the stages rely on."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly
from synth_fixtures import toy_plan

from songfarm.models import loudness
from songfarm.models.generators import render
from songfarm.models.generators.composer import compose
from songfarm.models.generators.synth import DEFAULT_SOUNDFONT, SynthConfig, SynthGenerator
from songfarm.models.take import decode_audio, encode_flac, keep_freed_memory, pack_pcm
from songfarm.models.verifiers import levels

SR = 44100
BLOCK = loudness._TP_BLOCK


def _oversampled(audio: np.ndarray) -> np.ndarray:
    """|4x oversampled| of the whole signal at once, the definition: (channels, 4 * samples)."""
    return np.abs(resample_poly(np.atleast_2d(audio).astype(np.float64), 4, 1, axis=-1))


def _block_true_peaks(audio: np.ndarray) -> np.ndarray:
    """(blocks,) the definition's peak inside each _TP_BLOCK block."""
    up = _oversampled(audio)
    blocks = -(-audio.shape[-1] // BLOCK)
    up = np.pad(up, ((0, 0), (0, blocks * 4 * BLOCK - up.shape[-1])))
    return up.reshape(up.shape[0], blocks, 4 * BLOCK).max(axis=(0, 2))


def _adversarial(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Signals chosen to push inter-sample peaks above the samples: (2, n) float32 each."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    taps = resample_poly(np.eye(1, 129, 64)[0], 4, 1)[2::4][::-1]  # the widest branch's taps
    worst = np.sign(np.resize(taps[np.abs(taps) > 1e-9], n))  # samples following the taps' signs
    signals = {
        "fs/4 sine, 45 degrees": np.sin(np.pi / 2 * t + np.pi / 4),  # samples at ±0.707, peak 1.0
        "fs/4 sine, 10 degrees": np.sin(np.pi / 2 * t + np.pi / 18),
        "near Nyquist": 0.9 * np.cos(np.pi * 0.98 * t + 0.3),
        "Nyquist": np.cos(np.pi * t),
        "tap signs": worst,
        "full-scale noise": np.clip(rng.standard_normal(n), -1, 1),
        "impulse": np.eye(1, n, n // 2)[0],
        "square wave": np.sign(np.sin(2 * np.pi * 1000 * t / SR + 0.1)),
        "bursts": np.sin(2 * np.pi * 11025 * t / SR + 0.7) * (rng.random(n) < 0.3),
    }
    return {name: np.stack([x, -0.5 * x[::-1]]).astype(np.float32) for name, x in signals.items()}


@pytest.fixture(scope="module")
def renders() -> list[np.ndarray]:
    """Two real synth masters (a limited, dense one and a sparse one) and one raw mix."""
    generator = SynthGenerator(SynthConfig(soundfont=DEFAULT_SOUNDFONT))
    out = []
    for style, seed in (("rock", 3), ("ambient", 4)):
        plan = toy_plan(style=style, bpm=130.0)
        out.append(generator.render_take(plan, "t", seed).audio)
    plan = toy_plan(style="edm", bpm=128.0)
    n = int(round(plan.duration_s * SR))
    mix, _ = render.render_mix(compose(plan, 5, end_s=n / SR), generator.synthesizer, SR, n)
    out.append(mix * np.float32(4.0))  # hot: well over full scale, as a mix is before mastering
    return out


def test_interpolator_bounds_of_resample_polys_filter():
    """The constants the bounds use, and bound 2 itself, sample by sample: a value between
    x[t] and x[t+1] is at most k_peak times the larger of them plus k_curve times the
    largest second difference the taps reach."""
    gain, k_peak, k_curve = loudness._interpolator_bounds(4)
    assert gain == pytest.approx(2.2414, abs=1e-3) and k_peak == pytest.approx(1.0006, abs=1e-4)
    assert k_curve == pytest.approx(0.4056, abs=1e-3)
    rng = np.random.default_rng(1)
    for x in (rng.standard_normal(400), np.cumsum(rng.standard_normal(400)) / 10):
        up = resample_poly(x, 4, 1)
        d2 = np.abs(np.diff(np.concatenate([[0.0], x, [0.0]]), 2))  # d2[t] is centred on x[t]
        for t in range(20, 380):
            near = max(abs(x[t]), abs(x[t + 1]))
            bound = k_peak * near + k_curve * d2[t - 10: t + 12].max()
            assert np.abs(up[4 * t: 4 * t + 4]).max() <= bound * (1 + 1e-12)
            assert np.abs(up[4 * t: 4 * t + 4]).max() <= gain * np.abs(x[t - 10: t + 12]).max() * (1 + 1e-12)


@pytest.mark.parametrize("n", [1, 2, 17, BLOCK - 1, BLOCK, BLOCK + 1, 1000, 3 * SR])
def test_block_bounds_never_below_the_true_peak_on_adversarial_signals(n):
    for name, audio in _adversarial(n).items():
        bound, peak = loudness._block_bounds(audio)
        truth = _block_true_peaks(audio)
        assert np.all(bound >= truth), (name, n, float((truth - bound).max()))
        assert np.all(peak <= bound)
        assert loudness.true_peak(audio) == _oversampled(audio).max(), (name, n)


def test_the_fs4_sine_shows_its_3_db_over():
    audio = _adversarial(SR)["fs/4 sine, 45 degrees"]
    assert np.abs(audio[0]).max() == pytest.approx(np.sqrt(0.5), abs=1e-6)
    assert loudness.true_peak_db(audio) == pytest.approx(20 * np.log10(_oversampled(audio).max()), abs=1e-12)
    assert loudness.true_peak_db(audio) > 20 * np.log10(np.abs(audio).max()) + 2.9  # seen, not guessed


def test_true_peak_equals_the_whole_signal_computation_on_renders(renders):
    for audio in renders:
        bound, _ = loudness._block_bounds(audio)
        assert np.all(bound >= _block_true_peaks(audio))
        assert loudness.true_peak(audio) == _oversampled(audio).max()
        # the same in either memory layout, and after the farm's FLAC round trip
        assert loudness.true_peak(np.asfortranarray(audio)) == loudness.true_peak(audio)
        decoded, _ = decode_audio(encode_flac(audio, SR))
        assert loudness.true_peak(decoded) == _oversampled(decoded).max()


def test_a_master_has_few_blocks_to_oversample(renders):
    """Why the bounds are worth having: on a limited master most blocks are ruled out."""
    master = renders[0]
    bound, _ = loudness._block_bounds(master)
    assert np.mean(bound > 10 ** (-1.5 / 20)) < 0.25


def test_modulation_bounds_cover_the_limited_master(renders):
    """The master's blocks that normalise checks after limiting: the input's bounds at the
    gain plus what the moving gain adds must cover every block's real true peak."""
    mix = renders[2]
    ceiling = 10 ** (-1.1 / 20)
    for gain in (0.5, 1.0, 2.0):
        bounds, peaks = loudness._block_bounds(mix)
        steps = loudness._limiter_steps(mix, gain, bounds, loudness._unknown_step_peaks(bounds.size), SR, ceiling)
        assert steps is not None and steps.min() < 0.9  # the limiter works here
        master = mix * (loudness._curve(steps, mix.shape[-1]) * np.float32(gain))
        covered = bounds * gain + loudness._modulation_bounds(steps, gain, peaks)
        assert np.all(covered >= _block_true_peaks(master))


def test_normalise_masters_under_the_ceiling_laid_out_for_flac(renders):
    out, _ = loudness.normalise_with_gain(renders[2], SR)
    assert out.shape == renders[2].shape and out.dtype == np.float32
    assert out.T.flags.c_contiguous  # frame by frame: the encoder reads it without a copy
    assert 20 * np.log10(_oversampled(out).max()) <= -1.0
    assert loudness.integrated_lufs(out, SR) == pytest.approx(-14.0, abs=0.5)
    assert encode_flac(out, SR) == encode_flac(np.ascontiguousarray(out), SR)
    assert pack_pcm(out, SR) == pack_pcm(np.ascontiguousarray(out), SR)  # Serve's encoding, too
    assert np.array_equal(decode_audio(pack_pcm(out, SR))[0], out)


def _runs_by_differences(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    edges = np.diff(np.concatenate(([0], mask.view(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def test_runs_of_true():
    rng = np.random.default_rng(2)
    masks = [np.zeros(0, bool), np.zeros(5, bool), np.ones(5, bool), np.array([True]), np.array([False]),
             np.array([True, False, True]), rng.random(1000) < 0.5, rng.random(1000) < 0.01]
    for mask in masks:
        starts, ends = levels._runs(mask)
        ref_starts, ref_ends = _runs_by_differences(mask)
        assert np.array_equal(starts, ref_starts) and np.array_equal(ends, ref_ends)
        assert starts.dtype == ends.dtype == np.int64


def test_clipped_runs_after_the_fast_path():
    audio = np.zeros((2, 100), np.float32)
    assert levels.clipped_runs(audio) == (0, 0)
    audio[1, 10:15] = -1.0
    audio[0, 50:52] = 1.0  # too short to count
    assert levels.clipped_runs(audio) == (1, 5)


def test_render_part_into_a_reused_buffer_is_the_same(renders):
    generator = SynthGenerator(SynthConfig(soundfont=DEFAULT_SOUNDFONT))
    plan = toy_plan(style="pop")
    n = int(round(plan.duration_s * SR))
    composition = compose(plan, 1, end_s=n / SR)
    buffer = np.full((2, n), 7.0, np.float32)  # left over from another part
    for part in composition.parts:
        fresh = render.render_part(part, composition, generator.synthesizer, n)
        reused = render.render_part(part, composition, generator.synthesizer, n, buffer)
        assert reused is buffer and np.array_equal(fresh, reused)


def test_keep_freed_memory_is_safe_to_call_again():
    assert keep_freed_memory() in (True, False)
    assert keep_freed_memory() == keep_freed_memory()
