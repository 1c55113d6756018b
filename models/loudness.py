"""Loudness (ITU-R BS.1770-4 / EBU R128) and true peak, shared by generators and verifiers.

Generators normalise with `normalise`; verifiers measure with `integrated_lufs` and
`true_peak_db`, so both sides agree on the definitions.

Everything here is vectorised so that a 60 s stereo master is measured in tens of
milliseconds: `integrated_lufs` gives pyloudnorm's numbers (same K-weighting filters, same
400 ms blocks with 75 % overlap, same gating) without its per-block Python loop, and
`true_peak_db` gives the 4x-oversampled peak of `scipy.signal.resample_poly` while
oversampling only the blocks whose sample peak could possibly reach the maximum.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyloudnorm.iirfilter import IIRfilter
from scipy.ndimage import maximum_filter1d, minimum_filter1d
from scipy.signal import lfilter, resample_poly, sosfilt

TARGET_LUFS = -14.0  # streaming-platform integrated loudness
TRUE_PEAK_CEILING_DB = -1.0  # dBTP

_BLOCK_S = 0.400  # gating block length (BS.1770-4)
_STEP = 0.25  # hop as a share of the block: 75 % overlap
_ABSOLUTE_GATE = -70.0  # LUFS
_CHANNEL_GAINS = (1.0, 1.0, 1.0, 1.41, 1.41)  # L, R, C, Ls, Rs

_TP_BLOCK = 128  # samples per block when searching for the true peak (2.9 ms at 44.1 kHz)
_TP_CONTEXT = 16  # input samples each side of a block the 4x interpolator reads (resample_poly's reads 10)
_TP_CHUNK = 1 << 16  # samples per piece when oversampling a whole signal (keeps the 4x copy in cache)
_PIECE = 1 << 18  # samples per piece when filtering or scanning long signals: memory stays bounded
_TP_BATCH = 2048  # blocks oversampled per call (2048 x 160 samples: ~10 MB of 4x copy per channel)
OVERSHOOT_GUESS_DB = 3.0  # how far music's inter-sample peaks rise above nearby samples, at most


@lru_cache(maxsize=8)
def _k_weighting(sample_rate: int) -> tuple[np.ndarray, float]:
    """The K-weighting pre-filter as second-order sections: (2, 6) float64, and its gain.

    The same RBJ biquads pyloudnorm's default Meter uses (high shelf +4 dB at 1.5 kHz,
    high pass at 38 Hz), so both give the same loudness."""
    stages = [IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, sample_rate, "high_shelf"),
              IIRfilter(0.0, 0.5, 38.0, sample_rate, "high_pass")]
    sos = np.array([np.concatenate([s.b / s.a[0], s.a / s.a[0]]) for s in stages])
    gain = float(np.prod([s.passband_gain for s in stages]))
    return sos, gain


def _hop(sample_rate: int) -> int | None:
    """Samples per 100 ms gating hop, or None when that is not a whole number."""
    hop = _BLOCK_S * _STEP * sample_rate
    return int(round(hop)) if abs(hop - round(hop)) < 1e-9 else None


def _weighted_sums(audio: np.ndarray, sample_rate: int, sizes: tuple[int, ...]) -> list[np.ndarray]:
    """K-weight (channels, samples) piece by piece and return, for each size, the energy
    of every `size` consecutive samples: [(channels, ceil(samples / size)) float64].

    The filter state carries over from piece to piece, so the result is that of filtering
    the whole signal at once, while memory stays at one piece however long the track."""
    sos, gain = _k_weighting(int(sample_rate))
    c, n = audio.shape
    unit = int(np.lcm.reduce(np.array(sizes, dtype=np.int64)))
    piece = unit * max(1, _PIECE // unit)
    state = np.zeros((sos.shape[0], c, 2))  # sosfilt's state: (sections, channels, 2)
    sums = [np.zeros((c, -(-n // size))) for size in sizes]
    for start in range(0, n, piece):
        x = audio[:, start: start + piece].astype(np.float64)
        y, state = sosfilt(sos, x, axis=-1, zi=state)
        np.square(y * gain, out=y)
        m = y.shape[-1]
        for size, out in zip(sizes, sums):
            k = -(-m // size)
            if m < k * size:
                y = np.pad(y, ((0, 0), (0, k * size - m)))
            out[:, start // size: start // size + k] = y[:, : k * size].reshape(c, k, size).sum(axis=-1)
    return sums


def _block_energies(audio: np.ndarray, sample_rate: int, hop_sums: np.ndarray | None = None) -> np.ndarray:
    """(channels, samples) → (channels, blocks) mean square of the K-weighted signal per
    gating block.

    The blocks are pyloudnorm's (400 ms every 100 ms, the same count, normalised by
    1 / (T_g * rate)). With a whole number of samples per 100 ms hop, each block is the sum
    of four hop energies (`hop_sums`, computed here when not given); bounds then agree
    with pyloudnorm's float arithmetic to within a sample, far below any measurable
    difference. Other rates filter the whole signal and use pyloudnorm's exact bounds."""
    c, n = audio.shape
    num_blocks = int(np.round((n / sample_rate - _BLOCK_S) / (_BLOCK_S * _STEP))) + 1
    per_block = int(round(1 / _STEP))  # hops per block: 4
    hop = _hop(sample_rate)
    if hop is not None:
        e = hop_sums if hop_sums is not None else _weighted_sums(audio, sample_rate, (hop,))[0]
        need = num_blocks + per_block - 1
        if e.shape[-1] < need:
            e = np.pad(e, ((0, 0), (0, need - e.shape[-1])))
        z = sum(e[:, k: k + num_blocks] for k in range(per_block))
    else:
        sos, gain = _k_weighting(int(sample_rate))
        weighted = sosfilt(sos, audio.astype(np.float64), axis=-1) * gain
        j = np.arange(num_blocks, dtype=np.float64)
        lower = (_BLOCK_S * (j * _STEP) * sample_rate).astype(np.int64)
        upper = np.minimum((_BLOCK_S * (j * _STEP + 1) * sample_rate).astype(np.int64), n)
        csum = np.zeros((c, n + 1))
        np.cumsum(np.square(weighted), axis=-1, out=csum[:, 1:])
        z = csum[:, upper] - csum[:, lower]
    return np.maximum(z / (_BLOCK_S * sample_rate), 0.0)  # rounding must not go negative


def _gated_loudness(z: np.ndarray) -> float:
    """(channels, blocks) block energies → integrated loudness with the two BS.1770 gates."""
    g = np.asarray(_CHANNEL_GAINS[: z.shape[0]])[:, None]
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10.0 * np.log10(np.sum(g * z, axis=0))  # (blocks,)
        above_abs = block_lufs >= _ABSOLUTE_GATE
        if not above_abs.any():
            return -np.inf
        relative_gate = -0.691 + 10.0 * np.log10(np.sum(g[:, 0] * z[:, above_abs].mean(axis=1))) - 10.0
        keep = (block_lufs > relative_gate) & (block_lufs > _ABSOLUTE_GATE)
        if not keep.any():
            return -np.inf
        return float(-0.691 + 10.0 * np.log10(np.sum(g[:, 0] * z[:, keep].mean(axis=1))))


def integrated_lufs(audio: np.ndarray, sample_rate: int) -> float:
    """(channels, samples) → integrated loudness in LUFS (-inf for silence)."""
    return _gated_loudness(_block_energies(_at_least_a_block(np.atleast_2d(audio), sample_rate), sample_rate))


def _at_least_a_block(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Signals shorter than one gating block are padded with silence to one (as pyloudnorm needs)."""
    min_len = int(_BLOCK_S * sample_rate)
    if audio.shape[-1] < min_len:
        audio = np.pad(audio, ((0, 0), (0, min_len - audio.shape[-1] + 1)))
    return audio


@lru_cache(maxsize=4)
def _interpolator_gain(oversample: int) -> float:
    """The most the oversampling interpolator can amplify: max over its polyphase branches
    of the sum of |taps| (2.24 for resample_poly's 4x filter). No oversampled value near a
    block can exceed the block's neighbourhood sample peak times this."""
    impulse = np.zeros(4 * _TP_CONTEXT + 1)
    impulse[2 * _TP_CONTEXT] = 1.0
    response = resample_poly(impulse, oversample, 1)
    return float(max(np.abs(response[p::oversample]).sum() for p in range(oversample)))


def _neighbourhood_peaks(audio: np.ndarray) -> np.ndarray:
    """(channels, samples) → (blocks,) sample peak of each _TP_BLOCK block and its two
    neighbours (the interpolator reads into them). Scanned piece by piece."""
    c, n = audio.shape
    nb = -(-n // _TP_BLOCK)
    peak = np.zeros(nb)
    per_piece = _PIECE // _TP_BLOCK
    for b0 in range(0, nb, per_piece):
        seg = audio[:, b0 * _TP_BLOCK: (b0 + per_piece) * _TP_BLOCK]
        k = -(-seg.shape[-1] // _TP_BLOCK)
        if seg.shape[-1] < k * _TP_BLOCK:
            seg = np.pad(seg, ((0, 0), (0, k * _TP_BLOCK - seg.shape[-1])))
        peak[b0: b0 + k] = np.abs(seg).reshape(c, k, _TP_BLOCK).max(axis=(0, 2))
    return maximum_filter1d(peak, size=3, mode="constant")


def _oversampled_inner(audio: np.ndarray, blocks: np.ndarray, oversample: int) -> np.ndarray:
    """The given blocks oversampled: (channels, len(blocks), _TP_BLOCK * oversample).

    The blocks, each with _TP_CONTEXT samples of context either side, are gathered into one
    array and oversampled in one call; the contexts keep neighbouring blocks from leaking
    into each other, so each value equals that of oversampling the whole signal."""
    c, n = audio.shape
    span = _TP_BLOCK + 2 * _TP_CONTEXT
    index = (blocks * _TP_BLOCK - _TP_CONTEXT)[:, None] + np.arange(span)[None, :]  # (k, span)
    gathered = audio[:, np.clip(index, 0, n - 1)].astype(np.float64)  # (c, k, span)
    gathered[:, (index < 0) | (index >= n)] = 0.0  # the silence outside the signal
    up = resample_poly(gathered.reshape(c, -1), oversample, 1, axis=-1).reshape(c, len(blocks), span * oversample)
    return up[:, :, _TP_CONTEXT * oversample: (_TP_CONTEXT + _TP_BLOCK) * oversample]


def _oversample_blocks(audio: np.ndarray, blocks: np.ndarray, oversample: int) -> np.ndarray:
    """Per-sample true peak inside the given blocks: (len(blocks), _TP_BLOCK) float64,
    a batch of blocks at a time (the 4x copy of every block at once can be gigabytes)."""
    out = np.zeros((len(blocks), _TP_BLOCK))
    for i in range(0, len(blocks), _TP_BATCH):
        inner = _oversampled_inner(audio, blocks[i: i + _TP_BATCH], oversample)
        k = inner.shape[1]
        out[i: i + k] = np.abs(inner).max(axis=0).reshape(k, _TP_BLOCK, oversample).max(axis=-1)
    return out


def _oversampled_peak(audio: np.ndarray, blocks: np.ndarray, oversample: int) -> float:
    """The largest oversampled |value| inside the given blocks."""
    best = 0.0
    for i in range(0, len(blocks), _TP_BATCH):
        inner = _oversampled_inner(audio, blocks[i: i + _TP_BATCH], oversample)
        best = max(best, float(inner.max()), -float(inner.min()))
    return best


def _oversample_all(audio: np.ndarray, oversample: int) -> float:
    """The oversampled peak of the whole signal, piece by piece (each with context), so the
    4x copy never has to exist at once."""
    c, n = audio.shape
    best = 0.0
    for start in range(0, n, _TP_CHUNK):
        lo, hi = max(0, start - _TP_CONTEXT), min(n, start + _TP_CHUNK + _TP_CONTEXT)
        piece = np.zeros((c, _TP_CHUNK + 2 * _TP_CONTEXT))
        offset = lo - (start - _TP_CONTEXT)
        piece[:, offset: offset + hi - lo] = audio[:, lo:hi]
        up = resample_poly(piece, oversample, 1, axis=-1)
        inner = up[:, _TP_CONTEXT * oversample: (_TP_CONTEXT + min(_TP_CHUNK, n - start)) * oversample]
        best = max(best, float(inner.max()), float(-inner.min()))
    return best


def true_peak(audio: np.ndarray, oversample: int = 4, overshoot_db: float | None = None) -> float:
    """(channels, samples) → linear true peak: the sample peak of a 4x-oversampled copy
    (BS.1770-4 Annex 2), as `scipy.signal.resample_poly` oversamples it.

    Only blocks that could hold the peak are oversampled: those whose neighbourhood sample
    peak, raised by the most the interpolator can add, beats the best value found so far.
    That bound is exact (the interpolator's gain); `overshoot_db` replaces it with a
    smaller allowance (OVERSHOOT_GUESS_DB) for a faster estimate that is exact for music,
    whose inter-sample overs stay far below it."""
    audio = np.atleast_2d(audio)
    if audio.size == 0:
        return 0.0
    reach = _interpolator_gain(oversample) if overshoot_db is None else 10.0 ** (overshoot_db / 20.0)
    bound = _neighbourhood_peaks(audio) * reach  # (blocks,)
    order = np.argsort(-bound, kind="stable")
    first = order[:8]  # the likeliest blocks set the bar ...
    best = _oversampled_peak(audio, first, oversample)
    rest = order[8:][bound[order[8:]] > best]  # ... and only blocks that could beat it are checked
    if rest.size > bound.size // 2:
        best = max(best, _oversample_all(audio, oversample))
    elif rest.size:
        best = max(best, _oversampled_peak(audio, rest, oversample))
    return best


def true_peak_db(audio: np.ndarray, oversample: int = 4) -> float:
    """(channels, samples) → true peak in dBTP: the sample peak of a 4x-oversampled copy
    (BS.1770-4 Annex 2); catches inter-sample overs a sample peak misses."""
    peak = true_peak(audio, oversample)
    return 20.0 * np.log10(peak) if peak > 0 else -np.inf


def normalise(audio: np.ndarray, sample_rate: int, target_lufs: float = TARGET_LUFS,
              ceiling_db: float = TRUE_PEAK_CEILING_DB) -> np.ndarray:
    """Gain to `target_lufs` integrated, then a transparent peak limiter so the true peak
    stays at or below `ceiling_db`. Returns float32 (channels, samples)."""
    return normalise_with_gain(audio, sample_rate, target_lufs, ceiling_db)[0]


def normalise_with_gain(audio: np.ndarray, sample_rate: int, target_lufs: float = TARGET_LUFS,
                        ceiling_db: float = TRUE_PEAK_CEILING_DB) -> tuple[np.ndarray, float]:
    """`normalise`, also returning the linear gain applied before the limiter (stems take it
    to sit in the mix at the master's level).

    1. Measure: K-weight the input once; its integrated loudness gives the first gain.
    2. Limit: oversample only the blocks within OVERSHOOT_GUESS_DB of the ceiling at the
       gain being tried, and derive the limiter's gain curve from them (`_limiter_steps`).
    3. Make up: limiting lowers loudness a little. The loudness of the limited signal is
       estimated from the K-weighted input's energy per _LIMIT_STEP samples times the
       curve squared (the curve moves slowly next to the filter's memory); the gain is
       raised by the shortfall and step 2 repeats, usually once or twice. Loudness is
       re-gated at every gain tried: near the -70 LUFS gate it does not follow the gain.
    4. Apply and check: the true peak of the hot blocks; any residual over is scaled away."""
    audio = np.atleast_2d(audio).astype(np.float32, copy=False)  # float32 keeps long tracks in memory
    n = audio.shape[-1]
    measured = _at_least_a_block(audio, sample_rate)
    hop = _hop(sample_rate)
    if hop is not None:
        hop_sums, step_sums = _weighted_sums(measured, sample_rate, (hop, _LIMIT_STEP))
    else:
        hop_sums, step_sums = None, _weighted_sums(measured, sample_rate, (_LIMIT_STEP,))[0]
    energies = _block_energies(measured, sample_rate, hop_sums)  # (channels, blocks) of the input
    lufs = _gated_loudness(energies)
    if not np.isfinite(lufs):
        return audio.copy(), 1.0
    ceiling = 10.0 ** ((ceiling_db - 0.1) / 20.0)  # 0.1 dB margin for 24-bit quantisation
    peaks = _neighbourhood_peaks(audio)  # (blocks,) computed once, scaled by each gain tried
    env_cache: dict[int, np.ndarray] = {}  # block → per-sample true peak of the input
    gain_db = target_lufs - lufs
    steps = None
    for _ in range(6):
        gain = 10.0 ** (gain_db / 20.0)
        steps = _limiter_steps(audio, gain, peaks, env_cache, sample_rate, ceiling)
        reached = _gated_loudness(energies * gain ** 2)
        if steps is not None:  # what limiting takes away, at the step resolution
            shaped = np.ones(step_sums.shape[-1])
            shaped[: min(steps.size, shaped.size)] = steps[: shaped.size]
            reached += (_gated_loudness(_step_blocks(step_sums * shaped ** 2, sample_rate) * gain ** 2)
                        - _gated_loudness(_step_blocks(step_sums, sample_rate) * gain ** 2))
        error_db = target_lufs - reached
        if abs(error_db) < 0.03:
            break
        gain_db += error_db
    gain = 10.0 ** (gain_db / 20.0)
    out = audio * np.float32(gain) if steps is None else audio * (_curve(steps, n) * np.float32(gain))
    hot = np.flatnonzero(peaks * gain * 10.0 ** (OVERSHOOT_GUESS_DB / 20.0) > ceiling)
    if hot.size:
        peak = _oversampled_peak(out, hot, 4)
        if peak > ceiling:  # residual inter-sample overs: an exact final scale
            out *= np.float32(ceiling / peak)
    return out, float(gain)


_LIMIT_STEP = 32  # samples per step of the limiter's gain curve (0.7 ms); _TP_BLOCK is a multiple


def _step_blocks(step_energy: np.ndarray, sample_rate: int) -> np.ndarray:
    """(channels, steps) energies → (channels, blocks) gating-block mean squares, with the
    block bounds rounded to steps (an estimate: it is only ever used as a difference)."""
    c, steps = step_energy.shape
    n = steps * _LIMIT_STEP
    num_blocks = int(np.round((n / sample_rate - _BLOCK_S) / (_BLOCK_S * _STEP))) + 1
    j = np.arange(max(num_blocks, 1))
    lower = np.minimum(np.round(j * _BLOCK_S * _STEP * sample_rate / _LIMIT_STEP).astype(np.int64), steps)
    upper = np.minimum(np.round((j * _STEP + 1) * _BLOCK_S * sample_rate / _LIMIT_STEP).astype(np.int64), steps)
    csum = np.concatenate([np.zeros((c, 1)), np.cumsum(step_energy, axis=-1)], axis=-1)
    return np.maximum((csum[:, upper] - csum[:, lower]) / (_BLOCK_S * sample_rate), 0.0)


def _limiter_steps(audio: np.ndarray, gain: float, peaks: np.ndarray, env_cache: dict[int, np.ndarray],
                   sample_rate: int, ceiling: float, attack_s: float = 0.002, release_s: float = 0.08
                   ) -> np.ndarray | None:
    """The limiter's gain for `audio * gain`, one value per _LIMIT_STEP samples, or None
    when no sample gets near the ceiling.

    Target gain = min(1, ceiling / true peak) over each step, taken `attack_s` (plus a
    step) early by a running minimum, released exponentially. `peaks` are the input's
    neighbourhood sample peaks per block; `env_cache` keeps the oversampled envelope of
    blocks already looked at (the gains tried differ little)."""
    near = peaks * gain * 10.0 ** (OVERSHOOT_GUESS_DB / 20.0) > ceiling
    hot = np.flatnonzero(near)  # blocks that might reach the ceiling
    if hot.size == 0:
        return None
    missing = np.array([b for b in hot.tolist() if b not in env_cache], dtype=np.int64)
    if missing.size:
        for b, env in zip(missing.tolist(), _oversample_blocks(audio, missing, 4)):
            env_cache[b] = env
    env_hot = np.stack([env_cache[b] for b in hot.tolist()]) * gain  # (k, _TP_BLOCK)
    if float(env_hot.max()) <= ceiling:
        return None
    per_block = _TP_BLOCK // _LIMIT_STEP
    target = np.ones((near.size, per_block))  # gain per step, 1 where nothing needs taming
    need = np.minimum(1.0, ceiling / np.maximum(env_hot, 1e-12))
    target[hot] = need.reshape(hot.size, per_block, _LIMIT_STEP).min(axis=-1)
    target = target.reshape(-1)
    # Look-ahead: the gain reaches its target `attack_s` before the peak (running min);
    # the extra step each side covers `_curve`'s smoothing between steps.
    look = int(np.ceil(attack_s * sample_rate / _LIMIT_STEP)) + 1
    target = minimum_filter1d(target, size=2 * look + 1, mode="nearest")
    # Release: gain recovers exponentially; a one-pole filter on the gain reduction.
    alpha = np.exp(-_LIMIT_STEP / (release_s * sample_rate))
    reduction = 1.0 - target
    smoothed = np.maximum(reduction, lfilter([1 - alpha], [1, -alpha], reduction))
    return 1.0 - smoothed


def _curve(steps: np.ndarray, n: int) -> np.ndarray:
    """Step gains → a per-sample curve (n,), gliding linearly from each step's value to
    the next one's instead of jumping (never above a step's own target: see the
    look-ahead in `_limiter_steps`)."""
    steps = steps.astype(np.float32)
    nxt = np.append(steps[1:], steps[-1])
    w = np.arange(_LIMIT_STEP, dtype=np.float32) / _LIMIT_STEP  # (step,) position inside a step
    curve = steps[:, None] + (nxt - steps)[:, None] * w[None, :]  # (steps, step) float32
    return curve.reshape(-1)[:n]


def limit(audio: np.ndarray, sample_rate: int, ceiling: float, attack_s: float = 0.002,
          release_s: float = 0.08) -> np.ndarray:
    """Look-ahead peak limiter on the 4x-oversampled envelope: gain = min(1, ceiling/peak),
    smoothed with instant attack (applied `attack_s` early) and exponential release.

    (channels, samples) float64 in and out. Only blocks whose neighbourhood sample peak is
    within OVERSHOOT_GUESS_DB of the ceiling are oversampled (nothing quieter can reach it);
    when nothing does, the input object itself is returned. The caller checks the result
    with `true_peak` (the smoothing can leave a fraction of a dB over on dense material)."""
    audio = np.atleast_2d(audio)
    steps = _limiter_steps(audio, 1.0, _neighbourhood_peaks(audio), {}, sample_rate, ceiling, attack_s, release_s)
    return audio if steps is None else audio * _curve(steps, audio.shape[-1])
