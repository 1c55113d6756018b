"""Synthesised audio and hand-built plans for the features verifier's tests.

Everything is made with numpy at test time: drum-like noise bursts on a click grid,
chord progressions of additive-synthesis tones, and SongPlans written out by hand.
Audio is (channels, samples) float32 at 44.1 kHz, like a take.
"""

from __future__ import annotations

import numpy as np

from songfarm.models import theory
from songfarm.models.loudness import normalise
from songfarm.models.plan import Section, SongPlan
from songfarm.models.take import Take

SR = 44100


def drums(bpm: float, seconds: float, beats_per_bar: int = 4, seed: int = 0, hats: bool = True) -> np.ndarray:
    """A kick + noise burst on every beat, the first beat of each bar twice as loud,
    a short hi-hat burst on each off-beat: (2, samples) float32."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    out = np.zeros(n)
    hit_len, hat_len = int(0.08 * SR), int(0.03 * SR)
    t_hit, t_hat = np.arange(hit_len) / SR, np.arange(hat_len) / SR
    beat_s = 60.0 / bpm
    for k in range(int(seconds / beat_s) + 1):
        accent = 1.0 if k % beats_per_bar == 0 else 0.5
        kick = np.sin(2 * np.pi * 60 * t_hit) * np.exp(-t_hit / 0.04)
        noise = 0.5 * rng.standard_normal(hit_len) * np.exp(-t_hit / 0.015)
        _add(out, int(k * beat_s * SR), accent * (kick + noise))
        if hats:
            hat = 0.2 * rng.standard_normal(hat_len) * np.exp(-t_hat / 0.005)
            _add(out, int((k + 0.5) * beat_s * SR), hat)
    return np.stack([out, out]).astype(np.float32) * 0.3


def tone(freq: float, n: int, partials: int = 6) -> np.ndarray:
    """An additive tone with 1/h^0.8 partials, 10 ms attack and a slow decay: (n,)."""
    t = np.arange(n) / SR
    out = sum(np.sin(2 * np.pi * h * freq * t) / h ** 0.8 for h in range(1, partials + 1) if h * freq < SR / 2)
    return out * np.minimum(1.0, t / 0.01) * np.exp(-t / 1.5)


def chords(symbols: list[str], seconds_per_chord: float = 2.0) -> np.ndarray:
    """Each chord as a close voicing from F3 up plus its root in the bass (C2..B2):
    (2, samples) float32."""
    n = int(seconds_per_chord * SR)
    parts = []
    for symbol in symbols:
        pcs = theory.chord_pitch_classes(symbol)
        seg = sum(0.3 * tone(theory.midi_to_hz(53 + (pc - 5) % 12), n) for pc in pcs)
        seg = seg + 0.4 * tone(theory.midi_to_hz(36 + pcs[0]), n, partials=3)
        parts.append(seg)
    out = np.concatenate(parts)
    return np.stack([out, out]).astype(np.float32) * 0.2


def song(bpm: float, symbols: list[str], beats_per_bar: int = 4, bars_per_chord: int = 1,
         with_drums: bool = True, master: bool = True) -> np.ndarray:
    """Chords one per `bars_per_chord` bars over the drum grid, mastered to -14 LUFS /
    -1 dBTP like a generator's take: (2, samples) float32."""
    bar_s = beats_per_bar * 60.0 / bpm
    audio = chords(symbols, bar_s * bars_per_chord)
    if with_drums:
        audio = audio + drums(bpm, audio.shape[1] / SR + 0.1, beats_per_bar)[:, : audio.shape[1]]
    return normalise(audio, SR) if master else audio


def plan(bpm: float = 120.0, tonic: str = "C", mode: str = "major", beats_per_bar: int = 4,
         energies: tuple[float, ...] = (0.5, 0.5, 0.5, 0.5), bars: int = 4, duration_s: float | None = None,
         scale: str = "") -> SongPlan:
    """A hand-built plan: one section per energy, `bars` bars each, C chords (the
    verifier never reads the chords)."""
    names = ["intro", "verse", "chorus", "bridge", "chorus", "outro"]
    sections = [Section(names[i % len(names)], bars, e, ["C"] * bars) for i, e in enumerate(energies)]
    p = SongPlan(prompt="test", language="en", bpm=bpm, tonic=tonic, mode=mode, beats_per_bar=beats_per_bar,
                 beat_unit=4, genre="pop", style="pop", moods=[], instruments=[], sections=sections,
                 duration_s=0.0, scale=scale)
    p.duration_s = p.planned_s if duration_s is None else duration_s
    p.check()
    return p


def take(audio: np.ndarray, sample_rate: int = SR) -> Take:
    return Take(track_id="t1", attempt=0, candidate=0, seed=0, audio=audio, sample_rate=sample_rate,
                generator="test", model="fixture")


def _add(out: np.ndarray, start: int, x: np.ndarray) -> None:
    if start < out.size:
        out[start: start + x.size] += x[: out.size - start]
