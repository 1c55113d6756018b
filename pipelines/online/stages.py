"""The planner, generator and verifier on Ray Serve, and the rounds of one request over them.

Each stage is a `StageReplica` holding the same `StageShell` as the farm's actor pools
(pipelines/core/shell.py), built from the same render settings (backend options decided by
RenderSettings.stage_options), and calls it with rows through the one codec (models/stages.py
rows_of / batch_of), so a take rendered online has the farm's samples and provenance columns.
Only the transport differs: packed PCM here, FLAC in the farm (models/take.py says why). A
stage's error comes back in the row's columns (status, error, error_stage, error_field,
error_value): data, not text.

The stages run in one of two layouts (config.stage_layout; `config.fused` decides):

- fused (stages that ask for the same kind of resources: CPU only): `LocalStages`, all three
  inside each ingress replica, which answers a whole request in its own process: the plan,
  every round (generator batches still shared by concurrent requests through @serve.batch),
  the answer's encode and tags. No hop between replicas at all, and a take's audio leaves the
  process only as the answer. One replica per core is the farm's layout too (one process per
  core, every stage in it).
- split (stages that differ, e.g. a GPU generator beside a CPU planner): one deployment per
  stage; the ingress runs the rounds, and the generator's takes go to the verifier by reference.

Both layouts run the same rounds (`render_rounds`) over the same lifecycle, so a request gets
the same answer, byte for byte, in either.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ray import serve

from ...models.request import TrackRequest
from ...models.settings import RenderSettings
from ...models.stages import batch_of, rows_of
from ..core.lifecycle import TrackLifecycle
from ..core.shell import StageShell
from ..delivery.sink import delivered_audio, provenance_tags, tag_audio, take_tags

logger = logging.getLogger("ray.serve")  # Serve writes this logger into each replica's log
# Columns of a verifier answer: everything the lifecycle reads, never the audio.
VERDICT_COLUMNS = ("candidate", "verdict", "score", "accepted", "verify_s", "status", "error", "error_stage",
                   "error_field", "error_value", "verifier_version", "verifier_host", "verifier_node",
                   "verifier_cpu_s")


def encoded(take: dict[str, Any], fmt: str, tags: dict[str, Any]) -> tuple[bytes, bytes]:
    """A take's audio (packed PCM from the generator) → (the `fmt` file as the sink encodes it,
    the same with its provenance tags: the answer)."""
    data = delivered_audio(take["audio"], fmt, int(take["sample_rate"]))[0]
    return data, tag_audio(data, fmt, provenance_tags(tags))


# One round started: (the take rows, when rendered; their verifier columns, when verified).
RoundStart = Callable[[dict[str, Any]], tuple[Awaitable[list[dict[str, Any]]], Awaitable[list[dict[str, Any]]]]]


async def render_rounds(track: TrackRequest, planned: dict[str, Any], settings: RenderSettings, job_name: str,
                        start_round: RoundStart) -> tuple[TrackLifecycle, dict[str, Any] | None,
                                                          tuple[bytes, bytes] | None]:
    """The track's lifecycle (pipelines/core/lifecycle.py), round by round through
    `start_round` → (the decided lifecycle, the chosen take's row, its audio as the delivered
    format untagged and tagged (`encoded`)); no take and no files when the track failed."""
    life = TrackLifecycle(track, settings)
    chosen: dict[str, Any] | None = None
    fmt = settings.delivery.format
    encodes: dict[tuple[int, int], asyncio.Future] = {}  # (attempt, candidate) → its encoded files
    try:
        while (row := life.next_round()) is not None:
            rendering, verifying = start_round({**planned, "attempt": row["attempt"], "seeds": row["seeds"]})
            takes = await rendering
            if len(takes) == 1 and takes[0]["status"] == "ok":
                # A lone take is the answer unless a later round beats it: encode and tag it
                # on another core while the verifier listens, off the critical path.
                encodes[(takes[0]["attempt"], takes[0]["candidate"])] = asyncio.ensure_future(
                    asyncio.to_thread(encoded, takes[0], fmt, take_tags(job_name, track, takes[0])))
            verdicts = await verifying
            for take, verdict in zip(takes, verdicts):
                if take["status"] == "ok":  # a take the generator failed keeps its own error
                    take.update(verdict)
            decision = life.close_round(takes)
            if decision.new_best:
                chosen = decision.take
        if life.status == "failed":
            return life, None, None
        key = (chosen["attempt"], chosen["candidate"])
        files = await (encodes.pop(key) if key in encodes
                       else asyncio.to_thread(encoded, chosen, fmt, take_tags(job_name, track, chosen)))
        return life, chosen, files
    finally:
        for pending in encodes.values():  # encodes of takes not chosen: let them finish unobserved
            pending.add_done_callback(_observed)


def _observed(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


class StageReplica:
    """What every stage replica shares: the backend, health checks, the test hook."""

    stage = ""

    def __init__(self, settings: RenderSettings, test_hooks: bool = False):
        self.shell = StageShell.for_settings(self.stage, settings)
        self.backend = self.shell.backend
        self.test_hooks = test_hooks
        self.failing = False  # set only through the test hook
        self.executor: ThreadPoolExecutor | None = None  # where the backend runs; None: asyncio's default

    async def _run(self, fn, *args, **kwargs):
        """`fn` in a worker thread: the replica's event loop keeps queueing requests and
        answering health checks while a long batch runs."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    def check_health(self) -> None:
        """Called by Serve every health_check_period_s; raising makes Serve replace the replica."""
        if self.failing:
            raise RuntimeError(f"{self.stage} replica told to fail its health check (test hook)")
        if self.backend is None:
            raise RuntimeError(f"{self.stage} backend missing")

    def health(self, stage: str | None = None) -> dict[str, Any]:
        """The same check, on demand for GET /healthz, with who answered (`stage`: which stage
        is asked about; one replica holds one stage here)."""
        self.check_health()
        return {"replica": _replica_id(), "backend": f"{self.backend.name}-{self.backend.version}"}

    def fail_health(self) -> str:
        """Test-only (settings.test_hooks): fail every later health check of this replica."""
        if not self.test_hooks:
            raise PermissionError("test hooks are disabled")
        self.failing = True
        logger.warning("%s replica %s will fail its health checks (test hook)", self.stage, _replica_id())
        return _replica_id()


class PlannerStage(StageReplica):
    stage = "planner"

    def plan(self, row: dict[str, Any]) -> dict[str, Any]:
        """A track row (models/stages.new_row) → the same row with the planner's columns."""
        out = rows_of(self.shell(batch_of([row])))[0]
        if out["status"] != "ok" and not out["error_field"]:  # the backend's failure, not the user's
            logger.error("request %s: planner failed: %s", row.get("request_id"), out["error"])
        return out


class GeneratorStage(StageReplica):
    stage = "generator"

    def __init__(self, settings: RenderSettings, max_batch_size: int = 1, batch_wait_timeout_s: float = 0.01,
                 test_hooks: bool = False):
        super().__init__(settings, test_hooks)
        self.render.set_max_batch_size(max_batch_size)
        self.render.set_batch_wait_timeout_s(batch_wait_timeout_s)

    @serve.batch(max_batch_size=4, batch_wait_timeout_s=0.01)
    async def render(self, rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """Concurrent requests, one planned track row each, share one backend call; each gets
        back its candidates as take rows, audio as packed PCM (the verifier reads it without
        decoding; what is returned is encoded once, as the answer)."""
        slotted = [{**row, "slot": i} for i, row in enumerate(rows)]
        out = rows_of(await self._run(self.shell, batch_of(slotted), audio_encoding="pcm"))
        takes: list[list[dict[str, Any]]] = [[] for _ in rows]
        for take in out:
            take["generator_batch"] = len(rows)  # requests that shared this backend call
            takes[take.pop("slot")].append(take)
            if take["status"] != "ok":
                logger.error("request %s: generator failed: %s", take.get("request_id"), take["error"])
        return takes


class VerifierStage(StageReplica):
    stage = "verifier"

    async def verify(self, takes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Take rows → their verifier columns, same order (the audio is not sent back)."""
        out = rows_of(await self._run(self.shell, batch_of(takes)))
        for row in out:
            if row["status"] != "ok":
                logger.error("request %s: verifier failed: %s", row.get("request_id"), row["error"])
        return [{k: row[k] for k in VERDICT_COLUMNS} for row in out]


class LocalStages:
    """The fused layout: planner, generator and verifier in this process (an ingress replica's)."""

    def __init__(self, settings: RenderSettings, max_batch_size: int = 1, batch_wait_timeout_s: float = 0.01,
                 test_hooks: bool = False):
        self.planner = PlannerStage(settings, test_hooks)
        self.generator = GeneratorStage(settings, max_batch_size, batch_wait_timeout_s, test_hooks)
        self.verifier = VerifierStage(settings, test_hooks)
        self.by_stage = {s.stage: s for s in (self.planner, self.generator, self.verifier)}
        # The stages take turns on one thread, as in one of the farm's processes: concurrent
        # requests' Python would only contend for the interpreter lock and the caches. The
        # answer's encode (libFLAC, off the lock) still runs beside them (render_rounds).
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stages")
        for stage in self.by_stage.values():
            stage.executor = self.executor

    def check_health(self) -> None:
        for stage in self.by_stage.values():
            stage.check_health()

    def health(self, stage: str) -> dict[str, Any]:
        """Every stage's check (they share the process), answered with `stage`'s backend."""
        self.check_health()
        return self.by_stage[stage].health()

    def fail_health(self) -> str:
        """Test-only: fail every later health check of this replica (all three stages)."""
        for stage in self.by_stage.values():
            stage.fail_health()
        return _replica_id()

    async def plan(self, row: dict[str, Any]) -> dict[str, Any]:
        return await self.planner._run(self.planner.plan, row)

    def start_round(self, row: dict[str, Any]):
        """One round (render_rounds' `start_round`): the generator's batch, then the verifier,
        on the takes as they are (no copy, no transfer)."""
        rendering = asyncio.ensure_future(self.generator.render(row))
        verifying = asyncio.ensure_future(self._verify(rendering))
        verifying.add_done_callback(_observed)  # a failed render fails both: one is enough to report
        return rendering, verifying

    async def _verify(self, rendering: Awaitable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
        return await self.verifier.verify(await rendering)


PlannerDeployment = serve.deployment(name="Planner")(PlannerStage)
GeneratorDeployment = serve.deployment(name="Generator")(GeneratorStage)
VerifierDeployment = serve.deployment(name="Verifier")(VerifierStage)


def _replica_id() -> str:
    try:
        return serve.get_replica_context().replica_id.unique_id
    except Exception:  # outside a replica (the plain class used directly)
        return "local"
