"""The felt pulse at the planned tempo: slow pieces are played on their beats, fast ones
sound every beat without syncopation (models/generators/patterns.felt_style), and a
tempo tracker hears the planned tempo, not its double or half. A re-render (attempt ≥ 1)
plays the pulse-clear arrangement, deterministically."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
from synth_fixtures import toy_plan

from songfarm.models.factory import make_generator
from songfarm.models.generators.composer import compose
from songfarm.models.generators.composer import HUMANISE_DRUMS_S
from songfarm.models.generators.patterns import BEAT_VOICES, FAST_BEAT_S, SLOW_BEAT_S, feel, felt, felt_style, \
    pulse_clear
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
    assert 60 / 90 >= SLOW_BEAT_S > 60 / 110 > 60 / 130 > FAST_BEAT_S  # every plan under 90 BPM is played slow


def test_slow_compound_metres_play_their_eighths_not_sixteenths():
    metre = Metre(6, 8)
    assert feel(metre, 60 / 68) == "slow" and feel(metre, 60 / 180) == ""  # never "fast": the dotted quarter is felt
    assert felt({"6/8": "xxx.x.xxx.x."}, metre, 60 / 68) == {"6/8": "x.x.x.x.x.x."}


@pytest.mark.parametrize("style", sorted(STYLES))
def test_slow_plans_play_the_beat_not_its_subdivision(style):
    plan = toy_plan(style, bpm=66, form=FORM)
    comp = compose(plan, 3)
    final_q = comp.bar_energy[-1][0]
    for part in comp.parts:
        if part.kind in ("drums", "percussion", "bass", "bass2", "harmony", "harmony2"):
            onsets = _onsets(part, final_q)  # fills included: at slow tempos they move in beats
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


@pytest.mark.parametrize("style", ["pop", "classical", "folk", "blues"])
def test_slow_six_eight_plays_on_its_eighths(style):
    plan = toy_plan(style, bpm=68, beats_per_bar=6, beat_unit=8, form=FORM)
    comp = compose(plan, 3)
    final_q = comp.bar_energy[-1][0]
    for part in comp.parts:
        if part.kind in ("drums", "percussion", "bass", "bass2", "harmony", "melody"):
            sixteenths = _off_beat(_onsets(part, final_q), 0.5)  # the beat of 6/8 is the eighth
            if part.kind == "melody":  # a grace note slides into its note from just before
                sixteenths = [s for s in sixteenths if s % 0.5 > 0.13]
            assert not sixteenths, (style, part.name, sixteenths[:5])


def test_fast_takes_keep_tight_time():
    """At fast tempos pitched parts keep the drummer's few milliseconds of spread."""
    plan = toy_plan("pop", bpm=176, form=FORM)
    comp = compose(plan, 3)
    spq = 60 / comp.qpm
    bass = _onsets(comp.part("bass"), comp.bar_energy[-1][0])
    worst_s = max(abs(s * 4 - round(s * 4)) / 4 * spq for s in bass)
    assert worst_s <= 2.5 * HUMANISE_DRUMS_S + 1e-6


# ----------------------------------------------------------------------------- pulse-clear re-renders

def test_re_renders_play_the_pulse_clear_arrangement():
    assert not pulse_clear(0) and pulse_clear(1) and pulse_clear(2)
    metre = Metre(4, 4)
    assert feel(metre, 60 / 110) == "" and feel(metre, 60 / 110, clear=True) == "slow"
    assert feel(metre, 60 / 125, clear=True) == "fast"
    plan = toy_plan("pop", bpm=112, form=FORM)  # a middle tempo: as written at first, beats only when clear
    first, again = compose(plan, 3), compose(plan, 3, attempt=1)
    final_q = first.bar_energy[-1][0]

    def hats(comp):
        return [s for s, _, key, _ in comp.part("drums").notes if key == DRUM_KEYS["hat"] and s < final_q - TOL_Q]
    assert _off_beat(hats(first), 1.0) and not _off_beat(hats(again), 1.0)
    beat_hits = [s for s, _, key, _ in again.part("drums").notes if key in BEAT_DRUMS]
    bar_q = again.metre.bar_q
    missing = [b for b in range(int(final_q)) if int(b // bar_q) not in (3, 7)  # fills end sections 1 and 2
               and not any(abs(s - b) < TOL_Q for s in beat_hits)]
    assert not missing  # a kick or snare on every beat
    assert not _off_beat(_onsets(again.part("melody"), final_q), 1.0)  # slow and clear: the tune on its beats


def test_pulse_clear_fast_side_sounds_every_beat():
    plan = toy_plan("rock", bpm=124, form=FORM)
    comp = compose(plan, 3, attempt=1)
    final_q = comp.bar_energy[-1][0]
    bass = _onsets(comp.part("bass"), final_q)
    assert all(any(abs(s - b) < TOL_Q for s in bass) for b in range(int(final_q)))
    assert not _off_beat(bass, 1.0)


def test_takes_are_deterministic_per_plan_seed_and_attempt():
    plan = toy_plan("pop", bpm=112, form=[("verse", 2, 0.6), ("chorus", 2, 0.9), ("outro", 1, 0.5)])
    generator = make_generator("synth")
    a1, b1 = (generator.render_take(plan, "t", 11, attempt=1) for _ in range(2))
    a0 = generator.render_take(plan, "t", 11, attempt=0)
    assert np.array_equal(a1.audio, b1.audio) and a1.midi == b1.midi
    assert a0.midi != a1.midi  # same seed, another arrangement
    [via_generate] = generator.generate(plan, TrackRequest(id="t", prompt="pop"), seeds=[11], attempt=1)
    assert via_generate.midi == a1.midi and via_generate.attempt == 1


def test_a_covering_instrument_plays_its_roots_on_every_beat_when_felt_so():
    """A solo strings piece: the strings cover the bass; at 176 BPM its roots sound on every
    beat, not once a bar (heard as the bar's double: 2/3 of the tempo in 3/4)."""
    plan = toy_plan("cinematic", bpm=176, beats_per_bar=3, form=FORM, instruments=["strings", "violin"])
    plan.exclusive = True
    comp = compose(plan, 3)
    [bass] = [p for p in comp.parts if p.kind == "bass"]
    assert bass.cover
    onsets = _onsets(bass, comp.bar_energy[-1][0])
    assert all(any(abs(s - b) < TOL_Q for s in onsets) for b in range(int(comp.bar_energy[-1][0])))


def test_a_fast_pulse_clear_take_without_drums_or_comping_gets_a_pad_ostinato():
    plan = toy_plan("cinematic", bpm=176, beats_per_bar=3, form=FORM, instruments=["strings", "violin", "synth pad"])
    plan.exclusive = True
    first, again = compose(plan, 3), compose(plan, 3, attempt=1)
    assert not any(p.kind in ("drums", "harmony") for p in again.parts)
    final_q = again.bar_energy[-1][0]
    [held], [struck] = ([{round(s) for s in _onsets(p, final_q)} for p in c.parts if p.kind == "pad"]
                        for c in (first, again))
    assert len(held) < len(struck) and set(range(int(final_q))) <= struck


def test_a_sparse_melody_bar_adds_a_beat_not_the_half_bar():
    """3/4's half bar (1.5 quarters) is no beat: a two-note bar takes beat two."""
    from songfarm.models.generators.melody import make_rhythm
    from songfarm.models.generators.styles.base import Melody

    sparse = Melody(density=0.0, offbeats=0.0, syncopation=0.0, sixteenths=0.0)
    for seed in range(20):
        onsets = [pos for pos, _ in make_rhythm(Metre(3, 4), sparse, np.random.default_rng(seed))]
        assert all(pos == round(pos) for pos in onsets), onsets
