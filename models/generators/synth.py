"""The `synth` generator: plan → composed score → SoundFont render → mastered stereo take.

Needs no GPU and no downloaded weights: the composer (composer.py) writes a multi-track
score in the plan's style, and symusic renders it through a General MIDI SoundFont
(pretty_midi's bundled TimGM6mb.sf2 unless another is given; loaded through a retuned
copy, see soundfont.py, because symusic 0.5.8 ignores the zones' root keys and tuning).

    generator = SynthGenerator(SynthConfig())
    [take] = generator.generate(plan, request, seeds=[7])
    take.audio  # (2, round(plan.duration_s * 44100)) float32, -14 LUFS, true peak ≤ -1 dBTP
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pretty_midi
from symusic import Synthesizer

from .. import loudness
from ..factory import BackendError
from ..plan import SongPlan
from ..request import TrackRequest
from ..stages import Generator
from ..take import Take
from .composer import compose
from .render import fade_out, midi_bytes, render_mix
from .soundfont import SoundFontError, in_tune

VERSION = "0.1"
DEFAULT_SOUNDFONT = str(Path(pretty_midi.__file__).parent / "TimGM6mb.sf2")
FADE_S = 1.0  # the end fade, at most this long (the final tonic chord should be heard) ...
FADE_SHARE = 0.05  # ... and at most this share of the track


@dataclass
class SynthConfig:
    soundfont: str = ""  # path to a General MIDI .sf2; "" → pretty_midi's bundled TimGM6mb.sf2
    sample_rate: int = 44100  # Hz of the rendered audio
    stems: bool = False  # keep per-instrument stems on each take (and in the batch's `stems` column)
    target_lufs: float = loudness.TARGET_LUFS  # integrated loudness of the master, LUFS
    true_peak_db: float = loudness.TRUE_PEAK_CEILING_DB  # true-peak ceiling of the master, dBTP

    def __post_init__(self):
        if not isinstance(self.sample_rate, int) or isinstance(self.sample_rate, bool) \
                or not 8000 <= self.sample_rate <= 192000:
            raise ValueError(f"sample_rate={self.sample_rate!r}: must be an integer number of Hz in [8000, 192000]")
        if not isinstance(self.target_lufs, (int, float)) or not -60.0 <= self.target_lufs <= -3.0:
            raise ValueError(f"target_lufs={self.target_lufs!r}: must be a number of LUFS in [-60, -3]")
        if not isinstance(self.true_peak_db, (int, float)) or not -20.0 <= self.true_peak_db <= 0.0:
            raise ValueError(f"true_peak_db={self.true_peak_db!r}: must be a number of dBTP in [-20, 0]")
        if not isinstance(self.soundfont, (str, os.PathLike)):
            raise ValueError(f"soundfont={self.soundfont!r}: must be a file path")


def _open_soundfont(path: str, sample_rate: int) -> Synthesizer:
    """Check the file is a readable SoundFont 2 and load it (through its retuned copy,
    soundfont.py); errors name the path."""
    where = f"backends.generator (synth): soundfont {path}"
    p = Path(path)
    if not p.is_file():
        raise BackendError(f"{where}: no such file")
    try:
        with open(p, "rb") as f:
            head = f.read(12)
    except OSError as exc:
        raise BackendError(f"{where}: cannot read ({exc.strerror})") from None
    if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise BackendError(f"{where}: not a SoundFont 2 (.sf2) file")
    try:
        tuned = in_tune(p)
    except SoundFontError as exc:
        raise BackendError(f"{where}: {exc}") from None
    except OSError as exc:
        raise BackendError(f"{where}: cannot prepare a retuned copy ({exc})") from None
    try:
        return Synthesizer(sf_path=str(tuned), sample_rate=sample_rate, quality=0)
    except RuntimeError as exc:
        raise BackendError(f"{where}: cannot load ({exc})") from None


class SynthGenerator(Generator):
    """Plan → takes through the composer and a General MIDI SoundFont; deterministic per seed."""

    name = "synth"
    version = VERSION

    def __init__(self, config: SynthConfig | None = None):
        self.config = config or SynthConfig()
        self.soundfont = str(self.config.soundfont or DEFAULT_SOUNDFONT)
        self.synthesizer = _open_soundfont(self.soundfont, self.config.sample_rate)
        self.keep_stems = bool(self.config.stems)
        self.model = f"synth-{VERSION} {Path(self.soundfont).name}"

    def generate(self, plan: SongPlan, request: TrackRequest, seeds: list[int], attempt: int = 0) -> list[Take]:
        """One take per seed, candidate i rendered with seeds[i]."""
        return [self.render_take(plan, request.id, seed, attempt, i) for i, seed in enumerate(seeds)]

    def render_take(self, plan: SongPlan, track_id: str, seed: int, attempt: int = 0, candidate: int = 0) -> Take:
        """Compose, render, mix and master one take."""
        t0 = time.perf_counter()
        sr = self.config.sample_rate
        n = int(round(plan.duration_s * sr))

        # 1. Compose: plan + seed → a multi-track score ending at the plan's duration.
        composition = compose(plan, seed, end_s=n / sr)

        # 2. Render each part alone through the SoundFont; balance, pan, sum, shape the
        #    sections' dynamics; fade out the end. (2, n) float32 at the config's rate.
        audio, stems = render_mix(composition, self.synthesizer, sr, n, self.keep_stems)
        fade_s = min(FADE_S, FADE_SHARE * n / sr)
        fade_out(audio, sr, fade_s)

        # 3. Master: -14 LUFS integrated, true peak ≤ -1 dBTP; stems take the same gain.
        audio, gain = loudness.normalise_with_gain(audio, sr, self.config.target_lufs, self.config.true_peak_db)
        if self.keep_stems:
            for stem in stems.values():
                stem *= np.float32(gain)
                fade_out(stem, sr, fade_s)
        return Take(track_id=track_id, attempt=attempt, candidate=candidate, seed=int(seed), audio=audio,
                    sample_rate=sr, generator=self.name, model=self.model,
                    stems=stems if self.keep_stems else {}, midi=midi_bytes(composition),
                    seconds=time.perf_counter() - t0)
