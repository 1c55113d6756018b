"""The `features` verifier: take + plan → Verdict, measured from the audio alone.

Checks (each a `Check` with measured, expected, tolerance, unit, pass/fail):

    tempo      the felt tempo (tempo.py) vs plan.bpm, 2 % relative, never folded
    key        tonic and mode (key.py), enharmonic spellings equal
    duration   audio length vs plan.duration_s, within a bar plus `duration_tolerance_s`
    loudness   integrated LUFS vs the target (models/loudness.py), ±1 LU
    true_peak  dBTP at or below the ceiling
    silence    leading / trailing silence bounded, no long gap or dropout inside (levels.py)
    clipping   no runs of full-scale samples (levels.py)
    energy     section levels correlate with the plan's section energies (energy.py)

Score: the weighted mean of each check's credit — 1 when it passed, partial credit for
a near miss (a numeric check earns 1 - excess / (near_miss * tolerance), a key that is
the relative, parallel or a fifth away earns `key_near_credit`), 0 otherwise. A take is
accepted when the score reaches `min_score` and every check in `required` passed. By
default key and energy are scored but not required: a take that misses only one of them
keeps 0.8-0.9 and is accepted, one that misses both drops below 0.75 and is re-rendered
(with the synth generator a key miss mostly means the plan's chords do not state its key,
which a new seed does not fix; see bench/bench_devset.py).

Tempo is what a listener hears: `measured` is the felt tempo (the dominant beat level,
chosen without looking at the plan), and a take felt at a metrical relative of the plan
(×2, ×1/2, ×3/2, ×2/3, ×3, ×1/3) fails: it sounds twice (or half ...) as fast as asked, and
a re-render or another arrangement has to fix it. The check's `summary` says so in words
("heard 140 BPM, double the planned 70"). The one exception is the notation of compound
metres (6/8, 9/8, 12/8): plan.bpm counts eighths and the beat is three of them, so both the
eighth (plan.bpm) and the dotted quarter (plan.bpm / 3) are the planned pulse.

Pentatonic plans (plan.scale containing "pentatonic"): five notes with no semitone do
not say which of them is home, so the relative key (C major ↔ A minor, the gong and yu
modes of one collection) passes too, with a note in `detail`.

Analysis runs on a mono mix at 11025 Hz (tempo, key, energy) and on the original
samples (loudness, true peak, silence, clipping).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from .. import loudness, theory
from ..errors import SongfarmError
from ..plan import SongPlan
from ..request import TrackRequest
from ..settings import MIN_SCORE
from ..stages import Verifier
from ..take import Take, keep_freed_memory
from ..verdict import Check, Verdict
from . import energy, key, levels, tempo

CHECKS = ("tempo", "key", "duration", "loudness", "true_peak", "silence", "clipping", "energy")


class FeaturesConfigError(SongfarmError, ValueError):
    """A bad option of the features verifier."""


@dataclass
class FeaturesConfig:
    # acceptance
    min_score: float = MIN_SCORE  # accepted needs score ≥ this (and every required check passed)
    required: list[str] = field(default_factory=lambda: [
        "tempo", "duration", "loudness", "true_peak", "silence", "clipping"])  # checks that must pass
    weights: dict[str, float] = field(default_factory=lambda: {
        "tempo": 2.0, "key": 2.0, "duration": 1.0, "loudness": 1.0, "true_peak": 1.0,
        "silence": 1.0, "clipping": 1.0, "energy": 1.0})  # share of each check in the score
    near_miss: float = 1.0  # a failed numeric check earns 1 - excess/(near_miss × tolerance), ≥ 0
    # tempo
    tempo_tolerance: float = 0.02  # allowed |measured - plan| / plan
    tempo_prior_bpm: float = tempo.PRIOR_BPM  # centre of the log-normal prior that picks the felt level
    tempo_prior_octaves: float = tempo.PRIOR_OCTAVES  # its width in octaves (standard deviation)
    # key
    key_profile: str = "krumhansl"  # pitch-class profile: "krumhansl" or "temperley"
    key_near_credit: float = 0.5  # credit for the relative, parallel or a fifth-related key
    key_pentatonic_relative: bool = True  # pentatonic plans also pass with the relative key
    # duration
    duration_tolerance_s: float = 2.0  # allowed |length - plan.duration_s| beyond one bar (plans round to bars)
    # loudness
    target_lufs: float = loudness.TARGET_LUFS  # integrated loudness the generators aim for
    loudness_tolerance_lu: float = 1.0  # allowed |measured - target| in LU
    true_peak_max_db: float = loudness.TRUE_PEAK_CEILING_DB  # ceiling in dBTP
    true_peak_near_miss_db: float = 1.0  # credit reaches 0 this far above the ceiling
    # silence
    silence_db: float = -60.0  # a 10 ms frame quieter than this (dBFS RMS) is silent
    max_leading_silence_s: float = 1.0  # allowed silence before the music starts
    max_trailing_silence_s: float = 3.0  # allowed silence after the last sound
    max_gap_s: float = 1.0  # allowed silent stretch inside the track
    dropout_min_s: float = 0.005  # digital zero this long that cuts into and out of the waveform is a dropout
    # clipping
    clip_level: float = 0.999  # |x| at or above this is full scale
    clip_min_run: int = 3  # consecutive full-scale samples that make a clipped run
    max_clipped_runs: int = 0  # allowed clipped runs
    # energy
    energy_min_correlation: float = 0.5  # Pearson r(section dB, plan energy) needed
    energy_min_spread: float = 0.15  # plans whose energies span less than this are flat: the check passes
    # analysis
    analysis_sr: int = 11025  # Hz of the mono mix for tempo, key and energy

    def __post_init__(self) -> None:
        def bad(name: str, reason: str) -> FeaturesConfigError:
            return FeaturesConfigError(f"features.{name}={getattr(self, name)!r}: {reason}")

        if not 0.0 <= self.min_score <= 1.0:
            raise bad("min_score", "must be in [0, 1]")
        self.required = list(self.required)
        for name in self.required:
            if name not in CHECKS:
                raise bad("required", f"unknown check {name!r} (known: {', '.join(CHECKS)})")
        self.weights = {**FeaturesConfig.__dataclass_fields__["weights"].default_factory(), **dict(self.weights)}
        for name, w in self.weights.items():
            if name not in CHECKS:
                raise bad("weights", f"unknown check {name!r} (known: {', '.join(CHECKS)})")
            if not float(w) >= 0:
                raise bad("weights", f"weight of {name!r} must be ≥ 0")
        if sum(self.weights.values()) <= 0:
            raise bad("weights", "at least one weight must be positive")
        if not 0 < self.tempo_tolerance < 0.5:
            raise bad("tempo_tolerance", "must be a fraction in (0, 0.5)")
        if self.key_profile not in key.PROFILES:
            raise bad("key_profile", f"must be one of {', '.join(key.PROFILES)}")
        for name in ("near_miss", "tempo_prior_bpm", "tempo_prior_octaves", "loudness_tolerance_lu",
                     "true_peak_near_miss_db", "clip_level", "clip_min_run", "dropout_min_s"):
            if not getattr(self, name) > 0:
                raise bad(name, "must be positive")
        for name in ("duration_tolerance_s", "max_leading_silence_s", "max_trailing_silence_s", "max_gap_s",
                     "max_clipped_runs", "key_near_credit", "energy_min_spread"):
            if not getattr(self, name) >= 0:
                raise bad(name, "must be ≥ 0")
        if not -1.0 <= self.energy_min_correlation <= 1.0:
            raise bad("energy_min_correlation", "must be in [-1, 1]")
        if not 4000 <= self.analysis_sr <= 48000:
            raise bad("analysis_sr", "must be in [4000, 48000] Hz")


class FeaturesVerifier(Verifier):
    """Measures tempo, key, length, loudness, peaks, silence, clipping and section energy
    of a take and compares them with its plan. No model; runs anywhere."""

    name = "features"
    version = "2"  # 2: the tempo check measures the felt tempo and fails metrical relatives of the plan

    def __init__(self, config: FeaturesConfig | None = None):
        self.config = config or FeaturesConfig()
        keep_freed_memory()  # each take's analysis allocates arrays of megabytes: keep them (take.py)

    def verify(self, take: Take, plan: SongPlan, request: TrackRequest | None = None) -> Verdict:
        """One take → Verdict with the eight checks, a score in [0, 1] and `accepted`."""
        t0 = time.perf_counter()
        cfg = self.config
        # Channel by channel in memory (a generator's master may come laid out frame by
        # frame): the frame-wise checks below run several times faster on rows.
        audio = np.ascontiguousarray(take.audio, dtype=np.float32)
        audio = audio[None, :] if audio.ndim == 1 else audio  # (channels, samples)
        sr = int(take.sample_rate)
        if sr <= 0 or audio.ndim != 2 or audio.shape[-1] == 0:
            raise ValueError(f"take {take.track_id}: no audio to verify (shape {audio.shape} at {sr} Hz)")
        mono = self._mono(audio, sr)  # (samples,) at cfg.analysis_sr

        # Each check comes with its credit: 1 when passed, partial for a near miss.
        graded = [
            self._tempo(mono, plan),
            self._key(mono, plan),
            self._duration(audio.shape[-1] / sr, plan),
            *self._loudness(audio, sr),
            self._silence(audio, sr),
            self._clipping(audio),
            self._energy(mono, plan),
        ]
        checks = [c for c, _ in graded]
        for c in checks:  # plain Python types, so the verdict serialises to JSON
            c.weight = float(cfg.weights.get(c.name, 0.0))
            c.passed = bool(c.passed)
            if isinstance(c.measured, np.generic):
                c.measured = c.measured.item()
        total = sum(c.weight for c in checks)
        score = float(np.clip(sum(c.weight * (1.0 if c.passed else credit) for c, credit in graded) / total, 0, 1))
        accepted = score >= cfg.min_score and all(c.passed for c in checks if c.name in cfg.required)
        return Verdict(score=round(score, 4), accepted=bool(accepted), checks=checks,
                       verifier=f"{self.name}-{self.version}", seconds=time.perf_counter() - t0)

    def _mono(self, audio: np.ndarray, sr: int) -> np.ndarray:
        mono = audio.mean(axis=0)
        ratio = Fraction(self.config.analysis_sr, sr).limit_denominator(2000)
        if ratio == 1:
            return mono
        return resample_poly(mono, ratio.numerator, ratio.denominator).astype(np.float32)

    # Each check below returns (Check, credit if it failed).

    def _tempo(self, mono: np.ndarray, plan: SongPlan) -> tuple[Check, float]:
        cfg = self.config
        est = tempo.estimate_tempo(mono, cfg.analysis_sr, prior_bpm=cfg.tempo_prior_bpm,
                                   prior_octaves=cfg.tempo_prior_octaves)
        if est.bpm <= 0:
            return Check("tempo", None, plan.bpm, cfg.tempo_tolerance, False, "bpm", detail="no periodic onsets found",
                         summary=f"heard no steady beat, planned {plan.bpm:g} BPM"), 0.0
        heard = est.bpm
        pulses = tempo.planned_pulses(plan.bpm, plan.beats_per_bar, plan.beat_unit)
        target = min(pulses, key=lambda b: abs(np.log(heard / b)))
        error = abs(heard - target) / target
        passed = error <= cfg.tempo_tolerance
        detail = (f"felt {heard:.2f} BPM (coarse {est.felt_coarse_bpm:g}, confidence {est.confidence:.0f}), "
                  f"{100 * error:.2f} % from {pulses[target]}; periodicities {est.peaks[:4]}")
        heard_text = f"heard {round(heard, 1):g} BPM"
        if passed:
            summary = f"{heard_text} as planned"
        elif (rel := tempo.relation(heard, plan.bpm, cfg.tempo_tolerance)) is not None:
            summary = f"{heard_text}, {rel[1]} the planned {plan.bpm:g}"
        else:
            summary = f"{heard_text}, planned {plan.bpm:g} ({100 * (heard / plan.bpm - 1):+.0f} %)"
        check = Check("tempo", round(heard, 2), plan.bpm, cfg.tempo_tolerance, passed, "bpm", detail=detail,
                      summary=summary)
        return check, _fade(error - cfg.tempo_tolerance, cfg.near_miss * cfg.tempo_tolerance)

    def _key(self, mono: np.ndarray, plan: SongPlan) -> tuple[Check, float]:
        cfg = self.config
        est = key.estimate_key(mono, cfg.analysis_sr, profile=cfg.key_profile)
        if not est.tonic:
            return Check("key", None, plan.key, None, False, detail="no pitched content"), 0.0
        measured = theory.key_name(est.tonic, est.mode)
        passed = theory.same_key(est.tonic, est.mode, plan.tonic, plan.mode)
        detail = f"best keys {est.ranking[:3]}"
        rel_pc, rel_mode = theory.relative_key(theory.pitch_class(plan.tonic), plan.mode)
        is_relative = theory.pitch_class(est.tonic) == rel_pc and est.mode == rel_mode
        if not passed and is_relative and cfg.key_pentatonic_relative and "pentatonic" in plan.scale:
            passed = True
            detail = f"relative key accepted: a {plan.scale} scale is mode-ambiguous; " + detail
        credit = cfg.key_near_credit if _near_key(est.tonic, est.mode, plan) else 0.0
        return Check("key", measured, plan.key, None, passed, detail=detail), credit

    def _duration(self, seconds: float, plan: SongPlan) -> tuple[Check, float]:
        tolerance = self.config.duration_tolerance_s + plan.bar_s
        error = abs(seconds - plan.duration_s)
        check = Check("duration", round(seconds, 3), plan.duration_s, round(tolerance, 3), error <= tolerance, "s",
                      detail="" if error <= tolerance else f"off by {error:.2f} s")
        return check, _fade(error - tolerance, self.config.near_miss * tolerance)

    def _loudness(self, audio: np.ndarray, sr: int) -> list[tuple[Check, float]]:
        cfg = self.config
        lufs = loudness.integrated_lufs(audio, sr)
        peak = loudness.true_peak_db(audio)
        if np.isfinite(lufs):
            error = abs(lufs - cfg.target_lufs)
            lufs_check = Check("loudness", round(lufs, 2), cfg.target_lufs, cfg.loudness_tolerance_lu,
                               error <= cfg.loudness_tolerance_lu, "LUFS")
            lufs_credit = _fade(error - cfg.loudness_tolerance_lu, cfg.near_miss * cfg.loudness_tolerance_lu)
        else:
            lufs_check = Check("loudness", None, cfg.target_lufs, cfg.loudness_tolerance_lu, False, "LUFS",
                               detail="silent: no block above the -70 LUFS gate")
            lufs_credit = 0.0
        peak_check = Check("true_peak", round(peak, 2) if np.isfinite(peak) else None, cfg.true_peak_max_db, 0.0,
                           bool(peak <= cfg.true_peak_max_db), "dBTP",
                           detail="a ceiling: measured must not exceed expected")
        return [(lufs_check, lufs_credit), (peak_check, _fade(peak - cfg.true_peak_max_db, cfg.true_peak_near_miss_db))]

    def _silence(self, audio: np.ndarray, sr: int) -> tuple[Check, float]:
        cfg = self.config
        rep = levels.silence_report(audio, sr, cfg.silence_db, cfg.dropout_min_s)
        limits = [("leading silence", rep.leading_s, cfg.max_leading_silence_s),
                  ("trailing silence", rep.trailing_s, cfg.max_trailing_silence_s),
                  (f"gap at {rep.gap_at_s:.2f} s", rep.longest_gap_s, cfg.max_gap_s)]
        problems = [f"{what} {value:.2f} s > {limit:g} s" for what, value, limit in limits if value > limit]
        if rep.dropouts:
            problems.append(f"{rep.dropouts} dropout(s), first at {rep.dropout_at_s:.2f} s")
        if rep.all_silent:
            problems = ["the take is silent"]
        detail = "; ".join(problems) or f"leading {rep.leading_s:.2f} s, trailing {rep.trailing_s:.2f} s"
        check = Check("silence", rep.longest_gap_s, 0.0, cfg.max_gap_s, not problems, "s", detail=detail)
        if rep.all_silent or rep.dropouts:
            return check, 0.0
        return check, min(_fade(value - limit, cfg.near_miss * max(limit, 0.1)) for _, value, limit in limits)

    def _clipping(self, audio: np.ndarray) -> tuple[Check, float]:
        cfg = self.config
        runs, samples = levels.clipped_runs(audio, cfg.clip_level, cfg.clip_min_run)
        detail = f"{samples} samples in runs of >= {cfg.clip_min_run} at |x| >= {cfg.clip_level}" if runs else ""
        check = Check("clipping", runs, 0, cfg.max_clipped_runs, runs <= cfg.max_clipped_runs, "runs", detail=detail)
        return check, 0.0  # no partial credit: a flat top at full scale is audible

    def _energy(self, mono: np.ndarray, plan: SongPlan) -> tuple[Check, float]:
        cfg = self.config
        tolerance = round(1.0 - cfg.energy_min_correlation, 3)  # r must be within this of 1
        spans = plan.section_spans()
        energies = [s.energy for s, _, _ in spans]
        if len(spans) < 3 or max(energies) - min(energies) < cfg.energy_min_spread:
            return Check("energy", None, 1.0, tolerance, True, "r",
                         detail="not applicable: the plan's energy is flat or has under 3 sections"), 1.0
        levels_db = energy.section_levels_db(mono, cfg.analysis_sr, [(a, b) for _, a, b in spans])
        r = energy.contour_correlation(levels_db, energies)
        shown = [None if lv is None else round(lv, 1) for lv in levels_db]
        if r is None:
            return Check("energy", None, 1.0, tolerance, False, "r",
                         detail=f"under 3 sections inside the audio, or flat levels: {shown} dB"), 0.0
        check = Check("energy", round(r, 3), 1.0, tolerance, r >= cfg.energy_min_correlation, "r",
                      detail=f"section levels {shown} dB vs energies {energies}")
        return check, _fade(cfg.energy_min_correlation - r, cfg.near_miss)


def _fade(excess: float, width: float) -> float:
    """1 at no excess, falling linearly to 0 at `width` beyond the tolerance."""
    if excess <= 0:
        return 1.0
    return float(max(0.0, 1.0 - excess / width)) if width > 0 else 0.0


def _near_key(tonic: str, mode: str, plan: SongPlan) -> bool:
    """The measured key is the plan's relative, parallel, dominant or subdominant key."""
    pc, plan_pc = theory.pitch_class(tonic), theory.pitch_class(plan.tonic)
    relative = theory.relative_key(plan_pc, plan.mode)
    return ((pc, mode) == relative or (pc == plan_pc and mode != plan.mode)
            or (mode == plan.mode and (pc - plan_pc) % 12 in (5, 7)))
