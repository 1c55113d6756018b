"""The instrument vocabulary a plan may name, and how a General MIDI SoundFont plays it.

A plan's `instruments` are canonical names from `INSTRUMENTS`. The planner maps words
in a prompt (English, Chinese and Japanese) onto these names; the synth generator maps
each name to a GM program and a role in the arrangement. Most Chinese and Mongolian
instruments have no GM patch, so each plays through its nearest timbre (guzheng → Koto,
dizi → Flute, morin khuur → Viola, ...) — the mapping is recorded here, once.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Instrument:
    program: int  # General MIDI program 0..127 (ignored for drums)
    role: str  # "drums", "bass", "harmony" (chords), "melody" (lead lines) or "pad" (sustained)
    low: int  # lowest comfortable MIDI note
    high: int  # highest comfortable MIDI note
    is_drum: bool = False


INSTRUMENTS: dict[str, Instrument] = {
    # drums and percussion (GM channel 10)
    "drum kit": Instrument(0, "drums", 35, 81, True),
    "electronic drums": Instrument(25, "drums", 35, 81, True),  # TR-808-ish kit program
    "percussion": Instrument(0, "drums", 35, 81, True),
    # keys
    "piano": Instrument(0, "harmony", 36, 96),
    "electric piano": Instrument(4, "harmony", 40, 88),
    "organ": Instrument(16, "harmony", 36, 84),
    "harpsichord": Instrument(6, "harmony", 41, 89),
    "celesta": Instrument(8, "melody", 60, 96),
    "music box": Instrument(10, "melody", 60, 96),
    "vibraphone": Instrument(11, "melody", 53, 89),
    "marimba": Instrument(12, "melody", 48, 84),
    "accordion": Instrument(21, "harmony", 53, 89),
    "harmonica": Instrument(22, "melody", 60, 84),
    # guitars and bass
    "acoustic guitar": Instrument(25, "harmony", 40, 83),
    "nylon guitar": Instrument(24, "harmony", 40, 83),
    "electric guitar": Instrument(27, "harmony", 40, 86),
    "distorted guitar": Instrument(30, "harmony", 40, 86),
    "bass guitar": Instrument(33, "bass", 28, 55),
    "acoustic bass": Instrument(32, "bass", 28, 55),
    "slap bass": Instrument(36, "bass", 28, 55),
    "synth bass": Instrument(38, "bass", 24, 55),
    "banjo": Instrument(105, "harmony", 48, 84),
    "steel guitar": Instrument(26, "melody", 40, 86),
    # strings
    "violin": Instrument(40, "melody", 55, 100),
    "viola": Instrument(41, "melody", 48, 88),
    "cello": Instrument(42, "bass", 36, 76),
    "contrabass": Instrument(43, "bass", 28, 60),
    "strings": Instrument(48, "pad", 36, 96),
    "pizzicato strings": Instrument(45, "harmony", 36, 96),
    "harp": Instrument(46, "harmony", 24, 96),
    "fiddle": Instrument(110, "melody", 55, 96),
    # voices (sung lines are rendered as a choir/voice timbre carrying the melody)
    "choir": Instrument(52, "pad", 48, 79),
    "voice": Instrument(53, "melody", 48, 79),
    # brass and winds
    "trumpet": Instrument(56, "melody", 55, 82),
    "trombone": Instrument(57, "melody", 40, 72),
    "tuba": Instrument(58, "bass", 28, 58),
    "french horn": Instrument(60, "pad", 41, 77),
    "brass": Instrument(61, "harmony", 41, 82),
    "saxophone": Instrument(65, "melody", 49, 81),
    "clarinet": Instrument(71, "melody", 50, 91),
    "oboe": Instrument(68, "melody", 58, 91),
    "flute": Instrument(73, "melody", 60, 96),
    "pan flute": Instrument(75, "melody", 60, 96),
    "ocarina": Instrument(79, "melody", 60, 88),  # also 陶笛 and 埙 (xun)
    "bagpipe": Instrument(109, "melody", 55, 79),
    # plucked and struck instruments of other traditions, on their own GM patches
    "sitar": Instrument(104, "melody", 48, 84),
    "kalimba": Instrument(108, "harmony", 60, 88),
    "steelpan": Instrument(114, "melody", 55, 84),  # steel drums; also handpan (手碟)
    # synths
    "synth lead": Instrument(81, "melody", 48, 96),
    "synth pad": Instrument(89, "pad", 36, 84),
    "synth pluck": Instrument(84, "harmony", 48, 84),
    "supersaw": Instrument(81, "harmony", 48, 84),
    # Chinese instruments, played through their nearest GM timbre
    "guzheng": Instrument(107, "harmony", 43, 91),  # 古筝 → Koto
    "pipa": Instrument(106, "melody", 45, 88),  # 琵琶 → Shamisen
    "erhu": Instrument(110, "melody", 62, 96),  # 二胡 → Fiddle
    "dizi": Instrument(73, "melody", 67, 98),  # 笛子 → Flute
    "xiao": Instrument(77, "melody", 55, 84),  # 箫 → Shakuhachi
    "guqin": Instrument(107, "harmony", 36, 77),  # 古琴 → Koto, low register
    "yangqin": Instrument(15, "harmony", 48, 88),  # 扬琴 → Dulcimer
    "sheng": Instrument(109, "pad", 55, 84),  # 笙 → Bagpipe-like reed drone, soft
    "suona": Instrument(111, "melody", 60, 91),  # 唢呐 → Shanai
    "chinese percussion": Instrument(0, "drums", 35, 81, True),  # 鼓/锣/钹 on the GM kit
    "morin khuur": Instrument(41, "melody", 50, 84),  # 马头琴 → Viola: a bowed two-string fiddle, low-mid register
    "hulusi": Instrument(71, "melody", 60, 84),  # 葫芦丝 → Clarinet: a sweet free-reed gourd pipe
    # Japanese instruments, which GM has patches for
    "koto": Instrument(107, "harmony", 43, 91),  # 琴/箏
    "shamisen": Instrument(106, "melody", 48, 84),  # 三味線
    "shakuhachi": Instrument(77, "melody", 55, 84),  # 尺八
}


def instrument(name: str) -> Instrument:
    """Canonical name → Instrument; raises KeyError naming the unknown instrument."""
    try:
        return INSTRUMENTS[name]
    except KeyError:
        raise KeyError(f"unknown instrument {name!r} (known: {', '.join(sorted(INSTRUMENTS))})") from None


# Words for the sung part: "no vocals" rules out every instrument that carries a voice.
VOICE_INSTRUMENTS = frozenset({"voice", "choir"})

# Family words whose members do not share the word at the end of their names ("no strings"
# rules out the violins too, "no synths" every synth). Families that do ("guitar") need no entry.
FAMILIES: dict[str, frozenset[str]] = {
    "strings": frozenset({"violin", "viola", "cello", "contrabass", "strings", "pizzicato strings", "fiddle"}),
    "synth": frozenset({"synth lead", "synth pad", "synth pluck", "supersaw", "synth bass"}),
    "brass": frozenset({"trumpet", "trombone", "tuba", "french horn", "brass"}),
    "woodwinds": frozenset({"flute", "clarinet", "oboe", "saxophone", "pan flute"}),
    "keys": frozenset({"piano", "electric piano", "organ", "harpsichord"}),
    # what "acoustic instruments only" / "unplugged" rules out: everything plugged in
    "electric": frozenset({"synth lead", "synth pad", "synth pluck", "supersaw", "synth bass", "electronic drums",
                           "electric piano", "electric guitar", "distorted guitar"}),
}


def ruled_out(name: str, excluded: list[str]) -> bool:
    """Whether instrument `name` is ruled out by a plan's `excluded` entries. An entry is a
    canonical instrument name ("piano"), a role ("drums", "bass", "harmony", "melody", "pad"),
    "vocals" (every voice instrument), a family word that ends instrument names ("guitar"
    rules out acoustic, electric, distorted and bass guitar), or a word of FAMILIES
    ("strings", "synth", "brass", "woodwinds", "keys", "electric"). The planner writes the entries; the
    composer asks this before it adds any part."""
    inst = INSTRUMENTS[name]
    for entry in excluded:
        if entry == name or entry == inst.role:
            return True
        if entry == "vocals" and name in VOICE_INSTRUMENTS:
            return True
        if name in FAMILIES.get(entry, ()):
            return True
        if name.split()[-1] == entry:  # a family word
            return True
    return False
