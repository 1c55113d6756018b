"""The fused pool: plain Ray actors, each running a track's every round (round.FusedActor).

Where every stage fits in one process (round.fused_pool), a track row needs nothing Ray
Data adds: no operator to stream into, no block to re-bundle. So the fused pool is a few
Ray actors fed by the driver, one track row per call:

    track rows ─► (≤ IN_FLIGHT calls per ready actor) ─► the decided track ─► driver

Measured against Ray Data's actor pool over the same actors (bench/bench_farm.py, 100 × 30 s
tracks, 2 cores): 86–100 % of the process pool's throughput (median 98 %) instead of
71–84 % (median 75–79 %). Ray Data costs its own three helper actors (stats, stats
summary, actor locations: a fresh worker each), an executor thread in the driver, its
import in every actor (~0.7 s with pandas) and a block conversion per call.

What Ray Data's pool did is kept:

- actors ask for the pool's CPUs and custom resources and are spread over the nodes; an
  actor that no node can hold yet stays pending, which is the autoscaler's cue to add a
  node, and joins the pool once it is up (only ready actors get work, so a pool that cannot
  grow still finishes on the actors it has);
- a crashed actor is restarted by Ray (max_restarts=-1) and rejoins the pool once it is up
  again; the calls it had are not retried there (max_task_retries=0) but go back to the
  queue, so they run on whichever actor is ready first instead of waiting for a restart that
  may need a new node. A track may so come back twice: the driver delivers it once
  (Farm._take_decided);
- every actor is killed when the round's answers are in, or when the driver stops early.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Iterator

from ...models.job import Job
from ...models.settings import StageResources
from ...models.stages import batch_of
from ..core.shell import Batch

IN_FLIGHT = 2  # calls queued per actor: the next track is there the moment one ends
RESTART_POLL_S = 0.2  # how often to ask an actor that Ray is restarting whether it is back


def fused_answers(job: Job, rows: list[dict[str, Any]], res: StageResources) -> Iterator[Batch]:
    """Each row of `rows` (lifecycle.next_round() rows) rendered to its decided track by a
    pool of `res` FusedActors, yielded as a one-row batch the moment its call returns."""
    import ray

    from .round import FusedActor

    remote = ray.remote(FusedActor).options(
        num_cpus=res.num_cpus, num_gpus=res.num_gpus or None, resources=dict(res.resources) or None,
        max_restarts=-1, max_task_retries=0, scheduling_strategy="SPREAD")
    actors = [remote.remote(job.settings) for _ in range(max(1, min(res.max_actors, len(rows))))]
    starting = {actor.__ray_ready__.remote(): actor for actor in actors}
    ready: dict[Any, int] = {}  # actor → calls in flight
    calls: dict[Any, tuple[Any, dict[str, Any]]] = {}  # call ref → (actor, row)
    queue = deque(rows)
    try:
        while queue or calls:
            for actor in sorted(ready, key=ready.get):
                while queue and ready[actor] < IN_FLIGHT:
                    row = queue.popleft()
                    calls[actor.render.remote(batch_of([row]))] = (actor, row)
                    ready[actor] += 1
            [ref], _ = ray.wait([*calls, *starting], num_returns=1)
            if ref in starting:
                actor = starting.pop(ref)
                try:
                    ray.get(ref)
                    ready[actor] = 0
                except ray.exceptions.ActorUnavailableError:  # being restarted: ask again soon
                    time.sleep(RESTART_POLL_S)
                    starting[actor.__ray_ready__.remote()] = actor
                except ray.exceptions.RayActorError:  # its constructor raised: it never runs
                    if not ready and not starting:
                        raise  # the driver names a user error behind it (driver.user_error_in)
                continue
            actor, row = calls.pop(ref)
            try:
                answer = ray.get(ref)
            except ray.exceptions.RayActorError:  # the actor died with the call: queue it again
                queue.appendleft(row)
                if ready.pop(actor, None) is not None:  # back in the pool once Ray restarted it
                    starting[actor.__ray_ready__.remote()] = actor
                continue
            ready[actor] -= 1
            yield answer
    finally:
        for actor in actors:
            ray.kill(actor)
