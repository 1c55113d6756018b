"""Section forms by genre, duration and lyrics (models/planners/structure.py), and the
energy range between sections, planned and heard in a rendered take."""

from __future__ import annotations

import pytest

from songfarm.models import loudness
from songfarm.models.factory import make_generator
from songfarm.models.plan import SECTION_NAMES
from songfarm.models.planners import structure
from songfarm.models.planners.rules import RulesPlanner
from songfarm.models.request import TrackRequest

PLANNER = RulesPlanner()
LENGTHS = (1, 3, 6, 8, 9, 12, 16, 20, 24, 31, 40, 48, 64, 90, 150, 300)


def names(slots) -> list[str]:
    return [s.name for s in slots]


def plan_for(genre: str, duration_s: float, **fields):
    return PLANNER.plan(TrackRequest(id="t", prompt=f"a {genre} track", genre=genre, duration_s=duration_s,
                                     **fields))


@pytest.mark.parametrize("form,style", [("verse-chorus", "pop"), ("aaba", "jazz"), ("blues", "blues"),
                                        ("through", "ambient"), ("through", "cinematic"), ("loop", "edm"),
                                        ("loop", "lofi")])
def test_every_form_fills_exactly_the_bars_and_short_songs_get_short_forms(form, style):
    for n in LENGTHS:
        slots = structure.form_layout(form, n, style)
        assert sum(s.bars for s in slots) == n and all(s.bars >= 1 for s in slots), (form, n, slots)
        assert set(names(slots)) <= set(SECTION_NAMES)
        if n < 8:
            assert len(slots) <= 2 and slots[0].name == "verse"
    with pytest.raises(ValueError, match="form='rondo'"):
        structure.form_layout("rondo", 32, "pop")


def test_the_form_follows_the_genre_and_the_lyrics():
    assert structure.choose_form("jazz", "jazz", False) == "aaba"
    assert structure.choose_form("latin", "bossa nova", False) == "aaba"  # a standard, whatever its style
    assert structure.choose_form("blues", "delta blues", False) == "blues"
    assert structure.choose_form("cinematic", "film score", False) == "through"
    assert structure.choose_form("edm", "house", False) == "loop"
    assert structure.choose_form("rock", "rock", False) == "verse-chorus"
    assert structure.choose_form("edm", "house", True) == "lyrics"
    for genre, form in (("jazz", "aaba"), ("blues", "blues"), ("ambient", "through"), ("edm", "loop"),
                        ("lofi", "loop"), ("pop", "verse-chorus")):
        plan = plan_for(genre, 120.0)
        assert plan.form == form and plan.sources["form"] == "inferred", genre
    sung = plan_for("edm", 60.0, lyrics="[verse]\nline one\nline two\n[chorus]\nla la\nla la")
    assert sung.form == "lyrics" and [s.name for s in sung.sections] == ["verse", "chorus"]


def test_aaba_is_head_solos_head():
    slots = structure.form_layout("aaba", 140, "jazz")
    body = [s for s in slots if s.name not in ("intro", "outro")]
    assert names(body[:4]) == names(body[-4:]) == ["verse", "verse", "bridge", "verse"]
    assert "solo" in names(body) and len({s.bars for s in body}) == 1
    assert names(structure.form_layout("aaba", 16, "jazz")) == ["verse", "verse", "bridge", "verse", "outro"]


def test_blues_is_twelve_bar_choruses():
    slots = structure.form_layout("blues", 74, "blues")
    choruses = [s for s in slots if s.name in ("verse", "solo")]
    assert all(s.bars == 12 for s in choruses) and len(choruses) == 6
    assert choruses[0].name == choruses[-1].name == "verse" and "solo" in names(choruses)
    plan = plan_for("blues", 120.0)
    verse = next(s for s in plan.sections if s.name == "verse")
    assert verse.bars == 12 and len(set(verse.chords[:4])) == 1 and verse.chords[4] != verse.chords[0]  # I I I I IV


def test_through_composed_cues_never_return():
    for style in ("ambient", "cinematic", "classical"):
        for n in (16, 40, 90, 300):
            used = names(structure.form_layout("through", n, style))
            assert len(used) == len(set(used)), (style, n, used)
    cue = plan_for("cinematic", 150.0)
    energy = {s.name: s.energy for s in cue.sections}
    assert max(energy, key=energy.get) == "chorus"  # the climax comes late
    assert cue.sections[-1].energy < cue.sections[-2].energy


def test_loops_build_drop_and_break_down():
    slots = structure.form_layout("loop", 96, "edm")
    inner = names(slots)[1:-1]
    assert inner.count("chorus") >= 2 and "break" in inner and inner[-1] == "chorus"
    for k, name in enumerate(inner):
        if name == "chorus":
            assert inner[k - 1] == "pre_chorus"  # every drop is built up to


@pytest.mark.parametrize("genre,low,high", [("edm", 0.6, 1.0), ("rock", 0.35, 1.0), ("ambient", 0.0, 0.3)])
def test_the_energy_range_is_the_genres(genre, low, high):
    plan = plan_for(genre, 150.0)
    body = [s.energy for s in plan.sections if s.name not in ("intro", "outro")]
    assert low <= max(body) - min(body) <= high, [(s.name, s.energy) for s in plan.sections]


def test_a_rendered_edm_drop_is_far_louder_than_its_breakdown():
    plan = plan_for("edm", 60.0, bpm=128)
    [take] = make_generator("synth").generate(plan, TrackRequest(id="t", prompt="edm"), seeds=[1])
    sr = take.sample_rate
    level = {}
    for section, start, end in plan.section_spans():
        level.setdefault(section.name, loudness.integrated_lufs(take.audio[:, int(start * sr):int(end * sr)], sr))
    assert level["chorus"] - level["break"] >= 10.0, level
    assert abs(loudness.integrated_lufs(take.audio, sr) - loudness.TARGET_LUFS) <= 0.5
    assert loudness.true_peak_db(take.audio) <= loudness.TRUE_PEAK_CEILING_DB + 1e-6
