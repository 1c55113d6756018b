"""A request's fingerprint: what a delivered track was rendered from.

Every manifest row carries it (the `fingerprint` column). When a job is run again and a
track's fingerprint differs from its row's, the request or the settings changed since that
render, and the track is rendered again (`songfarm render --keep-changed` keeps the old
render instead).

It covers everything that changes the audio or the decision to keep it: the request's own
fields (prompt, lyrics, duration, seed, candidates, overrides), each backend's name,
options and class version, min_score, max_attempts, the delivery (format, rate, stems,
MIDI) and the calibration prompts. It leaves out what does not: resources, the output
location, the job's name.
"""

from __future__ import annotations

import hashlib
import json

from ...models.factory import backend_version
from ...models.request import TrackRequest
from ...models.settings import RenderSettings


def fingerprint(request: TrackRequest, settings: RenderSettings) -> str:
    """Hex SHA-256 of the canonical JSON of the request and the settings that shape it."""
    backends = {stage: {"name": spec.name, "options": spec.options,
                        "version": backend_version(stage, spec.name, spec.options)}
                for stage, spec in sorted(settings.backends.items())}
    doc = {"request": request.to_dict(), "backends": backends, "min_score": float(settings.min_score),
           "max_attempts": int(settings.max_attempts), "delivery": settings.to_dict()["delivery"],
           "calibration_prompts": list(settings.calibration_prompts)}
    text = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
