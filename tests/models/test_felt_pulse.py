"""The felt pulse at the planned tempo: slow pieces are played on their beats, fast ones
sound every beat without syncopation (models/generators/patterns.felt_style), and a
tempo tracker hears the planned tempo, not its double or half."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
from synth_fixtures import toy_plan

from songfarm.models.factory import make_generator
from songfarm.models.generators.composer import compose
from songfarm.models.generators.patterns import BEAT_VOICES, FAST_BEAT_S, SLOW_BEAT_S, felt, felt_style
from songfarm.models.generators.score import Metre
from songfarm.models.generators.styles import STYLES, get_style
from songfarm.models.generators.styles.base import DRUM_KEYS
from songfarm.models.request import TrackRequest

TOL_Q = 0.05  # humanised onsets stay within a few milliseconds of the grid (quarters)
FORM = [("verse", 4, 0.6), ("chorus", 4, 0.9), ("outro", 2, 0.5)]
BEAT_DRUMS = {DRUM_KEYS[v] for v in BEAT_VOICES}


def _onsets(part, final_q: float) -> list[float]:
    """Onsets (quarters) of a part before the song's held final bar (which starts at `final_q`)."""
    return [s for s, *_ in part.notes if s < final_q - TOL_Q]


def _off_beat(onsets: list[float], beat_q: float) -> list[float]:
    return [s for s in onsets if abs(s / beat_q - round(s / beat_q)) * beat_q > TOL_Q]


def test_patterns_keep_only_beats_outside_the_middle_tempos():
    metre = Metre(4, 4)
    eighths = {"4/4": "x.x.x.x.x.x.x.x."}
    assert felt(eighths, metre, 60 / 70) == {"4/4": "x...x...x...x..."}
    assert felt(eighths, metre, 60 / 110) == eighths
    assert felt({"4/4": "R.......R.R.5..."}, metre, 60 / 170, fill="R") == {"4/4": "R...R...R...5..."}
    assert felt({}, metre, 60 / 70) == {}
    assert felt_style(STYLES["pop"], metre, 60 / 110) is STYLES["pop"]
    assert felt_style(STYLES["pop"], Metre(6, 8), 60 / 180) is STYLES["pop"]  # felt in dotted quarters already
    assert SLOW_BEAT_S > 60 / 90 > 60 / 130 > FAST_BEAT_S


@pytest.mark.parametrize("style", sorted(STYLES))
def test_slow_plans_play_the_beat_not_its_subdivision(style):
    plan = toy_plan(style, bpm=66, form=FORM)
    comp = compose(plan, 3)
    bar_q, final_q = comp.metre.bar_q, comp.bar_energy[-1][0]
    for part in comp.parts:
        if part.kind in ("drums", "percussion", "bass", "bass2", "harmony", "harmony2"):
            onsets = _onsets(part, final_q)
            if part.is_drum:  # fills before a section change may run in sixteenths
                onsets = [s for s in onsets if int(s // bar_q) not in (3, 7)]
            strums = get_style(style).comping.kind in ("strum", "arp", "updown", "alberti") or part.kind == "harmony2"
            off = _off_beat(onsets, 1.0)
            assert not off or (strums and all(abs(s - round(s)) < 0.2 for s in off)), (part.name, off[:5])


@pytest.mark.parametrize("style", sorted(STYLES))
def test_fast_plans_sound_every_beat_without_syncopation(style):
    plan = toy_plan(style, bpm=172, form=FORM)
    comp = compose(plan, 3)
    bar_q, final_q = comp.metre.bar_q, comp.bar_energy[-1][0]
    bass = _onsets(comp.part("bass"), final_q)
    beats = range(int(final_q))
    assert all(any(abs(s - b) < TOL_Q for s in bass) for b in beats), style  # the bass on every beat
    assert not _off_beat(bass, 1.0)
    drums = comp.part("drums")
    if drums is not None:
        hits = [s for s, _, key, _ in drums.notes if key in BEAT_DRUMS]
        missing = [b for b in beats if int(b // bar_q) not in (3, 7) and not any(abs(s - b) < TOL_Q for s in hits)]
        assert not missing, (style, missing)


def test_middle_tempos_play_the_style_as_written():
    plan = toy_plan("pop", bpm=112, form=FORM)
    hats = [s for s, _, key, _ in compose(plan, 3).part("drums").notes if key == DRUM_KEYS["hat"]]
    assert _off_beat(hats, 1.0)  # pop's eighth-note hats


def _felt_bpm(audio: np.ndarray, sr: int) -> float:
    """librosa's tempo estimate on a fine hop (its default quantises coarser than 2 %)."""
    y = librosa.resample(audio.mean(axis=0), orig_sr=sr, target_sr=22050)
    env = librosa.onset.onset_strength(y=y, sr=22050, hop_length=128)
    return float(librosa.feature.tempo(onset_envelope=env, sr=22050, hop_length=128)[0])


@pytest.mark.parametrize("style,bpm", [("pop", 70), ("rnb", 62), ("hiphop", 80), ("rock", 150), ("edm", 165)])
def test_a_tracker_hears_the_planned_tempo_not_its_double_or_half(style, bpm):
    plan = toy_plan(style, bpm=bpm, form=[("verse", 4, 0.55), ("chorus", 4, 0.85), ("outro", 1, 0.5)])
    [take] = make_generator("synth").generate(plan, TrackRequest(id="t", prompt=style), seeds=[5])
    heard = _felt_bpm(take.audio, take.sample_rate)
    assert abs(heard / bpm - 1) <= 0.02, (style, bpm, heard)  # no octave folding
