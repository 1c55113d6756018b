"""A resolved job: what `jobs/jobfile.py` produces from a job file and the pipelines run.

Everything here is already validated and has its defaults applied; `to_dict` is what
lands in `<output>/<job name>/job.yaml` (never credentials).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .request import TrackRequest

STAGES = ("planner", "generator", "verifier")


@dataclass
class BackendSpec:
    name: str  # a backend of models/factory.py, "rules", "synth", "features", ...
    options: dict[str, Any] = field(default_factory=dict)  # the backend's config fields


@dataclass
class StageResources:
    """How one stage's actor pool is sized and placed (Ray Data ActorPoolStrategy)."""

    min_actors: int = 1  # actors kept alive
    max_actors: int = 1  # autoscaling ceiling
    batch_size: int = 1  # rows per __call__
    num_cpus: float = 1.0  # CPUs reserved per actor
    num_gpus: float = 0.0  # GPUs per actor (fractional allowed); 0 = CPU only


@dataclass
class Delivery:
    format: str = "flac"  # "flac" or "wav"
    sample_rate: int = 44100  # Hz of the delivered master
    stems: bool = False  # write stems/<track_id>/<stem>.flac where the generator has stems
    midi: bool = True  # write midi/<track_id>.mid where the generator has a score


@dataclass
class Job:
    name: str  # becomes a folder name under `output`
    output: str  # local directory or s3://bucket/prefix
    tracks: list[TrackRequest]
    backends: dict[str, BackendSpec] = field(
        default_factory=lambda: {"planner": BackendSpec("rules"), "generator": BackendSpec("synth"),
                                 "verifier": BackendSpec("features")})
    resources: dict[str, StageResources] = field(
        default_factory=lambda: {s: StageResources() for s in STAGES})
    delivery: Delivery = field(default_factory=Delivery)
    max_attempts: int = 3  # render rounds per track before delivering the best as "rejected"
    min_score: float = 0.75  # a take is accepted at or above this verifier score
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
