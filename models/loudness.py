"""Loudness (ITU-R BS.1770 / EBU R128) and true peak, shared by generators and verifiers.

Generators normalise with `normalise`; verifiers measure with `integrated_lufs` and
`true_peak_db`, so both sides agree on the definitions.
"""

from __future__ import annotations

import numpy as np
import pyloudnorm
from scipy.ndimage import minimum_filter1d
from scipy.signal import lfilter, resample_poly

TARGET_LUFS = -14.0  # streaming-platform integrated loudness
TRUE_PEAK_CEILING_DB = -1.0  # dBTP

_meters: dict[int, pyloudnorm.Meter] = {}


def _meter(sample_rate: int) -> pyloudnorm.Meter:
    if sample_rate not in _meters:
        _meters[sample_rate] = pyloudnorm.Meter(sample_rate)  # K-weighting, 400 ms blocks
    return _meters[sample_rate]


def integrated_lufs(audio: np.ndarray, sample_rate: int) -> float:
    """(channels, samples) → integrated loudness in LUFS (-inf for silence)."""
    if audio.shape[-1] < int(0.4 * sample_rate):  # shorter than one gating block
        audio = np.pad(audio, ((0, 0), (0, int(0.4 * sample_rate) - audio.shape[-1] + 1)))
    return float(_meter(sample_rate).integrated_loudness(np.ascontiguousarray(audio.T, dtype=np.float64)))


def true_peak_db(audio: np.ndarray, oversample: int = 4) -> float:
    """(channels, samples) → true peak in dBTP: the sample peak of a 4x-oversampled copy
    (BS.1770-4 Annex 2); catches inter-sample overs a sample peak misses."""
    up = resample_poly(audio.astype(np.float64), oversample, 1, axis=-1)
    peak = float(np.max(np.abs(up))) if up.size else 0.0
    return 20.0 * np.log10(peak) if peak > 0 else -np.inf


def normalise(audio: np.ndarray, sample_rate: int, target_lufs: float = TARGET_LUFS,
              ceiling_db: float = TRUE_PEAK_CEILING_DB) -> np.ndarray:
    """Gain to `target_lufs` integrated, then a transparent peak limiter so the true peak
    stays at or below `ceiling_db`. Returns float32 (channels, samples)."""
    audio = audio.astype(np.float64)
    lufs = integrated_lufs(audio, sample_rate)
    if not np.isfinite(lufs):
        return audio.astype(np.float32)
    audio *= 10.0 ** ((target_lufs - lufs) / 20.0)
    ceiling = 10.0 ** ((ceiling_db - 0.1) / 20.0)  # 0.1 dB margin for 24-bit quantisation
    for _ in range(4):  # limiting lowers loudness a little; re-gain and re-limit
        audio = limit(audio, sample_rate, ceiling)
        lufs = integrated_lufs(audio, sample_rate)
        gain_db = target_lufs - lufs
        if abs(gain_db) < 0.05:
            break
        audio *= 10.0 ** (gain_db / 20.0)
    audio = limit(audio, sample_rate, ceiling)
    return audio.astype(np.float32)


def limit(audio: np.ndarray, sample_rate: int, ceiling: float, attack_s: float = 0.002,
          release_s: float = 0.08) -> np.ndarray:
    """Look-ahead peak limiter on the 4x-oversampled envelope: gain = min(1, ceiling/peak),
    smoothed with instant attack (applied `attack_s` early) and exponential release."""
    up = resample_poly(audio, 4, 1, axis=-1)  # (channels, 4 * samples)
    n = up.shape[-1] // 4
    env = np.max(np.abs(up[..., : n * 4]), axis=0).reshape(n, 4).max(axis=1)  # (n,) peak per sample
    env = np.pad(env, (0, audio.shape[-1] - n), mode="edge")
    if float(env.max(initial=0.0)) <= ceiling:
        return audio
    target = np.minimum(1.0, ceiling / np.maximum(env, 1e-12))
    # Look-ahead: the gain reaches its target `attack_s` before the peak (running min).
    look = max(1, int(attack_s * sample_rate))
    target = minimum_filter1d(target, size=2 * look + 1, mode="nearest")
    # Release: gain recovers exponentially; a one-pole filter on the gain reduction.
    alpha = np.exp(-1.0 / (release_s * sample_rate))
    reduction = 1.0 - target
    smoothed = np.maximum(reduction, lfilter([1 - alpha], [1, -alpha], reduction))
    gain = 1.0 - smoothed
    out = audio * gain
    # Guarantee the ceiling: a final exact scale handles residual inter-sample overs.
    tp = np.max(np.abs(resample_poly(out, 4, 1, axis=-1)))
    if tp > ceiling:
        out *= ceiling / tp
    return out
