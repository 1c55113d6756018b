"""The accompaniment writers: drums, hand percussion, bass, comping and pads, one bar at a time.

Each writer takes a style's pattern data, the metre and a `Bar` (chord, energy, position
in its section) and returns notes (start_q, duration_q, pitch, velocity) in song time.
Energy decides how much plays: quiet bars get the sparse pulse groove, held bass roots and
thinned comping; loud bars the full groove, crashes and fills.
"""

from __future__ import annotations

import numpy as np

from .patterns import beat_pattern, fit_pattern, hits, thin
from .score import Bar, Chord, Metre, Note
from .styles.base import DRUM_KEYS, Bass, Comping, Drums, Groove

ACCENTS = {"X": 1.0, "x": 0.8, "o": 0.45, "D": 0.9, "U": 0.62, "r": 0.55}  # step char → velocity share
# symusic's synthesizer plays every velocity alike (render.py shapes section dynamics
# itself), so a ghost note is played on a softer-sounding voice instead; None drops it.
GHOST_VOICES = {"snare": "rim", "hat": "pedal_hat", "open_hat": "pedal_hat", "kick": None, "kick2": None,
                "clap": "rim", "ride": "ride", "esnare": "rim"}
PULSE_BELOW = 0.3  # bar energy under which drums play their sparse pulse groove
GHOSTS_FROM = 0.55  # ghost notes and the full groove from this energy
LIFT_FROM = 0.8  # extra voices (tambourine, 16th hats, ...) from this energy
SOLO_FILL_EVERY = 4  # bars per phrase of a drum solo, each ending in a fill


def velocity(base: int, accent: float, energy: float, rng: np.random.Generator | None = None) -> int:
    """MIDI velocity: the style's base, the step's accent, and energy (0 → 60 %, 1 → 100 %),
    with a few percent of human unevenness when an rng is given. It shapes the MIDI file;
    the audio's dynamics come from render.py (symusic's synthesizer ignores velocity)."""
    v = base * accent * (0.6 + 0.4 * energy)
    if rng is not None:
        v *= 1.0 + 0.06 * (rng.random() - 0.5)
    return int(min(127, max(1, round(v))))


def nearest_pitch(pc: int, target: float, low: int = 0, high: int = 127) -> int:
    """The MIDI pitch of pitch class `pc` closest to `target` inside [low, high] (lower on ties)."""
    base = int(np.floor(target)) - 6
    pitch = base + (pc - base) % 12  # first pitch ≥ target - 6 with that class
    if pitch - target > 6:
        pitch -= 12
    while pitch < low:
        pitch += 12
    while pitch > high and pitch - 12 >= low:
        pitch -= 12
    return pitch


def _in_range(pitches: list[int], low: int, high: int) -> list[int]:
    out = []
    for p in pitches:
        while p < low:
            p += 12
        while p > high and p - 12 >= low:
            p -= 12
        out.append(p)
    return sorted(set(out))


def voice_chord(chord: Chord, voicing: str, register: int, prev: list[int] | None, low: int, high: int,
                top_pc: int | None = None) -> list[int]:
    """Chord → MIDI pitches for one instrument, ascending.

    voicing: "close" (closest inversion to the previous voicing: smooth voice leading),
    "open" (close with the second voice from the top dropped an octave), "shell" (third and
    seventh, for jazz piano), "spread" (root, fifth, tenth, seventh: harp / pad / arpeggios),
    "power" (root, fifth, octave and the third above: a bare fifth on a distorted guitar
    rings with a major third in its overtones, which would turn minor keys major),
    "guitar" (an open-position strum shape on five strings). Close voicings put `top_pc`
    (the key's tonic, when the chord has it) on top when that costs little movement."""
    if voicing == "power":
        root = nearest_pitch(chord.root, register, low)
        return _in_range([root, root + chord.fifth, root + 12, root + 12 + chord.third], low, high)
    if voicing == "guitar":
        root = nearest_pitch(chord.root, register - 7, max(low, 40))
        upper = root + 12 + (chord.seventh if chord.seventh is not None else 0)
        return _in_range([root, root + chord.fifth, upper, root + 12 + chord.third, root + 12 + chord.fifth], low, high)
    if voicing == "spread":
        root = nearest_pitch(chord.root, register - 7, low)
        top = root + 12 + (chord.seventh if chord.seventh is not None else chord.fifth)
        return _in_range([root, root + chord.fifth, root + 12 + chord.third, top], low, high)
    pcs = list(chord.pcs)
    if voicing == "shell" and chord.seventh is not None:
        pcs = [(chord.root + chord.third) % 12, (chord.root + chord.seventh) % 12]
    if len(pcs) > 4:  # ninth chords: drop the fifth, keep the colour
        fifth = (chord.root + chord.fifth) % 12
        pcs = [p for p in pcs if p != fifth][:4]
    best, best_cost = None, None
    for r in range(len(pcs)):
        order = pcs[r:] + pcs[:r]
        for shift in (-12, 0, 12):
            first = nearest_pitch(order[0], register - 4 + shift)
            stack = [first]
            for pc in order[1:]:
                stack.append(stack[-1] + (pc - stack[-1]) % 12 or 12)
            mean = sum(stack) / len(stack)
            cost = 0.3 * abs(mean - register)
            if prev and len(prev) == len(stack):
                cost += sum(abs(a - b) for a, b in zip(sorted(prev), stack))
            if stack[0] < low or stack[-1] > high:
                cost += 100
            if top_pc is not None and stack[-1] % 12 == top_pc:
                cost -= 3.0
            if best_cost is None or cost < best_cost:
                best, best_cost = stack, cost
    notes = best or []
    if voicing == "open" and len(notes) >= 3:
        if len(notes) == 3:
            notes = notes + [notes[0] + 12]
        notes = sorted(notes[:-2] + [notes[-2] - 12] + notes[-1:])
    return _in_range(notes, low, high)


# ----------------------------------------------------------------------------- drums

def needs_fill(drums: Drums, bar: Bar, solo: bool = False) -> bool:
    """A fill ends a section when the next one is at least as loud (and loud enough); a
    drum solo fills at the end of every four-bar phrase."""
    if solo:
        return not bar.final and (bar.section_end or bar.bar_in_section % SOLO_FILL_EVERY == SOLO_FILL_EVERY - 1)
    return (drums.fill != "none" and bar.section_end and not bar.final and bar.next_energy >= 0.45
            and bar.next_energy >= bar.energy - 0.05)


def drum_bar(drums: Drums, metre: Metre, bar: Bar, rng: np.random.Generator, base_vel: int,
             solo: bool = False) -> list[Note]:
    """One bar of the kit: pulse, groove or groove + lift by energy; crash on loud section
    starts; a fill (chosen by the rng) before a section change; a final hit on the last bar.
    `solo`: the kit plays alone (a drum solo), so it fills every phrase, on toms at least."""
    e = bar.energy
    if bar.final:
        out = [(bar.start_q, 1.0, DRUM_KEYS["kick"], velocity(base_vel, 1.0, e))]
        if drums.crash:
            out.append((bar.start_q, min(4.0, bar.length_q), DRUM_KEYS[drums.crash], velocity(base_vel, 0.9, e)))
        return out
    voices: Groove = dict(drums.pulse if e < PULSE_BELOW else drums.groove)
    if e >= LIFT_FROM:
        voices.update(drums.lift)
    fill_from = None
    if needs_fill(drums, bar, solo):
        fill_len = metre.pulse_q if (rng.random() < 0.6 or e < 0.7) else 2 * metre.pulse_q
        fill_from = max(metre.bar_q - fill_len, metre.bar_q / 2)
    out: list[Note] = []
    for voice, patterns in voices.items():
        pattern = fit_pattern(patterns, metre) or beat_pattern(metre)
        for pos, _gap, ch in hits(pattern):
            if ch == "o" and e < GHOSTS_FROM:
                continue
            if fill_from is not None and pos >= fill_from - 1e-9 and voice != "kick":
                continue
            sound = GHOST_VOICES.get(voice, voice) if ch == "o" else voice
            if sound is None:
                continue
            out.append((bar.start_q + pos, 0.25, DRUM_KEYS[sound], velocity(base_vel, ACCENTS[ch], e, rng)))
    if bar.section_start and e >= GHOSTS_FROM and drums.crash:
        out.append((bar.start_q, 2.0, DRUM_KEYS[drums.crash], velocity(base_vel, 0.85, e, rng)))
    if fill_from is not None:
        kind = "toms" if solo and drums.fill in ("none", "hats") else drums.fill
        out += drum_fill(kind, bar.start_q + fill_from, metre.bar_q - fill_from, rng, base_vel, e,
                          drums.fill_step_q)
    return out


def drum_fill(kind: str, start_q: float, length_q: float, rng: np.random.Generator, base_vel: int,
              energy: float, min_step_q: float = 0.0) -> list[Note]:
    """A crescendo fill over [start_q, start_q + length_q); its rhythm is drawn from the rng,
    no step shorter than `min_step_q` quarters."""
    if kind == "hats":
        step = 0.125 if rng.random() < 0.5 else 1.0 / 6.0  # 32nds or sextuplets: a trap roll
        voices = ["hat"]
    else:
        step = 0.25 if rng.random() < 0.65 else 0.5 / 3.0 if rng.random() < 0.5 else 0.5
        voices = {"toms": ["tom_high", "tom_mid", "tom_low", "tom_floor"], "snare": ["snare"],
                  "woodblock": ["woodblock_high", "woodblock_high", "woodblock_low"]}.get(kind, ["snare"])
    step = max(step, min_step_q)
    count = max(1, int(round(length_q / step)))
    skip = rng.random() < 0.4  # leave a gap on the second hit for a different shape
    out = []
    for i in range(count):
        if skip and i == 1 and count > 3:
            continue
        voice = voices[min(len(voices) - 1, i * len(voices) // count)]
        accent = 0.55 + 0.45 * (i + 1) / count
        out.append((start_q + i * step, step, DRUM_KEYS[voice], velocity(base_vel, accent, energy, rng)))
    return out


def percussion_bar(groove: Groove, metre: Metre, bar: Bar, rng: np.random.Generator, base_vel: int) -> list[Note]:
    """Hand percussion layered over the kit (congas, shaker, ...)."""
    if bar.final:
        first = next(iter(groove))
        return [(bar.start_q, 1.0, DRUM_KEYS[first], velocity(base_vel, 0.9, bar.energy))]
    out: list[Note] = []
    for voice, patterns in groove.items():
        pattern = fit_pattern(patterns, metre) or beat_pattern(metre)
        for pos, _gap, ch in hits(pattern):
            vel = velocity(base_vel, ACCENTS.get(ch, 0.8), bar.energy, rng)
            out.append((bar.start_q + pos, 0.25, DRUM_KEYS[voice], vel))
    return out


# ----------------------------------------------------------------------------- bass

def bass_bar(bass: Bass, metre: Metre, bar: Bar, rng: np.random.Generator, base_vel: int, prev: int | None,
             low: int, high: int, tonic_pc: int | None = None) -> tuple[list[Note], int]:
    """One bar of bass: the chord's root (or slash bass) on the downbeat, then the style's
    pattern of fifths, thirds, walking and approach notes. When the chord holds the key's
    tonic as its third or fifth, the pattern's third and fifth steps play that tonic: the
    bass keeps reminding the ear where home is. Returns (notes, last pitch)."""
    e = bar.energy
    chord = bar.chord
    tonic_interval = None
    if tonic_pc is not None and tonic_pc in chord.pcs and tonic_pc != chord.root:
        tonic_interval = (tonic_pc - chord.root) % 12
    root = nearest_pitch(chord.bass, bass.register, low, high)
    if bar.final:
        return [(bar.start_q, bar.length_q, root, velocity(base_vel, 0.95, e))], root
    pattern = fit_pattern(bass.patterns, metre) or "R" + "." * (metre.steps - 1)
    gate = bass.gate
    if e < 0.25:  # quiet: a held root
        pattern, gate = "R" + "." * (metre.steps - 1), 1.0
    elif e < 0.45:
        pattern = thin(pattern, metre, 1)
    next_root = nearest_pitch(bar.next_chord.bass, bass.register, low, high)
    out: list[Note] = []
    last = prev if prev is not None else root
    for pos, gap, ch in hits(pattern):
        if ch in "Rr":
            pitch = root
        elif ch == "5":
            pitch = root + (chord.fifth if tonic_interval is None else tonic_interval)
        elif ch == "3":
            pitch = root + (chord.third if tonic_interval is None else tonic_interval)
        elif ch == "7":
            pitch = root + (chord.seventh if chord.seventh is not None else 10)
        elif ch == "6":
            pitch = root + 9
        elif ch == "8":
            pitch = root + 12
        elif ch == "W":  # walking: a chord tone near the last note
            options = sorted((root + i for i in (chord.third, chord.fifth, 12, chord.seventh or 12)),
                             key=lambda p: (abs(p - last), p))
            pitch = options[int(rng.integers(0, 2))]
        elif ch == "A":  # approach the next root by a semitone or a step, from below or above
            pitch = next_root + int(rng.choice([-1, 1, -2, 2], p=[0.4, 0.3, 0.15, 0.15]))
        else:
            pitch = root
        while pitch > high:
            pitch -= 12
        while pitch < low:
            pitch += 12
        dur = max(0.1, gap * gate)
        out.append((bar.start_q + pos, dur, pitch, velocity(base_vel, ACCENTS.get(ch, 0.85) if pos else 1.0, e, rng)))
        last = pitch
    return out, last


# ----------------------------------------------------------------------------- comping

def comp_voicing(comp: Comping) -> str:
    return {"strum": "guitar", "power": "power"}.get(comp.kind, comp.voicing)


def comp_bar(comp: Comping, metre: Metre, bar: Bar, rng: np.random.Generator, base_vel: int,
             voicing: list[int], seconds_per_q: float) -> list[Note]:
    """One bar of comping on a voiced chord: block chords, strums, arpeggios or Alberti
    figures on the style's hit pattern; quiet bars use the quiet pattern (or only the beats);
    the final bar rolls the chord once and lets it ring to the end."""
    e = bar.energy
    if not voicing:
        return []
    if bar.final:  # one rolled chord, its third doubled on top, ringing to the end
        third = voicing[-1] + (bar.chord.root + bar.chord.third - voicing[-1]) % 12
        notes = voicing + ([third] if third != voicing[-1] else [])
        roll = 0.0 if comp.kind in ("chord", "power") else min(0.12, 0.04 / seconds_per_q)
        return [(bar.start_q + i * roll, bar.length_q - i * roll, p, velocity(base_vel, 0.85, e))
                for i, p in enumerate(notes)]
    pattern = fit_pattern(comp.patterns, metre) or beat_pattern(metre)
    if e < 0.35:
        quiet = fit_pattern(comp.quiet_patterns, metre) if comp.quiet_patterns else None
        if quiet:
            pattern = quiet
        elif comp.kind in ("chord", "power", "strum"):
            pattern = thin(pattern, metre, 1)
    sequence = {"arp": voicing,
                "updown": voicing + voicing[-2:0:-1],
                "alberti": [voicing[0], voicing[-1], voicing[len(voicing) // 2], voicing[-1]]}.get(comp.kind)
    strum_q = 0.012 / seconds_per_q  # 12 ms between strings
    out: list[Note] = []
    for k, (pos, gap, ch) in enumerate(hits(pattern)):
        start = bar.start_q + pos
        if comp.gate >= 0.9:
            # Legato parts let notes ring: arpeggios to the end of the bar (a harp or a
            # guzheng is not damped note by note), chords until the next hit. The
            # synthesizer has no release tails, so this is what carries the sound on.
            dur = bar.length_q - pos if sequence is not None else gap
        else:
            dur = max(0.08, gap * comp.gate)
        accent = ACCENTS.get(ch, 0.8)
        if sequence is not None:
            vel = velocity(base_vel, accent * (1.0 if pos == 0 else 0.9), e, rng)
            out.append((start, dur, sequence[k % len(sequence)], vel))
        elif comp.kind == "strum":
            strings = voicing if ch != "U" else voicing[::-1][:4]
            for i, p in enumerate(strings):
                out.append((start + i * strum_q, max(0.08, dur - i * strum_q), p, velocity(base_vel, accent, e, rng)))
        else:
            for p in voicing:
                out.append((start, dur, p, velocity(base_vel, accent, e, rng)))
    return out


# ----------------------------------------------------------------------------- pads

def pad_voicing(kind: str, chord: Chord, tonic_pc: int, register: int, prev: list[int] | None,
                low: int, high: int) -> list[int]:
    """Pads sustain the chord in close position, smoothly led, with the third on top of the
    tonic chord (it tells major from minor) and the tonic on top of other chords that hold
    it; or a drone on the key's tonic and fifth."""
    if kind == "drone":
        root = nearest_pitch(tonic_pc, register - 5, low, high)
        return _in_range([root, root + 7, root + 12], low, high)
    if chord.root == tonic_pc:  # the home chord: its third on top says major or minor
        top = (chord.root + chord.third) % 12
    else:
        top = tonic_pc if tonic_pc in chord.pcs else None
    return voice_chord(chord, "close", register, prev, low, high, top)
