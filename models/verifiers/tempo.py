"""Tempo from audio, precise to a fraction of a percent on constant-tempo music.

librosa's default beat tracker quantises its tempo to the onset frame hop (a 120 BPM
render measured 117.45; DESIGN.md §7), too coarse for a 2 % check. Here the precision
comes from the length of the track instead of from the hop:

1. an onset-strength envelope: log-magnitude spectral flux at 11.6 ms frames;
2. the magnitude spectrum of the whole envelope, zero-padded so the grid is ~0.04 BPM
   (a constant tempo is a line at f0 = bpm/60 Hz and its multiples, and the line is as
   narrow as 1 / track length, however coarse the frames);
3. a harmonic sum S(bpm) = sum_h w_h |E(h * bpm / 60)| on a 0.1 BPM grid from 30 to 300,
   so every level of the metre (beat, eighths, sixteenths) votes for the beat it implies;
4. the raw estimate is the peak of S times a log-normal prior around 120 BPM (the beat
   level a listener would tap, as in librosa), refined by parabolic interpolation.

Metrical level: the raw peak can land on half, double or a 3:2 relative of the beat the
plan counts (a waltz at 180 BPM is often felt in one bar per beat), and a syncopated
groove can make a 4:3 relative the strongest line. `nearest_level` picks, among the strong
periodicities (within `min_strength` of the best) times {1/2, 2/3, 1, 3/2, 2}, the tempo
nearest a reference; the verifier reports that level as the measured tempo and keeps the
raw estimate in the check's detail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d

ONSET_HOP = 128  # samples at the analysis rate (11025 Hz → 11.6 ms, 86 frames/s)
ONSET_FFT = 512  # 46 ms window for the spectral flux
HARMONIC_WEIGHTS = (1.0, 1.0, 0.6, 0.6)  # w_h for h = 1..4 in the harmonic sum
GRID_BPM = 0.1  # the search grid step
LEVELS = (0.5, 2.0 / 3.0, 1.0, 1.5, 2.0)  # metrical relatives of the raw estimate allowed to match


@dataclass
class TempoEstimate:
    bpm: float  # the raw estimate (strongest periodicity under the prior), 0.0 when none
    confidence: float  # peak of S over its median, ≥ 1; ~1 means no periodicity at all
    peaks: list[tuple[float, float]]  # up to 5 strongest periodicities (bpm, prior-weighted S relative to the best)


def onset_envelope(mono: np.ndarray, sr: int, hop: int = ONSET_HOP, n_fft: int = ONSET_FFT) -> np.ndarray:
    """(samples,) float → (frames,) onset strength at sr / hop frames per second.

    Half-wave rectified frame-to-frame increase of log magnitude, summed over bins, with
    its 1-second moving average removed (slow swells are not beats)."""
    if mono.size < n_fft + hop:
        return np.zeros(0, dtype=np.float32)
    scale = float(np.sqrt(np.mean(np.square(mono, dtype=np.float64)))) or 1.0
    x = (mono / scale).astype(np.float32)
    n_frames = 1 + (x.size - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop][:n_frames]  # (frames, n_fft) view
    spec = np.abs(np.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1))  # (frames, bins)
    logmag = np.log1p(10.0 * spec)
    flux = np.maximum(0.0, np.diff(logmag, axis=0)).sum(axis=1)  # (frames - 1,)
    width = max(1, int(round(sr / hop)))  # 1 s moving average
    trend = uniform_filter1d(flux, size=width, mode="nearest")
    return (flux - trend).astype(np.float32)


def estimate_tempo(mono: np.ndarray, sr: int, min_bpm: float = 30.0, max_bpm: float = 300.0,
                   prior_bpm: float = 120.0, prior_octaves: float = 1.0) -> TempoEstimate:
    """(samples,) mono audio → TempoEstimate (see the module docstring for the method)."""
    env = onset_envelope(mono, sr)
    frame_rate = sr / ONSET_HOP
    if env.size < 2 * frame_rate or not np.any(env):  # under ~2 s, or no onsets at all
        return TempoEstimate(0.0, 1.0, [])
    # Zero-pad so the spectrum's grid is far finer than GRID_BPM (~0.04 BPM at 2^17).
    n = 1 << max(17, int(np.ceil(np.log2(env.size * 8))))
    mag = np.abs(np.fft.rfft(env * np.hanning(env.size), n=n))  # (n/2+1,) over 0 .. frame_rate/2 Hz
    hz_per_bin = frame_rate / n

    grid = np.arange(min_bpm, max_bpm + GRID_BPM / 2, GRID_BPM)  # (G,) bpm
    salience = _harmonic_sum(mag, hz_per_bin, grid)  # (G,)
    log_ratio = np.log2(grid / prior_bpm) / prior_octaves
    weighted = salience * np.exp(-0.5 * log_ratio ** 2)
    i = int(np.argmax(weighted))
    bpm = _parabolic(grid, weighted, i)
    # Refine on the unweighted salience near the peak: the prior only chooses the level.
    fine = np.linspace(bpm - 2 * GRID_BPM, bpm + 2 * GRID_BPM, 41)
    fine_s = _harmonic_sum(mag, hz_per_bin, fine)
    j = int(np.argmax(fine_s))
    bpm = _parabolic(fine, fine_s, j) if 0 < j < fine.size - 1 else bpm

    median = float(np.median(salience)) or 1e-12
    top = weighted[i] or 1.0
    peaks = [(bpm, 1.0)] + [(b, s / top) for b, s in _top_peaks(grid, weighted, 5)[1:]]
    return TempoEstimate(float(bpm), float(salience[i] / median),
                         [(round(float(b), 3), round(float(s), 3)) for b, s in peaks])


def nearest_level(raw_bpm: float, reference_bpm: float, levels: tuple[float, ...] = LEVELS) -> tuple[float, float]:
    """The metrical relative of `raw_bpm` nearest `reference_bpm` (on a log scale):
    (raw_bpm * ratio, ratio). With raw 0 (no tempo found) returns (0.0, 1.0)."""
    if raw_bpm <= 0 or reference_bpm <= 0:
        return 0.0, 1.0
    ratio = min(levels, key=lambda r: abs(np.log(raw_bpm * r / reference_bpm)))
    return raw_bpm * ratio, ratio


def nearest_strong_level(estimate: TempoEstimate, reference_bpm: float, levels: tuple[float, ...] = LEVELS,
                         min_strength: float = 0.5) -> tuple[float, float, float]:
    """Like `nearest_level`, over every periodicity at least `min_strength` as strong as
    the best: (tempo, ratio, the periodicity it came from). (0.0, 1.0, 0.0) when none."""
    best = (0.0, 1.0, 0.0)
    for bpm, strength in estimate.peaks:
        if strength < min_strength:
            continue
        level, ratio = nearest_level(bpm, reference_bpm, levels)
        if best[0] == 0.0 or abs(np.log(level / reference_bpm)) < abs(np.log(best[0] / reference_bpm)):
            best = (level, ratio, bpm)
    return best


def _harmonic_sum(mag: np.ndarray, hz_per_bin: float, bpms: np.ndarray) -> np.ndarray:
    out = np.zeros(bpms.size)
    positions = np.arange(mag.size)
    for h, w in enumerate(HARMONIC_WEIGHTS, start=1):
        out += w * np.interp(h * bpms / 60.0 / hz_per_bin, positions, mag, right=0.0)
    return out


def _parabolic(x: np.ndarray, y: np.ndarray, i: int) -> float:
    """The vertex of the parabola through (x[i-1..i+1], y[..]); x[i] at the edges."""
    if i <= 0 or i >= y.size - 1:
        return float(x[i])
    a, b, c = y[i - 1], y[i], y[i + 1]
    denom = a - 2 * b + c
    offset = 0.5 * (a - c) / denom if denom < 0 else 0.0
    return float(x[i] + np.clip(offset, -1, 1) * (x[1] - x[0]))


def _top_peaks(x: np.ndarray, y: np.ndarray, k: int) -> list[tuple[float, float]]:
    """The k largest local maxima of y (parabolically refined), at least 3 % apart in x."""
    where = np.flatnonzero(np.r_[False, (y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:]), False])
    order = where[np.argsort(y[where])[::-1]]
    chosen: list[tuple[float, float]] = []
    for xi, yi in ((_parabolic(x, y, i), y[i]) for i in order):
        if all(abs(xi / c - 1) > 0.03 for c, _ in chosen):
            chosen.append((xi, yi))
        if len(chosen) == k:
            break
    return chosen
