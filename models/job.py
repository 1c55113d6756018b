"""A resolved job: what `jobs/jobfile.py` produces from a job file and the pipelines run.

Everything here is already validated and has its defaults applied; `to_dict` is what
lands in `<output>/<job name>/job.yaml` (never credentials). What decides each track's
outcome is `settings` (models/settings.py), the same type the endpoint runs with.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .prices import Prices
from .request import TrackRequest
from .settings import STAGES, RenderSettings, StageResources


@dataclass
class Job:
    name: str  # becomes a folder name under `output`
    output: str  # local directory or s3://bucket/prefix
    tracks: list[TrackRequest]
    settings: RenderSettings = field(default_factory=RenderSettings)
    resources: dict[str, StageResources] = field(default_factory=lambda: {s: StageResources() for s in STAGES})
    prices: Prices = field(default_factory=Prices)  # machine prices per hour; none → no cost shown
    s3_endpoint: str | None = None  # explicit endpoint for S3-compatible stores (MinIO, Ceph, R2)
    source: str = ""  # the job file this came from

    @property
    def location(self) -> str:
        """<output>/<job name>, where everything of this job is delivered."""
        return self.output.rstrip("/") + "/" + self.name

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["tracks"] = [t.to_dict() for t in self.tracks]
        return d
