"""Plan + seed → a multi-track score (`Composition`): the composer of the synth generator.

    composition = compose(plan, seed)

1. Parts: the plan's instruments take their roles (drums, bass, harmony, melody, pad);
   roles the plan leaves empty come from the style's palette; a second instrument of a
   role becomes a second layer (counter-melody, second comping, percussion, ...).
2. Bars: the plan's sections laid end to end, one chord per bar exactly as planned, each
   bar's energy from its section (intros build, pre-choruses lift, outros fade); the song
   ends at the plan's duration, its last bar holding the tonic chord.
3. Each part writes its notes bar by bar in the style's language (accompaniment.py,
   melody.py); melodies come from per-section motifs, so a chorus repeats exactly.
4. Feel: swing, if the style swings, and a few milliseconds of human timing.

Notes carry velocities for the MIDI file; the renderer shapes loudness from the bars'
energies instead (render.py: symusic's synthesizer plays every velocity alike).

Randomness comes only from `numpy.random.default_rng` streams seeded by (seed, purpose,
...), so the same plan and seed give the same notes, and each part's choices do not shift
when another part changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

from .. import theory
from ..errors import SongfarmError
from ..instruments import INSTRUMENTS, ruled_out
from ..plan import SongPlan
from .accompaniment import bass_bar, comp_bar, comp_voicing, drum_bar, pad_voicing, percussion_bar, velocity, \
    voice_chord
from .melody import make_section_motifs, realise, section_melody
from .patterns import PLAIN_ARP, feel, felt, felt_style, pulse_clear
from .score import Bar, Chord, Composition, Metre, Note, Part, SectionSpan
from .styles import get_style
from .styles.base import DRUM_KEYS, Bass, Drums, Style

ROLES = ("drums", "bass", "harmony", "melody", "pad")
EXTRA_KIND = {"drums": "percussion", "bass": "bass2", "harmony": "harmony2", "melody": "counter", "pad": "pad2"}
MAX_PARTS = 9  # palette parts stop here: rendering time stays bounded (the plan's own instruments always play)
MAX_NAMED_PARTS = 16  # a plan naming more instruments than this is refused rather than cut
COVER_MELODY_SHARE = 0.62  # where in its range a chordal instrument's own tune sits (above its chords)
COVER_BASS_LOWEST = 45  # A2: an instrument reaching this low may play a solo piece's bass notes
# Who plays a role when the style's palette instrument is ruled out ("no vocals" in R&B).
ROLE_FALLBACKS = {"drums": ("drum kit", "percussion"), "bass": ("bass guitar", "synth bass", "acoustic bass", "cello"),
                  "harmony": ("piano", "electric piano", "acoustic guitar", "harp"),
                  "melody": ("saxophone", "synth lead", "flute", "violin"),
                  "pad": ("strings", "synth pad", "organ")}
MIN_SECONDS = 1.0  # shortest song the composer writes
# At slow tempos held pads sit this much lower, and no louder than SLOW_PAD_MAX_DB: the
# slow wobble of a sustained patch reads as fast onsets to a tempo tracker (and blurs the beat).
SLOW_PAD_DB = 6.0
SLOW_PAD_MAX_DB = -10.0
HUMANISE_S = 0.006  # standard deviation of a pitched note's timing, seconds
HUMANISE_DRUMS_S = 0.002  # the drummer keeps tighter time: the pulse is what tempo is heard from

# Mix level (dB, drums = 0) and pan (-1 left .. +1 right) per part kind; styles adjust levels.
LEVELS = {"drums": 0.0, "percussion": -7.0, "bass": -1.0, "bass2": -9.0, "harmony": -4.0, "harmony2": -7.0,
          "melody": -2.0, "counter": -7.0, "pad": -6.0, "pad2": -10.0}
PANS = {"drums": 0.0, "percussion": -0.4, "bass": 0.0, "bass2": 0.2, "harmony": -0.25, "harmony2": 0.35,
        "melody": 0.1, "counter": -0.3, "pad": 0.0, "pad2": 0.0}

FINAL_MIN_FRACTION = 0.5  # the last bar must have at least half a bar before the end to carry the tonic
FINAL_HOLD_S = 2.5  # the final tonic chord rings at least this long when the bars allow ...
FINAL_EXTRA_BARS = 2  # ... taking over at most this many closing bars of the last section
BASS_BAND_TOP = 52  # E3: below this only the bass part plays, so the low register spells out the roots

# Fallbacks when the plan asks for a role the style has no pattern for (drums in a classical piece).
_PLAIN_DRUMS = Drums(
    groove={"kick": {"4/4": "X.......X.......", "3/4": "X...........", "6/8": "X.....x....."},
            "snare": {"4/4": "....x.......x...", "3/4": "....x...x...", "6/8": "......x....."},
            "hat": {"4/4": "x.x.x.x.x.x.x.x.", "3/4": "x.x.x.x.x.x.", "6/8": "x.x.x.x.x.x."}},
    pulse={"hat": {"4/4": "x...x...x...x...", "3/4": "x...x...x...", "6/8": "x.x.x.x.x.x."}},
)
_PLAIN_PERCUSSION = {"shaker": {"4/4": "x.o.x.o.x.o.x.o.", "3/4": "x.o.x.o.x.o.", "6/8": "x.ox.ox.ox.o"},
                     "conga_low": {"4/4": "x.......x.......", "3/4": "x...........", "6/8": "x.....x....."}}

_CYMBALS = {DRUM_KEYS[v] for v in ("crash", "crash2", "china", "splash", "ride", "ride_bell", "open_hat")}

_STREAMS = {"drums": 1, "percussion": 2, "bass": 3, "harmony": 4, "melody": 5, "counter": 6, "pad": 7,
            "velocity": 8, "timing": 9, "register": 10}


class CompositionError(SongfarmError, ValueError):
    """A plan the composer cannot play: unknown instrument, bad chord symbol, ..."""


def _stream(seed: int, purpose: str, *extra: int) -> np.random.Generator:
    """An independent rng for one purpose (and section), from the take's seed."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, _STREAMS[purpose], *extra])


def _name_id(name: str) -> int:
    """A stable integer for a section name (str hash() changes from process to process)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def _stem_name(instrument: str, taken: set[str]) -> str:
    base = instrument.replace(" ", "_")
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def _allowed(plan: SongPlan) -> Callable[[str], bool]:
    """The plan's rule for whether an instrument may play: not ruled out by `excluded`
    (models.instruments.ruled_out, the one owner of that rule), no voice when the plan is
    instrumental, and nothing the plan does not name when it is exclusive."""
    excluded = list(plan.excluded) + ([] if plan.vocals else ["vocals"])
    named = set(plan.instruments)
    return lambda name: not ruled_out(name, excluded) and not (plan.exclusive and name not in named)


def _cover(role: str, named: list[str]) -> str | None:
    """In an exclusive plan, which named pitched instrument also plays an empty `role`: a
    solo guitar or piano carries the tune over its own chords and plays its own bass
    notes, a strings ensemble or a choir sings the tune over its chords, a lone cello
    takes the tune too. Chords are never covered: a pad already holds them, and a flute
    or a voice has none. None: nobody can."""
    order = {"melody": ("harmony", "pad", "bass"), "bass": ("harmony", "pad")}.get(role, ())
    for wanted in order:
        for n in named:
            inst = INSTRUMENTS[n]
            if inst.role == wanted and not inst.is_drum and (role != "bass" or inst.low <= COVER_BASS_LOWEST):
                return n
    return None


def choose_parts(plan: SongPlan, style: Style) -> list[Part]:
    """Instruments → parts. Every instrument the plan names plays: the first of a role
    takes the role, the others of that role layer over it (counter-melody, second comping,
    percussion, ...). Roles the plan leaves empty come from the style's palette, or the
    first allowed of ROLE_FALLBACKS when the palette's is ruled out (an instrumental R&B
    song's lead goes to a saxophone, not to nobody). An exclusive plan adds nothing: its
    own instruments cover the empty roles where they can (`_cover`). Palette parts are
    capped at MAX_PARTS overall; the plan's own instruments never are."""
    allowed = _allowed(plan)
    by_role: dict[str, list[str]] = {r: [] for r in ROLES}
    for i, name in enumerate(plan.instruments):
        if name not in INSTRUMENTS:
            raise CompositionError(f"plan.instruments[{i}]={name!r}: unknown instrument "
                                   f"(known: {', '.join(sorted(INSTRUMENTS))})")
        if allowed(name) and name not in by_role[INSTRUMENTS[name].role]:
            by_role[INSTRUMENTS[name].role].append(name)
    named = [n for names in by_role.values() for n in names]
    if len(named) > MAX_NAMED_PARTS:
        raise CompositionError(f"plan.instruments: {len(named)} instruments; the composer plays at most "
                               f"{MAX_NAMED_PARTS}")
    if plan.exclusive and not named:
        raise CompositionError(f"plan.instruments={plan.instruments!r}: an exclusive plan needs an instrument "
                               f"that is not excluded")
    parts: list[Part] = []
    taken: set[str] = set()
    for role in ROLES:
        names, from_plan, cover = by_role[role], True, False
        if not names and plan.exclusive:
            names = [n for n in [_cover(role, named)] if n]
            cover = bool(names)
        elif not names:
            choices = [style.palette[role], *ROLE_FALLBACKS[role]] if role in style.palette else []
            names, from_plan = [n for n in choices if allowed(n)][:1], False
            if names and names[0] in named:  # the plan's organ already plays: no second, palette organ
                names = []
        for k, name in enumerate(names):
            if not from_plan and len(parts) >= MAX_PARTS:
                break
            kind = role if k == 0 else EXTRA_KIND[role]
            inst = INSTRUMENTS[name]
            level = style.levels.get(kind, LEVELS[kind])
            pan = next((p.pan for p in parts if p.instrument == name), PANS[kind])  # one player, one place
            parts.append(Part(_stem_name(name, taken), name, kind, inst.program, inst.is_drum, pan, level,
                              cover=cover))
    if not parts:
        raise CompositionError(f"plan.excluded={plan.excluded!r}: rules out every instrument of the "
                               f"{plan.style} style; nothing is left to play")
    return parts


def _chords(plan: SongPlan) -> list[list[Chord]]:
    out = []
    for i, section in enumerate(plan.sections):
        row = []
        for j, symbol in enumerate(section.chords):
            try:
                row.append(Chord.parse(symbol))
            except ValueError as exc:
                raise CompositionError(f"plan.sections[{i}].chords[{j}]={symbol!r}: {exc}") from None
        out.append(row)
    return out


def lay_out_bars(plan: SongPlan, metre: Metre, end_q: float, tonic_pc: int, seconds_per_q: float) -> list[Bar]:
    """The plan's sections as bars, ending at `end_q`.

    The song's last bar is the last one starting at least half a bar before the end; bars
    after it are dropped, and it stretches to the end, holding the tonic chord (the plan's
    own last chord when that is already on the tonic). When bars are short, the held
    final chord takes over up to FINAL_EXTRA_BARS of the last section's closing bars so
    that it rings for FINAL_HOLD_S: a song's key is heard in where it comes to rest."""
    chords = _chords(plan)
    rows = []  # (section index, bar in section, chord)
    for si, section in enumerate(plan.sections):
        for b in range(section.bars):
            rows.append((si, b, chords[si][b] if b < len(chords[si]) else chords[si][-1]))
    min_left = FINAL_MIN_FRACTION * metre.bar_q
    last = 0
    for i in range(len(rows)):
        if i * metre.bar_q <= end_q - min_left + 1e-9:
            last = i
    extra = 0
    while (extra < FINAL_EXTRA_BARS and last - extra - 1 >= 1
           and rows[last - extra - 1][0] == rows[last][0]
           and (end_q - (last - extra) * metre.bar_q) * seconds_per_q < FINAL_HOLD_S):
        extra += 1
    last -= extra
    rows = rows[: last + 1]
    final_si, _, final_chord = rows[-1]
    if final_chord.root != tonic_pc:
        rows[-1] = (final_si, rows[-1][1], Chord.triad(tonic_pc, plan.mode))
    bars_in = {si: sum(1 for r in rows if r[0] == si) for si, _, _ in rows}
    bars: list[Bar] = []
    for i, (si, b, chord) in enumerate(rows):
        section = plan.sections[si]
        n = bars_in[si]
        e = section.energy
        if section.name == "intro":
            e *= 0.55 + 0.45 * (b + 1) / n
        elif section.name == "outro" and i < len(rows) - 1:  # fades, but the final chord rings out full
            e *= 1.0 - 0.45 * b / max(1, n - 1)
        elif section.name == "pre_chorus":  # a build: rising to just under what it leads into
            following = plan.sections[si + 1].energy if si + 1 < len(plan.sections) else e
            e = min(1.0, e + max(0.15, following - 0.1 - e) * b / max(1, n - 1))
        start = i * metre.bar_q
        length = end_q - start if i == len(rows) - 1 else metre.bar_q
        bars.append(Bar(i, start, length, si, section.name, b, n, chord, chord, float(e), i == len(rows) - 1, float(e)))
    for a, b in zip(bars, bars[1:]):
        a.next_chord, a.next_energy = b.chord, b.energy
    return bars


def _register(part: Part, centre_share: float = 0.45) -> tuple[int, int, int]:
    """(low, high, centre) MIDI pitches for a part's instrument."""
    inst = INSTRUMENTS[part.instrument]
    centre = int(round(inst.low + centre_share * (inst.high - inst.low)))
    return inst.low, inst.high, min(max(centre, inst.low + 7), inst.high - 7)


def _scale(plan: SongPlan, style: Style) -> tuple[int, ...]:
    tonic_pc = theory.pitch_class(plan.tonic)
    name = plan.scale or style.scales.get(plan.mode) or plan.mode
    if name not in theory.SCALES:
        raise CompositionError(f"plan.scale={name!r}: unknown scale (known: {', '.join(theory.SCALES)})")
    return tuple(theory.scale_pitch_classes(tonic_pc, name))


def _sections(bars: list[Bar]) -> list[list[Bar]]:
    out: list[list[Bar]] = []
    for bar in bars:
        if bar.section_start or not out:
            out.append([])
        out[-1].append(bar)
    return out


def compose(plan: SongPlan, seed: int, end_s: float | None = None, attempt: int = 0) -> Composition:
    """Write the whole song for `plan` with `seed`; it ends at `end_s` (default plan.duration_s).
    `attempt` (the take's round, 0-based) picks the arrangement: a re-render (attempt ≥ 1)
    plays the pulse-clear one (patterns.pulse_clear, felt_style), not just a new seed.

    Raises CompositionError (a SongfarmError) naming the field for a plan it cannot play."""
    style = get_style(plan.style)
    _chords(plan)  # names the section and bar of a bad chord symbol
    try:
        plan.check()
    except ValueError as exc:
        raise CompositionError(str(exc)) from None
    end_s = plan.duration_s if end_s is None else end_s
    if not end_s >= MIN_SECONDS:
        raise CompositionError(f"plan.duration_s={end_s!r}: too short to play (at least {MIN_SECONDS:g} s)")
    metre = Metre(plan.beats_per_bar, plan.beat_unit)
    tonic_pc = theory.pitch_class(plan.tonic)
    qpm = plan.bpm * metre.beat_q
    end_q = end_s * qpm / 60.0
    bars = lay_out_bars(plan, metre, end_q, tonic_pc, 60.0 / qpm)
    parts = choose_parts(plan, style)
    clear = pulse_clear(attempt)
    style = felt_style(style, metre, 60.0 / plan.bpm, clear)  # the accompaniment for the planned tempo's felt beat
    tempo = feel(metre, 60.0 / plan.bpm, clear)
    if tempo == "slow":  # a slow piece is carried by its pulse: held pads sit back
        for part in (p for p in parts if p.kind in ("pad", "pad2")):
            part.level_db = min(part.level_db - SLOW_PAD_DB, SLOW_PAD_MAX_DB)
    # At fast tempos the band keeps the drummer's tight time: 6 ms is 2 % of a 176 BPM beat,
    # enough to blur a beat period that trackers measure in whole ~12 ms frames (at 176 BPM
    # 29 or 30 frames: 178 or 172 BPM, the second outside 2 %).
    pitched_sigma_s = HUMANISE_DRUMS_S if tempo == "fast" else HUMANISE_S
    # A fast piece with neither drums nor comping is heard in its bars (2/3 or 1/2 of the
    # tempo): in a pulse-clear take its pads restrike on every beat, an ostinato.
    ostinato = clear and tempo == "fast" and not any(p.kind in ("drums", "harmony") for p in parts)
    scale_pcs = _scale(plan, style)
    spq = 60.0 / qpm
    vel_rng = _stream(seed, "velocity")
    sections = _sections(bars)

    # Motifs per section name: every chorus draws the same ones, so it sings the same tune.
    motifs = {name: make_section_motifs(metre, style.melody, _stream(seed, "melody", _name_id(name)))
              for name in sorted({b.section_name for b in bars})}
    hook_name = next((n for n in ("chorus", "verse") if n in motifs), None)

    for part in parts:
        writer = {"drums": _write_drums, "percussion": _write_percussion, "bass": _write_bass,
                  "bass2": _write_bass2, "harmony": _write_harmony, "harmony2": _write_harmony,
                  "melody": _write_melody, "counter": _write_counter, "pad": _write_pad, "pad2": _write_pad}[part.kind]
        part.notes = writer(part=part, style=style, metre=metre, bars=bars, sections=sections, seed=seed,
                            scale_pcs=scale_pcs, tonic_pc=tonic_pc, motifs=motifs, hook=hook_name, spq=spq,
                            vel_rng=vel_rng, has_counter=any(p.kind == "counter" for p in parts),
                            beat_s=60.0 / plan.bpm, clear=clear, ostinato=ostinato,
                            drum_solo=all(p.is_drum for p in parts))
        part.notes = [n for n in part.notes if n[0] < end_q - 1e-6]
        if style.swing and not metre.compound:
            part.notes = [_swing(n, style.swing, style.swing_unit) for n in part.notes]
        part.notes = _humanise(part.notes, sections, seed, parts.index(part),
                               (HUMANISE_DRUMS_S if part.is_drum else pitched_sigma_s) / spq)
        part.notes = [(s, min(d, end_q - s), p, v) for s, d, p, v in part.notes]
        part.notes.sort()

    spans = [SectionSpan(sec[0].section_name, sec[0].start_q, sec[-1].start_q + sec[-1].length_q,
                         plan.sections[sec[0].section].energy) for sec in sections]
    return Composition(qpm=qpm, metre=metre, tonic_pc=tonic_pc, mode=plan.mode, tonic_name=plan.tonic,
                       end_q=end_q, parts=[p for p in parts if p.notes], sections=spans,
                       bar_energy=[(b.start_q, b.energy) for b in bars])


def _humanise(notes: list[Note], sections: list[list[Bar]], seed: int, part_index: int, sigma_q: float
              ) -> list[Note]:
    """Players are not a grid: each onset moves by a few milliseconds (normal, `sigma_q`
    quarters, clipped at 2.5 sigma), the note's end staying put. The draws restart at each
    section from an rng of the section's name, so a repeated chorus is played exactly
    alike. The song's first downbeat stays at zero."""
    if not notes or sigma_q <= 0:
        return notes
    notes = sorted(notes)
    out: list[Note] = []
    k = 0
    for sec in sections:
        end = sec[-1].start_q + sec[-1].length_q
        rng = _stream(seed, "timing", part_index, _name_id(sec[0].section_name))
        while k < len(notes) and (notes[k][0] < end - 1e-9 or sec is sections[-1]):
            start, dur, pitch, vel = notes[k]
            shift = min(2.5 * sigma_q, max(-2.5 * sigma_q, rng.normal(0.0, sigma_q)))  # np.clip: 5 µs a note
            new = max(0.0, start + shift) if start > 0 else 0.0
            out.append((new, max(0.02, dur + start - new), pitch, vel))
            k += 1
    return out


def _swing(note: Note, amount: float, unit: float) -> Note:
    """Delay off-beat `unit`s toward the triplet position (amount 1 = full triplet swing),
    mapping start and end so notes keep their place in the groove."""
    def warp(t: float) -> float:
        k, r = divmod(t, 2 * unit)
        d = amount * unit / 3.0
        if r <= unit:
            r = r * (unit + d) / unit
        else:
            r = unit + d + (r - unit) * (unit - d) / unit
        return k * 2 * unit + r
    start, dur, pitch, vel = note
    s2 = warp(start)
    return (s2, max(0.05, warp(start + dur) - s2), pitch, vel)


# ----------------------------------------------------------------------------- part writers
# Each takes the same keyword arguments (those it does not need are absorbed by **_).

def _layer_from(energy: float, bars: list[Bar]) -> float:
    """The energy from which a second layer (counter-melody, second comping, ...) joins:
    `energy`, or the song's loudest bar when it never gets that loud, so an instrument
    the plan names plays in a quiet song too."""
    return min(energy, max(b.energy for b in bars))


def _let_ring(notes: list[Note], end_q: float) -> list[Note]:
    """Drum hits sound until the same drum is struck again (up to 2 quarters, cymbals 4):
    the synthesizer cuts a sample at its note-off, so a drum's note length is how long it
    rings. Repeated hi-hats choke each other as they do on a kit."""
    notes = sorted(notes)
    out: list[Note] = []
    next_start: dict[int, float] = {}
    for start, dur, key, vel in reversed(notes):
        longest = 4.0 if key in _CYMBALS else 2.0
        nxt = next_start.get(key, end_q)
        ring = max(dur, min(longest, nxt - start)) if nxt > start else dur
        out.append((start, ring, key, vel))
        next_start[key] = start
    return out[::-1]


def _write_drums(part: Part, style: Style, metre: Metre, bars: list[Bar], seed: int, drum_solo: bool, **_
                 ) -> list[Note]:
    drums = style.drums or _PLAIN_DRUMS
    rng = _stream(seed, "drums")
    out: list[Note] = []
    for bar in bars:
        out += drum_bar(drums, metre, bar, rng, style.velocity, solo=drum_solo)
    return _let_ring(out, bars[-1].start_q + bars[-1].length_q)


def _write_percussion(part: Part, style: Style, metre: Metre, bars: list[Bar], seed: int, **_) -> list[Note]:
    groove = style.percussion or _PLAIN_PERCUSSION
    rng = _stream(seed, "percussion")
    out = [n for bar in bars if bar.energy >= _layer_from(0.35, bars) or bar.final
           for n in percussion_bar(groove, metre, bar, rng, int(style.velocity * 0.85))]
    return _let_ring(out, bars[-1].start_q + bars[-1].length_q)


def _write_bass(part: Part, style: Style, metre: Metre, bars: list[Bar], seed: int, tonic_pc: int, beat_s: float,
                clear: bool, **_) -> list[Note]:
    low, high, _ = _register(part)
    rng = _stream(seed, "bass")
    bass = style.bass
    if part.cover:  # a solo piano's left hand: roots ringing from the strong beats (every beat when felt so)
        roots = "".join("R" if metre.strength(i * 0.25) >= 2 else "." for i in range(metre.steps))
        bass = Bass(felt({metre.signature: roots}, metre, beat_s, "R", clear), gate=1.0, register=bass.register)
    out: list[Note] = []
    prev = None
    for bar in bars:
        notes, prev = bass_bar(bass, metre, bar, rng, style.velocity, prev, low, high, tonic_pc)
        out += notes
    return out


def _write_bass2(part: Part, style: Style, metre: Metre, bars: list[Bar], seed: int, **_) -> list[Note]:
    """A second bass instrument holds the roots an octave above the bass, in fuller bars."""
    low, high, _ = _register(part)
    held = Bass({metre.signature: "R" + "." * (metre.steps - 1)}, gate=1.0, register=style.bass.register + 12)
    rng = _stream(seed, "bass", 2)
    out: list[Note] = []
    for bar in bars:
        if bar.energy >= _layer_from(0.45, bars) or bar.final:
            out += bass_bar(held, metre, bar, rng, int(style.velocity * 0.8), None, low, high)[0]
    return out


def _write_harmony(part: Part, style: Style, metre: Metre, bars: list[Bar], seed: int, spq: float, **_) -> list[Note]:
    second = part.kind == "harmony2"
    comp = (style.comping2 or PLAIN_ARP) if second else style.comping
    inst_low, inst_high, _ = _register(part)
    inst_low = max(inst_low, BASS_BAND_TOP + 1)
    # Each take voices its chords around a slightly different centre: other inversions.
    shift = int(_stream(seed, "register", 2 if second else 1).integers(-3, 4))
    register = min(max(comp.register + shift, inst_low + 6), inst_high - 6)
    rng = _stream(seed, "harmony", 2 if second else 1)
    out: list[Note] = []
    prev: list[int] | None = None
    for bar in bars:
        if second and bar.energy < _layer_from(0.5, bars) and not bar.final:
            continue
        voicing = voice_chord(bar.chord, comp_voicing(comp), register, prev, inst_low, inst_high)
        out += comp_bar(comp, metre, bar, rng, int(style.velocity * (0.85 if second else 0.95)), voicing, spq)
        prev = voicing
    return out


def _write_pad(part: Part, style: Style, metre: Metre, bars: list[Bar], tonic_pc: int, ostinato: bool = False,
               **_) -> list[Note]:
    """Pads hold the chord, tied across bars while it does not change. A 'sustain' pad
    restrikes the chord when it changes; a 'swell' pad ties the tones two chords share and
    moves only the others; a 'drone' holds the key's tonic and fifth. The first pad plays
    throughout (quietly when the energy is low: it is what keeps the sound from stopping
    dead between hits, the synthesizer having no release tails); a second pad only when loud.
    `ostinato`: the chord restruck on every beat instead (see compose)."""
    if ostinato:
        held = _write_pad(part, style, metre, bars, tonic_pc)
        return [(float(start), metre.beat_q * 0.9, pitch, v) for s, d, pitch, v in held
                for start in np.arange(s, s + d - 1e-6, metre.beat_q)]
    low, high, centre = _register(part, 0.4)
    low = max(low, BASS_BAND_TOP + 1)
    centre = max(centre, low + 7)
    kind = style.pad if style.pad != "none" else "sustain"
    if part.kind == "pad2":
        centre += 7
    threshold = _layer_from(0.6, bars) if part.kind == "pad2" else 0.0
    out: list[Note] = []
    prev: list[int] | None = None
    sounding: dict[int, int] = {}  # pitch → index in `out` of its note still sounding
    for bar in bars:
        if bar.energy < threshold and not bar.final:
            sounding, prev = {}, None
            continue
        voicing = pad_voicing(kind, bar.chord, tonic_pc, centre, prev, low, high)
        vel = velocity(int(style.velocity * 0.75), 0.8, bar.energy)
        restrike = bar.section_start or (kind == "sustain" and voicing != prev)
        held = {} if restrike else {p: k for p, k in sounding.items() if p in voicing}
        for k in held.values():  # tones that carry on: keep holding
            s, d, pitch, v = out[k]
            out[k] = (s, d + bar.length_q, pitch, v)
        sounding = dict(held)
        for p in voicing:
            if p not in held:
                sounding[p] = len(out)
                out.append((bar.start_q, bar.length_q, p, vel))
        prev = voicing
    return out


def _write_melody(part: Part, style: Style, metre: Metre, sections: list[list[Bar]], scale_pcs: tuple[int, ...],
                  tonic_pc: int, motifs: dict, hook: str | None, vel_rng: np.random.Generator, has_counter: bool,
                  **_) -> list[Note]:
    """The lead: each melodic section sings its own motifs; the outro recalls the hook and
    ends on the tonic; without a counter-melody part, longer intros hint at the hook. An
    instrument that also plays chords or bass (a solo piano's right hand) sings above them."""
    low, high, centre = _register(part, COVER_MELODY_SHARE if part.cover else 0.45)
    low, high = max(low, centre - 10, BASS_BAND_TOP + 1), min(high, centre + 12)
    base = style.velocity
    out: list[Note] = []
    for sec in sections:
        name = sec[0].section_name
        if name not in ("intro", "outro", "break"):  # verse, chorus, bridge, solo, ...
            out += section_melody(sec, motifs[name], metre, style.melody, scale_pcs, tonic_pc, low, high, centre,
                                  base, vel_rng)
        elif name == "outro" and hook:
            out += _recall_hook(sec, motifs[hook], metre, style, scale_pcs, tonic_pc, low, high, centre, base, vel_rng)
        elif name == "intro" and hook and not has_counter and len(sec) >= 4:
            out += _recall_hook(sec[len(sec) // 2:], motifs[hook], metre, style, scale_pcs, tonic_pc, low, high,
                                centre, int(base * 0.8), vel_rng)
        elif sec[-1].final:  # a song that ends in its intro, outro or a break still resolves
            out += section_melody(sec[-1:], motifs[name], metre, style.melody, scale_pcs, tonic_pc, low, high,
                                  centre, base, vel_rng)
    return out


def _recall_hook(bars: list[Bar], motifs, metre: Metre, style: Style, scale_pcs, tonic_pc, low, high, centre,
                 base: int, vel_rng) -> list[Note]:
    """The hook's first motif on these bars' chords, then a rest; a final bar holds the tonic."""
    out: list[Note] = []
    for k, bar in enumerate(bars):
        if bar.final:
            out += section_melody([bar], motifs, metre, style.melody, scale_pcs, tonic_pc, low, high, centre,
                                  base, vel_rng)
        elif k < 2:
            out += [(s, d, p, velocity(base, 0.9, bar.energy, vel_rng))
                    for s, d, p in realise(motifs.a, bar, metre, scale_pcs, centre, low, high)]
    return out


def _write_counter(part: Part, style: Style, metre: Metre, sections: list[list[Bar]], scale_pcs, tonic_pc: int,
                   motifs: dict, hook: str | None, vel_rng, **_) -> list[Note]:
    """A second melodic instrument: the hook in the intro, and long guide tones (the chord's
    third or seventh, moving as little as possible) under the lead in fuller sections,
    ending on the third of the final chord."""
    low, high, centre = _register(part, 0.35)
    low = max(low, BASS_BAND_TOP + 1)
    centre = max(centre, low + 5)
    out: list[Note] = []
    prev = centre
    joins = _layer_from(0.5, [b for sec in sections for b in sec if sec[0].section_name not in ("intro", "break")]
                        or sections[-1])
    for sec in sections:
        name = sec[0].section_name
        if name == "intro" and hook and len(sec) >= 2:
            out += _recall_hook(sec[len(sec) // 2:], motifs[hook], metre, style, scale_pcs, tonic_pc,
                                max(low, centre - 8), min(high, centre + 10), centre, int(style.velocity * 0.8),
                                vel_rng)
            continue
        for bar in sec:
            if not bar.final and (bar.energy < joins or name in ("intro", "break")):
                continue
            chord = bar.chord
            tones = [(chord.root + chord.third) % 12]
            if chord.seventh is not None:
                tones.append((chord.root + chord.seventh) % 12)
            if bar.final:  # the third of the home chord: it tells major from minor
                tones = [(chord.root + chord.third) % 12]
            pool = [p for p in range(low, high + 1) if p % 12 in tones and abs(p - centre) <= 9]
            pitch = min(pool or [prev], key=lambda p: (abs(p - prev), p))
            halves = 2 if (bar.energy >= 0.75 and not bar.final) else 1
            for h in range(halves):
                length = bar.length_q / halves
                out.append((bar.start_q + h * length, length * 0.95, pitch,
                            velocity(int(style.velocity * 0.8), 0.85, bar.energy, vel_rng)))
            prev = pitch
    return out
