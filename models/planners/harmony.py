"""Keeping a plan's chords in its key: when a prompt's chords are adopted, tonic chords,
and the tonic-centred intro, outro and final cadence.

A plan's key is only heard if its harmony keeps returning to the tonic chord in the
plan's mode. MusicBench-style captions carry chords from an automatic recogniser that
often contradict the caption's own key ("The key is F#m" with only D chords, "D minor"
with D and Dm), so a prompt's chords are adopted only when they fit the key
(`fit_to_key`); otherwise the style's progression plays and the plan says why.

Pitch classes are ints 0..11 (C = 0); chord symbols are lead-sheet symbols that
models/theory.parse_chord reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import theory

# The tones a key's chords may use without contradicting it: the key's scale plus the
# notes of its everyday variants, which do not change which tonic or mode is heard —
# the flat seventh in major (mixolydian bVII, the blues' I7), the raised sixth and
# seventh in minor (melodic and harmonic minor: the major V and the dorian IV).
KEY_TONES = {"major": (0, 2, 4, 5, 7, 9, 10, 11), "minor": (0, 2, 3, 5, 7, 8, 9, 10, 11)}

# The share of a prompt's chord tones (counted per chord, repeats included) that must lie
# in KEY_TONES for its chords to be adopted. One chromatic chord in four or five (a
# secondary dominant, a borrowed chord) passes; a progression in another key does not.
MIN_IN_KEY = 0.8


def mode_third(mode: str) -> int:
    """The third above the tonic that says which mode a key is in: 4 for major, 3 for minor."""
    return 4 if mode == "major" else 3


def is_tonic_chord(symbol: str, tonic_pc: int, mode: str) -> bool:
    """The tonic chord in `mode`: root on the tonic with a perfect fifth and the mode's
    third, or no third at all (sevenths and sixths allowed: 'Am7', 'Cmaj7', 'C6'; the
    mode-neutral 'C5', 'Csus4' count in either mode; 'Cdim', 'Caug' never), and a slash
    bass, if any, on one of its own tones ('C/E' yes, 'C/D' no)."""
    root, intervals, bass = theory.parse_chord(symbol)
    thirds = {3, 4} & set(intervals)
    if root != tonic_pc % 12 or 7 not in intervals or thirds - {mode_third(mode)}:
        return False
    return bass is None or (bass - root) % 12 in intervals


@dataclass(frozen=True)
class KeyFit:
    """Whether a prompt's chords fit the plan's key, and why (for plan.conflicts)."""

    fits: bool
    reason: str  # "" when they fit; else what is wrong, e.g. "no F#m chord"
    in_key: float  # share of chord tones in KEY_TONES, 0..1


def fit_to_key(symbols: list[str], tonic_pc: int, mode: str) -> KeyFit:
    """The rule for adopting a prompt's chords in a key. They fit when all three hold:

    1. the tonic chord in the plan's mode is among them (is_tonic_chord);
    2. no chord holds the tonic's third of the *other* mode (the note that decides major
       or minor: a D major chord, or Bm7b5 with its B, in D or G minor; an Eb or a Cm in
       C major);
    3. at least MIN_IN_KEY of their chord tones lie in the key (KEY_TONES).
    """
    if not symbols:
        return KeyFit(False, "no chords", 0.0)
    tonic_pc %= 12
    in_key_pcs = {(tonic_pc + step) % 12 for step in KEY_TONES[mode]}
    wrong_third = (tonic_pc + (3 if mode == "major" else 4)) % 12
    tones = in_key = 0
    clashing: list[str] = []
    for symbol in symbols:
        pcs = theory.chord_pitch_classes(symbol)
        tones += len(pcs)
        in_key += sum(pc in in_key_pcs for pc in pcs)
        if wrong_third in pcs and symbol not in clashing:
            clashing.append(symbol)
    share = in_key / tones
    tonic = theory.tonic_name(tonic_pc, mode) + ("m" if mode == "minor" else "")
    if not any(is_tonic_chord(s, tonic_pc, mode) for s in symbols):
        return KeyFit(False, f"no {tonic} chord", share)
    if clashing:
        # spelled as the other mode's key spells its third: C# in A minor, Eb in C major
        other = "major" if mode == "minor" else "minor"
        note = theory.roman_to_chord("III" if other == "major" else "iii", tonic_pc, other).rstrip("m")
        return KeyFit(False, f"{', '.join(clashing)} hold{'s' if len(clashing) == 1 else ''} {note}, "
                             f"the {'major' if mode == 'minor' else 'minor'} third of the tonic", share)
    if share < MIN_IN_KEY:
        return KeyFit(False, f"only {share:.0%} of their notes are in the key", share)
    return KeyFit(True, "", share)


def start_on_tonic(symbols: list[str], tonic_pc: int, mode: str) -> list[str]:
    """The same loop rotated to start on its first tonic chord (a recogniser lists the
    chords from wherever its clip began; a section should start at home)."""
    for i, s in enumerate(symbols):
        if is_tonic_chord(s, tonic_pc, mode):
            return list(symbols[i:]) + list(symbols[:i])
    return list(symbols)


def tonic_centred(symbols: list[str], tonic: str, tonic_pc: int, mode: str) -> list[str]:
    """An intro's or outro's loop: the tonic chord on every other chord change, the
    loop's other chords in order between them. ['C', 'G', 'Am', 'F'] → ['C', 'G', 'C',
    'Am', 'C', 'F']; a loop of tonic chords alone stays as it is."""
    others = [s for s in symbols if not is_tonic_chord(s, tonic_pc, mode)]
    if not others:
        return list(symbols)
    out: list[str] = []
    for s in others:
        out += [tonic, s]
    return out


def tonic_share(chords: list[str], tonic_pc: int, mode: str) -> float:
    """The share of bars (one chord per bar) on the tonic chord in `mode`."""
    return sum(is_tonic_chord(c, tonic_pc, mode) for c in chords) / len(chords) if chords else 0.0
