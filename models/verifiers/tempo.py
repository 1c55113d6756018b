"""The felt tempo of audio: the beat a listener taps, precise to a fraction of a percent.

A tempo has two questions in it. *Which level* of the metre is the beat (a groove at
70 BPM with eighth-note hats is often heard at 140)? And *how fast exactly* is it?
They need different tools, so they are answered in two steps.

1. The felt level, the way listeners and beat trackers pick it (Ellis 2007; librosa's
   `feature.tempo`, essentia's RhythmExtractor2013 agree with this step on our renders,
   bench/bench_adherence.py): a perceptual onset envelope (log-mel spectral flux at 23 ms
   frames, so kick and snare count as much as bright hats), its autocorrelation in 8.9 s
   windows, averaged, times a log-normal prior around 120 BPM (one octave wide). The
   peak is the felt beat, coarse (lags are whole frames: ±3 % at 140 BPM).
2. Precision from the length of the track rather than from the frame hop (librosa's
   tracker quantises its tempo to the hop: a 120 BPM render measured 117.45): the
   magnitude spectrum of a finer onset envelope (spectral flux at 11.6 ms frames),
   zero-padded so its grid is ~0.04 BPM, and a harmonic sum S(bpm) = sum_h w_h |E(h·bpm/60)|
   (a constant tempo is a line at bpm/60 Hz and its multiples, as narrow as 1 / length).
   The felt tempo is the peak of S within ±4 % of the coarse level, refined by parabolic
   interpolation. No other metrical relative lies that close (the nearest, 4:3, is 33 %
   away), so this step never changes the level step 1 chose.

There is no folding towards a plan here: `estimate_tempo` reports what is heard, and
`relation` names it when it is a metrical relative (double, half, 3/2 ...) of another tempo.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.ndimage import uniform_filter1d

ONSET_HOP = 128  # samples at the analysis rate (11025 Hz → 11.6 ms, 86 frames/s): the precise envelope
ONSET_FFT = 512  # 46 ms window for its spectral flux
HARMONIC_WEIGHTS = (1.0, 1.0, 0.6, 0.6)  # w_h for h = 1..4 in the harmonic sum
GRID_BPM = 0.1  # the search grid step of the harmonic sum
BEAT_HOP_S = 256 / 11025  # 23 ms frames of the perceptual envelope that picks the felt level
BEAT_BANDS = 64  # mel bands of that envelope (up to the Nyquist of the analysis rate)
BEAT_WINDOW = 384  # frames per autocorrelation window (8.9 s): as long as a few bars at 60 BPM
BEAT_WINDOW_STEP = 16  # frames between windows (0.37 s); their mean is all that is kept
PRIOR_BPM = 120.0  # centre of the log-normal prior over felt tempi (where people tap)
PRIOR_OCTAVES = 1.0  # its standard deviation in octaves
LEVEL_SEARCH = 0.04  # the precise peak is searched within this fraction of the felt level
# Metrical relatives a misheard tempo has to the intended one, as heard / intended.
RELATIVES = {Fraction(2): "double", Fraction(1, 2): "half", Fraction(3, 2): "one and a half times",
             Fraction(2, 3): "two thirds of", Fraction(3): "three times", Fraction(1, 3): "a third of"}


@dataclass
class TempoEstimate:
    bpm: float  # the felt tempo (step 2's precise peak at step 1's level), 0.0 when there is no beat
    confidence: float  # S at the felt tempo over the median of S, ≥ 1; ~1 means no periodicity at all
    peaks: list[tuple[float, float]]  # up to 5 strongest periodicities of S (bpm, S relative to the strongest)
    felt_coarse_bpm: float = 0.0  # step 1's level before refinement (whole-frame lags)


def onset_envelope(mono: np.ndarray, sr: int, hop: int = ONSET_HOP, n_fft: int = ONSET_FFT) -> np.ndarray:
    """(samples,) float → (frames,) onset strength at sr / hop frames per second, for precision.

    Half-wave rectified frame-to-frame increase of log magnitude, summed over bins, with
    its 1-second moving average removed (slow swells are not beats)."""
    if mono.size < n_fft + hop:
        return np.zeros(0, dtype=np.float32)
    x = _unit_rms(mono)
    spec = np.abs(_frames_rfft(x, n_fft, hop))  # (frames, bins)
    logmag = np.log1p(10.0 * spec)
    flux = np.maximum(0.0, np.diff(logmag, axis=0)).sum(axis=1)  # (frames - 1,)
    width = max(1, int(round(sr / hop)))  # 1 s moving average
    trend = uniform_filter1d(flux, size=width, mode="nearest")
    return (flux - trend).astype(np.float32)


def beat_envelope(mono: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    """(samples,) float → ((frames,) perceptual onset strength, frames per second).

    Mean over mel bands of the rectified increase of log(1 + power) of the unit-RMS audio:
    every band counts alike, so the low kick and the snare weigh as much as the many bins
    of a hi-hat. The compression is gentler than decibels on purpose: in an 80 dB range a
    soft off-beat hat onsets as strongly as the kick, a straight 170 BPM beat reads as an
    even pulse at 340, and its grouping nearest 120 BPM is the 2/3 level (113)."""
    hop = max(1, int(round(BEAT_HOP_S * sr)))
    n_fft = 4 * hop
    if mono.size < n_fft + hop:
        return np.zeros(0, dtype=np.float32), sr / hop
    power = np.square(np.abs(_frames_rfft(_unit_rms(mono), n_fft, hop)))  # (frames, bins)
    mel = np.log1p(power @ mel_filters(sr, n_fft, BEAT_BANDS).T)  # (frames, bands)
    flux = np.maximum(0.0, np.diff(mel, axis=0)).mean(axis=1)  # (frames - 1,)
    return flux.astype(np.float32), sr / hop


def mel_filters(sr: int, n_fft: int, bands: int) -> np.ndarray:
    """(bands, n_fft // 2 + 1) triangular filters evenly spaced on the mel scale, 0 Hz to
    sr / 2, each summing to 1."""
    def to_mel(hz):
        return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)

    edges = 700.0 * (10.0 ** (np.linspace(0.0, to_mel(sr / 2), bands + 2) / 2595.0) - 1.0)  # (bands + 2,) Hz
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    tri = np.maximum(0.0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
    return tri / np.maximum(tri.sum(axis=1, keepdims=True), 1e-12)


def felt_level(mono: np.ndarray, sr: int, min_bpm: float = 30.0, max_bpm: float = 300.0,
               prior_bpm: float = PRIOR_BPM, prior_octaves: float = PRIOR_OCTAVES) -> float:
    """Step 1: the coarse felt tempo in BPM (0.0 when there are no onsets)."""
    env, frame_rate = beat_envelope(mono, sr)
    if env.size < 2 or not np.any(env):
        return 0.0
    acf = _windowed_autocorrelation(env, BEAT_WINDOW, BEAT_WINDOW_STEP)  # (BEAT_WINDOW,), 1 at lag 0
    lags = np.arange(1, acf.size)
    bpm = 60.0 * frame_rate / lags
    weighted = acf[1:] * np.exp(-0.5 * (np.log2(bpm / prior_bpm) / prior_octaves) ** 2)
    weighted[(bpm < min_bpm) | (bpm > max_bpm)] = -np.inf
    i = int(np.argmax(weighted))
    if not np.isfinite(weighted[i]) or weighted[i] <= 0:
        return 0.0
    lag = float(lags[i])
    if 0 < i < weighted.size - 1 and np.isfinite(weighted[i - 1]) and np.isfinite(weighted[i + 1]):
        a, b, c = weighted[i - 1: i + 2]
        denom = a - 2 * b + c
        lag += float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5)) if denom < 0 else 0.0
    return 60.0 * frame_rate / lag


def estimate_tempo(mono: np.ndarray, sr: int, min_bpm: float = 30.0, max_bpm: float = 300.0,
                   prior_bpm: float = PRIOR_BPM, prior_octaves: float = PRIOR_OCTAVES) -> TempoEstimate:
    """(samples,) mono audio → TempoEstimate: the felt tempo (see the module docstring)."""
    env = onset_envelope(mono, sr)
    frame_rate = sr / ONSET_HOP
    if env.size < 2 * frame_rate or not np.any(env):  # under ~2 s, or no onsets at all
        return TempoEstimate(0.0, 1.0, [])
    coarse = felt_level(mono, sr, min_bpm, max_bpm, prior_bpm, prior_octaves)
    if coarse <= 0:
        return TempoEstimate(0.0, 1.0, [])
    # Zero-pad so the spectrum's grid is far finer than GRID_BPM (~0.04 BPM at 2^17).
    n = 1 << max(17, int(np.ceil(np.log2(env.size * 8))))
    mag = np.abs(np.fft.rfft(env * np.hanning(env.size), n=n))  # (n/2+1,) over 0 .. frame_rate/2 Hz
    hz_per_bin = frame_rate / n

    near = np.arange(coarse * (1 - LEVEL_SEARCH), coarse * (1 + LEVEL_SEARCH), GRID_BPM)  # (g,) bpm
    near_s = _harmonic_sum(mag, hz_per_bin, near)
    i = int(np.argmax(near_s))
    bpm = _parabolic(near, near_s, i)
    fine = np.linspace(bpm - 2 * GRID_BPM, bpm + 2 * GRID_BPM, 41)
    fine_s = _harmonic_sum(mag, hz_per_bin, fine)
    j = int(np.argmax(fine_s))
    bpm = _parabolic(fine, fine_s, j) if 0 < j < fine.size - 1 else bpm

    grid = np.arange(min_bpm, max_bpm + GRID_BPM / 2, GRID_BPM)  # (G,) bpm
    salience = _harmonic_sum(mag, hz_per_bin, grid)  # (G,)
    top = float(salience.max()) or 1.0
    peaks = [(round(float(b), 3), round(float(s / top), 3)) for b, s in _top_peaks(grid, salience, 5)]
    median = float(np.median(salience)) or 1e-12
    return TempoEstimate(float(bpm), float(fine_s[j] / median), peaks, round(float(coarse), 2))


def planned_pulses(bpm: float, beats_per_bar: int, beat_unit: int) -> dict[float, str]:
    """The tempi a plan is felt at when it is played as planned → what each is. Its beat;
    and in compound metres (6/8, 9/8, 12/8, where `bpm` counts eighths and the beat is
    three of them) the dotted quarter too: both are the notated pulse."""
    pulses = {bpm: "the planned beat"}
    if beat_unit == 8 and beats_per_bar % 3 == 0:
        pulses[bpm / 3] = f"the dotted quarter of {beats_per_bar}/{beat_unit} (3 planned eighths)"
    return pulses


def relation(heard_bpm: float, intended_bpm: float, tolerance: float) -> tuple[Fraction, str] | None:
    """The metrical relative (RELATIVES) that `heard_bpm` is of `intended_bpm`, within a
    relative `tolerance`: (Fraction(2), "double") for 140 heard of 70; None when it is none."""
    if heard_bpm <= 0 or intended_bpm <= 0:
        return None
    for ratio, words in RELATIVES.items():
        if abs(heard_bpm / (intended_bpm * float(ratio)) - 1.0) <= tolerance:
            return ratio, words
    return None


def _unit_rms(mono: np.ndarray) -> np.ndarray:
    scale = float(np.sqrt(np.mean(np.square(mono, dtype=np.float64)))) or 1.0
    return (mono / scale).astype(np.float32)


def _frames_rfft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """(samples,) → (frames, n_fft // 2 + 1) complex spectra of Hann-windowed frames."""
    n_frames = 1 + (x.size - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop][:n_frames]  # (frames, n_fft) view
    return np.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1)


def _windowed_autocorrelation(env: np.ndarray, window: int, step: int) -> np.ndarray:
    """Mean over Hann windows of `window` frames (every `step` frames, the envelope padded
    by half a window at each end) of each window's autocorrelation, normalised to 1 at
    lag 0: (window,) over lags 0 .. window - 1 frames."""
    padded = np.pad(env.astype(np.float64), window // 2, mode="linear_ramp")
    frames = np.lib.stride_tricks.sliding_window_view(padded, window)[: env.size: step] * np.hanning(window)
    acf = np.fft.irfft(np.square(np.abs(np.fft.rfft(frames, n=2 * window, axis=1))), axis=1)[:, :window]
    acf /= np.maximum(acf[:, :1], 1e-12)
    return acf.mean(axis=0)


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
