"""The composer: plan + seed → multi-track score (no audio here; see test_synth.py)."""

from __future__ import annotations

import numpy as np
import pytest
from synth_fixtures import toy_plan

from songfarm.models import theory
from songfarm.models.errors import SongfarmError
from songfarm.models.generators.composer import compose
from songfarm.models.generators.patterns import fit_pattern
from songfarm.models.generators.score import Chord, Metre
from songfarm.models.generators.styles import STYLES, get_style
from songfarm.models.generators.styles.base import DRUM_KEYS
from songfarm.models.instruments import VOICE_INSTRUMENTS, ruled_out
from songfarm.models.plan import Section
from songfarm.models.styles import STYLE_NAMES


TOL_Q = 0.05  # notes are humanised by a few milliseconds; grid checks allow this much (quarters)


def _notes_in(part, start_q: float, end_q: float) -> list[tuple[float, float, int]]:
    """(onset relative to start_q, duration, pitch) of a part's notes inside a span."""
    return [(round(s - start_q, 6), round(d, 6), p) for s, d, p, _ in part.notes
            if start_q - TOL_Q <= s < end_q - TOL_Q]


def _chord_at(plan, bar: int) -> str:
    for section in plan.sections:
        if bar < section.bars:
            return section.chords[bar]
        bar -= section.bars
    raise IndexError(bar)


def test_every_style_name_has_a_style_and_they_differ():
    assert set(STYLES) == set(STYLE_NAMES)
    # Genuinely distinct: no two styles share their groove, comping and bass line all at once.
    signatures = {(str(s.drums.groove if s.drums else None), str(s.comping), str(s.bass)) for s in STYLES.values()}
    assert len(signatures) == len(STYLES)
    with pytest.raises(SongfarmError, match="plan.style='bossa'"):
        get_style("bossa")


@pytest.mark.parametrize("style", STYLE_NAMES)
def test_every_style_composes_a_full_arrangement(style):
    plan = toy_plan(style)
    comp = compose(plan, seed=1)
    kinds = {p.kind for p in comp.parts}
    assert {"bass", "harmony", "melody"} <= kinds
    if get_style(style).drums:
        assert "drums" in kinds
    for part in comp.parts:
        assert part.notes, part.name
        for start, dur, pitch, vel in part.notes:
            assert 0 <= start < comp.end_q and dur > 0 and start + dur <= comp.end_q + 1e-6
            assert 0 <= pitch <= 127 and 1 <= vel <= 127
    assert abs(comp.end_q - plan.duration_s * plan.bpm / 60.0) < 1e-6


def test_same_seed_same_score_different_seed_different_music():
    plan = toy_plan("pop")
    a, b, c = compose(plan, 5), compose(plan, 5), compose(plan, 6)
    assert [p.notes for p in a.parts] == [p.notes for p in b.parts]
    melody = lambda comp: [(s, p) for s, _, p, _ in comp.part("melody").notes]  # noqa: E731
    assert melody(a) != melody(c)


def test_bass_plays_the_planned_chord_roots_on_downbeats():
    plan = toy_plan("rock", form=[("verse", 4, 0.6), ("chorus", 4, 0.9)])
    plan.sections[0].chords = ["C", "Am", "F/A", "G"]
    comp = compose(plan, 3)
    bass = comp.part("bass")
    bar_q = comp.metre.bar_q
    for bar in range(plan.total_bars - 1):  # the last bar is the held tonic
        root = Chord.parse(_chord_at(plan, bar)).bass
        downbeat = [p for s, _, p, _ in bass.notes if abs(s - bar * bar_q) < TOL_Q]
        assert downbeat and downbeat[0] % 12 == root, (bar, _chord_at(plan, bar))


def test_harmony_plays_exactly_the_planned_chords():
    plan = toy_plan("jazz", form=[("verse", 4, 0.6), ("outro", 2, 0.5)])
    plan.sections[0].chords = ["Dm7", "G7", "Cmaj7", "A7"]
    comp = compose(plan, 2)
    harmony = comp.part("harmony")
    for bar in range(4):
        pcs = {p % 12 for s, _, p, _ in harmony.notes if bar * 4 - TOL_Q <= s < (bar + 1) * 4 - TOL_Q}
        assert pcs and pcs <= set(theory.chord_pitch_classes(plan.sections[0].chords[bar]))


def test_the_song_ends_on_the_tonic_chord_held_to_the_end():
    plan = toy_plan("pop", tonic="A", mode="minor")
    plan.sections[-1].chords[-1] = "E"  # even when the plan does not end at home
    comp = compose(plan, 1)
    tonic_triad = {9, 0, 4}  # A C E
    last_start = max(s for p in comp.parts for s, *_ in p.notes)
    sounding = [(p, pitch) for p in comp.parts if not p.is_drum
                for s, d, pitch, _ in p.notes if s + d >= comp.end_q - 1e-6]
    assert sounding and {pitch % 12 for _, pitch in sounding} <= tonic_triad
    assert comp.part("bass").notes[-1][2] % 12 == 9
    assert comp.part("melody").notes[-1][2] % 12 == 9
    assert last_start < comp.end_q


def test_chorus_melody_returns_identical():
    form = [("intro", 2, 0.3), ("verse", 4, 0.5), ("chorus", 4, 0.85), ("verse", 4, 0.5), ("chorus", 4, 0.85),
            ("outro", 2, 0.4)]
    plan = toy_plan("pop", form=form)
    comp = compose(plan, 11)
    melody = comp.part("melody")
    choruses = [s for s in comp.sections if s.name == "chorus"]
    verses = [s for s in comp.sections if s.name == "verse"]
    first, second = (_notes_in(melody, s.start_q, s.end_q) for s in choruses)
    assert first and first == second
    assert _notes_in(melody, verses[0].start_q, verses[0].end_q) != first
    # A different seed writes a different chorus.
    other = compose(plan, 12).part("melody")
    assert _notes_in(other, choruses[0].start_q, choruses[0].end_q) != first


@pytest.mark.parametrize("beats_per_bar,beat_unit", [(3, 4), (6, 8), (2, 4), (5, 4), (7, 8), (12, 8)])
def test_metres_keep_a_pulse_on_every_beat(beats_per_bar, beat_unit):
    plan = toy_plan("pop", bpm=100, beats_per_bar=beats_per_bar, beat_unit=beat_unit,
                    form=[("verse", 3, 0.6), ("chorus", 3, 0.9)])
    comp = compose(plan, 4)
    metre = comp.metre
    assert metre.bar_q == pytest.approx(beats_per_bar * 4 / beat_unit)
    drum_onsets = [s for s, *_ in comp.part("drums").notes]
    pulse = metre.pulse_q
    final_start = comp.bar_energy[-1][0]  # the held final chord has one hit, on its downbeat
    n_pulses = int(round(final_start / pulse))
    missing = [k for k in range(n_pulses) if not any(abs(s - k * pulse) < TOL_Q for s in drum_onsets)]
    assert not missing, f"no drum hit on pulses {missing}"


@pytest.mark.parametrize("signature,steps", [("2/4", 8), ("5/4", 20), ("7/8", 14), ("12/8", 24), ("9/8", 18),
                                             ("2/2", 16), ("3/8", 6)])
def test_patterns_fit_any_metre(signature, steps):
    n, d = map(int, signature.split("/"))
    metre = Metre(n, d)
    for style in STYLES.values():
        assert len(fit_pattern(style.bass.patterns, metre)) == steps == metre.steps
        assert len(fit_pattern(style.comping.patterns, metre)) == steps


def test_energy_decides_density_and_who_plays():
    plan = toy_plan("pop", form=[("verse", 4, 0.15), ("chorus", 4, 0.95)])
    comp = compose(plan, 1)
    bar_q = comp.metre.bar_q
    quiet, loud = (0, 4 * bar_q), (4 * bar_q, 7 * bar_q)
    for kind in ("drums", "bass", "harmony"):
        part = comp.part(kind)
        assert len(_notes_in(part, *loud)) > len(_notes_in(part, *quiet)), kind
    energies = [e for _, e in comp.bar_energy]
    assert max(energies[:4]) < min(energies[4:7])


def test_intro_builds_and_outro_fades():
    plan = toy_plan("edm", form=[("intro", 4, 0.6), ("chorus", 2, 0.9), ("outro", 4, 0.6)], duration_s=None)
    comp = compose(plan, 1)
    energies = [e for _, e in comp.bar_energy]
    assert energies[0] < energies[1] < energies[2] < energies[3]
    assert energies[6] > energies[7]  # the outro fades ...
    assert energies[-1] == pytest.approx(0.6)  # ... into a final chord that rings out at the section's level
    assert comp.bar_energy[-1][0] == pytest.approx(8 * 4)  # 2 s bars: the final chord takes the last two


def test_plan_instruments_are_used_and_chinese_styles_stay_pentatonic():
    plan = toy_plan("chinese_traditional", tonic="D", mode="major", scale="major_pentatonic",
                    instruments=["guzheng", "dizi", "erhu", "pipa"])
    comp = compose(plan, 7)
    by_kind = {p.kind: p.instrument for p in comp.parts}
    assert by_kind["harmony"] == "guzheng" and by_kind["melody"] == "dizi"
    assert [p.instrument for p in comp.parts if p.kind == "counter"] == ["erhu", "pipa"]  # none is dropped
    pentatonic = set(theory.scale_pitch_classes(2, "major_pentatonic"))
    melody = comp.part("melody")
    outside = [p for _, _, p, _ in melody.notes if p % 12 not in pentatonic]
    chord_tones = {pc for s in plan.sections for c in s.chords for pc in theory.chord_pitch_classes(c)}
    assert all(p % 12 in chord_tones for p in outside)  # only chord tones may leave the mode


def test_bad_plans_get_clear_errors():
    plan = toy_plan("pop", instruments=["piano", "kazoo"])
    with pytest.raises(SongfarmError, match=r"plan.instruments\[1\]='kazoo'"):
        compose(plan, 1)
    plan = toy_plan("pop")
    plan.sections[1] = Section("verse", 2, 0.5, ["C", "Hm"])
    with pytest.raises(SongfarmError, match=r"plan.sections\[1\].chords\[1\]='Hm'"):
        compose(plan, 1)
    plan = toy_plan("pop")
    plan.sections[0].chords = ["C"]  # two bars, one chord
    with pytest.raises(SongfarmError, match=r"plan.sections\[0\] \(intro\): 2 bars but 1 chords"):
        compose(plan, 1)
    with pytest.raises(SongfarmError, match="plan.duration_s=0.2"):
        compose(toy_plan("pop"), 1, end_s=0.2)


def test_duration_shorter_or_longer_than_the_bars():
    plan = toy_plan("pop")  # 7 bars of 2 s
    short = compose(plan, 1, end_s=plan.planned_s - 1.5)
    long = compose(plan, 1, end_s=plan.planned_s + 1.5)
    for comp, end_s in ((short, plan.planned_s - 1.5), (long, plan.planned_s + 1.5)):
        assert comp.end_q == pytest.approx(end_s * 2)
        assert max(s + d for p in comp.parts for s, d, *_ in p.notes) <= comp.end_q + 1e-6
        # the tonic rings at the very end either way
        assert any(s + d >= comp.end_q - 1e-6 for s, d, *_ in comp.part("bass").notes)


# ---- the composer obeys the plan: exclusions, exclusivity, vocals, named instruments ----

def _plan_with(style: str, **fields):
    plan = toy_plan(style, instruments=fields.pop("instruments", None))
    for name, value in fields.items():
        setattr(plan, name, value)
    return plan


@pytest.mark.parametrize("style", STYLE_NAMES)
@pytest.mark.parametrize("excluded", [["drums"], ["piano"], ["guitar"], ["pad", "melody"]])
def test_excluded_instruments_never_play(style, excluded):
    comp = compose(_plan_with(style, excluded=excluded), seed=1)
    assert comp.parts
    for part in comp.parts:
        assert not ruled_out(part.instrument, excluded), (style, part.instrument)


@pytest.mark.parametrize("style", ["rnb", "cinematic", "metal", "pop"])  # their palettes sing (voice, choir)
def test_an_instrumental_plan_has_no_voice_but_keeps_its_tune(style):
    comp = compose(_plan_with(style, vocals=False, instruments=["voice"] if style == "pop" else None), seed=1)
    assert not {p.instrument for p in comp.parts} & VOICE_INSTRUMENTS
    assert comp.part("melody").notes  # the lead goes to another instrument


def test_guitar_only_plays_melody_chords_and_bass_on_the_guitar():
    comp = compose(_plan_with("rock", instruments=["acoustic guitar"], exclusive=True), seed=1)
    assert {p.instrument for p in comp.parts} == {"acoustic guitar"}
    assert {p.kind for p in comp.parts} == {"bass", "harmony", "melody"}
    melody, chords = comp.part("melody"), comp.part("harmony")
    assert min(p for _, _, p, _ in melody.notes) >= np.median([p for _, _, p, _ in chords.notes]) - 7


def test_solo_piano_and_a_cappella_play_only_their_instruments():
    piano = compose(_plan_with("classical", instruments=["piano"], exclusive=True), seed=2)
    assert {p.instrument for p in piano.parts} == {"piano"} and piano.part("melody").notes
    assert len({p.pan for p in piano.parts}) == 1  # one player, one place in the stereo field
    voices = compose(_plan_with("pop", instruments=["voice", "choir"], exclusive=True), seed=2)
    assert {p.instrument for p in voices.parts} == {"voice", "choir"}
    assert not any(p.is_drum for p in voices.parts)


def test_a_drum_solo_is_drums_with_fills_and_dynamics():
    form = [("intro", 4, 0.35), ("solo", 8, 0.8), ("break", 4, 0.3), ("solo", 8, 0.95), ("outro", 2, 0.4)]
    plan = toy_plan("rock", form=form, instruments=["drum kit"])
    plan.exclusive = True
    comp = compose(plan, seed=3)
    assert [p.kind for p in comp.parts] == ["drums"]
    toms = {DRUM_KEYS[v] for v in ("tom_high", "tom_mid", "tom_low", "tom_floor")}
    bar_q = comp.metre.bar_q
    fill_bars = {int(s // bar_q) for s, _, key, _ in comp.parts[0].notes if key in toms}
    assert {3, 7, 11, 15, 19, 23} <= fill_bars  # a fill ends every four-bar phrase
    energies = [e for _, e in comp.bar_energy]
    assert max(energies) - min(energies) >= 0.5


def test_named_instruments_are_never_dropped():
    named = ["harmonica", "flute", "saxophone", "distorted guitar", "piano", "electric guitar", "organ", "banjo",
             "bass guitar", "cello", "drum kit", "percussion"]
    comp = compose(toy_plan("blues", instruments=named), seed=4)
    playing = {p.instrument for p in comp.parts}
    assert set(named) <= playing
    quiet = toy_plan("folk", form=[("verse", 4, 0.3), ("outro", 2, 0.2)], instruments=["violin", "flute", "pipa"])
    assert {"violin", "flute", "pipa"} <= {p.instrument for p in compose(quiet, seed=4).parts}


def test_plans_the_composer_cannot_obey_get_clear_errors():
    with pytest.raises(SongfarmError, match="exclusive plan needs an instrument"):
        compose(_plan_with("pop", instruments=["piano"], exclusive=True, excluded=["piano"]), 1)
    with pytest.raises(SongfarmError, match="nothing is left to play"):
        compose(_plan_with("pop", excluded=["drums", "bass", "harmony", "melody", "pad"]), 1)
