"""Key and mode from audio: chroma correlated with key profiles, plus tonic cues.

A pitch-class profile alone cannot tell relative keys apart when a song loops the same
chords (Am F C G and C G Am F have the same chroma), so the score of each of the 24 keys
adds the cues a listener uses, each a Pearson correlation in [-1, 1]:

- `profile`: the whole track's chroma against the key's profile (Krumhansl-Kessler's
  probe-tone profiles by default; Temperley's Kostka-Payne profiles as an option);
- `bass`: the chroma of the bass register (41-165 Hz) against the same profile: roots,
  and the tonic above all, live in the bass;
- `end`: the chroma of the final chord (frames weighted by exp(-age / 1 s) back from
  the last sounding frame; songs resolve there) against the key's tonic triad;
- `start`: the same for the opening (songs usually open on the tonic), at half weight.

The end cue is deliberately not allowed to outvote the rest: a track that plays D major
for 29 seconds and ends on F# minor sounds in D major, and the verifier says so.

Chroma: a Hann-windowed STFT of the mono signal at 11025 Hz (8192 points, 1.3 Hz bins,
so bass notes a semitone apart are resolved), magnitudes pooled into semitone bands from
41 Hz (E1) to 2.1 kHz (C7) and folded into 12 pitch classes. Before folding, each
semitone band is whitened against its ±1 octave neighbourhood, so steady partials count
and broadband drum noise does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d

from .. import theory

# Pitch-class profiles, tonic first (C major / C minor); other keys are rotations.
PROFILES = {
    # Temperley (2001), from the Kostka-Payne harmony textbook corpus.
    "temperley": (
        np.array([0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400]),
        np.array([0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330]),
    ),
    # Krumhansl & Kessler (1982) probe-tone ratings.
    "krumhansl": (
        np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88]),
        np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17]),
    ),
}
_TRIADS = {"major": (0, 4, 7), "minor": (0, 3, 7)}

STFT_SIZE = 8192  # points at 11025 Hz: 0.74 s window, 1.35 Hz bins
STFT_HOP = 2048  # 0.19 s
LOW_MIDI, HIGH_MIDI = 28, 96  # E1 (41 Hz) .. C7 (2093 Hz): the semitone bands
BASS_HIGH_MIDI = 52  # E3 (165 Hz): the top of the bass register


@dataclass
class KeyEstimate:
    tonic: str  # conventional spelling, "F#", "Eb"; "" when the audio has no pitch content
    mode: str  # "major" / "minor"
    confidence: float  # best score minus the runner-up's (0 = a tie)
    ranking: list[tuple[str, float]]  # the five best keys ("A minor", score)
    chroma: list[float]  # the whole track's 12-bin chroma, C first, max 1


@dataclass
class KeyWeights:
    profile: float = 1.0  # whole-track chroma vs the key profile
    bass: float = 0.5  # bass-register chroma vs the key profile
    end: float = 1.0  # final seconds vs the tonic triad
    start: float = 0.5  # first seconds vs the tonic triad
    edge_s: float = 1.0  # time constant (s) of the weights fading in from the end / the start


def estimate_key(mono: np.ndarray, sr: int, profile: str = "krumhansl",
                 weights: KeyWeights | None = None) -> KeyEstimate:
    """(samples,) mono audio at `sr` (11025 Hz suits) → KeyEstimate."""
    weights = weights or KeyWeights()
    bands, frame_s = semitone_spectrogram(mono, sr)  # (frames, semitones), seconds per frame
    if bands.shape[0] == 0 or not np.any(bands):
        return KeyEstimate("", "", 0.0, [], [0.0] * 12)
    bands = _whiten(bands)
    bass_rows = BASS_HIGH_MIDI - LOW_MIDI + 1
    active = _active_span(bands)  # trim silence so "the end" is the last chord, not the tail
    whole = _fold(bands[active].sum(axis=0))
    bass = _fold(bands[active, :bass_rows].sum(axis=0))
    # Exponential weights fading away from the first / the last sounding frame.
    t = np.arange(active.stop - active.start) * frame_s  # (active frames,) seconds from the start
    start = _fold(np.exp(-t / weights.edge_s) @ bands[active])
    end = _fold(np.exp(-(t[-1] - t) / weights.edge_s) @ bands[active])

    major, minor = PROFILES[profile]
    scores = []
    for mode, prof in (("major", major), ("minor", minor)):
        triad = np.zeros(12)
        triad[list(_TRIADS[mode])] = 1.0
        for pc in range(12):
            p, t = np.roll(prof, pc), np.roll(triad, pc)
            score = (weights.profile * _corr(whole, p) + weights.bass * _corr(bass, p)
                     + weights.end * _corr(end, t) + weights.start * _corr(start, t))
            scores.append((score, pc, mode))
    scores.sort(reverse=True)
    best, pc, mode = scores[0]
    ranking = [(theory.key_name(theory.tonic_name(p, m), m), round(float(s), 3)) for s, p, m in scores[:5]]
    peak = float(whole.max()) or 1.0
    return KeyEstimate(theory.tonic_name(pc, mode), mode, float(best - scores[1][0]), ranking,
                       [round(float(v / peak), 3) for v in whole])


def semitone_spectrogram(mono: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    """(samples,) → ((frames, HIGH_MIDI - LOW_MIDI + 1) magnitude per semitone band, hop s).

    Each FFT bin goes to the semitone nearest its frequency (bins between two semitones
    split linearly), so a note's energy lands in one band however it is tuned."""
    if mono.size < STFT_SIZE:
        mono = np.pad(mono, (0, STFT_SIZE - mono.size))
    x = mono.astype(np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x, STFT_SIZE)[::STFT_HOP]  # (frames, STFT_SIZE) view
    mag = np.abs(np.fft.rfft(frames * np.hanning(STFT_SIZE).astype(np.float32), axis=1))  # (frames, bins)
    return mag @ _band_matrix(sr).T, STFT_HOP / sr


_band_cache: dict[int, np.ndarray] = {}


def _band_matrix(sr: int) -> np.ndarray:
    """(semitones, bins) triangular weights in MIDI pitch, peak 1 at each band's centre."""
    if sr not in _band_cache:
        freqs = np.fft.rfftfreq(STFT_SIZE, 1.0 / sr)
        midi = 69 + 12 * np.log2(np.maximum(freqs, 1e-6) / 440.0)  # (bins,) fractional pitch
        centres = np.arange(LOW_MIDI, HIGH_MIDI + 1)[:, None]  # (semitones, 1)
        _band_cache[sr] = np.maximum(0.0, 1.0 - np.abs(midi[None, :] - centres)).astype(np.float32)
    return _band_cache[sr]


def _whiten(bands: np.ndarray) -> np.ndarray:
    """Keep what stands above the local spectral floor: a band's magnitude minus the
    mean of its ±12 neighbours (per frame), clipped at 0. Drum noise is flat across
    neighbouring semitones and cancels; a held note is a peak and stays."""
    floor = uniform_filter1d(bands, size=25, axis=1, mode="nearest")
    return np.maximum(0.0, bands - floor)


def _active_span(bands: np.ndarray) -> slice:
    """Frames from the first to the last one with at least 1 % of the loudest frame's energy."""
    energy = bands.sum(axis=1)
    on = np.flatnonzero(energy >= 0.01 * energy.max())
    return slice(int(on[0]), int(on[-1]) + 1)


def _fold(semitones: np.ndarray) -> np.ndarray:
    """(semitones,) from LOW_MIDI → (12,) pitch classes, C first."""
    chroma = np.zeros(12)
    np.add.at(chroma, (np.arange(LOW_MIDI, LOW_MIDI + semitones.size)) % 12, semitones)
    return chroma


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else 0.0
