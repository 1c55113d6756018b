"""Make a SoundFont play in tune under symusic 0.5.8's synthesizer.

symusic 0.5.8 (prestosynth) takes a sample's pitch from its sample header alone: it
ignores an instrument zone's `overridingRootKey` (generator 58), `coarseTune` (51) and
`fineTune` (52). General MIDI fonts lean on those heavily; in TimGM6mb.sf2 every piano
sample has root key 60 in its header and the real root in the zone (MIDI 60 sounded as
MIDI 80), the violin is 10 semitones sharp and the organ 4 flat. Rendered as is, no song
is in the key it was written in.

`in_tune(path)` writes a copy whose zones carry the same information in the form the
synthesizer reads: each zone points at its own sample header, whose original pitch and
pitch correction already include the zone's root key and tuning, its own or inherited
from its instrument's global zone (FluidR3_GM's drawbar organ is tuned two octaves down
there). The zones' generators are set to agree, and a global zone's tuning is cleared
(root key -1: "the sample's own"), so any other synthesizer plays the copy exactly like
the original.
The copy lives in a cache folder, keyed by the original's content, and is written once.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from pathlib import Path

FIX_VERSION = 2  # bump when the rewrite changes, so old cached copies are not reused (2: global zones)
_GEN_COARSE, _GEN_FINE, _GEN_SAMPLE, _GEN_ROOT = 51, 52, 53, 58  # SoundFont 2.04 generator numbers
_SHDR_SIZE = 46  # bytes per sample header record
_PITCH_AT, _CORRECTION_AT = 40, 41  # byOriginalPitch (u8) and chPitchCorrection (s8) offsets in a record


class SoundFontError(ValueError):
    """The file is not a SoundFont 2 this module can read."""


def _chunks(buf: bytes, start: int, end: int):
    """RIFF sub-chunks in buf[start:end] → (id, body offset, body size)."""
    off = start
    while off + 8 <= end:
        cid = bytes(buf[off: off + 4])
        size = struct.unpack_from("<I", buf, off + 4)[0]
        yield cid, off + 8, size
        off += 8 + size + (size & 1)


def _chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")


def retune(data: bytes) -> bytes:
    """SoundFont 2 file bytes → the same font with zone tuning folded into sample headers."""
    if data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise SoundFontError("not a SoundFont 2 (RIFF sfbk) file")
    top = []
    for cid, off, size in _chunks(data, 12, len(data)):
        body = data[off: off + size]
        if cid == b"LIST" and body[:4] == b"pdta":
            body = b"pdta" + _retune_pdta(body)
        top.append(_chunk(cid, body))
    content = b"sfbk" + b"".join(top)
    return b"RIFF" + struct.pack("<I", len(content)) + content


def _retune_pdta(pdta: bytes) -> bytes:
    parts: dict[bytes, bytearray] = {}
    order: list[bytes] = []
    for cid, off, size in _chunks(pdta, 4, len(pdta)):
        parts[cid] = bytearray(pdta[off: off + size])
        order.append(cid)
    for needed in (b"inst", b"ibag", b"igen", b"shdr"):
        if needed not in parts:
            raise SoundFontError(f"missing {needed.decode()} chunk")
    igen, ibag, shdr = parts[b"igen"], parts[b"ibag"], parts[b"shdr"]
    headers = [bytearray(shdr[i: i + _SHDR_SIZE]) for i in range(0, len(shdr), _SHDR_SIZE)]
    terminal = headers.pop()  # the "EOS" record must stay last
    bag_starts = [struct.unpack_from("<H", ibag, i)[0] for i in range(0, len(ibag), 4)]
    first_zones = {struct.unpack_from("<H", parts[b"inst"], i + 20)[0] for i in range(0, len(parts[b"inst"]), 22)}
    made: dict[tuple[int, int, int], int] = {}  # (sample, root, cents) → header index
    inherited: dict[int, int] = {}  # the current instrument's global zone: generator → amount
    for z in range(len(bag_starts) - 1):
        where: dict[int, int] = {}  # generator → byte offset of its amount in igen
        for g in range(bag_starts[z], bag_starts[z + 1]):
            where[struct.unpack_from("<H", igen, 4 * g)[0]] = 4 * g + 2
        if z in first_zones:
            inherited = {}
        if _GEN_SAMPLE not in where:
            if z in first_zones:  # an instrument's global zone: its tuning moves into every zone
                for gen, reset in ((_GEN_ROOT, -1), (_GEN_COARSE, 0), (_GEN_FINE, 0)):
                    if gen in where:
                        inherited[gen] = struct.unpack_from("<h", igen, where[gen])[0]
                        struct.pack_into("<h", igen, where[gen], reset)
            continue
        tuning = {**inherited, **{gen: struct.unpack_from("<h", igen, where[gen])[0]
                                  for gen in (_GEN_ROOT, _GEN_COARSE, _GEN_FINE) if gen in where}}
        sample = struct.unpack_from("<H", igen, where[_GEN_SAMPLE])[0]
        if sample >= len(headers):
            continue
        header = headers[sample]
        root = header[_PITCH_AT]
        if 0 <= tuning.get(_GEN_ROOT, -1) <= 127:
            root = tuning[_GEN_ROOT]
        cents = struct.unpack_from("<b", header, _CORRECTION_AT)[0] + tuning.get(_GEN_FINE, 0)
        root -= tuning.get(_GEN_COARSE, 0)
        # Keep the correction within ±50 cents by moving whole semitones into the root:
        # raising the pitch a semitone is the same as a root key one lower.
        while cents > 50:
            cents, root = cents - 100, root - 1
        while cents < -50:
            cents, root = cents + 100, root + 1
        root = min(127, max(0, root))
        key = (sample, root, cents)
        if key not in made:
            copy = bytearray(header)
            copy[_PITCH_AT] = root
            struct.pack_into("<b", copy, _CORRECTION_AT, cents)
            made[key] = len(headers)
            headers.append(copy)
        if made[key] > 0xFFFF:
            raise SoundFontError("too many sample headers after retuning")
        struct.pack_into("<H", igen, where[_GEN_SAMPLE], made[key])
        if _GEN_ROOT in where:
            struct.pack_into("<h", igen, where[_GEN_ROOT], root)
        for gen in (_GEN_FINE, _GEN_COARSE):
            if gen in where:
                struct.pack_into("<h", igen, where[gen], 0)
    parts[b"shdr"] = bytearray(b"".join(headers) + terminal)
    return b"".join(_chunk(cid, bytes(parts[cid])) for cid in order)


def cache_dir() -> Path:
    """Where retuned copies are kept: $XDG_CACHE_HOME/songfarm (or ~/.cache/songfarm),
    falling back to the system temp folder when that is not writable."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "songfarm" / "soundfonts"
    try:
        base.mkdir(parents=True, exist_ok=True)
        if os.access(base, os.W_OK):
            return base
    except OSError:
        pass
    fallback = Path(tempfile.gettempdir()) / "songfarm-soundfonts"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def in_tune(path: str | os.PathLike) -> Path:
    """The path of a retuned copy of the SoundFont at `path`, writing it on first use.

    Raises OSError when the file cannot be read and SoundFontError when it is not a
    SoundFont 2. The copy is written under a temporary name and renamed, so processes
    sharing the cache never see half a file."""
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:16]
    target = cache_dir() / f"{Path(path).stem}-{digest}-v{FIX_VERSION}.sf2"
    if not target.is_file():
        fixed = retune(data)
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as tmp:
            tmp.write(fixed)
        os.chmod(tmp.name, 0o644)  # readable by everyone sharing the cache, like the original
        os.replace(tmp.name, target)
    return target
