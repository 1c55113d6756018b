"""The planner, generator and verifier as Ray Serve deployments.

Each deployment builds its backend once through models/factory.make (the same classes the
batch farm runs in its Ray Data pools) and calls it the way the farm does: the generator
and verifier through the stage's `__call__(batch)` in Ray Data's numpy batch format
(models/stages.py lists the columns), so a take rendered online has the farm's samples;
only its transport differs (packed PCM here, FLAC in the farm: models/take.py says why).
The planner's `plan` is called directly so a user mistake in the request (a SongfarmError)
can become a 422 rather than a 500.

Rows travel between deployments as plain dicts of the stage columns.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
from typing import Any

import numpy as np
from ray import serve

from ..models.errors import SongfarmError
from ..models.factory import make
from ..models.request import TrackRequest
from .serve_config import StageBackend

logger = logging.getLogger("ray.serve")  # Serve writes this logger into each replica's log
HOST = socket.gethostname()  # the manifest's `node` column


def to_batch(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Rows (all with the same keys) → a numpy batch of object columns."""
    batch = {}
    for key in rows[0]:
        column = np.empty(len(rows), dtype=object)
        column[:] = [r[key] for r in rows]
        batch[key] = column
    return batch


def from_batch(batch: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """A numpy batch → rows of plain Python values (numpy scalars unwrapped)."""
    n = len(next(iter(batch.values()))) if batch else 0
    return [{k: _plain(v[i]) for k, v in batch.items()} for i in range(n)]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


class StageReplica:
    """What the three stage deployments share: the backend, health checks, the test hook."""

    stage = ""

    def __init__(self, spec: StageBackend, test_hooks: bool = False):
        self.backend = make(self.stage, spec.name, spec.options)
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

    def plan(self, request_json: str, request_id: str) -> dict[str, Any]:
        """TrackRequest JSON → {"plan": SongPlan JSON, "plan_s", "version"}; on failure {"error",
        "user_error"} and, for a user error, "fields": [(field, value, reason)]."""
        t0 = time.perf_counter()
        try:
            plan = self.backend.plan(TrackRequest.from_json(request_json))
        except SongfarmError as exc:  # the request asks for something impossible: the client's to fix
            fields = [(e.field, e.value, e.reason) for e in getattr(exc, "errors", [])]
            if not fields:  # planners name the field as "request.key='Q minor': ..."
                named = re.match(r"request\.(\w+)", str(exc))
                fields = [(named.group(1) if named else "request", None, str(exc))]
            return {"error": str(exc), "user_error": True, "fields": fields}
        except Exception as exc:
            logger.exception("request %s: planner failed", request_id)
            return {"error": f"{type(exc).__name__}: {exc}", "user_error": False}
        return {"plan": plan.to_json(), "plan_s": time.perf_counter() - t0, "version": str(self.backend.version)}


@serve.deployment(name="Generator")
class GeneratorDeployment(StageReplica):
    stage = "generator"

    def __init__(self, spec: StageBackend, max_batch_size: int = 1, batch_wait_timeout_s: float = 0.01,
                 test_hooks: bool = False):
        super().__init__(spec, test_hooks)
        self.render.set_max_batch_size(max_batch_size)
        self.render.set_batch_wait_timeout_s(batch_wait_timeout_s)

    @serve.batch(max_batch_size=4, batch_wait_timeout_s=0.01)
    async def render(self, rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """Concurrent requests, one track row each (request, plan, attempt), share one
        backend call; each gets back its candidates as take rows, audio as packed PCM
        (the verifier reads it without decoding; the ingress encodes what it returns)."""
        slotted = [{**row, "slot": i} for i, row in enumerate(rows)]
        # In a worker thread: the replica's event loop keeps queueing requests and
        # answering health checks while a long render runs.
        out = from_batch(await asyncio.to_thread(self.backend, to_batch(slotted), "pcm"))
        takes: list[list[dict[str, Any]]] = [[] for _ in rows]
        for take in out:
            take["generator_version"], take["generator_host"] = str(self.backend.version), HOST
            take["generator_batch"] = len(rows)  # requests that shared this backend call
            takes[take.pop("slot")].append(take)
            if take["status"] != "ok":
                logger.error("request %s: generator failed: %s", take.get("request_id"), take["error"])
        return takes


@serve.deployment(name="Verifier")
class VerifierDeployment(StageReplica):
    stage = "verifier"

    async def verify(self, takes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Take rows → their verdict columns (verdict JSON, score, accepted, status), same order."""
        out = from_batch(await asyncio.to_thread(self.backend, to_batch(takes)))
        for row in out:
            if row["status"] != "ok":
                logger.error("request %s: verifier failed: %s", row.get("request_id"), row["error"])
        keep = ("candidate", "verdict", "score", "accepted", "verify_s", "status", "error", "error_stage")
        return [{**{k: row[k] for k in keep}, "verifier_version": str(self.backend.version)} for row in out]


def _replica_id() -> str:
    try:
        return serve.get_replica_context().replica_id.unique_id
    except Exception:  # outside a replica (the plain class used directly)
        return "local"
