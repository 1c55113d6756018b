"""What a composer style is made of: plain data the composer reads.

A style is a palette (which instrument plays each role), a drum groove, a bass line, a
comping pattern with its chord voicing, a pad treatment, a melodic character and the
scales its melodies use. Rhythms are written as step strings on a 16th-note grid, one
character per 16th, keyed by time signature:

    "4/4": 16 steps, "3/4": 12 steps, "6/8": 12 steps (two groups of three eighths)

The composer fits a pattern to any other metre (2/4, 5/4, 12/8, ...) from these, so a
style only writes the three it cares about ("4/4" at least).

Drum and comping steps: "X" accent, "x" hit, "o" soft (ghost) hit, "." rest; strums use
"D" (down, low to high) and "U" (up, high to low, lighter). Bass steps name the note:
"R" root (the slash bass of "C/E"), "r" soft root, "5" fifth, "3" third, "7" seventh,
"6" major sixth, "8" root an octave up, "W" a walking chord tone, "A" an approach note
into the next bar's root. Dots are not rests: a note lasts until the next hit, times the
part's `gate` (0.3 staccato .. 1 legato).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Drum voice names used in groove patterns → General MIDI percussion keys (channel 10).
DRUM_KEYS = {
    "kick": 36, "kick2": 35, "snare": 38, "rim": 37, "clap": 39, "esnare": 40,
    "hat": 42, "pedal_hat": 44, "open_hat": 46, "ride": 51, "ride_bell": 53,
    "crash": 49, "crash2": 57, "china": 52, "splash": 55,
    "tom_floor": 41, "tom_low": 45, "tom_mid": 47, "tom_high": 50,
    "tambourine": 54, "cowbell": 56, "bongo_high": 60, "bongo_low": 61,
    "conga_mute": 62, "conga_high": 63, "conga_low": 64, "timbale_high": 65, "timbale_low": 66,
    "agogo_high": 67, "agogo_low": 68, "cabasa": 69, "shaker": 70, "guiro": 73, "clave": 75,
    "woodblock_high": 76, "woodblock_low": 77, "triangle_mute": 80, "triangle": 81,
}

Patterns = dict[str, str]  # time signature ("4/4", "3/4", "6/8") → step string
Groove = dict[str, Patterns]  # drum voice → Patterns


@dataclass(frozen=True)
class Drums:
    groove: Groove  # the full pattern, played from energy ~0.55 up
    pulse: Groove  # the sparse pattern of quiet sections: still marks every beat
    fill: str = "toms"  # section-end fill: "toms", "snare", "woodblock", "hats" or "none"
    crash: str = "crash"  # voice struck on the downbeat of loud sections ("" for none)
    lift: Groove = field(default_factory=dict)  # voices added on top of `groove` at energy ≥ 0.8
    fill_step_q: float = 0.0  # shortest step of a fill, quarters (0: the fill's own; slow tempos: the beat)


@dataclass(frozen=True)
class Comping:
    kind: str  # "chord" (all notes together), "arp" (one note per hit, up), "updown", "alberti",
    #            "strum" (D/U strokes), "power" (root-fifth-octave)
    patterns: Patterns  # hit steps per time signature
    voicing: str = "close"  # "close", "open" (drop-2 spread), "shell" (3rd + 7th), "spread", "power"
    register: int = 60  # MIDI pitch the voicing centres on
    gate: float = 0.9  # share of the gap to the next hit a note sounds (0.3 staccato .. 1 legato)
    quiet_patterns: Patterns = field(default_factory=dict)  # sparser hits for energy < 0.35 ({} → thin out)


@dataclass(frozen=True)
class Bass:
    patterns: Patterns  # note-choice steps per time signature (see module docstring)
    gate: float = 0.9  # share of the gap to the next note it sounds
    register: int = 40  # MIDI pitch roots gravitate to (E2); the tonic lands in 33..52


@dataclass(frozen=True)
class Melody:
    density: float = 0.5  # share of eighth-note slots that start a note (0..1)
    sixteenths: float = 0.1  # chance an eighth is split into two sixteenths
    syncopation: float = 0.15  # chance a beat's note is anticipated by an eighth
    leap: float = 0.15  # chance of a leap (3-5 scale steps) instead of a step
    gate: float = 0.9  # legato (1.0) .. staccato (0.5)
    ornament: str = ""  # "" none, "grace" (slide from a step below), "blue" (b3 → 3 in major)
    rest: float = 0.2  # chance a phrase's second bar thins out to breathe
    offbeats: float = 1.0  # share of the off-beat onsets kept (slow tempos keep fewer: patterns.felt_style)


@dataclass(frozen=True)
class Style:
    name: str  # the plan's `style` value (models/styles.STYLE_NAMES)
    palette: dict[str, str]  # role → canonical instrument: "drums", "bass", "harmony", "melody", "pad"
    bass: Bass
    comping: Comping
    melody: Melody
    drums: Drums | None = None  # None: no kit; the pulse comes from the comping
    comping2: Comping | None = None  # for a second harmony instrument (None → 8th arpeggio)
    percussion: Groove = field(default_factory=dict)  # hand percussion for an extra "percussion" part
    pad: str = "sustain"  # "sustain" (restrike on chord changes), "swell" (tie common tones), "drone"
    #                       (the key's tonic and fifth), "none" (no pad unless the plan lists one)
    scales: dict[str, str] = field(default_factory=dict)  # mode → melodic scale when plan.scale is ""
    swing: float = 0.0  # 0 straight .. 1 full triplet swing of the off-beats
    swing_unit: float = 0.5  # quarters: 0.5 swings eighths, 0.25 sixteenths
    levels: dict[str, float] = field(default_factory=dict)  # part kind → mix level in dB (over defaults)
    velocity: int = 96  # base MIDI velocity at full energy
