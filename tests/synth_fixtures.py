"""Hand-built SongPlans for the composer's and the synth generator's tests.

Plans are written out here rather than taken from a planner, so these tests stay
independent of the planners; chords come from roman numerals in the plan's key.
"""

from __future__ import annotations

from songfarm.models import theory
from songfarm.models.plan import Section, SongPlan

PROGRESSIONS = {"major": ["I", "V", "vi", "IV"], "minor": ["i", "VI", "III", "VII"]}
CHORUS = {"major": ["IV", "V", "I", "vi"], "minor": ["VI", "VII", "i", "i"]}


def chords(numerals: list[str], bars: int, tonic: str, mode: str) -> list[str]:
    pc = theory.pitch_class(tonic)
    return [theory.roman_to_chord(numerals[i % len(numerals)], pc, mode) for i in range(bars)]


def toy_plan(style: str = "pop", bpm: float = 120.0, tonic: str = "C", mode: str = "major",
             beats_per_bar: int = 4, beat_unit: int = 4, form: list[tuple[str, int, float]] | None = None,
             duration_s: float | None = None, instruments: list[str] | None = None, scale: str = "") -> SongPlan:
    """A small plan: `form` is [(section name, bars, energy)]; the song ends on the tonic.

    The default form is intro 2, verse 2, chorus 2, outro 1 bars (7 bars: 14 s at 120 BPM
    in 4/4). `duration_s` defaults to the planned length."""
    form = form or [("intro", 2, 0.3), ("verse", 2, 0.5), ("chorus", 2, 0.85), ("outro", 1, 0.4)]
    sections = []
    for name, bars, energy in form:
        numerals = CHORUS[mode] if name == "chorus" else PROGRESSIONS[mode]
        sections.append(Section(name, bars, energy, chords(numerals, bars, tonic, mode)))
    sections[-1].chords[-1] = theory.roman_to_chord("I" if mode == "major" else "i", theory.pitch_class(tonic), mode)
    plan = SongPlan(prompt="a test song", language="en", bpm=bpm, tonic=tonic, mode=mode,
                    beats_per_bar=beats_per_bar, beat_unit=beat_unit, genre=style, style=style, moods=[],
                    instruments=list(instruments or []), sections=sections, duration_s=0.0, scale=scale)
    plan.duration_s = duration_s if duration_s is not None else plan.planned_s
    plan.check()
    return plan
