"""Step patterns: fitting a style's 4/4, 3/4 and 6/8 patterns to any metre, and reading them.

A pattern is a string with one character per 16th note of a bar (see styles/base.py).
"""

from __future__ import annotations

from .score import Metre
from .styles.base import Patterns


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
