"""An in-process render: one track through the stage shells in this process, no Ray.

`songfarm take`, a fused farm actor and the benchmark's process pool render this way; all
go through the same lifecycle as the farm's driver and the endpoint
(pipelines/core/lifecycle.py), so a take is the track a job would deliver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...models.request import TrackRequest
from ...models.settings import STAGES, RenderSettings
from ...models.stages import batch_of, rows_of
from ..delivery.sink import delivered_audio
from .lifecycle import TrackLifecycle
from .shell import StageShell


@dataclass
class LocalRender:
    life: TrackLifecycle  # the decided lifecycle: status, takes tried, manifest values
    take: dict[str, Any] | None  # the chosen take's full row (audio included); None when failed


def render_round(row: dict[str, Any], shells: dict[str, StageShell],
                 audio_encoding: str = "flac") -> list[dict[str, Any]]:
    """One round of one track: planner → generator → verifier → one verified row per take.
    `audio_encoding` is how takes travel from the generator to the verifier (models/take.py):
    "flac" as in the farm, "pcm" as behind Serve."""
    batch = batch_of([row])
    for stage in STAGES:
        batch = shells[stage](batch, audio_encoding=audio_encoding) if stage == "generator" else shells[stage](batch)
    return rows_of(batch)


def render_track(request: TrackRequest, shells: dict[str, StageShell], settings: RenderSettings,
                 audio_encoding: str = "flac") -> LocalRender:
    """Every round the lifecycle asks for, in this process."""
    life = TrackLifecycle(request, settings)
    chosen = None
    while (row := life.next_round()) is not None:
        decision = life.close_round(render_round(row, shells, audio_encoding))
        if decision.new_best:
            chosen = decision.take
    return LocalRender(life, chosen if life.status != "failed" else None)


def render_delivered(request: TrackRequest, shells: dict[str, StageShell], settings: RenderSettings) -> LocalRender:
    """Every round in this process, takes as float PCM between the stages (no FLAC round
    trip), then the kept take's audio encoded once, in the delivery format and rate (the
    sink passes it through): what a fused farm actor does for each track
    (pipelines/farm/round.py), and the benchmark's process pool."""
    done = render_track(request, shells, settings, audio_encoding="pcm")
    if done.take is not None:
        fmt, rate = settings.delivery.format, int(settings.delivery.sample_rate)
        done.take["audio"] = delivered_audio(bytes(done.take["audio"]), fmt, rate)[0]
    return done
