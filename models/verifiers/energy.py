"""Structure: does the loudness of each planned section follow the plan's energy curve?

The composer turns a section's `energy` (0 sparse .. 1 full band) into more instruments,
busier parts and higher velocities, all of which raise its level. So the level of the
audio inside each planned span, in dB, should rise and fall with the planned energies;
the check is their Pearson correlation.
"""

from __future__ import annotations

import numpy as np

FRAME_S = 0.05  # seconds per level frame


def section_levels_db(mono: np.ndarray, sr: int, spans: list[tuple[float, float]],
                      trim: float = 0.1, min_s: float = 0.5) -> list[float | None]:
    """Mean power in dBFS of each (start_s, end_s) span of a (samples,) signal.

    The first and last `trim` share of each span are left out (fills, build-ups and
    release tails blur the edges). A span with under `min_s` seconds of audio inside the
    track gives None."""
    hop = max(1, int(FRAME_S * sr))
    n = mono.size // hop
    if n == 0:
        return [None] * len(spans)
    power = np.mean(np.square(mono[: n * hop].astype(np.float64)).reshape(n, hop), axis=1)  # (frames,)
    levels: list[float | None] = []
    for start, end in spans:
        a, b = start + trim * (end - start), end - trim * (end - start)
        i, j = int(a / FRAME_S), min(n, int(b / FRAME_S))
        if (j - i) * FRAME_S < min_s:
            levels.append(None)
            continue
        levels.append(float(10.0 * np.log10(power[i:j].mean() + 1e-12)))
    return levels


def contour_correlation(levels_db: list[float | None], energies: list[float]) -> float | None:
    """Pearson r between the measured section levels (dB) and the planned energies, over
    the sections that have a level; None when fewer than 3 remain or either side is flat."""
    pairs = [(lv, e) for lv, e in zip(levels_db, energies) if lv is not None]
    if len(pairs) < 3:
        return None
    lv, en = (np.array(v, dtype=np.float64) for v in zip(*pairs))
    lv, en = lv - lv.mean(), en - en.mean()
    denom = float(np.sqrt((lv * lv).sum() * (en * en).sum()))
    return float((lv * en).sum() / denom) if denom > 1e-12 else None
