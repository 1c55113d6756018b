"""An in-tune reference rendering of a take's MIDI score, for diagnosing the key check.

When the key measured from a take disagrees with its plan, three things can be wrong:
the composition (the score does not establish the key), the renderer (the audio does not
play the score's pitches), or the analyser. Rendering the take's own MIDI with plain
additive tones — exactly the written pitches, no SoundFont — and analysing that separates
them: a key right on the reference but wrong on the take points at the renderer.

Used by the dev-set benchmark and its test; not part of a verdict.
"""

from __future__ import annotations

import io

import numpy as np

PARTIALS = 6  # harmonics per tone, amplitude 1/h
DECAY_S = 1.5  # exponential decay time constant of a held note
RELEASE_S = 0.05  # fade after the note-off


def render_midi(midi: bytes, sr: int = 11025) -> np.ndarray:
    """Standard MIDI File bytes → (samples,) float32 mono at `sr`, drums left out.

    Each note is an additive tone at its exact equal-tempered pitch, velocity-scaled, with
    a 10 ms attack, an exponential decay and a short release after its end."""
    import pretty_midi  # a generator dependency already; imported only for diagnostics

    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi))
    n = int((pm.get_end_time() + RELEASE_S) * sr) + 1
    out = np.zeros(n, dtype=np.float64)
    for inst in pm.instruments:
        if inst.is_drum:
            continue
        for note in inst.notes:
            start = int(note.start * sr)
            length = int((note.end - note.start + RELEASE_S) * sr)
            if length <= 0 or start >= n:
                continue
            length = min(length, n - start)
            t = np.arange(length) / sr
            f0 = 440.0 * 2.0 ** ((note.pitch - 69) / 12.0)
            tone = sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, PARTIALS + 1) if h * f0 < sr / 2)
            env = np.minimum(1.0, t / 0.01) * np.exp(-t / DECAY_S)
            held = note.end - note.start
            env *= np.clip(1.0 - (t - held) / RELEASE_S, 0.0, 1.0)  # release after the note-off
            out[start:start + length] += (note.velocity / 127.0) * tone * env
    peak = float(np.max(np.abs(out))) or 1.0
    return (out / peak * 0.5).astype(np.float32)
