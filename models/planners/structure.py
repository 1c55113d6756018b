"""Song form: which sections, how many bars each, how loud, and which chord in each bar.

Lengths are in bars of the plan's metre. The planner first decides the total number of
bars (the duration filled with whole bars), then either lays out a form for the style
(`layout`) or follows tagged lyrics (`lyric_layout`), then gives every section an
energy and one chord per bar (`build_sections`).

Chord progressions are written in roman numerals (models/theory.roman_to_chord: upper
case major, lower case minor, suffix = quality) per style, mode and section kind; a
prompt's own chords, when they fit the key (harmony.fit_to_key), replace the main
progression. The harmony keeps the key audible: verses and choruses start on the tonic
chord, the intro and outro are centred on it, and the song ends on the style's cadence
(V–I, IV–I, bVII–i …) with the tonic triad in its last bar.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from .. import theory
from ..plan import Section
from . import harmony
from .lyrics import LyricSection

# style → mode → section kind → progression variants. Kinds: verse, chorus, pre_chorus,
# bridge; a missing kind falls back to pop's. So that the plan's key is heard, every
# verse and chorus variant starts on the tonic chord in the table's mode, no variant uses
# the tonic chord of the other mode (no major I in minor), and pre-choruses and bridges,
# the contrasting sections, start away from the relative key (not on vi in major, not
# on III in minor) and mostly lead back through V (tests/test_planner_rules.py checks).
PROGRESSIONS: dict[str, dict[str, dict[str, tuple[tuple[str, ...], ...]]]] = {
    "pop": {
        "major": {"verse": (("I", "V", "vi", "IV"), ("I", "vi", "IV", "V"), ("I", "IV", "vi", "V")),
                  "chorus": (("I", "IV", "vi", "V"), ("I", "V", "vi", "IV"), ("I", "IV", "I", "V")),
                  "pre_chorus": (("ii", "IV", "V", "V"), ("IV", "V", "IV", "V")),
                  "bridge": (("IV", "I", "V", "V"), ("IV", "V", "I", "I"))},
        "minor": {"verse": (("i", "VI", "III", "VII"), ("i", "iv", "VI", "V")),
                  "chorus": (("i", "VI", "VII", "i"), ("i", "VI", "III", "VII")),
                  "pre_chorus": (("iv", "iv", "V", "V"), ("VI", "VII", "V", "V")),
                  "bridge": (("iv", "VI", "i", "V"), ("VI", "VII", "i", "V"))},
    },
    "rock": {
        "major": {"verse": (("I", "bVII", "IV", "I"), ("I", "IV", "V", "IV")),
                  "chorus": (("I", "V", "vi", "IV"), ("I", "IV", "V", "V")),
                  "pre_chorus": (("IV", "IV", "V", "V"),),
                  "bridge": (("IV", "I", "V", "V"), ("bVI", "bVII", "I", "I"))},
        "minor": {"verse": (("i", "VII", "VI", "VII"), ("i", "VI", "VII", "i")),
                  "chorus": (("i", "VI", "VII", "i"), ("i", "VI", "III", "VII")),
                  "bridge": (("iv", "VI", "i", "V"),)},
    },
    "metal": {
        "major": {"verse": (("I", "bVII", "bVI", "bVII"),), "chorus": (("I", "V", "vi", "IV"),),
                  "bridge": (("bVI", "bVII", "I", "I"),)},
        "minor": {"verse": (("i", "VI", "VII", "i"), ("i", "bII", "i", "VII")),
                  "chorus": (("i", "VI", "VII", "i"), ("i", "VI", "III", "VII")),
                  "bridge": (("iv", "V", "i", "i"), ("VI", "VII", "i", "V"))},
    },
    "edm": {
        "major": {"verse": (("I", "V", "vi", "IV"), ("I", "vi", "IV", "V")),
                  "chorus": (("I", "IV", "vi", "V"), ("I", "V", "IV", "V")),
                  "bridge": (("IV", "V", "I", "I"),)},
        "minor": {"verse": (("i", "VI", "III", "VII"), ("i", "VII", "VI", "VII")),
                  "chorus": (("i", "VI", "III", "VII"), ("i", "VI", "VII", "i")),
                  "bridge": (("iv", "VI", "i", "VII"),)},
    },
    "hiphop": {
        "major": {"verse": (("I", "vi", "IV", "V"), ("Imaj7", "IVmaj7", "iii7", "vi7")),
                  "chorus": (("I", "IV", "V", "V"),), "bridge": (("ii", "V", "I", "I"),)},
        "minor": {"verse": (("i", "VI", "i", "VI"), ("i", "iv", "VI", "V")),
                  "chorus": (("i", "VI", "III", "VII"), ("i", "i", "VI", "VII")),
                  "bridge": (("iv", "i", "VI", "V"),)},
    },
    "lofi": {
        "major": {"verse": (("Imaj7", "vi7", "ii7", "V7"), ("Imaj7", "IVmaj7", "iii7", "V7")),
                  "chorus": (("Imaj7", "IVmaj7", "V7", "Imaj7"), ("Imaj7", "vi7", "ii7", "V7")),
                  "bridge": (("ii7", "V7", "Imaj7", "Imaj7"),)},
        "minor": {"verse": (("i7", "iv7", "VII7", "IIImaj7"), ("i7", "i7", "VImaj7", "v7")),
                  "chorus": (("i7", "VImaj7", "VII7", "i7"), ("i7", "iv7", "v7", "i7")),
                  "bridge": (("VImaj7", "V7", "i7", "V7"),)},
    },
    "jazz": {
        "major": {"verse": (("Imaj7", "vi7", "ii7", "V7"), ("Imaj7", "VI7", "ii7", "V7")),
                  "chorus": (("Imaj7", "Imaj7", "ii7", "V7"), ("Imaj7", "IVmaj7", "ii7", "V7")),
                  "pre_chorus": (("ii7", "ii7", "V7", "V7"),),
                  "bridge": (("ii7", "V7", "Imaj7", "VI7"),)},
        "minor": {"verse": (("i7", "iv7", "iim7b5", "V7"),), "chorus": (("i7", "VImaj7", "iim7b5", "V7"),),
                  "pre_chorus": (("iim7b5", "iim7b5", "V7", "V7"),),
                  "bridge": (("iv7", "VII7", "i7", "V7"),)},
    },
    "rnb": {
        "major": {"verse": (("Imaj7", "iii7", "vi7", "IVmaj7"), ("Imaj7", "IVmaj7", "iii7", "ii7")),
                  "chorus": (("Imaj7", "IVmaj7", "iii7", "V"),), "bridge": (("ii7", "V", "Imaj7", "IVmaj7"),)},
        "minor": {"verse": (("i7", "iv7", "VImaj7", "V7"), ("i7", "VImaj7", "iv7", "v7")),
                  "chorus": (("i7", "i7", "VImaj7", "VII"),), "bridge": (("iv7", "i7", "VImaj7", "V7"),)},
    },
    "funk": {
        "major": {"verse": (("I7", "I7", "IV7", "IV7"),), "chorus": (("I7", "IV7", "V7", "IV7"),),
                  "bridge": (("ii7", "V7", "I7", "V7"),)},
        "minor": {"verse": (("i7", "i7", "iv7", "iv7"),),
                  "chorus": (("i7", "iv7", "i7", "iv7"), ("i7", "i7", "VImaj7", "V7")),
                  "bridge": (("iv7", "i7", "iv7", "V7"),)},
    },
    "blues": {  # the twelve-bar form (and its quick-change variant), one chord per bar
        "major": {"verse": (("I7", "I7", "I7", "I7", "IV7", "IV7", "I7", "I7", "V7", "IV7", "I7", "V7"),
                            ("I7", "IV7", "I7", "I7", "IV7", "IV7", "I7", "I7", "V7", "IV7", "I7", "V7")),
                  "chorus": (("I7", "I7", "I7", "I7", "IV7", "IV7", "I7", "I7", "V7", "IV7", "I7", "V7"),),
                  "pre_chorus": (("IV7", "IV7", "V7", "V7"),),
                  "bridge": (("IV7", "IV7", "I7", "I7"),)},
        "minor": {"verse": (("i7", "i7", "i7", "i7", "iv7", "iv7", "i7", "i7", "VI7", "V7", "i7", "V7"),),
                  "chorus": (("i7", "i7", "i7", "i7", "iv7", "iv7", "i7", "i7", "VI7", "V7", "i7", "V7"),),
                  "pre_chorus": (("iv7", "iv7", "V7", "V7"),),
                  "bridge": (("iv7", "iv7", "i7", "i7"),)},
    },
    "folk": {
        "major": {"verse": (("I", "IV", "I", "V"), ("I", "V", "vi", "IV"), ("I", "IV", "V", "I")),
                  "chorus": (("I", "IV", "V", "I"), ("I", "V", "IV", "I")), "bridge": (("IV", "I", "V", "V"),)},
        "minor": {"verse": (("i", "VII", "VI", "VII"), ("i", "III", "VII", "i")),
                  "chorus": (("i", "VI", "VII", "i"), ("i", "III", "VII", "i")), "bridge": (("iv", "i", "V", "V"),)},
    },
    "country": {
        "major": {"verse": (("I", "IV", "I", "V"), ("I", "I", "IV", "IV", "V", "V", "I", "I")),
                  "chorus": (("I", "IV", "V", "I"), ("I", "V", "IV", "I")), "bridge": (("IV", "I", "ii", "V"),)},
        "minor": {"verse": (("i", "iv", "VII", "III"),), "chorus": (("i", "VI", "VII", "i"),),
                  "bridge": (("iv", "VII", "i", "V"),)},
    },
    "classical": {
        "major": {"verse": (("I", "IV", "V", "I"), ("I", "vi", "ii", "V"), ("I", "ii", "V7", "I")),
                  "chorus": (("I", "vi", "IV", "V7"), ("I", "IV", "ii", "V7")),
                  "pre_chorus": (("ii", "ii", "V7", "V7"),),
                  "bridge": (("IV", "ii", "V7", "I"), ("IV", "V", "I", "I"))},
        "minor": {"verse": (("i", "iv", "V7", "i"), ("i", "VI", "iv", "V7")),
                  "chorus": (("i", "VI", "V7", "i"), ("i", "iv", "VI", "V7")),
                  "pre_chorus": (("iv", "iv", "V7", "V7"),),
                  "bridge": (("iv", "i", "VI", "V7"),)},
    },
    "cinematic": {
        "major": {"verse": (("I", "V", "vi", "IV"), ("I", "vi", "IV", "V")),
                  "chorus": (("I", "bVI", "bVII", "I"), ("I", "IV", "V", "V")), "bridge": (("IV", "I", "V", "V"),)},
        "minor": {"verse": (("i", "VI", "III", "VII"), ("i", "i", "VI", "VI")),
                  "chorus": (("i", "VI", "VII", "i"), ("i", "VI", "VII", "V")), "bridge": (("iv", "VI", "i", "V"),)},
    },
    "ambient": {
        "major": {"verse": (("Imaj7", "IVmaj7"), ("I", "vi", "IV", "IV")),
                  "chorus": (("Imaj7", "IVmaj7", "vi7", "V"),),
                  "pre_chorus": (("IVmaj7", "IVmaj7", "V", "V"),), "bridge": (("IVmaj7", "Imaj7"),)},
        "minor": {"verse": (("i7", "VImaj7"), ("i", "VI", "III", "VII")),
                  "chorus": (("i7", "VImaj7", "IIImaj7", "VII"),),
                  "pre_chorus": (("iv7", "iv7", "VII", "VII"),), "bridge": (("iv7", "i7"),)},
    },
    "reggae": {
        "major": {"verse": (("I", "IV", "I", "IV"), ("I", "V", "vi", "IV")), "chorus": (("I", "IV", "V", "I"),),
                  "bridge": (("ii", "V", "I", "V"),)},
        "minor": {"verse": (("i", "iv", "i", "iv"), ("i", "VII", "i", "VII")), "chorus": (("i", "VI", "VII", "i"),),
                  "bridge": (("iv", "v", "i", "v"),)},
    },
    "latin": {
        "major": {"verse": (("Imaj7", "vi7", "ii7", "V7"), ("Imaj7", "VI7", "ii7", "V7")),
                  "chorus": (("Imaj7", "IVmaj7", "ii7", "V7"),), "bridge": (("ii7", "V7", "Imaj7", "Imaj7"),)},
        "minor": {"verse": (("i7", "iv7", "V7", "i7"), ("i7", "iim7b5", "V7", "i7")),
                  "chorus": (("i7", "VImaj7", "iim7b5", "V7"),), "bridge": (("iv7", "VII7", "i7", "V7"),)},
    },
    "chinese_traditional": {
        "major": {"verse": (("I", "vi", "IV", "V"), ("I", "V", "vi", "iii")),
                  "chorus": (("I", "IV", "V", "I"), ("I", "vi", "IV", "V")), "bridge": (("IV", "iii", "I", "V"),)},
        "minor": {"verse": (("i", "VII", "VI", "VII"), ("i", "III", "VII", "i")),
                  "chorus": (("i", "VI", "VII", "i"), ("i", "iv", "VII", "i")), "bridge": (("VI", "III", "VII", "i"),)},
    },
    "guofeng": {  # IV-V-iii-vi, the "royal road" progression of Chinese and Japanese pop, resolved home
        "major": {"verse": (("I", "I", "IV", "V", "iii", "vi", "ii", "V"),
                            ("I", "V", "vi", "iii", "IV", "I", "IV", "V")),
                  "chorus": (("I", "IV", "V", "iii", "vi", "IV", "V", "I"), ("I", "vi", "IV", "V")),
                  "bridge": (("IV", "V", "iii", "vi", "IV", "V", "I", "I"),)},
        "minor": {"verse": (("i", "VI", "VII", "III"), ("i", "VI", "VII", "v")),
                  "chorus": (("i", "VI", "VII", "i"), ("i", "iv", "v", "i")),
                  "bridge": (("iv", "v", "VI", "VII", "iv", "v", "i", "i"),)},
    },
}

# The chord before the song's final tonic, per style: (in major, in minor). V–I by
# default; the plagal IV–I and the aeolian bVII–i where the style resolves that way.
CADENCES = {"rock": ("IV", "VII"), "metal": ("bVII", "VII"), "lofi": ("V7", "V7"), "jazz": ("V7", "V7"),
            "rnb": ("V7", "V7"), "funk": ("IV7", "V7"), "blues": ("V7", "V7"), "classical": ("V7", "V7"),
            "cinematic": ("IV", "V"), "ambient": ("IVmaj7", "iv7"), "reggae": ("IV", "iv"), "latin": ("V7", "V7"),
            "chinese_traditional": ("V", "v"), "guofeng": ("V", "v")}
DEFAULT_CADENCE = ("V", "V")

# Which progression each section plays: the chorus progression returns in instrumental
# breaks and the outro, the verse progression opens the song.
SECTION_KIND = {"intro": "verse", "verse": "verse", "pre_chorus": "pre_chorus", "chorus": "chorus",
                "post_chorus": "chorus", "bridge": "bridge", "instrumental": "chorus", "solo": "chorus",
                "break": "verse", "outro": "chorus"}
# Sections where a prompt's own chords are played (its "main" progression).
STATED_CHORD_SECTIONS = {"intro", "verse", "chorus", "post_chorus", "instrumental", "solo", "break", "outro"}

# Energy of each section kind for a song of middling intensity (base 0.55): quiet intro,
# rising pre-chorus, full chorus, a bridge that steps back, a falling outro.
SECTION_ENERGY = {"intro": 0.3, "verse": 0.5, "pre_chorus": 0.62, "chorus": 0.82, "post_chorus": 0.76,
                  "bridge": 0.45, "instrumental": 0.68, "solo": 0.72, "break": 0.3, "outro": 0.28}

# Ideal bars of instrumental lyric tags ([intro-short] …) and of sung sections without lines.
TAG_BARS = {None: 4, "short": 4, "medium": 8, "long": 12}
EMPTY_SECTION_BARS = {"instrumental": 8, "solo": 8, "break": 2, "intro": 4, "outro": 4}


@dataclass
class Slot:
    """A section before it has chords and energy."""

    name: str
    bars: int
    lines: list[str] | None = None


def stable_index(text: str, n: int) -> int:
    """A deterministic choice among n variants (Python's hash() is salted per process)."""
    return zlib.crc32(text.encode("utf-8")) % n if n > 1 else 0


# ---------------------------------------------------------------------------------------
# Form


def layout(total_bars: int, unit: int = 8) -> list[Slot]:
    """A verse/chorus form of exactly `total_bars` bars.

    Tiny songs get an intro-less verse and a short ending; longer ones an intro, verse/
    chorus blocks (a bridge after the second chorus, then instrumental breaks and more
    verse/chorus blocks for long pieces) and an outro. Leftover bars go first into
    pre-choruses, then into longer choruses and verses in steps of 4 (at most 16 bars),
    and the last 1-3 bars into the outro. `unit` is the main section length (12 for a
    twelve-bar blues)."""
    n = max(1, int(total_bars))
    if n < 4:
        return [Slot("verse", n)]
    if n < 8:
        return [Slot("verse", n - 2), Slot("outro", 2)]
    intro = 0 if n < 10 else 2 if n < 24 else 4
    outro = 2 if n < 24 else 4
    body = n - intro - outro
    if body < 2 * unit:
        if body % 2:
            outro, body = outro + 1, body - 1
        verse = max(2, body // 4 * 2)
        slots = [Slot("verse", verse), Slot("chorus", body - verse)]
    else:
        slots = _blocks(body, unit)
        outro += body - sum(s.bars for s in slots)
    head = [Slot("intro", intro)] if intro else []
    return head + slots + [Slot("outro", outro)]


def _blocks(body: int, unit: int) -> list[Slot]:
    """Verse/chorus blocks filling at most `body` bars, stretched to within 3 bars of it."""
    cycle = [("verse", "chorus"), ("verse", "chorus"), ("bridge", "chorus"), ("instrumental", "verse", "chorus"),
             ("verse", "chorus"), ("bridge", "chorus")]
    slots: list[Slot] = []
    used, i = 0, 0
    while True:
        block = cycle[i] if i < len(cycle) else cycle[3 + (i - 3) % 3]
        size = sum(8 if name in ("bridge", "instrumental") else unit for name in block)
        if used + size > body:
            break
        slots += [Slot(name, 8 if name in ("bridge", "instrumental") else unit) for name in block]
        used += size
        i += 1
    left = body - used
    # a 4-bar pre-chorus before each chorus that follows a verse, in order, while bars are left
    pre_before = set()
    for k in range(1, len(slots)):
        if left >= 4 and slots[k].name == "chorus" and slots[k - 1].name == "verse":
            pre_before.add(k)
            left -= 4
    with_pre: list[Slot] = []
    for k, s in enumerate(slots):
        if k in pre_before:
            with_pre.append(Slot("pre_chorus", 4))
        with_pre.append(s)
    # stretch choruses (last first) then verses by 4 bars, up to 16 bars each
    order = [k for k in reversed(range(len(with_pre))) if with_pre[k].name == "chorus"] + \
            [k for k in range(len(with_pre)) if with_pre[k].name == "verse"]
    while left >= 4 and order:
        grown = False
        for k in order:
            if left < 4:
                break
            if with_pre[k].bars + 4 <= 16:
                with_pre[k].bars += 4
                left -= 4
                grown = True
        if not grown:
            break
    return with_pre


def lyric_layout(sections: list[LyricSection], total_bars: int, bars_per_line: int) -> tuple[list[Slot], list[str]]:
    """Sections that follow the lyrics in order, sized by their number of lines and then
    scaled together to exactly `total_bars`. Returns the slots and any notes (when the
    song is too short to give every lyric section a bar, the first ones are kept)."""
    notes: list[str] = []
    ideal = lyric_bars(sections, bars_per_line)
    if total_bars < len(sections):
        notes.append(f"lyrics: {len(sections)} sections but only {total_bars} bars fit the duration; "
                     f"kept the first {total_bars} sections")
        sections, ideal = sections[:total_bars], ideal[:total_bars]
    bars = fit_lengths(ideal, total_bars)
    slots = [Slot(s.name, b, list(s.lines)) for s, b in zip(sections, bars)]
    return slots, notes


def lyric_bars(sections: list[LyricSection], bars_per_line: int) -> list[int]:
    """The bars each lyric section asks for: its lines × bars_per_line (at least 2), or the
    size of an instrumental tag ([intro-short] 4, [inst-medium] 8, [outro-long] 12)."""
    out = []
    for s in sections:
        if s.lines:
            out.append(max(2, len(s.lines) * bars_per_line))
        elif s.size is not None or s.name in ("intro", "outro"):
            out.append(TAG_BARS[s.size])
        else:
            out.append(EMPTY_SECTION_BARS.get(s.name, 8))
    return out


def fit_lengths(ideal: list[int], total: int) -> list[int]:
    """Scale `ideal` bar counts to integers ≥ 1 summing to `total` (≥ len(ideal)),
    largest remainders first. With room for it, lengths are even (phrases come in pairs
    of bars) and an odd total puts its extra bar on the last section."""
    if total >= 4 * len(ideal):
        out = [2 * b for b in fit_lengths(ideal, total // 2)]
        out[-1] += total % 2
        return out
    scale = total / sum(ideal)
    raw = [b * scale for b in ideal]
    out = [max(1, int(r)) for r in raw]
    by_remainder = sorted(range(len(ideal)), key=lambda i: (-(raw[i] - int(raw[i])), i))
    diff = total - sum(out)
    while diff > 0:
        for i in by_remainder:
            if diff == 0:
                break
            out[i] += 1
            diff -= 1
    while diff < 0:
        i = max(range(len(out)), key=lambda k: (out[k], -k))
        out[i] -= 1
        diff += 1
    return out


# ---------------------------------------------------------------------------------------
# Energy and chords


def energies(slots: list[Slot], base: float) -> list[float]:
    """Energy in [0, 1] per section: the kind's level shifted by the song's base energy
    (0 calm … 1 intense); choruses lift a little each time; the outro falls below what
    came before it."""
    out, choruses = [], 0
    for s in slots:
        e = SECTION_ENERGY.get(s.name, 0.5) + (base - 0.55) * 0.7
        if s.name == "chorus":
            e += 0.04 * choruses
            choruses += 1
        if len(slots) == 1:
            e = base
        out.append(e)
    if len(out) > 1 and slots[-1].name == "outro":
        out[-1] = min(out[-1], out[-2] - 0.1)
    return [round(min(1.0, max(0.05, e)), 2) for e in out]


def progression(style: str, mode: str, kind: str, variant_key: str | None) -> tuple[str, ...]:
    """Roman numerals for one section kind: a variant chosen stably by `variant_key`,
    the first variant when it is None."""
    table = PROGRESSIONS.get(style, PROGRESSIONS["pop"])[mode]
    variants = table.get(kind) or PROGRESSIONS["pop"][mode][kind]
    return variants[stable_index(variant_key + kind, len(variants)) if variant_key is not None else 0]


def cadence(style: str, tonic_pc: int, mode: str) -> list[str]:
    """The song's last two chords: the style's approach chord, then the tonic triad."""
    approach = CADENCES.get(style, DEFAULT_CADENCE)[0 if mode == "major" else 1]
    tonic = "I" if mode == "major" else "i"
    return [theory.roman_to_chord(approach, tonic_pc, mode), theory.roman_to_chord(tonic, tonic_pc, mode)]


def build_sections(slots: list[Slot], tonic_pc: int, mode: str, style: str, base_energy: float,
                   stated_chords: list[str] | None, hold: int, variant_key: str | None) -> list[Section]:
    """Slots → plan Sections with energy and one chord symbol per bar.

    `hold` is the harmonic rhythm: 1 changes chord every bar, 2 every other bar. Every
    section restarts its progression, so verses and choruses start on the tonic chord
    (`stated_chords`, when given, must already start there: harmony.start_on_tonic).
    The intro and outro are tonic-centred (harmony.tonic_centred: the tonic on every
    other chord change), and the song ends on the style's cadence (`cadence`): its
    last bar is the tonic triad, the bar before it the approach chord."""
    tonic_triad = cadence(style, tonic_pc, mode)[-1]
    sections = []
    for slot, energy in zip(slots, energies(slots, base_energy)):
        kind = SECTION_KIND.get(slot.name, "verse")
        if stated_chords and slot.name in STATED_CHORD_SECTIONS:
            symbols = list(stated_chords)
        else:
            symbols = [theory.roman_to_chord(r, tonic_pc, mode) for r in progression(style, mode, kind, variant_key)]
        if slot.name in ("intro", "outro"):
            home = next((c for c in symbols if harmony.is_tonic_chord(c, tonic_pc, mode)), tonic_triad)
            symbols = harmony.tonic_centred(symbols, home, tonic_pc, mode)
        chords = [symbols[(bar // hold) % len(symbols)] for bar in range(slot.bars)]
        lyrics = "\n".join(slot.lines) if slot.lines else None
        sections.append(Section(slot.name, slot.bars, energy, chords, lyrics))
    # the cadence over the song's last two bars (they may straddle two sections)
    last_bars = [(s, b) for s in sections for b in range(s.bars)][-2:]
    for (section, bar), chord in zip(last_bars, cadence(style, tonic_pc, mode)[-len(last_bars):]):
        section.chords[bar] = chord
    return sections
