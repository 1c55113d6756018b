"""The planner, generator and verifier as Ray Serve deployments.

Each replica holds the same `StageShell` as the farm's actor pools (pipelines/core/shell.py),
built from the same render settings (backend options decided by RenderSettings.stage_options),
and calls it with rows through the one codec (models/stages.py rows_of / batch_of), so a take
rendered online has the farm's samples and provenance columns. Only the transport differs:
packed PCM here, FLAC in the farm (models/take.py says why). A stage's error comes back in
the row's columns (status, error, error_stage, error_field, error_value): data, not text.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ray import serve

from ...models.settings import RenderSettings
from ...models.stages import batch_of, rows_of
from ..core.shell import StageShell

logger = logging.getLogger("ray.serve")  # Serve writes this logger into each replica's log
class StageReplica:
    """What the three stage deployments share: the backend, health checks, the test hook."""

    stage = ""

    def __init__(self, settings: RenderSettings, test_hooks: bool = False):
        self.shell = StageShell.for_settings(self.stage, settings)
        self.backend = self.shell.backend
        self.test_hooks = test_hooks
        self.failing = False  # set only through the test hook

    def check_health(self) -> None:
        """Called by Serve every health_check_period_s; raising makes Serve replace the replica."""
        if self.failing:
            raise RuntimeError(f"{self.stage} replica told to fail its health check (test hook)")
        if self.backend is None:
            raise RuntimeError(f"{self.stage} backend missing")

    def health(self) -> dict[str, Any]:
        """The same check, on demand for GET /healthz, with who answered."""
        self.check_health()
        return {"replica": _replica_id(), "backend": f"{self.backend.name}-{self.backend.version}"}

    def fail_health(self) -> str:
        """Test-only (settings.test_hooks): fail every later health check of this replica."""
        if not self.test_hooks:
            raise PermissionError("test hooks are disabled")
        self.failing = True
        logger.warning("%s replica %s will fail its health checks (test hook)", self.stage, _replica_id())
        return _replica_id()


@serve.deployment(name="Planner")
class PlannerDeployment(StageReplica):
    stage = "planner"

    def plan(self, row: dict[str, Any]) -> dict[str, Any]:
        """A track row (models/stages.new_row) → the same row with the planner's columns."""
        out = rows_of(self.shell(batch_of([row])))[0]
        if out["status"] != "ok" and not out["error_field"]:  # the backend's failure, not the user's
            logger.error("request %s: planner failed: %s", row.get("request_id"), out["error"])
        return out


@serve.deployment(name="Generator")
class GeneratorDeployment(StageReplica):
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
        decoding; the ingress encodes what it returns)."""
        slotted = [{**row, "slot": i} for i, row in enumerate(rows)]
        # In a worker thread: the replica's event loop keeps queueing requests and
        # answering health checks while a long render runs.
        out = rows_of(await asyncio.to_thread(self.shell, batch_of(slotted), audio_encoding="pcm"))
        takes: list[list[dict[str, Any]]] = [[] for _ in rows]
        for take in out:
            take["generator_batch"] = len(rows)  # requests that shared this backend call
            takes[take.pop("slot")].append(take)
            if take["status"] != "ok":
                logger.error("request %s: generator failed: %s", take.get("request_id"), take["error"])
        return takes


@serve.deployment(name="Verifier")
class VerifierDeployment(StageReplica):
    stage = "verifier"

    async def verify(self, takes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Take rows → their verifier columns, same order (the audio is not sent back)."""
        out = rows_of(await asyncio.to_thread(self.shell, batch_of(takes)))
        for row in out:
            if row["status"] != "ok":
                logger.error("request %s: verifier failed: %s", row.get("request_id"), row["error"])
        keep = ("candidate", "verdict", "score", "accepted", "verify_s", "status", "error", "error_stage",
                "error_field", "error_value", "verifier_version", "verifier_host", "verifier_node", "verifier_cpu_s")
        return [{k: row[k] for k in keep} for row in out]


def _replica_id() -> str:
    try:
        return serve.get_replica_context().replica_id.unique_id
    except Exception:  # outside a replica (the plain class used directly)
        return "local"
