"""Melodies from motifs: a one-bar rhythm plus a contour of scale steps, stated, repeated on
the next chord, answered by a second motif, and closed by a cadence.

A section's melody is a pure function of its motif rng, its chords and the style, so a
chorus sung twice is the same chorus twice. Phrases are four bars (A A' B C); the second
phrase varies its answer (A A' B' C), and the section's last bar cadences on the tonic
when the chord allows it. Strong beats land on chord tones; weak ones may pass through
the scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .accompaniment import velocity
from .score import Bar, Chord, Metre, Note
from .styles.base import Melody as MelodyStyle


@dataclass
class Motif:
    rhythm: list[tuple[float, float]]  # (onset_q within the bar, duration_q), onsets ascending
    steps: list[int]  # scale steps from the previous note, one per note (the first is ignored)
    start_tone: int  # chord tone the motif starts on: 0 root, 1 third, 2 fifth


@dataclass
class SectionMotifs:
    """Everything random about one section's melody, drawn once from its own rng."""

    a: Motif  # the statement
    b: Motif  # the answer
    b2: Motif  # the answer's variation in even phrases
    vary_last: list[int]  # per phrase: a different last step for the repeated statement A'
    breathe: list[bool]  # per phrase: whether A' thins to its strong-beat notes (Melody.rest)
    pickup: bool  # whether cadence bars end with a pickup into the next phrase
    grace_draws: np.ndarray  # (64,) uniform draws deciding where ornaments go


def make_rhythm(metre: Metre, style: MelodyStyle, rng: np.random.Generator) -> list[tuple[float, float]]:
    """One bar of melodic rhythm: onsets on the eighth grid, likelier on strong positions,
    some split into sixteenths, some anticipated by an eighth (syncopation)."""
    d = style.density
    slots = int(round(metre.bar_q / 0.5))
    onsets: list[float] = []
    for k in range(slots):
        pos = 0.5 * k
        s = metre.strength(pos)
        p = {3: 0.92, 2: 0.6 + 0.35 * d, 1: 0.3 + 0.6 * d}.get(s, max(0.0, 0.85 * d - 0.1) * style.offbeats)
        if rng.random() < p:
            if s in (1, 2) and k > 0 and rng.random() < style.syncopation and (pos - 0.5) not in onsets:
                pos -= 0.5  # anticipate the beat
            onsets.append(pos)
            if rng.random() < style.sixteenths and pos + 0.25 < metre.bar_q:
                onsets.append(pos + 0.25)
    onsets = sorted(set(onsets))
    if len(onsets) < 2:  # at least a downbeat and the middle of the bar: the second group, or a beat
        # (3/4's half bar, 1.5 quarters, is no beat: a fast waltz would be heard at 2/3 of its tempo)
        middle = metre.beat_q * (metre.groups[0] if len(metre.groups) > 1 else max(1, metre.beats_per_bar // 2))
        onsets = sorted(set(onsets) | {0.0, middle})
    ends = onsets[1:] + [metre.bar_q]
    rhythm = []
    for i, (a, b) in enumerate(zip(onsets, ends)):
        gap = b - a
        if i == len(onsets) - 1 and rng.random() < 0.5:
            gap = max(0.5, gap * 0.6)  # breathe before the next bar
        rhythm.append((a, gap * style.gate))
    return rhythm


def make_contour(n: int, style: MelodyStyle, rng: np.random.Generator) -> list[int]:
    """n scale steps shaped like an arch: rising in the first half, falling in the second."""
    steps = [0]
    for i in range(1, n):
        up = rng.random() < (0.65 if i < n / 2 else 0.35)
        size = int(rng.choice([1, 2], p=[0.7, 0.3]))
        if rng.random() < style.leap:
            size = int(rng.integers(3, 6))
        elif rng.random() < 0.12:
            size = 0  # a repeated note
        steps.append(size if up else -size)
    return steps


def make_motif(metre: Metre, style: MelodyStyle, rng: np.random.Generator) -> Motif:
    rhythm = make_rhythm(metre, style, rng)
    return Motif(rhythm, make_contour(len(rhythm), style, rng), int(rng.integers(0, 3)))


def make_section_motifs(metre: Metre, style: MelodyStyle, rng: np.random.Generator) -> SectionMotifs:
    a = make_motif(metre, style, rng)
    b = make_motif(metre, style, rng)
    b2 = Motif(b.rhythm, make_contour(len(b.rhythm), style, rng), int(rng.integers(0, 3)))
    vary = [int(rng.choice([-2, -1, 1, 2])) for _ in range(16)]
    breathe = [bool(rng.random() < style.rest) for _ in range(16)]
    return SectionMotifs(a, b, b2, vary, breathe, bool(rng.random() < 0.6), rng.random(64))


def ladder(scale_pcs: tuple[int, ...], chord: Chord, low: int, high: int) -> list[int]:
    """The pitches a melody may use over a chord: the scale, with any chord tone outside it
    (the leading tone of a minor-key V) replacing the scale notes a semitone away (except
    the tonic, scale_pcs[0], and other chord tones)."""
    pcs = set(scale_pcs)
    keep = set(chord.pcs) | {scale_pcs[0]}
    for c in chord.pcs:
        if c not in pcs:
            pcs -= {(c - 1) % 12, (c + 1) % 12} - keep
            pcs.add(c)
    return [p for p in range(low, high + 1) if p % 12 in pcs]


def _nearest_index(rungs: list[int], pitch: float) -> int:
    return int(np.argmin([abs(r - pitch) for r in rungs]))


def _snap_to_chord(rungs: list[int], i: int, chord: Chord, direction: int) -> int:
    """Move index i to the nearest chord tone, preferring the direction of motion."""
    for d in (0, direction, -direction, 2 * direction, -2 * direction, 3 * direction, -3 * direction):
        j = i + d
        if 0 <= j < len(rungs) and rungs[j] % 12 in chord.pcs:
            return j
    return i


def realise(motif: Motif, bar: Bar, metre: Metre, scale_pcs: tuple[int, ...], anchor: float, low: int, high: int,
            last_step: int | None = None) -> list[tuple[float, float, int]]:
    """Motif on one bar's chord → [(start_q, duration_q, pitch)]: start on the motif's chord
    tone nearest `anchor`, follow the contour through the scale, land strong beats on chord
    tones, and stay inside [low, high] by turning around at the edges."""
    rungs = ladder(scale_pcs, bar.chord, low, high)
    chord_pcs = bar.chord.pcs
    start_pc = chord_pcs[min(motif.start_tone, len(chord_pcs) - 1)]
    candidates = [k for k, r in enumerate(rungs) if r % 12 == start_pc]
    i = min(candidates, key=lambda k: abs(rungs[k] - anchor)) if candidates else _nearest_index(rungs, anchor)
    out = []
    for n, ((pos, dur), step) in enumerate(zip(motif.rhythm, motif.steps)):
        if n > 0:
            if last_step is not None and n == len(motif.rhythm) - 1:
                step = last_step
            j = i + step
            if not 0 <= j < len(rungs) or abs(rungs[j] - anchor) > 10:
                j = i - step  # turn around at the edge of the range
            i = min(max(j, 0), len(rungs) - 1)
            if metre.strength(pos) >= 2 or (metre.strength(pos) >= 1 and dur >= metre.beat_q):
                i = _snap_to_chord(rungs, i, bar.chord, 1 if step >= 0 else -1)
        out.append((bar.start_q + pos, dur, rungs[i]))
    return out


def cadence(bar: Bar, metre: Metre, scale_pcs: tuple[int, ...], prev_pitch: float, low: int, high: int,
            tonic_pc: int, final: bool, pickup: bool) -> list[tuple[float, float, int]]:
    """A phrase ending: a long chord tone on the downbeat (the tonic when the chord has
    it), then, mid-section, a short pickup into the next phrase."""
    rungs = ladder(scale_pcs, bar.chord, low, high)
    # Phrases come home to the tonic whenever the chord holds it (I, IV in minor, vi in
    # major ...): it is what tells a listener, and a key finder, where home is.
    if tonic_pc in bar.chord.pcs:
        targets = [tonic_pc]
    else:
        targets = [bar.chord.pcs[0], bar.chord.pcs[1 % len(bar.chord.pcs)]]
    pool = [r for r in rungs if r % 12 in targets] or rungs
    pitch = min(pool, key=lambda r: (abs(r - prev_pitch), r))
    if final or not pickup or bar.length_q < 1.5:
        return [(bar.start_q, bar.length_q * (1.0 if final else 0.85), pitch)]
    long_q = bar.length_q - 1.0
    i = rungs.index(pitch)
    up = rungs[min(i + 1, len(rungs) - 1)]
    return [(bar.start_q, long_q * 0.95, pitch), (bar.start_q + bar.length_q - 0.5, 0.45, up)]


def section_melody(bars: list[Bar], motifs: SectionMotifs, metre: Metre, style: MelodyStyle,
                   scale_pcs: tuple[int, ...], tonic_pc: int, low: int, high: int, centre: int,
                   base_vel: int, vel_rng: np.random.Generator) -> list[Note]:
    """A whole section's melody: phrases of four bars A A' B C (A A' B' C in even phrases);
    shorter tails use A C, A B C; the last bar cadences (on the tonic when possible)."""
    n = len(bars)
    plan_for = {1: ["C"], 2: ["A", "C"], 3: ["A", "B", "C"], 4: ["A", "A'", "B", "C"]}
    shape: list[tuple[str, int]] = []  # (bar role, phrase index)
    phrase = 0
    while len(shape) < n:
        length = min(4, n - len(shape))
        shape += [(role, phrase) for role in plan_for[length]]
        phrase += 1
    notes: list[tuple[float, float, int]] = []
    prev = float(centre)
    for k, (bar, (role, ph)) in enumerate(zip(bars, shape)):
        last_bar = k == n - 1
        if bar.final:
            role = "C"
        if role == "C":
            line = cadence(bar, metre, scale_pcs, prev, low, high, tonic_pc, last_bar, motifs.pickup and not last_bar)
        elif role == "A":
            line = realise(motifs.a, bar, metre, scale_pcs, centre, low, high)
        elif role == "A'":
            line = realise(motifs.a, bar, metre, scale_pcs, centre, low, high, motifs.vary_last[ph % 16])
            if motifs.breathe[ph % 16] and len(line) > 2:  # a sparser echo leaves room to breathe
                line = [n for n in line if metre.strength(n[0] - bar.start_q) >= 1] or line[:1]
        else:
            line = realise(motifs.b2 if ph % 2 else motifs.b, bar, metre, scale_pcs, prev, low, high)
        notes += line
        if line:
            prev = float(line[-1][2])
    return _ornament_and_velocity(notes, bars, metre, style, scale_pcs, tonic_pc, base_vel, vel_rng,
                                  motifs.grace_draws)


def _ornament_and_velocity(notes: list[tuple[float, float, int]], bars: list[Bar], metre: Metre, style: MelodyStyle,
                           scale_pcs: tuple[int, ...], tonic_pc: int, base_vel: int, vel_rng: np.random.Generator,
                           draws: np.ndarray) -> list[Note]:
    """Velocities from the bar's energy and the metre's accents; grace notes ('grace': a quick
    slide from the scale note below, as dizi and erhu play; 'blue': the minor third bent up to
    the major third) on some long notes. Where ornaments go is fixed per section."""
    out: list[Note] = []
    bar_len = metre.bar_q
    first = bars[0].start_q
    for k, (start, dur, pitch) in enumerate(notes):
        bar = bars[min(len(bars) - 1, int((start - first + 1e-6) // bar_len))]
        pos = start - bar.start_q
        accent = 1.0 if metre.strength(pos) >= 2 else 0.88 if metre.strength(pos) >= 1 else 0.8
        vel = velocity(base_vel, accent, bar.energy, vel_rng)
        grace = None
        if style.ornament == "grace" and dur >= metre.beat_q and draws[k % len(draws)] < 0.45:
            below = [p for p in range(pitch - 3, pitch) if p % 12 in scale_pcs]
            grace = below[-1] if below else None
        elif style.ornament == "blue" and (pitch - tonic_pc) % 12 == 4 and draws[k % len(draws)] < 0.5:
            grace = pitch - 1
        if grace is not None and dur > 0.3:
            g = min(0.12, dur / 4)
            out.append((start, g, grace, max(1, vel - 15)))
            out.append((start + g, dur - g, pitch, vel))
        else:
            out.append((start, dur, pitch, vel))
    return out
