"""Step patterns: fitting a style's 4/4, 3/4 and 6/8 patterns to any metre, and reading them.

A pattern is a string with one character per 16th note of a bar (see styles/base.py).
"""

from __future__ import annotations

import dataclasses

from .score import Metre
from .styles.base import Comping, Groove, Patterns, Style

# A second comping for styles that write none (a second keyboard or guitar): eighth arpeggios.
PLAIN_ARP = Comping("arp", {"4/4": "x.x.x.x.x.x.x.x.", "3/4": "x.x.x.x.x.x.", "6/8": "x.x.x.x.x.x."},
                    voicing="spread", register=67, gate=0.9)


def fit_pattern(patterns: Patterns, metre: Metre) -> str | None:
    """The step string for one bar of `metre`, or None when the style has nothing to fit.

    An exact signature wins. Otherwise the bar is built group by group (Metre.groups):
    a two-beat group of quarters takes half of the 4/4 pattern (first half, then second,
    alternating, so a backbeat stays on the second beat of each group), a three-quarter
    group the 3/4 pattern, a three-eighth group half of the 6/8 pattern, and a two-eighth
    group a quarter of the 4/4 pattern."""
    if metre.signature in patterns:
        return patterns[metre.signature]
    if metre.steps == 16 and "4/4" in patterns:  # 2/2 and other four-quarter bars
        return patterns["4/4"]
    out = []
    for i, g in enumerate(metre.groups):
        steps = int(round(g * metre.beat_q * 4))
        half = i % 2
        if steps == 8 and "4/4" in patterns:
            seg = patterns["4/4"][8 * half: 8 * half + 8]
        elif steps == 12 and "3/4" in patterns:
            seg = patterns["3/4"]
        elif steps == 6 and "6/8" in patterns:
            seg = patterns["6/8"][6 * half: 6 * half + 6]
        elif steps == 4 and "4/4" in patterns:
            seg = patterns["4/4"][8 * half: 8 * half + 4]
        elif steps == 16 and "4/4" in patterns:
            seg = patterns["4/4"]
        elif "4/4" in patterns:  # anything else: as much of 4/4 as fits, repeated
            seg = (patterns["4/4"] * (steps // 16 + 1))[:steps]
        else:
            return None
        out.append(seg)
    return "".join(out)


def hits(pattern: str, step_q: float = 0.25) -> list[tuple[float, float, str]]:
    """'x...X.x.' → [(position_q, gap_q, char)] for every hit; `gap_q` runs to the next hit
    (or the bar end). Dots between hits are not rests: each part decides how much of the
    gap a note sounds (its gate)."""
    onsets = [i for i, c in enumerate(pattern) if c not in ".-"]
    ends = onsets[1:] + [len(pattern)]
    return [(i * step_q, (e - i) * step_q, pattern[i]) for i, e in zip(onsets, ends)]


def beat_pattern(metre: Metre, char: str = "x", every_q: float | None = None) -> str:
    """A plain pattern with `char` on every beat (or every `every_q` quarters)."""
    every = int(round((every_q or metre.beat_q) * 4))
    return "".join(char if i % every == 0 else "." for i in range(metre.steps))


def thin(pattern: str, metre: Metre, min_strength: int = 1) -> str:
    """Keep only the hits on positions at least as strong as `min_strength` (Metre.strength)."""
    return "".join(c if c in ".-" or metre.strength(i * 0.25) >= min_strength else "."
                   for i, c in enumerate(pattern))


# ----------------------------------------------------------------------------- the felt pulse
# A tempo tracker (and a listener tapping along) takes the strongest regular train of
# onsets near 120 a minute as the beat. At slow tempos the off-beat eighths sit nearer
# that than the beat does (70 BPM's eighths come 140 a minute), and at fast ones the
# half bar or a dotted-quarter syncopation does (178 BPM heard as 89 or 119). So the
# accompaniment is re-written for the tempo: slow pieces play the beats and leave the
# subdivisions out; fast pieces drop the off-beat syncopations and sound every beat. The
# synthesizer plays every velocity alike, so an accent is who plays, not how hard.
#
# A re-rendered take (attempt ≥ 1: the verifier failed the first, often for its tempo)
# plays the "pulse-clear" arrangement instead of just a new seed: every tempo is played
# slow or fast (split at PULSE_CLEAR_SPLIT_S), a kick or snare marks every beat, slow
# melodies sing on the beats only, fast ones without anticipations, and a fast piece with
# neither drums nor comping restrikes its pads on every beat (composer.compose).

SLOW_BEAT_S = 0.65  # a beat this long or longer (≤ ~92 BPM) is felt through its beats only
FAST_BEAT_S = 0.44  # a beat this short or shorter (≥ ~136 BPM): every beat sounds, no syncopation
PULSE_CLEAR_SPLIT_S = 0.5  # pulse-clear takes: beats ≥ 0.5 s (≤ 120 BPM, where people tap) play slow, shorter fast
SLOW_MELODY_OFFBEATS = 0.15  # share of a melody's off-beat notes kept at slow tempos (pulse-clear: none)
BEAT_VOICES = ("kick", "kick2", "snare", "clap", "rim", "esnare", "ride")  # drums that carry the beat itself


def pulse_clear(attempt: int) -> bool:
    """Whether take `attempt` (0-based round of the track's lifecycle) plays the pulse-clear
    arrangement: every re-render does, so a rejected take is not just re-seeded."""
    return attempt >= 1


def feel(metre: Metre, beat_s: float, clear: bool = False) -> str:
    """How a beat of `beat_s` seconds is played: "slow", "fast", or "" (as written: middle
    tempos). Compound metres (whose beat is the eighth) are never "fast": their
    dotted-quarter pulse, which the style's 6/8 already marks, is what is felt then; but a
    slow eighth is itself the pulse, and its sixteenths the subdivision heard instead.
    `clear` (a pulse-clear take) leaves no middle: slow up to PULSE_CLEAR_SPLIT_S, else fast."""
    slow_s, fast_s = (PULSE_CLEAR_SPLIT_S, PULSE_CLEAR_SPLIT_S) if clear else (SLOW_BEAT_S, FAST_BEAT_S)
    if beat_s >= slow_s:
        return "slow"
    return "fast" if beat_s <= fast_s and not metre.compound else ""


def on_beats(pattern: str, metre: Metre) -> str:
    """Only the hits on beats (Metre.strength ≥ 1)."""
    return thin(pattern, metre, 1)


def every_beat(pattern: str, metre: Metre, char: str) -> str:
    """The pattern with `char` added on every beat that has no hit."""
    beat = int(round(metre.beat_q * 4))
    return "".join(char if i % beat == 0 and c in ".-" else c for i, c in enumerate(pattern))


def felt(patterns: Patterns, metre: Metre, beat_s: float, fill: str = "", clear: bool = False) -> Patterns:
    """`patterns` re-written for a beat of `beat_s` seconds, for this metre only: slow or
    fast (`feel`, pulse-clear when `clear`) → hits on beats only, and `fill` (when given)
    on the beats left empty; otherwise as written. {} stays {}."""
    pattern = fit_pattern(patterns, metre)
    if pattern is None or not feel(metre, beat_s, clear):
        return patterns
    pattern = on_beats(pattern, metre)
    return {metre.signature: every_beat(pattern, metre, fill) if fill else pattern}


def felt_style(style: Style, metre: Metre, beat_s: float, clear: bool = False) -> Style:
    """The style's accompaniment re-written for the tempo (`felt`): drums, hand percussion,
    bass and comping play on the beats, the bass and the comping on every beat. At fast
    tempos (and in every pulse-clear take) a beat that no kick, snare, clap or ride strikes
    gets a kick; at slow tempos drum fills move in beats, not sixteenths, and melodies sing
    mostly on the beats (fewer off-beat notes, none in a pulse-clear take; no
    anticipations, no sixteenths). Middle tempos keep the style as written (`clear`: there
    are none). A style without a second comping gets the plain eighth arpeggio
    (PLAIN_ARP, the composer's default for it), re-written like the rest."""
    tempo = feel(metre, beat_s, clear)
    if not tempo:
        return style

    def groove(g: Groove) -> Groove:
        return {voice: felt(p, metre, beat_s, clear=clear) for voice, p in g.items()}

    drums = style.drums
    if drums is not None:
        drums = dataclasses.replace(drums, groove=groove(drums.groove), pulse=groove(drums.pulse),
                                    lift=groove(drums.lift))
        if tempo == "fast" or clear:
            drums = dataclasses.replace(drums, groove=_beats_marked(drums.groove, metre))
        if tempo == "slow":  # a fill of sixteenths at 70 BPM runs at 280 a minute: the beat it hides is heard double
            drums = dataclasses.replace(drums, fill_step_q=metre.beat_q)
    melody = style.melody
    if tempo == "slow":
        melody = dataclasses.replace(melody, offbeats=0.0 if clear else SLOW_MELODY_OFFBEATS, syncopation=0.0,
                                     sixteenths=0.0)
    elif clear:  # fast: no anticipated beats (each is heard as a beat of its own, 2/3 or 3/2 of the tempo)
        melody = dataclasses.replace(melody, syncopation=0.0, sixteenths=0.0)
    return dataclasses.replace(
        style, drums=drums, melody=melody, comping2=_felt_comping(style.comping2 or PLAIN_ARP, metre, beat_s, clear),
        percussion=groove(style.percussion),
        bass=dataclasses.replace(style.bass, patterns=felt(style.bass.patterns, metre, beat_s, "R", clear)),
        comping=_felt_comping(style.comping, metre, beat_s, clear))


def _felt_comping(comp: Comping, metre: Metre, beat_s: float, clear: bool) -> Comping:
    """Comping on every beat, quiet bars too: chords on one and three only are heard as
    the beat at half the tempo, and a slow piece's chords are its pulse."""
    fill = "D" if comp.kind == "strum" else "x"
    return dataclasses.replace(comp, patterns=felt(comp.patterns, metre, beat_s, fill, clear),
                               quiet_patterns=felt(comp.quiet_patterns, metre, beat_s, fill, clear))


def _beats_marked(g: Groove, metre: Metre) -> Groove:
    """`g` (already fitted to `metre`) with a kick on every beat that no beat voice
    strikes (a ghost note does not count: quiet bars leave it out)."""
    sig = metre.signature
    marking = [p[sig] for voice, p in g.items() if voice in BEAT_VOICES]
    kick = next((v for v in ("kick", "kick2") if v in g), "kick")
    beat = int(round(metre.beat_q * 4))
    own = g.get(kick, {}).get(sig, "." * metre.steps)
    merged = "".join("x" if i % beat == 0 and all(m[i] in ".-o" for m in marking) else c for i, c in enumerate(own))
    return g if merged == own else {**g, kick: {sig: merged}}
