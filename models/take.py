"""A take: one rendered candidate for a track, and the audio helpers every stage shares.

Audio inside songfarm is float32 shaped (channels, samples). Between Ray stages a take's
audio travels as bytes in one of two encodings, told apart by their first bytes:

- FLAC, 24-bit (the batch farm): lossless for our purposes and 3-5x smaller than float32,
  so long tracks and large batches keep the object store small. Measured on the 2-core
  VM, the farm got slower, not faster, when takes travelled as raw PCM (40 tracks of 30 s:
  51-53 s against 47.5-47.8 s): the extra memory traffic cost more than the encode saved.
- packed PCM (`pack_pcm`: a 16-byte header, then float32 samples; Ray Serve): no encode
  in the generator and no decode in the verifier, so one online request's critical path
  is shorter; the ingress encodes the take it returns while the verifier runs.

`decode_audio` reads both (and WAV). `keep_freed_memory` tunes the process's allocator for
stages that handle arrays of many megabytes take after take.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import struct
import zipfile
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf


@dataclass
class Take:
    track_id: str
    attempt: int  # 0-based re-render round
    candidate: int  # 0-based index within the attempt
    seed: int  # the seed this take was rendered with (request.take_seed)
    audio: np.ndarray  # (channels, samples) float32, peak-safe, loudness-normalised
    sample_rate: int  # Hz
    generator: str  # backend name, "synth"
    model: str  # model id and version, "synth-0.1 TimGM6mb.sf2"
    stems: dict[str, np.ndarray] = field(default_factory=dict)  # stem name → (channels, samples)
    midi: bytes | None = None  # the score as a Standard MIDI File, where the generator has one
    seconds: float = 0.0  # wall time spent rendering this take

    @property
    def duration_s(self) -> float:
        return self.audio.shape[-1] / self.sample_rate


def encode_flac(audio: np.ndarray, sample_rate: int, subtype: str = "PCM_24") -> bytes:
    """(channels, samples) float32 → FLAC file bytes.

    Compression level 0: about 40 % faster to encode than libsndfile's default for files
    about 3 % larger; every take of every track passes through here."""
    buf = io.BytesIO()
    sf.write(buf, np.ascontiguousarray(audio.T), sample_rate, format="FLAC", subtype=subtype,
             compression_level=0.0)
    return buf.getvalue()


PCM_MAGIC = b"SFPC"
_PCM_HEADER = struct.Struct("<4sIII")  # magic, channels, sample rate (Hz), frames


def pack_pcm(audio: np.ndarray, sample_rate: int) -> bytes:
    """(channels, samples) float32 → 16-byte header + little-endian float32 samples, channel by channel."""
    audio = np.asarray(audio, dtype="<f4")
    channels, frames = audio.shape
    # tobytes writes channel by channel from either memory layout, in one copy (a master
    # is laid out frame by frame: models/loudness.py)
    return _PCM_HEADER.pack(PCM_MAGIC, channels, int(sample_rate), frames) + audio.tobytes(order="C")


def is_pcm(data: bytes) -> bool:
    return bytes(data[:4]) == PCM_MAGIC


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """Packed PCM, FLAC or WAV bytes → ((channels, samples) float32, sample_rate).

    Packed PCM comes back as a read-only view of `data`, without a copy."""
    if is_pcm(data):
        _, channels, sr, frames = _PCM_HEADER.unpack_from(data)
        audio = np.frombuffer(data, dtype="<f4", count=channels * frames, offset=_PCM_HEADER.size)
        return audio.reshape(channels, frames), sr
    samples, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return np.ascontiguousarray(samples.T), sr


def encode_audio(audio: np.ndarray, sample_rate: int, encoding: str) -> bytes:
    """A take's audio as it travels between stages: "flac" (24-bit) or "pcm" (pack_pcm)."""
    if encoding == "pcm":
        return pack_pcm(audio, sample_rate)
    if encoding == "flac":
        return encode_flac(audio, sample_rate)
    raise ValueError(f"audio encoding {encoding!r}: must be 'flac' or 'pcm'")


def encode_wav(audio: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.ascontiguousarray(audio.T), sample_rate, format="WAV", subtype=subtype)
    return buf.getvalue()


def pack_stems(stems: dict[str, np.ndarray], sample_rate: int) -> bytes:
    """Stems → one uncompressed zip of `<stem>.flac` members (b'' when there are none)."""
    if not stems:
        return b""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name, audio in stems.items():
            z.writestr(f"{name}.flac", encode_flac(audio, sample_rate))
    return buf.getvalue()


def unpack_stems(data: bytes) -> dict[str, bytes]:
    """The inverse of pack_stems, leaving each stem as FLAC bytes: {stem name: flac bytes}."""
    if not data:
        return {}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n.removesuffix(".flac"): z.read(n) for n in z.namelist()}


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 32 << 20  # bytes: smaller blocks come from the heap (glibc's most; a 30 s stereo take is 10 MB)
TRIM_THRESHOLD = 256 << 20  # bytes of freed heap a process keeps before giving memory back


def keep_freed_memory() -> bool:
    """Have this process keep the memory it frees for the next take (glibc only; elsewhere
    a no-op). Returns whether the allocator took the settings.

    A stage allocates tens of arrays of megabytes per take. By default glibc returns freed
    memory to the kernel, so each take's arrays fault their pages in afresh, each zeroed
    by the kernel: measured on 30 s takes, 15 % of the synth generator's CPU time and 7 %
    of the features verifier's. Settings for the whole process: a stage's worker (a Ray
    actor, a Serve replica) holds one backend, and what it keeps is at most a few takes'
    arrays, up to TRIM_THRESHOLD."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
