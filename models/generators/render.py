"""Score → audio through a General MIDI SoundFont, and score → Standard MIDI File.

Rendering goes through symusic 0.5.8's `Synthesizer` (0.6.0's `render` raises on return;
DESIGN.md §7). Each part is rendered alone, so every instrument is a stem; stems are
balanced by their level in the arrangement (measured on the audio, since SoundFont
presets differ widely in loudness), panned, summed, and shaped by the bars' energy.

What that synthesizer does not do, and how this module and the composer make up for it:
it plays every velocity at the same level (so section dynamics are a gain curve here,
`dynamics`, and ghost notes use softer drums), it stops a voice dead at its note-off with
no release (so parts let notes ring, drums included), and it ignores a SoundFont zone's
root key and fine tuning (so fonts are loaded through a retuned copy, soundfont.py).
"""

from __future__ import annotations

import numpy as np
from symusic import KeySignature, Note, Score, Tempo, TimeSignature, Track

from .score import Composition, Part

TICKS_PER_QUARTER = 480
_LEVEL_WINDOW_S = 0.1  # window for measuring how loud a stem is while it plays
_ACTIVE_BELOW_MAX_DB = 40.0  # windows this far under a stem's loudest count as silence
DYNAMICS_DB = 10.0  # level difference between a bar at energy 0 and one at energy 1
_DYNAMICS_RAMP_S = 0.03  # gain changes glide over this much time before a bar line

# Major keys by tonic pitch class → key-signature accidentals (+ sharps, - flats).
_SHARP_KEYS = {0: 0, 7: 1, 2: 2, 9: 3, 4: 4, 11: 5, 6: 6, 1: 7}
_FLAT_KEYS = {5: -1, 10: -2, 3: -3, 8: -4, 1: -5, 6: -6, 11: -7}


def _notes(part: Part, scale: float, ttype: str):
    """The part's notes as a symusic note list, times multiplied by `scale` (quarters → unit)."""
    if not part.notes:
        return Note.from_numpy(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int8),
                               np.zeros(0, np.int8), ttype)
    arr = np.array(part.notes, dtype=np.float64)  # (n, 4): start_q, duration_q, pitch, velocity
    pitch = arr[:, 2].astype(np.int8)
    vel = np.clip(arr[:, 3], 1, 127).astype(np.int8)
    if ttype == "tick":
        start = np.round(arr[:, 0] * scale).astype(np.int32)
        dur = np.maximum(1, np.round(arr[:, 1] * scale)).astype(np.int32)
    else:
        start = (arr[:, 0] * scale).astype(np.float32)
        dur = np.maximum(1e-3, arr[:, 1] * scale).astype(np.float32)
    return Note.from_numpy(start, dur, pitch, vel, ttype)


def part_score(part: Part, composition: Composition):
    """One part alone as a score in seconds: what the synthesizer renders for its stem."""
    score = Score(TICKS_PER_QUARTER, ttype="second")
    track = Track(part.name, part.program, part.is_drum, ttype="second")
    track.notes = _notes(part, composition.seconds_per_quarter, "second")
    score.tracks.append(track)
    return score


def render_part(part: Part, composition: Composition, synthesizer, n_samples: int,
                out: np.ndarray | None = None) -> np.ndarray:
    """One part rendered alone: (2, n_samples) float32, dry (no level or pan), in `out`
    when given (a buffer reused from part to part: no fresh 10 MB for each of a 30 s
    take's parts).

    The synthesizer's output stops at the part's last note-off; it is padded or cut to
    exactly `n_samples` here."""
    audio = synthesizer.render(part_score(part, composition), stereo=True)  # (2, m) float32
    stem = np.zeros((2, n_samples), dtype=np.float32) if out is None else out
    m = min(n_samples, audio.shape[-1])
    stem[:, :m] = audio[:, :m]
    stem[:, m:] = 0.0
    return stem


def active_rms(audio: np.ndarray, sample_rate: int) -> float:
    """RMS of (channels, samples) over the windows where it plays (silent stretches do not
    count: a part that only plays in choruses is as loud as it sounds there)."""
    win = max(1, int(_LEVEL_WINDOW_S * sample_rate))
    n = audio.shape[-1] // win * win
    if n == 0:
        return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    power = np.square(audio[:, :n], dtype=np.float32).reshape(audio.shape[0], -1, win).mean(axis=(0, 2))
    loudest = float(power.max())
    if loudest <= 0:
        return 0.0
    active = power[power >= loudest * 10 ** (-_ACTIVE_BELOW_MAX_DB / 10)]
    return float(np.sqrt(active.mean()))


def pan_gains(pan: float) -> np.ndarray:
    """Constant-power pan law, (2,) gains for (left, right); centre is (1, 1)."""
    theta = (min(1.0, max(-1.0, pan)) + 1.0) * np.pi / 4.0
    return np.array([np.cos(theta), np.sin(theta)]) * np.sqrt(2.0)


def dynamics(composition: Composition, sample_rate: int, n_samples: int) -> np.ndarray:
    """(n_samples,) float32 gain following the bars' energy: DYNAMICS_DB × (energy - 1) dB,
    so a bar at energy 0.3 sits 7 dB under a full one.

    The synthesizer ignores note velocities, so this is how quiet intros, breakdowns and
    loud choruses are heard (and measured). The gain moves in a short ramp ending at each
    bar line, so every downbeat starts at its bar's level."""
    spq = composition.seconds_per_quarter
    starts = [int(round(q * spq * sample_rate)) for q, _ in composition.bar_energy] + [n_samples]
    gains = [10.0 ** (DYNAMICS_DB * (e - 1.0) / 20.0) for _, e in composition.bar_energy]
    env = np.ones(n_samples, dtype=np.float32)
    if not gains:
        return env
    ramp = max(1, int(_DYNAMICS_RAMP_S * sample_rate))
    for k, g in enumerate(gains):
        env[max(0, starts[k]): min(n_samples, starts[k + 1])] = g
    env[: max(0, starts[0])] = gains[0]
    for k in range(1, len(gains)):
        b = min(starts[k], n_samples)
        a = max(0, b - ramp)
        if b > a and gains[k] != gains[k - 1]:
            env[a:b] = np.linspace(gains[k - 1], gains[k], b - a, endpoint=False, dtype=np.float32)
    return env


def render_mix(composition: Composition, synthesizer, sample_rate: int, n_samples: int, keep_stems: bool = False
               ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Render every part alone, balance, pan and sum them, and shape the sections' dynamics.

    Each stem is scaled so its active RMS sits at its part's level (dB relative to the
    drums), panned, and follows the bars' energy (`dynamics`). Returns (mix (2, n) float32,
    {stem: (2, n) float32 as it sits in the mix} when `keep_stems`, else {}); the mix is
    the sum of the returned stems. Parts are rendered and added one at a time, so without
    stems only the mix and one part are ever in memory."""
    out = np.zeros((2, n_samples), dtype=np.float32)
    env = dynamics(composition, sample_rate, n_samples)[None, :]  # (1, n)
    placed = {}
    scratch = None if keep_stems else np.empty((2, n_samples), dtype=np.float32)  # each stem in turn
    for part in composition.parts:
        stem = render_part(part, composition, synthesizer, n_samples, scratch)
        rms = active_rms(stem, sample_rate)
        if rms <= 0:
            continue
        gain = 0.1 * 10.0 ** (part.level_db / 20.0) / rms  # 0.1: -20 dBFS RMS for a 0 dB part
        stem *= (pan_gains(part.pan) * gain).astype(np.float32)[:, None]  # (2, 1) level and pan
        if keep_stems:
            stem *= env
            placed[part.name] = stem
        out += stem
    if not keep_stems:
        out *= env
    return out, placed


def fade_out(audio: np.ndarray, sample_rate: int, seconds: float) -> None:
    """In place: a raised-cosine fade over the last `seconds` of (channels, samples)."""
    k = min(audio.shape[-1], int(seconds * sample_rate))
    if k > 1:
        audio[..., -k:] *= (0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, k))).astype(audio.dtype)


def key_signature_accidentals(tonic_name: str, tonic_pc: int, mode: str) -> int:
    """Sharps (+) or flats (-) of the key signature: ('Eb', 3, 'major') → -3, ('F#', 6, 'minor') → 3."""
    major_pc = tonic_pc if mode == "major" else (tonic_pc + 3) % 12
    sharp, flat = _SHARP_KEYS.get(major_pc), _FLAT_KEYS.get(major_pc)
    if sharp is None:
        return flat
    if flat is None:
        return sharp
    if "#" in tonic_name or "♯" in tonic_name:
        return sharp
    if "b" in tonic_name[1:] or "♭" in tonic_name:
        return flat
    return sharp if abs(sharp) <= abs(flat) else flat


def midi_bytes(composition: Composition) -> bytes:
    """The score as a Standard MIDI File: tempo, time signature, key signature, one track per part."""
    score = Score(TICKS_PER_QUARTER, ttype="tick")
    score.tempos.append(Tempo(0, qpm=composition.qpm, ttype="tick"))
    score.time_signatures.append(TimeSignature(0, composition.metre.beats_per_bar, composition.metre.beat_unit,
                                               ttype="tick"))
    accidentals = key_signature_accidentals(composition.tonic_name, composition.tonic_pc, composition.mode)
    score.key_signatures.append(KeySignature(0, accidentals, 0 if composition.mode == "major" else 1, ttype="tick"))
    for part in composition.parts:
        track = Track(part.name, part.program, part.is_drum, ttype="tick")
        track.notes = _notes(part, TICKS_PER_QUARTER, "tick")
        score.tracks.append(track)
    return score.dumps_midi()
