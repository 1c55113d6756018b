"""One render round: track rows through the stage actor pools.

Stages with their own pools (a GPU generator, a fractional-GPU verifier) run as one Ray
Data pipeline per round (round_dataset):

    track rows ─► planner pool ─► generator pool ─► verifier pool ─► (the driver)
    (1 per track)                 (1 row per take)  (verdict per take)

Stages that ask for the same kind of node (every embedded backend) fuse into one pool
(fused_pool below), whose actors run a track's every round in one process (FusedActor, on
plain Ray actors: pipelines/farm/fused_pool.py):

    track rows ─► fused pool: (planner → generator → verifier) × the rounds the lifecycle
                  asks for ─► the decided track and its kept take ─► (the driver)

so a job's tracks take one pass, however many are rendered again.

Each actor holds `StageShell`s (pipelines/core/shell.py), the shell a Serve replica holds,
so a take carries the same provenance columns either way. Crashed actors are restarted by
Ray and their batches retried (Ray Data's actor pools default to max_restarts=-1 and
max_task_retries=-1; passing them explicitly goes through the `ray_remote_args` that Ray
2.60 deprecates, so the defaults stand). The fused pool sets its own: fused_pool.py.
"""

from __future__ import annotations

import json
import pickle
from typing import Any

from ...models.errors import SongfarmError
from ...models.job import Job
from ...models.settings import STAGES, RenderSettings, StageResources, share_a_process
from ...models.request import TrackRequest
from ...models.stages import batch_of, rows_of
from ..core.local import render_delivered
from ..core.shell import Batch, StageShell


def _setup_failed(batch: Batch, stage: str, error: SongfarmError) -> Batch:
    """Every row of `batch` answered with the error that kept `stage` from being built.

    A user error in building a backend (a missing checkpoint, an option only the model can
    refuse) would reach the driver as Ray's ActorDiedError, which keeps the cause only as
    text. The actor stays up instead and answers every row with the error as data in the
    `setup_error` column; the driver stops the job with it (Farm._run_round)."""
    rows = rows_of(batch)
    for row in rows:
        row.update(status="failed", error=str(error), error_stage=stage, setup_error=str(error))
    return batch_of(rows, batch)


class _StageActor(StageShell):
    """A pool actor of one stage (one class per stage, so Ray Data names the operators)."""

    stage = ""

    def __init__(self, settings: RenderSettings):
        self.setup_error: SongfarmError | None = None
        try:
            super().__init__(self.stage, settings.backends[self.stage].name, settings.stage_options(self.stage))
        except SongfarmError as exc:
            self.setup_error = exc

    def __call__(self, batch: Batch, **kwargs: Any) -> Batch:
        if self.setup_error is None:
            return super().__call__(batch, **kwargs)
        return _setup_failed(batch, self.stage, self.setup_error)


class PlannerActor(_StageActor):
    stage = "planner"


class GeneratorActor(_StageActor):
    stage = "generator"


class VerifierActor(_StageActor):
    stage = "verifier"


ACTORS = {"planner": PlannerActor, "generator": GeneratorActor, "verifier": VerifierActor}


class FusedActor:
    """A track row in, the track decided: every round of it in this process.

    The actor runs the track's lifecycle itself (pipelines/core/local.render_delivered: the
    same TrackLifecycle the driver runs for separate pools), so a re-render needs no second
    pass and no new actors. Takes pass between the stages as float PCM here;
    only the kept take's audio leaves the actor, already in the delivery format. The answer
    is one row per track:

        track_id   str    the request id
        lifecycle  bytes  the decided TrackLifecycle, pickled (rules, takes tried, usage)
        audio      bytes  the kept take in the delivery format (b"" when the track failed)
        midi, stems, seed, generator, model   the kept take's columns
        <stage>_node, <stage>_actor           where it ran (StageShell's tags)
    """

    def __init__(self, settings: RenderSettings):
        self.settings = settings
        self.shells: dict[str, StageShell] = {}
        self.setup_error: tuple[str, SongfarmError] | None = None
        for stage in STAGES:
            try:
                self.shells[stage] = StageShell.for_settings(stage, settings)
            except SongfarmError as exc:
                self.setup_error = (stage, exc)
                return

    def render(self, batch: Batch) -> Batch:
        if self.setup_error is not None:
            return _setup_failed(batch, *self.setup_error)
        out = []
        for row in rows_of(batch):
            done = render_delivered(TrackRequest.from_json(str(row["request"])), self.shells, self.settings)
            take = done.take or {}  # none when the track failed
            answer = {"track_id": row["track_id"], "lifecycle": pickle.dumps(done.life),
                      "audio": take.get("audio", b""), "midi": take.get("midi", b""),
                      "stems": take.get("stems", b""), "seed": int(take.get("seed", -1)),
                      "generator": take.get("generator", ""), "model": take.get("model", "")}
            for stage, shell in self.shells.items():
                answer[f"{stage}_node"], answer[f"{stage}_actor"] = shell.node, shell.actor
            out.append(answer)
        return batch_of(out)


def fused_pool(resources: dict[str, StageResources]) -> StageResources | None:
    """One pool that runs planner → generator → verifier in each actor, or None where the
    stages must keep pools of their own.

    Stages fuse when they can share a process (models.settings.share_a_process). One process
    then does a track's every round, as Ray Data fuses compatible operators: no take crosses
    the object store between stages and no FLAC is encoded for the verifier alone. A GPU generator or a fractional-GPU
    verifier keeps its own pool, so each pool scales on the resource it uses.

    The fused pool holds the CPUs the separate minimum (and maximum) pools would: each actor
    asks what the heaviest stage's actor asks (one busy process), and there are as many as
    those CPUs allow. The laptop profile on 2 cores, 0.1 + 0.94 + 0.94 CPUs, becomes 2 actors
    of 0.94 CPUs: one per core."""
    asks = [resources[stage] for stage in STAGES]
    if not share_a_process([(r.num_gpus, r.resources) for r in asks]):
        return None
    per_actor = max(r.num_cpus for r in asks)

    def actors(total_cpus: float) -> int:
        return max(1, int(total_cpus / per_actor + 1e-6))

    low = actors(sum(r.min_actors * r.num_cpus for r in asks))
    high = max(low, actors(sum(r.max_actors * r.num_cpus for r in asks)))
    return StageResources(min_actors=low, max_actors=high, batch_size=resources["generator"].batch_size,
                          num_cpus=per_actor, resources=dict(asks[0].resources))


def pools(job: Job, fuse: bool = True) -> dict[str, StageResources]:
    """The round's actor pools in pipeline order: {"fused": pool} where the stages fuse
    (and `fuse` allows it), else one pool per stage."""
    fused = fused_pool(job.resources) if fuse else None
    return {"fused": fused} if fused is not None else {stage: job.resources[stage] for stage in STAGES}


def round_dataset(job: Job, rows: list[dict[str, Any]]):
    """The lazy Ray Data pipeline of one round over `rows` (lifecycle.next_round() rows),
    one actor pool per stage (a fused pool is plain actors: pipelines/farm/fused_pool.py)."""
    import ray.data
    from ray.data import ActorPoolStrategy

    # One request per block, so the first tracks reach the generator while others are planned.
    ds = ray.data.from_items(rows, override_num_blocks=max(1, len(rows)))
    for name in STAGES:
        res = job.resources[name]
        # No more actors than the round has tracks for a pool that takes track rows, or
        # takes for the verifier (Ray Data warns of idle ones).
        cap = len(rows) if name != "verifier" else max(1, sum(len(json.loads(r["seeds"])) for r in rows))
        ds = ds.map_batches(
            ACTORS[name],
            fn_constructor_kwargs={"settings": job.settings},
            compute=ActorPoolStrategy(min_size=min(res.min_actors, cap), max_size=min(res.max_actors, cap)),
            batch_size=res.batch_size,
            num_cpus=res.num_cpus,
            num_gpus=res.num_gpus,
            resources=dict(res.resources) or None,
            batch_format="numpy",
            zero_copy_batch=True,  # stages copy rows out of the read-only batch views
        )
    return ds
