"""The composer's vocabulary: metre, chords and bars going in, a multi-track score coming out.

Times are in quarter notes from the start of the song (MIDI's own unit), so the score
converts to seconds with one number (`Composition.seconds_per_quarter`) and to MIDI ticks
with another. A note is a tuple (start_q, duration_q, pitch, velocity).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import theory

Note = tuple[float, float, int, int]  # (start in quarters, duration in quarters, MIDI pitch, velocity 1..127)


@dataclass(frozen=True)
class Metre:
    """A time signature and how its beats group into pulses."""

    beats_per_bar: int  # numerator
    beat_unit: int  # denominator: 2, 4 or 8

    @property
    def beat_q(self) -> float:
        """Quarter notes per beat: 1 for x/4, 0.5 for x/8, 2 for x/2."""
        return 4.0 / self.beat_unit

    @property
    def bar_q(self) -> float:
        return self.beats_per_bar * self.beat_q

    @property
    def steps(self) -> int:
        """Sixteenth-note steps per bar (the grid patterns are written on)."""
        return int(round(self.bar_q * 4))

    @property
    def compound(self) -> bool:
        """6/8, 9/8, 12/8 (and 3/8): beats are eighths felt in groups of three."""
        return self.beat_unit == 8 and self.beats_per_bar % 3 == 0

    @property
    def groups(self) -> tuple[int, ...]:
        """Beats per pulse group, in order: 4/4 → (2, 2), 3/4 → (3,), 6/8 → (3, 3), 7/8 → (2, 2, 3)."""
        n = self.beats_per_bar
        if self.compound:
            return (3,) * (n // 3)
        if n <= 3:
            return (n,)
        if n % 2 == 0:
            return (2,) * (n // 2)
        return (2,) * ((n - 3) // 2) + (3,)

    @property
    def pulse_q(self) -> float:
        """Quarters per felt pulse: the beat, or the dotted quarter in compound metres."""
        return 3 * self.beat_q if self.compound else self.beat_q

    @property
    def signature(self) -> str:
        return f"{self.beats_per_bar}/{self.beat_unit}"

    def strength(self, position_q: float) -> int:
        """Metrical weight of a position within the bar: 3 downbeat, 2 group start, 1 beat,
        0 eighth off-beat, -1 anything finer."""
        if abs(position_q) < 1e-6:
            return 3
        start = 0.0
        for g in self.groups:
            if abs(position_q - start) < 1e-6:
                return 2
            start += g * self.beat_q
        beats = position_q / self.beat_q
        if abs(beats - round(beats)) < 1e-6:
            return 1
        eighths = position_q / 0.5
        return 0 if abs(eighths - round(eighths)) < 1e-6 else -1


@dataclass(frozen=True)
class Chord:
    """A parsed chord symbol: pitch classes relative to C = 0."""

    symbol: str  # as the plan wrote it, "Bm7b5/A"
    root: int  # pitch class of the root
    intervals: tuple[int, ...]  # semitones above the root, (0, 3, 6, 10)
    bass: int  # pitch class the bass plays: the slash bass, else the root

    @classmethod
    def parse(cls, symbol: str) -> "Chord":
        root, intervals, bass = theory.parse_chord(symbol)
        return cls(symbol, root, tuple(intervals), root if bass is None else bass)

    @classmethod
    def triad(cls, root: int, mode: str) -> "Chord":
        """The plain major or minor triad on a root (the tonic chord of a key)."""
        intervals = (0, 4, 7) if mode == "major" else (0, 3, 7)
        name = theory.NOTE_NAMES_SHARP[root] + ("" if mode == "major" else "m")
        return cls(name, root, intervals, root)

    @property
    def pcs(self) -> tuple[int, ...]:
        """Chord tones as pitch classes, root first, no repeats."""
        out: list[int] = []
        for i in self.intervals:
            pc = (self.root + i) % 12
            if pc not in out:
                out.append(pc)
        return tuple(out)

    def interval(self, *choices: int) -> int | None:
        """The first of `choices` (semitones above the root) the chord has, else None."""
        return next((c for c in choices if c in self.intervals), None)

    @property
    def third(self) -> int:
        """Semitones to the third (or the sus note standing in for it)."""
        return self.interval(4, 3, 5, 2) or 4

    @property
    def fifth(self) -> int:
        return self.interval(7, 6, 8) or 7

    @property
    def seventh(self) -> int | None:
        return self.interval(10, 11, 9)


@dataclass
class Bar:
    """One bar of the song as the part writers see it."""

    index: int  # 0-based bar number in the song
    start_q: float  # where it starts, in quarters
    length_q: float  # its length: the metre's bar, longer or shorter for the final bar
    section: int  # index of its section in the plan
    section_name: str  # "verse", "chorus", ...
    bar_in_section: int  # 0-based position inside the section
    section_bars: int  # bars the section has (after any trimming at the end)
    chord: Chord  # what harmony plays in this bar
    next_chord: Chord  # the next bar's chord (this one's for the last bar)
    energy: float  # 0..1, the section's energy with intro builds and outro fades applied
    final: bool  # the song's last bar: the tonic chord held to the end
    next_energy: float  # energy of the next bar (this one's for the last bar)

    @property
    def section_start(self) -> bool:
        return self.bar_in_section == 0

    @property
    def section_end(self) -> bool:
        return self.bar_in_section == self.section_bars - 1


@dataclass
class Part:
    """One instrument's line: becomes one MIDI track and one stem."""

    name: str  # stem name, unique in the composition ("piano", "bass_guitar", "dizi_2")
    instrument: str  # canonical name from models/instruments.INSTRUMENTS
    kind: str  # what it plays: drums, percussion, bass, bass2, harmony, harmony2, melody, counter, pad, pad2
    program: int  # General MIDI program (the kit for drums)
    is_drum: bool
    pan: float  # -1 left .. +1 right
    level_db: float  # mix level relative to the drums, dB
    notes: list[Note] = field(default_factory=list)
    cover: bool = False  # a solo instrument playing a role nobody else has (a solo piano's left hand, its tune)


@dataclass
class SectionSpan:
    name: str  # the plan's section name
    start_q: float
    end_q: float
    energy: float


@dataclass
class Composition:
    """A whole song as notes: what the renderer plays and the MIDI file holds."""

    qpm: float  # quarter notes per minute (MIDI tempo)
    metre: Metre
    tonic_pc: int  # 0..11, C = 0
    mode: str  # "major" / "minor"
    tonic_name: str  # the plan's spelling, for the key signature
    end_q: float  # where the audio ends, in quarters (the plan's duration)
    parts: list[Part]
    sections: list[SectionSpan]
    bar_energy: list[tuple[float, float]] = field(default_factory=list)  # (bar start_q, energy 0..1) per bar

    @property
    def seconds_per_quarter(self) -> float:
        return 60.0 / self.qpm

    def part(self, kind: str) -> Part | None:
        """The first part of a kind ("melody", "bass", ...), or None."""
        return next((p for p in self.parts if p.kind == kind), None)
