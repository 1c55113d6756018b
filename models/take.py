"""A take: one rendered candidate for a track, and the audio helpers every stage shares.

Audio inside songfarm is float32 shaped (channels, samples). Between Ray stages a take's
audio travels as FLAC bytes (24-bit, lossless for our purposes and 3-5x smaller than
float32), so long tracks and large batches keep the object store small.
"""

from __future__ import annotations

import io
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


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """FLAC/WAV bytes → ((channels, samples) float32, sample_rate)."""
    samples, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return np.ascontiguousarray(samples.T), sr


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
