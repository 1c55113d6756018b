"""A small spectrogram picture of every delivered track, cached in the job folder.

The picture is a mel spectrogram (librosa) of the delivered master mixed to mono, drawn
through a matplotlib colour map into a WebP of WIDTH × MELS pixels (about 2-3 KB: a page
of 5,000 tracks embeds them all). It depends only on the audio's bytes, so it is cached as
`previews/<audio sha256>.<STYLE>.webp`: a second report reads the cache instead of decoding
the audio again, and a new STYLE draws every picture again.
"""

from __future__ import annotations

import base64
import io
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ...models.take import decode_audio
from .data import picture_key

PREVIEW_DIR = "previews/"
WIDTH, MELS = 192, 48  # pixels: time columns × mel bands
STYLE = f"mel{MELS}x{WIDTH}-magma-v1"  # in the cache file's name: change it when the drawing changes
HOP = 1024  # samples between STFT frames before they are averaged into WIDTH columns
TOP_DB = 70.0  # dB below the loudest bin drawn as black


def spectrogram_picture(audio_bytes: bytes) -> bytes:
    """A delivered file's bytes (FLAC or WAV) → the picture as WebP bytes."""
    import librosa
    from matplotlib import image

    audio, sr = decode_audio(audio_bytes)  # (channels, samples) float32
    mono = audio.mean(axis=0)
    power = librosa.feature.melspectrogram(y=mono, sr=sr, n_fft=2048, hop_length=HOP, n_mels=MELS)  # (MELS, frames)
    columns = np.stack([c.mean(axis=1) for c in np.array_split(power, min(WIDTH, power.shape[1]), axis=1)], axis=1)
    db = librosa.power_to_db(columns, ref=np.max, top_db=TOP_DB)
    out = io.BytesIO()
    # Low bands at the bottom; WebP at quality 60 keeps a 192×48 picture near 2 KB.
    image.imsave(out, db[::-1], cmap="magma", vmin=-TOP_DB, vmax=0.0, format="webp", pil_kwargs={"quality": 60})
    return out.getvalue()


def cache_path(sha256: str) -> str:
    return f"{PREVIEW_DIR}{sha256}.{STYLE}.webp"


def pictures(storage, rows: list[dict[str, Any]], threads: int | None = None) -> tuple[dict[str, str], list[str]]:
    """(picture key → data: URI, notes) for the rows with delivered audio. Cached pictures are
    read back, the others drawn from the audio (in threads: S3 reads and decoding wait on
    I/O and native code) and cached. A track whose audio cannot be read gets no picture and
    one note."""
    cached = set(storage.list(PREVIEW_DIR))
    wanted = {picture_key(r): r for r in rows if picture_key(r)}

    def one(row: dict[str, Any]) -> bytes | str:
        path = cache_path(row["audio_sha256"])
        if path in cached:
            return storage.read_bytes(path)
        try:
            data = spectrogram_picture(storage.read_bytes(row["audio_file"]))
        except FileNotFoundError:
            return f"{row['track_id']}: {row['audio_file']} is missing; no picture"
        except Exception as exc:  # noqa: BLE001 - a picture is a nicety: whatever fails leaves the track without one
            return f"{row['track_id']}: no picture ({type(exc).__name__}: {exc})"
        storage.write_bytes(path, data)
        return data

    with ThreadPoolExecutor(max_workers=threads or min(8, os.cpu_count() or 1)) as pool:
        done = dict(zip(wanted, pool.map(one, wanted.values())))
    uris = {key: "data:image/webp;base64," + base64.b64encode(v).decode("ascii")
            for key, v in done.items() if isinstance(v, bytes)}
    return uris, [v for v in done.values() if isinstance(v, str)]
