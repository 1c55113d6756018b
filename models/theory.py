"""Small music-theory helpers shared by the planner, the composer and the verifier.

Pitch classes are ints 0..11 with C = 0. Keys are a tonic name plus a mode ("major" or
"minor"); enharmonic spellings (D# / Eb) name the same pitch class and compare equal
through `pitch_class`. Chord symbols follow lead-sheet spelling: root, optional
accidental, quality, optional slash bass ("Abmaj7", "Bm7b5/A", "F#", "C6", "Gaug").
"""

from __future__ import annotations

import re

NOTE_NAMES_SHARP = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
NOTE_NAMES_FLAT = ["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"]
_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}

MODES = ("major", "minor")

# Conventional tonic spellings (the ones a key signature would use).
_MAJOR_TONICS = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
_MINOR_TONICS = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B"]

# Scale degrees in semitones above the tonic.
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),  # natural minor
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "major_pentatonic": (0, 2, 4, 7, 9),  # gong mode (宫) in Chinese theory
    "minor_pentatonic": (0, 3, 5, 7, 10),
    "yu_pentatonic": (0, 3, 5, 7, 10),  # 羽调式: the minor pentatonic
    "blues": (0, 3, 5, 6, 7, 10),
}

# Chord qualities → intervals above the root.
CHORD_QUALITIES = {
    "": (0, 4, 7),
    "maj": (0, 4, 7),
    "m": (0, 3, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "+": (0, 4, 8),
    "sus2": (0, 2, 7),
    "sus4": (0, 5, 7),
    "sus": (0, 5, 7),
    "5": (0, 7),
    "6": (0, 4, 7, 9),
    "m6": (0, 3, 7, 9),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "M7": (0, 4, 7, 11),
    "m7": (0, 3, 7, 10),
    "min7": (0, 3, 7, 10),
    "m7b5": (0, 3, 6, 10),
    "dim7": (0, 3, 6, 9),
    "9": (0, 4, 7, 10, 14),
    "maj9": (0, 4, 7, 11, 14),
    "m9": (0, 3, 7, 10, 14),
    "add9": (0, 4, 7, 14),
    "mmaj7": (0, 3, 7, 11),
    "7sus4": (0, 5, 7, 10),
}

_NOTE_RE = re.compile(r"^([A-Ga-g])([#b♯♭]?)$")
_CHORD_RE = re.compile(r"^([A-G])([#b♯♭]?)([^/]*)(?:/([A-G][#b♯♭]?))?$")


def pitch_class(name: str) -> int:
    """'F#' → 6, 'Bb' → 10, 'e' → 4. Raises ValueError for anything else."""
    m = _NOTE_RE.match(name.strip())
    if not m:
        raise ValueError(f"not a note name: {name!r}")
    pc = _LETTER_PC[m.group(1).upper()]
    if m.group(2) in ("#", "♯"):
        pc += 1
    elif m.group(2) in ("b", "♭"):
        pc -= 1
    return pc % 12


def tonic_name(pc: int, mode: str) -> str:
    """The conventional spelling of a key's tonic: (3, 'major') → 'Eb', (8, 'minor') → 'G#'."""
    return (_MAJOR_TONICS if mode == "major" else _MINOR_TONICS)[pc % 12]


def key_name(tonic: str, mode: str) -> str:
    return f"{tonic} {mode}"


def same_key(tonic_a: str, mode_a: str, tonic_b: str, mode_b: str) -> bool:
    """Enharmonic spellings are the same key: D# major == Eb major."""
    return mode_a == mode_b and pitch_class(tonic_a) == pitch_class(tonic_b)


def relative_key(pc: int, mode: str) -> tuple[int, str]:
    """C major ↔ A minor."""
    return ((pc + 9) % 12, "minor") if mode == "major" else ((pc + 3) % 12, "major")


def scale_pitch_classes(tonic_pc: int, scale: str) -> list[int]:
    return [(tonic_pc + step) % 12 for step in SCALES[scale]]


def parse_chord(symbol: str) -> tuple[int, tuple[int, ...], int | None]:
    """'Bm7b5/A' → (root pc 11, intervals (0, 3, 6, 10), bass pc 9).

    Raises ValueError with the symbol for anything not understood."""
    m = _CHORD_RE.match(symbol.strip())
    if not m:
        raise ValueError(f"not a chord symbol: {symbol!r}")
    root = pitch_class(m.group(1) + m.group(2))
    quality = m.group(3)
    if quality not in CHORD_QUALITIES:
        raise ValueError(f"unknown chord quality {quality!r} in {symbol!r}")
    bass = pitch_class(m.group(4)) if m.group(4) else None
    return root, CHORD_QUALITIES[quality], bass


def chord_pitch_classes(symbol: str) -> list[int]:
    root, intervals, bass = parse_chord(symbol)
    pcs = [(root + i) % 12 for i in intervals]
    if bass is not None and bass not in pcs:
        pcs.insert(0, bass)
    return pcs


def chord_symbol(root_pc: int, quality: str, mode: str = "major") -> str:
    """(9, 'm') → 'Am'; spelled with flats in flat keys' habit (Bb, Eb, Ab)."""
    return tonic_name(root_pc, "major" if quality in ("", "maj", "6", "7", "maj7") else mode) + quality


_ROMAN = {"i": 0, "ii": 1, "iii": 2, "iv": 3, "v": 4, "vi": 5, "vii": 6}
# Keys whose signatures use flats; chords in them are spelled with flats (Bb, not A#).
_FLAT_KEYS = {("F", "major"), ("Bb", "major"), ("Eb", "major"), ("Ab", "major"), ("Db", "major"),
              ("Gb", "major"), ("D", "minor"), ("G", "minor"), ("C", "minor"), ("F", "minor"),
              ("Bb", "minor"), ("Eb", "minor")}


def roman_to_chord(numeral: str, tonic_pc: int, mode: str) -> str:
    """Roman numeral in a key → chord symbol, in the usual analysis convention:
    upper case is a major triad, lower case minor, a trailing 'o' or '°' diminished, any
    other suffix is a chord quality ('V7', 'iim7'); the degree is counted in the key's own
    scale, and a leading b/# alters it from the major scale (bVII, bVI, #iv).

    'vi' in C major → 'Am', 'V7' in A minor → 'E7', 'VII' and 'bVII' in A minor → 'G'.
    """
    m = re.match(r"^(b|#)?([ivIV]+)(.*)$", numeral)
    if not m or m.group(2).lower() not in _ROMAN:
        raise ValueError(f"not a roman numeral: {numeral!r}")
    accidental, roman, suffix = m.groups()
    degree = _ROMAN[roman.lower()]
    scale = SCALES["major"] if accidental or mode == "major" else SCALES["minor"]
    root = (tonic_pc + scale[degree] + {"b": -1, "#": 1, None: 0}[accidental]) % 12
    if suffix in ("o", "°"):
        quality = "dim"
    elif suffix:
        quality = suffix if roman.isupper() or suffix.startswith("m") else "m" + suffix
    else:
        quality = "" if roman.isupper() else "m"
    flats = accidental == "b" or (tonic_name(tonic_pc, mode), mode) in _FLAT_KEYS
    return (NOTE_NAMES_FLAT if flats else NOTE_NAMES_SHARP)[root] + quality


def midi_to_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12.0)
