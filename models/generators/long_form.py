"""Songs longer than a model's window: cut the plan into segments at section boundaries,
render each segment on its own, and join them with crossfades.

A segment holds whole sections (a section longer than a window is cut at bar lines), so a
crossfade always falls on a section boundary, where the music changes anyway. Every
segment but the last is rendered `crossfade_s` longer than its share of the song; that
tail overlaps the head of the next segment and fades out while the next fades in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..plan import Section, SongPlan


@dataclass
class Segment:
    start_s: float  # where the segment starts in the song
    end_s: float  # where the next segment starts (the song's end for the last)
    sections: list[Section] = field(default_factory=list)  # whole sections, or bar-cut parts of one
    tail_s: float = 0.0  # extra seconds rendered past end_s, overlapped by the next segment's head

    @property
    def render_s(self) -> float:
        """Seconds the model renders for this segment."""
        return self.end_s - self.start_s + self.tail_s


def segments(plan: SongPlan, window_s: float, crossfade_s: float) -> list[Segment]:
    """Cut the plan into segments no longer than `window_s` (tail included).

    A song that fits the window is one segment with no tail. Otherwise sections are packed
    greedily, in order; a section longer than a window is cut into bar-aligned parts.
    """
    total = plan.planned_s
    if total <= window_s:
        return [Segment(0.0, total, list(plan.sections))]
    crossfade_s = min(crossfade_s, window_s / 4)  # a short window keeps most of itself for music
    room = window_s - crossfade_s  # a segment's own share of the song, leaving space for its tail
    if room < plan.bar_s:
        raise ValueError(f"the model's window ({window_s:g} s, {crossfade_s:g} s of it crossfade) is shorter than "
                         f"one bar ({plan.bar_s:.2f} s at {plan.bpm:g} BPM)")
    max_bars = int(room // plan.bar_s)
    parts: list[Section] = []  # sections, long ones cut into parts of at most max_bars
    for s in plan.sections:
        for first in range(0, s.bars, max_bars):
            bars = min(max_bars, s.bars - first)
            parts.append(Section(s.name, bars, s.energy, s.chords[first:first + bars],
                                 s.lyrics if first == 0 else None))
    out: list[Segment] = []
    t = 0.0
    current: list[Section] = []
    for part in parts:
        if current and sum(p.bars for p in current) + part.bars > max_bars:
            length = sum(p.bars for p in current) * plan.bar_s
            out.append(Segment(t, t + length, current, crossfade_s))
            t += length
            current = []
        current.append(part)
    out.append(Segment(t, total, current, 0.0))
    return out


def join(pieces: list[np.ndarray], segs: list[Segment], sample_rate: int) -> np.ndarray:
    """Place each rendered segment at its start and crossfade the overlaps (equal power).

    pieces[i]: (channels, samples) at `sample_rate`, about segs[i].render_s long.
    Returns (channels, round(song length × sample_rate)) float32.
    """
    total = int(round(segs[-1].end_s * sample_rate))
    channels = max(p.shape[0] for p in pieces)
    out = np.zeros((channels, total), dtype=np.float32)
    for i, (piece, seg) in enumerate(zip(pieces, segs)):
        start = int(round(seg.start_s * sample_rate))
        n = min(piece.shape[-1], total - start)
        piece = piece[:, :n].astype(np.float32)
        if i > 0:  # fade in over the previous segment's tail
            fade = int(round(segs[i - 1].tail_s * sample_rate))
            fade = min(fade, n)
            if fade > 0:
                ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
                piece = piece.copy()
                piece[:, :fade] *= np.sin(0.5 * np.pi * ramp)
                out[:, start:start + fade] *= np.cos(0.5 * np.pi * ramp)
        # The previous segment's tail was already written past `start`: add onto it.
        out[:, start:start + n] += piece
    return out
