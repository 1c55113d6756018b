"""The settings of a render: one type for the farm, the endpoint and `songfarm take`.

Every default of a render is declared here and only here. Job files (jobs/jobfile.py) and
the Serve config (pipelines/online/config.py) both fill a `RenderSettings` through one
loader, pipelines/core/settings_file.py, which reports `FILE:LINE: field: problem (value)`.

`stage_options` is the one place that decides what a backend is built with beyond its
own options: nothing else pushes job settings into backends.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable

from . import factory

STAGES = factory.STAGES
MIN_SCORE = 0.75  # a take is accepted at or above this verifier score
MAX_ATTEMPTS = 3  # render rounds per track before the best take is delivered as "rejected"
MAX_ATTEMPTS_LIMIT = 10  # the most rounds a job or request may ask for
CANDIDATES = 1  # takes per round for a request that does not say
CALIBRATION_PROMPTS = 64  # prompts a CLAP verifier contrasts each take against, at most
FORMATS = ("flac", "wav")
SAMPLE_RATES = (16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000)
JOB_PROMPTS = "job"  # `calibration_prompts: job` in a job file: the job's own prompts (job_prompts)


@dataclass
class BackendSpec:
    name: str  # a backend of models/factory.py: "rules", "synth", "features", "diffusion", "clap", "llm"
    options: dict[str, Any] = field(default_factory=dict)  # the backend's config fields


@dataclass
class Delivery:
    format: str = "flac"  # "flac" or "wav"
    sample_rate: int = 44100  # Hz of the delivered master
    stems: bool = False  # write stems/<track_id>/... where the generator has stems
    midi: bool = True  # write midi/<track_id>... where the generator has a score


def default_backends() -> dict[str, BackendSpec]:
    return {stage: BackendSpec(name) for stage, name in factory.DEFAULTS.items()}


@dataclass
class RenderSettings:
    """What decides a render's outcome, wherever it runs."""

    backends: dict[str, BackendSpec] = field(default_factory=default_backends)
    min_score: float = MIN_SCORE  # accepted = the verifier's checks pass and score >= min_score
    max_attempts: int = MAX_ATTEMPTS  # render rounds before the best take is delivered as "rejected"
    candidates: int = CANDIDATES  # takes per round for requests that do not say
    delivery: Delivery = field(default_factory=Delivery)
    # Prompts a CLAP verifier contrasts each take against (clap_margin: "closer to its own
    # prompt than to these?"). Empty: the backend's built-in contrast set, the same online
    # and in a job. A job file may say `calibration_prompts: job` to use its own prompts.
    calibration_prompts: list[str] = field(default_factory=list)

    def stage_options(self, stage: str) -> dict[str, Any]:
        """The options `stage`'s backend is built with: the settings' own options, plus the
        render settings a backend has a field for and the options did not set.

        - verifier `min_score` → 0: the verifier reports whether its checks pass; the
          threshold is the lifecycle's (pipelines/core/lifecycle.py), so a request's own
          min_score means the same online as in a job;
        - verifier `calibration_prompts` → these settings' prompts;
        - generator `stems` → on when the delivery has stems."""
        spec = self.backends[stage]
        options = dict(spec.options)
        names = {f.name for f in dataclasses.fields(factory.config_class(stage, spec.name))}
        if stage == "verifier":
            if "min_score" in names:
                options.setdefault("min_score", 0.0)
            if "calibration_prompts" in names and self.calibration_prompts:
                options.setdefault("calibration_prompts", list(self.calibration_prompts[:CALIBRATION_PROMPTS]))
        if stage == "generator" and self.delivery.stems and "stems" in names:
            options.setdefault("stems", True)
        return options

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def job_prompts(prompts: Iterable[str]) -> list[str]:
    """A job's own calibration prompts: its distinct prompts in order, at most CALIBRATION_PROMPTS."""
    return list(dict.fromkeys(prompts))[:CALIBRATION_PROMPTS]


def share_a_process(asks: list[tuple[float, dict[str, float]]]) -> bool:
    """Whether stages asking these (GPUs per actor, custom resources) can run in one process:
    they ask for the same kind of node, no GPU and the same custom resources (every embedded
    backend). The farm fuses such pools (pipelines/farm/round.fused_pool) and the endpoint
    runs them inside its ingress replicas (pipelines/online/config.fused); a GPU stage keeps
    its own pool or deployment, so it scales on the resource it uses."""
    return all(gpus == 0 for gpus, _ in asks) and all(res == asks[0][1] for _, res in asks)


@dataclass
class StageResources:
    """How one stage's Ray Data actor pool is sized and placed (ActorPoolStrategy)."""

    min_actors: int = 1  # actors kept alive
    max_actors: int = 1  # autoscaling ceiling
    batch_size: int = 1  # rows per __call__
    num_cpus: float = 1.0  # CPUs reserved per actor
    num_gpus: float = 0.0  # GPUs per actor (fractional allowed); 0 = CPU only
    # Custom Ray resources per actor, e.g. {"cpu_pool": 0.1}: only nodes started with that
    # resource take the actor (how a CPU-only stage is kept off the GPU nodes).
    resources: dict[str, float] = field(default_factory=dict)
