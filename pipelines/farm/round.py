"""One render round as a Ray Data pipeline: track rows through the three stage actor pools.

    track rows ─► planner pool ─► generator pool ─► verifier pool ─► (the driver)
    (1 per track)                 (1 row per take)  (verdict per take)

Each pool's actors hold a `StageShell` (pipelines/core/shell.py), the same shell a Serve
replica holds. Crashed actors are restarted by Ray and their batches retried (Ray Data's
actor pools default to max_restarts=-1 and max_task_retries=-1; passing them explicitly
goes through the `ray_remote_args` that Ray 2.60 deprecates, so the defaults stand).
"""

from __future__ import annotations

from typing import Any

from ...models.errors import SongfarmError
from ...models.job import Job
from ...models.settings import STAGES, RenderSettings
from ...models.stages import batch_of, rows_of
from ..core.shell import Batch, StageShell


class _StageActor(StageShell):
    """A pool actor of one stage (one class per stage, so Ray Data names the operators).

    A user error in building the backend (a missing checkpoint, an option only the model can
    refuse) would reach the driver as Ray's ActorDiedError, which keeps the cause only as
    text. The actor stays up instead and answers every row with the error as data in the
    `setup_error` column; the driver stops the job with it (Farm._run_round)."""

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
        rows = rows_of(batch)
        for row in rows:
            row.update(status="failed", error=str(self.setup_error), error_stage=self.stage,
                       setup_error=str(self.setup_error))
        return batch_of(rows, batch)


class PlannerActor(_StageActor):
    stage = "planner"


class GeneratorActor(_StageActor):
    stage = "generator"


class VerifierActor(_StageActor):
    stage = "verifier"


ACTORS = {"planner": PlannerActor, "generator": GeneratorActor, "verifier": VerifierActor}


def round_dataset(job: Job, rows: list[dict[str, Any]]):
    """The lazy Ray Data pipeline of one round over `rows` (lifecycle.next_round() rows)."""
    import ray.data
    from ray.data import ActorPoolStrategy

    # One request per block, so the first tracks reach the generator while others are planned.
    ds = ray.data.from_items(rows, override_num_blocks=max(1, len(rows)))
    for stage in STAGES:
        res = job.resources[stage]
        ds = ds.map_batches(
            ACTORS[stage],
            fn_constructor_kwargs={"settings": job.settings},
            compute=ActorPoolStrategy(min_size=res.min_actors, max_size=res.max_actors),
            batch_size=res.batch_size,
            num_cpus=res.num_cpus,
            num_gpus=res.num_gpus,
            resources=dict(res.resources) or None,
            batch_format="numpy",
            zero_copy_batch=True,  # stages copy rows out of the read-only batch views
        )
    return ds
