"""The `synth` generator: plan → composed score → SoundFont render → mastered stereo take.

Needs no GPU and no downloaded weights: the composer (composer.py) writes a multi-track
score in the plan's style, and symusic renders it through a General MIDI SoundFont, loaded
through a retuned copy (soundfont.py: symusic 0.5.8 ignores the zones' root keys and tuning).

Which SoundFont (`choose_soundfont`): the `soundfont:` option, else $SONGFARM_SOUNDFONT,
else Debian's fluid-soundfont-gm in its standard place (FluidR3_GM, 141 MiB, a fuller GM
set), else pretty_midi's bundled TimGM6mb.sf2 (6 MiB). The choice changes the audio, so it
is part of the generator's version (`version_for`), which the request fingerprint includes.

    generator = SynthGenerator(SynthConfig())
    [take] = generator.generate(plan, request, seeds=[7])
    take.audio  # (2, round(plan.duration_s * 44100)) float32, -14 LUFS, true peak ≤ -1 dBTP
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
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
from ..take import Take, keep_freed_memory
from .composer import compose
from .render import fade_out, midi_bytes, render_mix
from .soundfont import SoundFontError, in_tune

# 0.2: the felt pulse per tempo band (issue 13): slow beats up to ~92 BPM and slow 6/8
# eighths are played on the beat, fills at slow tempos move in beats, fast takes keep tight
# time, a covering instrument's roots and a sparse 3/4 melody bar land on beats, and
# re-renders (attempt ≥ 1) play the pulse-clear arrangement: the audio changed.
VERSION = "0.2"
DEFAULT_SOUNDFONT = str(Path(pretty_midi.__file__).parent / "TimGM6mb.sf2")  # bundled: the last resort
SOUNDFONT_ENV = "SONGFARM_SOUNDFONT"  # a .sf2 path used when a job's options name none
STANDARD_SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2",)  # apt-get install fluid-soundfont-gm
FADE_S = 1.0  # the end fade, at most this long (the final tonic chord should be heard) ...
FADE_SHARE = 0.05  # ... and at most this share of the track


@dataclass
class SynthConfig:
    soundfont: str = ""  # path to a General MIDI .sf2; "" → $SONGFARM_SOUNDFONT, FluidR3_GM or TimGM6mb
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


def choose_soundfont(option: str | os.PathLike = "", environ: Mapping[str, str] | None = None,
                     standard: Sequence[str] = STANDARD_SOUNDFONTS) -> tuple[str, str]:
    """(path, where it came from) of the SoundFont to play through: the `soundfont` option,
    else $SONGFARM_SOUNDFONT, else the first of `standard` that exists, else the bundled
    TimGM6mb. `environ` (default os.environ) and `standard` are parameters so that tests
    choose without the machine's own fonts. The origin names the source in errors."""
    environ = os.environ if environ is None else environ
    if str(option):
        return str(option), "option soundfont"
    if environ.get(SOUNDFONT_ENV):
        return environ[SOUNDFONT_ENV], f"${SOUNDFONT_ENV}"
    for path in standard:
        if Path(path).is_file():
            return str(path), "its standard place"
    return DEFAULT_SOUNDFONT, "bundled with pretty_midi"


def soundfont_version(path: str) -> str:
    """The generator version for renders through `path`: VERSION with the bundled font, else
    VERSION + the font's name and size in bytes ("0.2+FluidR3_GM.148398306"), so a take's
    version, and the fingerprint, change with the font; just the name when it is not there."""
    if Path(path) == Path(DEFAULT_SOUNDFONT):
        return VERSION
    try:
        return f"{VERSION}+{Path(path).stem}.{os.stat(path).st_size}"
    except OSError:
        return f"{VERSION}+{Path(path).stem}"


def _check_soundfont(path: str, origin: str) -> None:
    """A readable SoundFont 2 file, or a BackendError naming where the path came from."""
    where = f"backends.generator (synth): {origin}: {path}"
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


def _open_soundfont(path: str, origin: str, sample_rate: int) -> Synthesizer:
    """Load a checked SoundFont through its retuned copy (soundfont.py); errors name the path."""
    where = f"backends.generator (synth): {origin}: {path}"
    try:
        tuned = in_tune(path)
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
        self.soundfont, origin = self.check_checkpoint(self.config)
        self.synthesizer = _open_soundfont(self.soundfont, origin, self.config.sample_rate)
        self.keep_stems = bool(self.config.stems)
        self.version = soundfont_version(self.soundfont)  # this instance's, with its font
        self.model = f"synth-{self.version} {Path(self.soundfont).name}"
        keep_freed_memory()  # each take allocates dozens of 10 MB arrays: keep the memory for the next (take.py)

    @staticmethod
    def check_checkpoint(config: SynthConfig) -> tuple[str, str]:
        """The SoundFont this config plays through, checked without loading it (the factory's
        preflight runs this before any rendering): (path, where it came from)."""
        path, origin = choose_soundfont(config.soundfont)
        _check_soundfont(path, origin)
        return path, origin

    @staticmethod
    def version_for(config: SynthConfig) -> str:
        """The version a generator built from `config` would have (the factory's
        backend_version, so the fingerprint follows the SoundFont); never raises."""
        return soundfont_version(choose_soundfont(config.soundfont)[0])

    def generate(self, plan: SongPlan, request: TrackRequest, seeds: list[int], attempt: int = 0) -> list[Take]:
        """One take per seed, candidate i rendered with seeds[i]."""
        return [self.render_take(plan, request.id, seed, attempt, i) for i, seed in enumerate(seeds)]

    def render_take(self, plan: SongPlan, track_id: str, seed: int, attempt: int = 0, candidate: int = 0) -> Take:
        """Compose, render, mix and master one take."""
        t0 = time.perf_counter()
        sr = self.config.sample_rate
        n = int(round(plan.duration_s * sr))

        # 1. Compose: plan + seed → a multi-track score ending at the plan's duration; a
        #    re-render (attempt ≥ 1) plays the pulse-clear arrangement (composer.compose).
        composition = compose(plan, seed, end_s=n / sr, attempt=attempt)

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
