"""SongPlan: the planner's explicit description of the song to make (plan, then generate).

A plan is plain data and round-trips through JSON. Besides the musical decisions it
records *how* each was made (`sources`: stated in the prompt, given as an override,
inferred from other fields, or defaulted) and which conflicts were resolved and how
(`conflicts`), so a studio can see why a track came out as it did.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from . import theory

Source = Literal["stated", "override", "inferred", "default", "model"]

SECTION_NAMES = ("intro", "verse", "pre_chorus", "chorus", "post_chorus", "bridge",
                 "instrumental", "break", "solo", "outro")


@dataclass
class Section:
    name: str  # one of SECTION_NAMES
    bars: int  # length in bars of the plan's metre
    energy: float  # 0 (sparse, quiet) .. 1 (full band, loud)
    chords: list[str]  # one lead-sheet chord symbol per bar, len(chords) == bars
    lyrics: str | None = None  # the lines sung in this section, if any


@dataclass
class SongPlan:
    prompt: str
    language: str  # "en", "zh" or "ja" (the prompt's main language)
    bpm: float  # beats per minute, a beat being one 1/beat_unit note
    tonic: str  # conventional spelling, "F#", "Eb"
    mode: str  # "major" or "minor"
    beats_per_bar: int
    beat_unit: int  # 4 for x/4, 8 for x/8
    genre: str  # the genre as named (may be a sub-genre, "lo-fi hip hop")
    style: str  # the composer style that plays it (models/generators/styles)
    moods: list[str]
    instruments: list[str]  # General MIDI-playable instrument names
    sections: list[Section]
    duration_s: float  # the requested length; sum of section bars × bar_s is within a bar of it
    scale: str = ""  # melodic scale name from theory.SCALES ("" → the mode's own scale)
    # What the prompt rules out or restricts; the composer obeys all three (never adds an
    # excluded or, when exclusive, an unnamed instrument, and never drops a named one).
    vocals: bool = True  # False: instrumental ("no vocals", 纯音乐, 不要人声): no voice part
    excluded: list[str] = field(default_factory=list)  # instrument names or roles ruled out: "drums", "piano"
    exclusive: bool = False  # only `instruments` play ("guitar only", "solo piano", "a cappella")
    form: str = ""  # the section form the planner chose: verse-chorus, aaba, blues, through, loop, lyrics
    sources: dict[str, Source] = field(default_factory=dict)  # field name → how it was decided
    conflicts: list[str] = field(default_factory=list)  # human-readable resolutions
    planner: str = ""  # backend name and version that made this plan

    @property
    def key(self) -> str:
        return theory.key_name(self.tonic, self.mode)

    @property
    def time_signature(self) -> str:
        return f"{self.beats_per_bar}/{self.beat_unit}"

    @property
    def bar_s(self) -> float:
        """Seconds per bar."""
        return self.beats_per_bar * 60.0 / self.bpm

    @property
    def total_bars(self) -> int:
        return sum(s.bars for s in self.sections)

    @property
    def planned_s(self) -> float:
        """Length of the sections at the planned tempo (the audio adds a short tail)."""
        return self.total_bars * self.bar_s

    def section_spans(self) -> list[tuple[Section, float, float]]:
        """(section, start_s, end_s) for each section in order."""
        spans, t = [], 0.0
        for s in self.sections:
            spans.append((s, t, t + s.bars * self.bar_s))
            t += s.bars * self.bar_s
        return spans

    def check(self) -> None:
        """Raise ValueError naming the first inconsistent field (planners call this)."""
        if not 30 <= self.bpm <= 300:
            raise ValueError(f"plan.bpm={self.bpm}: outside [30, 300]")
        theory.pitch_class(self.tonic)
        if self.mode not in theory.MODES:
            raise ValueError(f"plan.mode={self.mode!r}: must be one of {theory.MODES}")
        if self.scale and self.scale not in theory.SCALES:
            raise ValueError(f"plan.scale={self.scale!r}: unknown scale")
        if self.beats_per_bar < 1 or self.beat_unit not in (2, 4, 8):
            raise ValueError(f"plan.time_signature={self.time_signature}: invalid")
        if not self.sections:
            raise ValueError("plan.sections: empty")
        for i, s in enumerate(self.sections):
            if s.bars < 1 or len(s.chords) != s.bars:
                raise ValueError(f"plan.sections[{i}] ({s.name}): {s.bars} bars but {len(s.chords)} chords")
            if not 0.0 <= s.energy <= 1.0:
                raise ValueError(f"plan.sections[{i}].energy={s.energy}: outside [0, 1]")
            for c in s.chords:
                theory.parse_chord(c)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SongPlan":
        d = dict(d)
        d["sections"] = [Section(**s) for s in d["sections"]]
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> "SongPlan":
        return cls.from_dict(json.loads(text))

    def summary(self) -> str:
        """One line for logs and HTTP headers: '92 BPM · A minor · 4/4 · lofi · 8 sections'."""
        return (f"{self.bpm:g} BPM · {self.key} · {self.time_signature} · {self.genre} · "
                f"{len(self.sections)} sections · {self.planned_s:.1f} s")
