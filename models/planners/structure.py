"""Song form: which sections, how many bars each, how loud, and which chord in each bar.

Lengths are in bars of the plan's metre. The planner first decides the total number of
bars (the duration filled with whole bars), then either follows tagged lyrics
(`lyric_layout`) or lays out the form the genre plays (`choose_form`, `form_layout`):

    verse-chorus  intro, verse/chorus blocks, a bridge, instrumental breaks, outro (pop, rock, ...)
    aaba          32-bar choruses A A B A: the head, solo choruses, the head again (jazz, standards)
    blues         12-bar choruses: sung, then soloed over, then sung again (blues)
    through       through-composed: every section new, no return (ambient, cinematic, classical cues)
    loop          8-bar loops: build, drop, breakdown, build, drop (EDM; lo-fi's beat drops out and back)

and then gives every section an energy (wider apart where the genre plays it so: an EDM
drop against its breakdown, narrow for ambient) and one chord per bar (`build_sections`).
Short durations get short forms: under 4 bars one verse, under 8 a verse and a short
ending, and every form shrinks its sections before it drops them.

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

FORMS = ("verse-chorus", "aaba", "blues", "through", "loop", "lyrics")  # the values of SongPlan.form
STYLE_FORMS = {"jazz": "aaba", "blues": "blues", "ambient": "through", "cinematic": "through",
               "classical": "through", "edm": "loop", "lofi": "loop"}  # other styles: verse-chorus
# Genre labels that play the AABA song form whatever their style (bossa nova is latin).
AABA_GENRES = frozenset({"bossa nova", "swing", "big band", "bebop", "jazz standard", "standard", "doo-wop",
                         "crooner", "tin pan alley"})

# Which progression a section plays, where a form differs from SECTION_KIND: AABA solos
# blow over the A changes, blues sections are all twelve-bar
# choruses, and a loop's build plays the drop's chords.
FORM_KIND = {"aaba": {"solo": "verse"},
             "blues": {"solo": "chorus", "instrumental": "chorus"},
             "loop": {"pre_chorus": "chorus"}}
# Section energy where a form uses a section differently: a loop's breakdown drops right
# down and its drop is the whole band; AABA solos build over the head.
FORM_ENERGY = {"loop": {"break": 0.12, "pre_chorus": 0.55, "chorus": 0.95, "verse": 0.5, "intro": 0.3},
               "aaba": {"solo": 0.65, "bridge": 0.55},
               "through": {"break": 0.38, "pre_chorus": 0.7, "chorus": 0.9}}
# How far apart a style's sections are in energy: the spread around the song's middle is
# scaled by this (1 = SECTION_ENERGY as written). EDM drops and rock choruses hit hard;
# ambient stays within a few dB; jazz and lo-fi move gently.
ENERGY_CONTRAST = {"edm": 1.8, "metal": 1.6, "rock": 1.7, "cinematic": 1.6, "pop": 1.4, "hiphop": 1.35,
                   "funk": 1.2, "rnb": 1.15, "guofeng": 1.25, "country": 1.15, "folk": 1.1, "reggae": 1.0,
                   "latin": 1.0, "blues": 1.05, "jazz": 0.9, "classical": 1.2, "chinese_traditional": 1.1,
                   "lofi": 1.0, "ambient": 0.55}
ENERGY_MIDDLE = 0.55  # the energy a section of middling intensity has

# Through-composed sections in the order they come, and which to keep first when the cue
# is short (the theme, then the climax, then the rest): no section name returns, so no
# tune repeats (the composer writes one set of motifs per section name).
THROUGH_ORDER = {"ambient": ("verse", "instrumental", "bridge", "break", "solo", "post_chorus"),
                 "cinematic": ("verse", "bridge", "instrumental", "solo", "pre_chorus", "chorus"),
                 "classical": ("verse", "bridge", "instrumental", "solo", "pre_chorus", "chorus")}
THROUGH_KEEP = {"ambient": ("verse", "instrumental", "bridge", "break", "solo", "post_chorus"),
                "cinematic": ("verse", "chorus", "pre_chorus", "bridge", "instrumental", "solo"),
                "classical": ("verse", "chorus", "bridge", "pre_chorus", "instrumental", "solo")}
THROUGH_SECTION_BARS = {"ambient": 16, "cinematic": 12, "classical": 12}  # bars a section aims for
# One block of a loop form, in loop units (8 bars; 4 or 2 in short pieces): EDM builds,
# drops and breaks down; lo-fi plays its two loops, then lets the beat drop out.
LOOP_BLOCKS = {"edm": (("pre_chorus", 1), ("chorus", 2), ("break", 1)),
               "lofi": (("verse", 1), ("chorus", 1), ("break", 1))}


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


def choose_form(style: str, genre: str, has_lyrics: bool) -> str:
    """The form a song plays: its lyrics' own sections when it has tagged lyrics, AABA for
    the genres of the standards, else the form of the style (STYLE_FORMS, verse-chorus)."""
    if has_lyrics:
        return "lyrics"
    if genre.strip().lower() in AABA_GENRES:
        return "aaba"
    return STYLE_FORMS.get(style, "verse-chorus")


def form_layout(form: str, total_bars: int, style: str) -> list[Slot]:
    """Slots of exactly `total_bars` bars in `form` (not "lyrics": see lyric_layout)."""
    n = max(1, int(total_bars))
    if n < 8 or form == "verse-chorus":
        return layout(n)
    if form == "aaba":
        return _aaba(n)
    if form == "blues":
        return _blues(n)
    if form == "through":
        return _through(n, style)
    if form == "loop":
        return _loop(n, style)
    raise ValueError(f"form={form!r}: unknown (known: {', '.join(FORMS)})")


def _aaba(n: int) -> list[Slot]:
    """Choruses of A A B A (8-bar sections; 4 or 2 when short): the head (verse verse
    bridge verse), solo choruses (solo solo bridge solo), the head again; spare
    A sections trade solos before the last head; an intro and a tag ending."""
    intro = 0 if n < 40 else 4
    outro = 2 if n < 40 else 4
    body = n - intro - outro
    if body < 8:
        return layout(n)
    unit = 8 if body >= 32 else body // 4  # one shorter chorus
    choruses = body // (4 * unit)
    slots: list[Slot] = []
    for k in range(choruses):
        a = "verse" if k in (0, choruses - 1) else "solo"
        chorus = [Slot(a, unit), Slot(a, unit), Slot("bridge", unit), Slot(a, unit)]
        if k == choruses - 1 and choruses > 1:
            left = body - sum(s.bars for s in slots) - 4 * unit
            slots += [Slot("solo", unit) for _ in range(left // unit)]  # traded A sections before the last head
        slots += chorus
    if choruses == 1 and unit == 8:  # one chorus: spare A sections are soloed after the head
        slots += [Slot("solo", unit) for _ in range((body - 4 * unit) // unit)]
    return _frame(slots, n, intro, outro)


def _blues(n: int) -> list[Slot]:
    """Twelve-bar choruses: the sung head (verse), a second verse in longer pieces, solo
    choruses, the head again; the bars left over make a turnaround intro and a tag (the
    last chorus ends on the song's cadence by itself). Under 12 bars the song is a verse
    on the first bars of the form and a short ending."""
    if n < 12:
        return [Slot("verse", n - 2), Slot("outro", 2)]
    choruses, spare = divmod(n, 12)
    intro = spare // 2 if spare >= 4 else 0
    names = ["verse"] * choruses if choruses <= 2 else \
        ["verse"] + ["verse"] * (choruses >= 5) + ["solo"] * (choruses - 2 - (choruses >= 5)) + ["verse"]
    return _frame([Slot(name, 12) for name in names], n, intro, 0)


def _through(n: int, style: str) -> list[Slot]:
    """A through-composed cue: an intro, new sections in THROUGH_ORDER (as many as the
    length calls for, the most important kept first), and an ending; lengths even and
    as equal as the bars allow."""
    order = THROUGH_ORDER.get(style, THROUGH_ORDER["cinematic"])
    keep = THROUGH_KEEP.get(style, THROUGH_KEEP["cinematic"])
    intro = 2 if n < 24 else 4
    outro = 2 if n < 24 else 4
    body = n - intro - outro
    count = max(1, min(len(order), round(body / THROUGH_SECTION_BARS.get(style, 12))))
    chosen = set(keep[:count])
    names = [name for name in order if name in chosen]
    bars = fit_lengths([1] * len(names), body) if body >= len(names) else [body]
    return [Slot("intro", intro)] + [Slot(name, b) for name, b in zip(names, bars)] + [Slot("outro", outro)]


def _loop(n: int, style: str) -> list[Slot]:
    """Loops of 8 bars (4, and a shorter intro and outro, when that makes room for a
    second drop; 2 in the shortest pieces): an intro, then
    LOOP_BLOCKS of the style repeated (EDM: build, drop, breakdown), ending on a drop (a
    breakdown never leads into the outro), then an outro. Spare bars lengthen the drops
    by half a loop, last first, then go to the intro and outro."""
    block = LOOP_BLOCKS.get(style, LOOP_BLOCKS["edm"])
    best: tuple[int, int, list[Slot]] | None = None
    # (loop unit, intro and outro bars), tried in turn until two drops fit; two-bar loops
    # only in the shortest pieces
    options = ((8, 8), (8, 4), (4, 4), (4, 2)) if n >= 24 else ((4, 2), (2, 2))
    for unit, edge in options:
        slots = _loop_body(block, n - 2 * edge, unit)
        drops = sum(s.name == "chorus" for s in slots)
        if (drops and best is None) or drops >= 2:
            best = (unit, edge, slots)
        if drops >= 2:
            break
    if best is None:
        return layout(n)
    unit, edge, slots = best
    left = n - 2 * edge - sum(s.bars for s in slots)
    for s in [s for s in slots if s.name == "chorus"][::-1] * 2:
        if left < unit // 2 or unit < 4:
            break
        s.bars += unit // 2
        left -= unit // 2
    return _frame(slots, n, edge, edge)


def _loop_body(block: tuple[tuple[str, int], ...], body: int, unit: int) -> list[Slot]:
    """As many of `block`'s sections, in turn, as fit `body` bars, ending on a drop."""
    slots: list[Slot] = []
    used, k = 0, 0
    while used + block[k % len(block)][1] * unit <= body:
        name, units = block[k % len(block)]
        slots.append(Slot(name, units * unit))
        used += units * unit
        k += 1
    while slots and slots[-1].name != "chorus":
        slots.pop()
    return slots


def _frame(slots: list[Slot], n: int, intro: int, outro: int) -> list[Slot]:
    """An intro and an outro around `slots`, sharing the bars still free so the whole is
    exactly `n` bars: the intro takes half of them (a song without one gets one from 4
    free bars on: a blues turnaround, a few bars of the groove), the outro the rest."""
    spare = n - sum(s.bars for s in slots) - intro - outro
    if intro or spare >= 4:
        intro += spare // 2
    outro = n - sum(s.bars for s in slots) - intro
    return ([Slot("intro", intro)] if intro else []) + slots + ([Slot("outro", outro)] if outro else [])


def layout(total_bars: int, unit: int = 8) -> list[Slot]:
    """The verse-chorus form of exactly `total_bars` bars.

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


def energies(slots: list[Slot], base: float, style: str = "", form: str = "") -> list[float]:
    """Energy in [0, 1] per section: the kind's level (FORM_ENERGY where the form uses the
    section its own way, else SECTION_ENERGY), spread around the middle by the style's
    ENERGY_CONTRAST and shifted by the song's base energy (0 calm … 1 intense); repeated
    choruses (and blues and jazz solo choruses) lift a little each time; the outro falls
    below what came before it."""
    contrast = ENERGY_CONTRAST.get(style, 1.0)
    levels = FORM_ENERGY.get(form, {})
    lifting = ("chorus", "solo") if form in ("blues", "aaba") else ("chorus",)
    out, repeats = [], {}
    for s in slots:
        level = levels.get(s.name, SECTION_ENERGY.get(s.name, 0.5))
        e = ENERGY_MIDDLE + (level - ENERGY_MIDDLE) * contrast + (base - 0.55) * 0.7
        if s.name in lifting:
            e += 0.04 * min(repeats.get(s.name, 0), 4)
            repeats[s.name] = repeats.get(s.name, 0) + 1
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
                   stated_chords: list[str] | None, hold: int, variant_key: str | None, form: str = ""
                   ) -> list[Section]:
    """Slots → plan Sections with energy and one chord symbol per bar.

    `hold` is the harmonic rhythm: 1 changes chord every bar, 2 every other bar; `form`
    decides which progression some sections play (FORM_KIND) and their energy. Every
    section restarts its progression, so verses and choruses start on the tonic chord
    (`stated_chords`, when given, must already start there: harmony.start_on_tonic).
    The intro and outro are tonic-centred (harmony.tonic_centred: the tonic on every
    other chord change), and the song ends on the style's cadence (`cadence`): its
    last bar is the tonic triad, the bar before it the approach chord."""
    tonic_triad = cadence(style, tonic_pc, mode)[-1]
    sections = []
    for slot, energy in zip(slots, energies(slots, base_energy, style, form)):
        kind = FORM_KIND.get(form, {}).get(slot.name) or SECTION_KIND.get(slot.name, "verse")
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
