"""Loudness (ITU-R BS.1770-4 / EBU R128) and true peak, shared by generators and verifiers.

Generators normalise with `normalise`; verifiers measure with `integrated_lufs` and
`true_peak_db`, so both sides agree on the definitions.

Everything here is vectorised so that a 60 s stereo master is measured in tens of
milliseconds: `integrated_lufs` gives pyloudnorm's numbers (same K-weighting filters, same
400 ms blocks with 75 % overlap, same gating) without its per-block Python loop, and
`true_peak_db` gives the 4x-oversampled peak of `scipy.signal.resample_poly` while
oversampling only the blocks that could possibly reach the maximum (`_block_bounds`: an
exact bound from each block's sample peak and curvature; for a mastered take that leaves
the few per cent of blocks that sit at the limiter's ceiling).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyloudnorm.iirfilter import IIRfilter
from scipy.ndimage import minimum_filter1d
from scipy.signal import lfilter, resample_poly, sosfilt

TARGET_LUFS = -14.0  # streaming-platform integrated loudness
TRUE_PEAK_CEILING_DB = -1.0  # dBTP

_BLOCK_S = 0.400  # gating block length (BS.1770-4)
_STEP = 0.25  # hop as a share of the block: 75 % overlap
_ABSOLUTE_GATE = -70.0  # LUFS
_CHANNEL_GAINS = (1.0, 1.0, 1.0, 1.41, 1.41)  # L, R, C, Ls, Rs

_TP_BLOCK = 128  # samples per block when searching for the true peak (2.9 ms at 44.1 kHz)
_TP_CONTEXT = 10  # input samples each side of a block the 4x interpolator reads (checked: _interpolator_bounds)
_TP_CHUNK = 1 << 16  # samples per piece when oversampling a whole signal (keeps the 4x copy in cache)
_PIECE = 1 << 15  # samples per piece when filtering or scanning: memory stays bounded, temporaries in cache
_TP_BATCH = 2048  # blocks oversampled per call (2048 x 148 samples: ~10 MB of 4x copy per channel)
_TP_SUB = 16  # samples per sub-block of the bounds' scan: a block's window reaches this far into each neighbour
_BOUND_MARGIN = 1e-5  # relative slack on the true-peak bounds for float rounding, which stays under 1e-6


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
        y, state = sosfilt(sos, audio[:, start: start + piece], axis=-1, zi=state)  # float64 (its own copy)
        y *= gain
        np.square(y, out=y)
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
def _interpolator_bounds(oversample: int) -> tuple[float, float, float]:
    """(gain, k_peak, k_curve): what bounds resample_poly's oversampled values near a sample.

    Every oversampled value between input samples t and t+1 is y = Σ_j g(j) x[t+j], g
    one polyphase branch of resample_poly's filter (taps |j| ≤ 10 at 4x). Two bounds:

    1. |y| ≤ Σ|g| · max|x[t+j]|. `gain` is the largest Σ|g| over the branches: 2.24 at 4x
       (+7 dB), reached by a sign pattern that follows the taps; music never comes close.
    2. y = a x[t] + b x[t+1] + Σ_m e(m) d2[t+m], with d2[t] = x[t+1] - 2x[t] + x[t-1], the
       curvature: b = Σ j g(j) and a = Σ g - b leave a remainder with zero sum and zero
       first moment, which is therefore the second difference of a finite e (its double
       cumulative sum). So |y| ≤ k_peak · max|x| + k_curve · max|d2|, with k_peak the
       largest |a| + |b| (1.0006 at 4x) and k_curve the largest Σ|e| (0.41 at 4x).

    Bound 2 is within a fraction of a dB of the sample peak for anything but loud content
    near Nyquist, where bound 1 takes over. Both read x and d2 at most 10 samples from t
    at 4x; checked here against how far the blocks' context (_TP_CONTEXT) and the bounds'
    windows (_TP_SUB) reach."""
    reach = 64  # input samples each side of the impulse: far more than any tap
    impulse = np.zeros(2 * reach + 1)
    impulse[reach] = 1.0
    response = resample_poly(impulse, oversample, 1)  # (oversample * (2 * reach + 1),)
    gain = k_peak = k_curve = 0.0
    for p in range(oversample):
        # y[oversample * t + p] reads x[t + j] with tap g[j], for j in -reach .. reach
        g = response[p::oversample][::-1]
        j = np.arange(g.size) - (g.size - 1 - reach)
        taps = j[g != 0]
        if max(-taps.min(), taps.max()) > min(_TP_CONTEXT, _TP_SUB):  # the blocks' context, the bounds' window
            raise ValueError(f"{oversample}x: the interpolator reads past a block's context")
        keep = (j >= min(taps.min(), 0)) & (j <= max(taps.max(), 1))
        g, j = g[keep], j[keep]
        b = float((j * g).sum())
        a = float(g.sum()) - b
        rest = g.copy()
        rest[j == 0] -= a
        rest[j == 1] -= b
        e = np.cumsum(np.cumsum(rest))[:-1]  # e[i] weighs d2 centred at t + j[i] + 1 (the last is 0)
        gain = max(gain, float(np.abs(g).sum()))
        k_peak = max(k_peak, abs(a) + abs(b))
        k_curve = max(k_curve, float(np.abs(e).sum()))
    return gain, k_peak, k_curve


def _block_bounds(audio: np.ndarray, oversample: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(channels, samples) → ((blocks,) an upper bound on every oversampled |value| inside
    each _TP_BLOCK block, (blocks,) the peak |x| it was bounded from): the smaller of
    _interpolator_bounds's two, from the peak |x| and the peak |d2| over the block and
    _TP_SUB samples either side (the silence outside the signal included, as resample_poly
    pads with zeros). Scanned piece by piece.

    _BOUND_MARGIN covers rounding: d2 is computed in the audio's float32 (at most 9 ulp
    of the peak off) and the interpolator sums in float64."""
    gain, k_peak, k_curve = _interpolator_bounds(oversample)
    c, n = audio.shape
    per = _TP_BLOCK // _TP_SUB  # sub-blocks per block
    nb = -(-n // _TP_BLOCK)
    # Sub-block maxima over all channels; index i + 1 holds sub-block i, and one silent
    # sub-block sits at each end: (nb * per + 2,).
    peak, curve = np.zeros(nb * per + 2), np.zeros(nb * per + 2)
    for start in range(0, n, _PIECE):
        k = -(-(min(n, start + _PIECE) - start) // _TP_SUB)  # sub-blocks in this piece
        seg = np.zeros((c, k * _TP_SUB + 2), dtype=np.result_type(audio.dtype, np.float32))
        lo, hi = max(0, start - 1), min(n, start + k * _TP_SUB + 1)
        seg[:, lo - start + 1: hi - start + 1] = audio[:, lo:hi]  # x[start - 1 ..], silence outside
        mid = seg[:, 1:-1]  # x[start .. start + k * _TP_SUB - 1]
        d2 = seg[:, 2:] + seg[:, :-2]
        d2 -= mid
        d2 -= mid  # centred on mid's samples
        peak[1 + start // _TP_SUB: 1 + start // _TP_SUB + k] = _sub_block_peaks(mid)
        curve[1 + start // _TP_SUB: 1 + start // _TP_SUB + k] = _sub_block_peaks(d2)
    # d2 just outside the signal is x[0] (centred at -1) and x[n - 1] (centred at n):
    # count each in the first / last sub-block, inside the same blocks' windows.
    curve[1] = max(curve[1], float(np.abs(audio[:, 0]).max()))
    last = 1 + (n - 1) // _TP_SUB
    curve[last] = max(curve[last], float(np.abs(audio[:, -1]).max()))

    def window(sub: np.ndarray) -> np.ndarray:  # (nb,) max over each block's sub-blocks and one either side
        inner = sub[1: 1 + nb * per].reshape(nb, per).max(axis=1)
        return np.maximum(inner, np.maximum(sub[0: nb * per: per], sub[per + 1:: per][:nb]))

    m, d = window(peak), window(curve)
    return np.minimum(gain * m, k_peak * m + k_curve * d) * (1.0 + _BOUND_MARGIN), m


def _with_neighbours(v: np.ndarray) -> np.ndarray:
    """(blocks,) → (blocks,) the max of each value and its two neighbours."""
    out = v.copy()
    np.maximum(out[1:], v[:-1], out=out[1:])
    np.maximum(out[:-1], v[1:], out=out[:-1])
    return out


def _modulation_bounds(steps: np.ndarray, gain: float, peaks: np.ndarray) -> np.ndarray:
    """(blocks,) how much the limiter's moving gain can raise each block's true-peak bound.

    The master is w·x, w = gain × the curve (`_curve`, never above 1). Its curvature is
    d2(w·x)[t] = w[t] d2x[t] + (w[t+1] - w[t]) x[t+1] + (w[t-1] - w[t]) x[t-1], at most
    gain·|d2x| + 2 max|Δw| max|x|; so bound 2 of `_interpolator_bounds` for the master is
    that of the input times gain plus k_curve · 2 max|Δw| · max|x|. Δw is the curve's glide
    per sample, (next step - step) / _LIMIT_STEP, times gain; a block's own steps and a
    block's worth either side, and `peaks` of the block and its neighbours, cover every
    sample a block's bound reads. Rounding (float32 curve, master) stays in _BOUND_MARGIN."""
    k_curve = _interpolator_bounds(4)[2]
    glide = np.abs(np.diff(steps, append=steps[-1])) / _LIMIT_STEP  # (steps,) |Δcurve| per sample
    per_block = _with_neighbours(glide[: peaks.size * (_TP_BLOCK // _LIMIT_STEP)].reshape(peaks.size, -1).max(axis=1))
    return 2.0 * k_curve * gain * per_block * _with_neighbours(peaks) * (1.0 + _BOUND_MARGIN)


def _sub_block_peaks(values: np.ndarray) -> np.ndarray:
    """(channels, k * _TP_SUB) → (k,) max |value| over the channels and each _TP_SUB samples.

    Pairwise maxima of strided halves (_TP_SUB is a power of two): three times faster than
    numpy's max over rows this short."""
    v = np.abs(values[0])
    for channel in values[1:]:
        np.maximum(v, np.abs(channel), out=v)
    while v.size > values.shape[-1] // _TP_SUB:
        v = np.maximum(v[0::2], v[1::2])
    return v


def _oversampled_inner(audio: np.ndarray, blocks: np.ndarray, oversample: int) -> np.ndarray:
    """The given blocks oversampled: (channels, len(blocks), _TP_BLOCK * oversample).

    The blocks, each with _TP_CONTEXT samples of context either side, are gathered into one
    array and oversampled in one call; the contexts keep neighbouring blocks from leaking
    into each other, so each value equals that of oversampling the whole signal."""
    c, n = audio.shape
    span = _TP_BLOCK + 2 * _TP_CONTEXT
    starts = blocks * _TP_BLOCK - _TP_CONTEXT  # (k,) where each block's span begins
    inside = (starts >= 0) & (starts <= n - span)
    gathered = np.zeros((c, len(blocks), span))  # (c, k, span); the silence outside the signal stays 0
    if inside.any():  # rows of a sliding-window view: a copy per block, 15x faster than indexing samples
        gathered[:, inside] = np.lib.stride_tricks.sliding_window_view(audio, span, axis=-1)[:, starts[inside]]
    for i in np.flatnonzero(~inside):  # blocks at the signal's ends
        lo, hi = max(0, starts[i]), min(n, starts[i] + span)
        gathered[:, i, lo - starts[i]: hi - starts[i]] = audio[:, lo:hi]
    up = resample_poly(gathered.reshape(c, -1), oversample, 1, axis=-1).reshape(c, len(blocks), span * oversample)
    return up[:, :, _TP_CONTEXT * oversample: (_TP_CONTEXT + _TP_BLOCK) * oversample]


def _step_peaks(audio: np.ndarray, blocks: np.ndarray, oversample: int) -> np.ndarray:
    """True peak of each _LIMIT_STEP samples inside the given blocks: (len(blocks),
    _TP_BLOCK // _LIMIT_STEP) float64, a batch of blocks at a time (the 4x copy of every
    block at once can be gigabytes)."""
    per = _TP_BLOCK // _LIMIT_STEP
    out = np.zeros((len(blocks), per))
    for i in range(0, len(blocks), _TP_BATCH):
        inner = _oversampled_inner(audio, blocks[i: i + _TP_BATCH], oversample)  # a fresh array's view
        inner = np.abs(inner, out=inner).max(axis=0)  # (k, 4 * block)
        k = inner.shape[0]
        out[i: i + k] = inner.reshape(k, per, _LIMIT_STEP * oversample).max(axis=-1)
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


def true_peak(audio: np.ndarray, oversample: int = 4) -> float:
    """(channels, samples) → linear true peak: the sample peak of a 4x-oversampled copy
    (BS.1770-4 Annex 2), exactly as `scipy.signal.resample_poly` oversamples it.

    Only blocks that could hold the peak are oversampled: the likeliest few set the bar,
    then every block whose bound (`_block_bounds`, exact) beats the best value so far."""
    audio = np.atleast_2d(audio)
    if audio.size == 0:
        return 0.0
    bound, _ = _block_bounds(audio, oversample)  # (blocks,)
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
    stays at or below `ceiling_db`. Returns float32 (channels, samples), laid out frame by
    frame (see `normalise_with_gain`)."""
    return normalise_with_gain(audio, sample_rate, target_lufs, ceiling_db)[0]


def normalise_with_gain(audio: np.ndarray, sample_rate: int, target_lufs: float = TARGET_LUFS,
                        ceiling_db: float = TRUE_PEAK_CEILING_DB) -> tuple[np.ndarray, float]:
    """`normalise`, also returning the linear gain applied before the limiter (stems take it
    to sit in the mix at the master's level).

    1. Measure: K-weight the input once; its integrated loudness gives the first gain.
    2. Limit: oversample only the blocks that could reach the ceiling at the gain being
       tried (`_block_bounds`), and derive the limiter's gain curve from them (`_limiter_steps`).
    3. Make up: limiting lowers loudness a little. The loudness of the limited signal is
       estimated from the K-weighted input's energy per _LIMIT_STEP samples times the
       curve squared (the curve moves slowly next to the filter's memory); the gain is
       raised by the shortfall and step 2 repeats, usually once or twice. Loudness is
       re-gated at every gain tried: near the -70 LUFS gate it does not follow the gain.
    4. Apply and check: the true peak of the output's blocks that could be over the
       ceiling (the input's bounds, plus what the moving gain adds: `_modulation_bounds`);
       any residual over is scaled away."""
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
    bounds, peaks = _block_bounds(audio)  # (blocks,) true-peak bounds, once: audio * gain has gain times them
    step_peaks = _unknown_step_peaks(bounds.size)  # the input's true peak per limiter step, filled in when needed
    gain_db = target_lufs - lufs
    steps = None
    for _ in range(6):
        gain = 10.0 ** (gain_db / 20.0)
        steps = _limiter_steps(audio, gain, bounds, step_peaks, sample_rate, ceiling)
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
    # The master is laid out frame by frame (a (channels, samples) view of (samples,
    # channels) memory): FLAC encoders read frames, so encoding makes no transposed copy.
    out = np.empty((n, audio.shape[0]), dtype=np.float32).T
    np.multiply(audio, np.float32(gain) if steps is None else _curve(steps, n) * np.float32(gain), out=out)
    bounds_out = bounds * gain if steps is None else bounds * gain + _modulation_bounds(steps, gain, peaks)
    hot = np.flatnonzero(bounds_out > ceiling)  # the master's blocks that could be over
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


def _unknown_step_peaks(blocks: int) -> np.ndarray:
    """(blocks, _TP_BLOCK // _LIMIT_STEP) of NaN: no block's step peaks oversampled yet."""
    return np.full((blocks, _TP_BLOCK // _LIMIT_STEP), np.nan)


def _limiter_steps(audio: np.ndarray, gain: float, bounds: np.ndarray, step_peaks: np.ndarray,
                   sample_rate: int, ceiling: float, attack_s: float = 0.002, release_s: float = 0.08
                   ) -> np.ndarray | None:
    """The limiter's gain for `audio * gain`, one value per _LIMIT_STEP samples, or None
    when no sample gets near the ceiling.

    Target gain = min(1, ceiling / true peak) over each step, taken `attack_s` (plus a
    step) early by a running minimum, released exponentially. `bounds` are the input's
    true-peak bounds per block (`_block_bounds`); `step_peaks` (blocks, steps per block)
    keeps the true peak per step of the blocks already oversampled, NaN for the others
    (the gains tried differ little, so mostly the same blocks are hot)."""
    hot = np.flatnonzero(bounds * gain > ceiling)  # blocks that might reach the ceiling
    if hot.size == 0:
        return None
    missing = hot[np.isnan(step_peaks[hot, 0])]
    if missing.size:
        step_peaks[missing] = _step_peaks(audio, missing, 4)
    peak_hot = step_peaks[hot] * gain  # (hot blocks, steps per block)
    if float(peak_hot.max()) <= ceiling:
        return None
    target = np.ones_like(step_peaks)  # gain per step, 1 where nothing needs taming
    target[hot] = np.minimum(1.0, ceiling / np.maximum(peak_hot, 1e-12))
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

    (channels, samples) float64 in and out. Only blocks whose true-peak bound
    (`_block_bounds`) exceeds the ceiling are oversampled (nothing else can reach it);
    when nothing does, the input object itself is returned. The caller checks the result
    with `true_peak` (the smoothing can leave a fraction of a dB over on dense material)."""
    audio = np.atleast_2d(audio)
    bounds, _ = _block_bounds(audio)
    steps = _limiter_steps(audio, 1.0, bounds, _unknown_step_peaks(bounds.size), sample_rate, ceiling, attack_s,
                           release_s)
    return audio if steps is None else audio * _curve(steps, audio.shape[-1])
