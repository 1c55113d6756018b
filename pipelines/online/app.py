"""The online endpoint: planner → generator → verifier behind a FastAPI ingress on Ray Serve.

    fused (CPU-only stages): HTTP ──► Ingress (FastAPI) and, in the same process, Planner ──►
                             Generator (@serve.batch) ──► Verifier, re-rendering with new seeds
                             until accepted or max_attempts; one replica per core

    split (a GPU stage):     HTTP ──► Ingress (FastAPI) ──► Planner ──► Generator (@serve.batch) ──► Verifier
                                          │                                  ▲                         │
                                          └──────── re-render with new seeds ┴── until accepted or max_attempts

The layout is the settings' `stage_layout` (config.fused): the three stages inside each
ingress replica when their resources are the same kind, so a request crosses no replica
boundary but the HTTP proxy's; one deployment per stage when they differ
(pipelines/online/stages.py). Both run the same rounds and answer the same bytes.

API (all bodies JSON; GET /docs has the OpenAPI page):

    POST /v1/tracks   TrackRequest fields (+ format flac|wav, min_score) → the audio, with the
                      verdict and plan summary in X-Songfarm-* headers; with
                      `Accept: application/json` a JSON document with plan, verdict and the
                      audio as base64 (or its storage URI when an output location is set)
    POST /v1/plans    the same body → the plan only
    GET  /healthz     each stage deployment's health check, called live (a stage that may
                      scale to zero reports Serve's status instead of being woken); 503 when one fails

A request is rendered by the track lifecycle every driver uses (pipelines/core/lifecycle.py:
rounds, seeds, best take, accept / re-render / reject), with the endpoint's render settings
and the request's own min_score, so a request rendered here is sample-for-sample, and row
for row, the track `songfarm take` or a one-track job renders (tests/pipelines/core/test_parity.py).

Errors, every one a JSON document with the request id (`problem_for`): 401 without a valid
key (when keys are configured), 413 for a body over limits.max_body_bytes, 422 naming each
bad field with its value, 503 with Retry-After when the ingress or a stage is full
(Ingress._answer's admission, Serve's max_queued_requests) or the output store stays down
through its retries, 500 with the request id when a backend fails (the traceback is in the
replica's log).

Nothing here starts Ray at import; `build_app(settings)` returns the Serve application
(`songfarm serve` runs it: jobs/serve.py).
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations (Request) at run time.

import asyncio
import base64
import dataclasses
import json
import logging
import math
import re
import time
from typing import Any

from fastapi import FastAPI
from ray import serve
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ...models.plan import SongPlan
from ...models.request import FieldError, TrackRequest
from ...models.settings import RenderSettings
from ...models.stages import new_row
from ...models.verdict import Verdict
from ..core.lifecycle import TrackLifecycle
from ..delivery.sink import Sink, SinkConfig, take_tags
from ..delivery.storage import StorageError, open_storage
from . import http
from .config import DEPLOYMENT_NAMES, ServeSettings, deployed, deployment_options, fused, load_settings, \
    settings_from_dict
from .stages import GeneratorDeployment, LocalStages, PlannerDeployment, VerifierDeployment, render_rounds

logger = logging.getLogger("ray.serve")
INGRESS_QUEUE_FACTOR = 8  # Serve's queue before the ingress, in multiples of its admission limit
STORE_RETRY_AFTER_S = 30  # Retry-After when the output store is down (its retries already took seconds)

api = FastAPI(
    title="songfarm",
    version="1",
    description="Generated music on demand: the songfarm planner → generator → verifier graph over HTTP.",
)
_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": http.track_body_schema()}}}}
_AUDIO = {"200": {"content": {"audio/flac": {}, "audio/wav": {}, "application/json": {}},
                  "description": "the audio (X-Songfarm-* headers), or JSON with Accept: application/json"}}


class BackendFailure(Exception):
    """A stage raised for this request (already logged with its traceback by the replica)."""

    def __init__(self, stage: str, error: str):
        super().__init__(f"{stage}: {error}")
        self.stage = stage


def open_output(settings: ServeSettings):
    """The storage of <output>/<job_name>, checked writable; None without an output location."""
    if not settings.output:
        return None
    storage = open_storage(settings.output.rstrip("/") + "/" + settings.job_name, settings.s3_endpoint)
    storage.check_writable()
    return storage


def _deployment_status(app: str, deployment: str) -> str:
    """Serve's status of one deployment: HEALTHY, UPDATING, UPSCALING, DOWNSCALING, UNHEALTHY, ..."""
    status = serve.status().applications[app].deployments[deployment].status
    return str(getattr(status, "value", status))


def admission_limit(ingress) -> int:
    """Requests one ingress replica answers at once: its ongoing plus its queued requests."""
    return int(ingress.max_ongoing_requests) + int(ingress.max_queued_requests)


def problem_for(exc: Exception, rid: str, retry_after_s: float) -> http.Problem:
    """The HTTP answer to a request that failed with `exc`, logged with the request id:
    the request's own mistakes as they are (401, 422), full queues and an output store that
    stays down as 503 with Retry-After, anything else as 500 naming the request id (the
    details and traceback stay in the log)."""
    if isinstance(exc, http.Problem):
        return exc
    if isinstance(exc, BackPressureError):  # a stage's queue is full (its max_queued_requests)
        retry = max(1, math.ceil(exc.retry_after_s or retry_after_s))
        return http.Problem(503, "overloaded: try again later", headers={"Retry-After": str(retry)})
    if isinstance(exc, DeploymentUnavailableError):
        return http.Problem(503, "a stage is unavailable: try again later", headers={"Retry-After": "5"})
    if isinstance(exc, StorageError) and exc.unavailable:  # it kept failing through every retry
        logger.error("request %s: %s", rid, exc)
        return http.Problem(503, "the output store is unavailable: try again later",
                            headers={"Retry-After": str(STORE_RETRY_AFTER_S)})
    if isinstance(exc, BackendFailure):
        logger.error("request %s: %s failed (traceback in the %s replica's log)", rid, exc.stage, exc.stage)
        return http.Problem(500, f"the {exc.stage} failed on this request; quote request id {rid}")
    logger.error("request %s: unexpected error", rid, exc_info=exc)
    return http.Problem(500, f"internal error; quote request id {rid}")


# serve.ingress copies the class when it is defined: everything it calls must exist above.
@serve.deployment(name="Ingress")
@serve.ingress(api)
class Ingress:
    def __init__(self, planner, generator, verifier, settings: ServeSettings, key_digests: list[str]):
        self.planner, self.generator, self.verifier = planner, generator, verifier  # None when fused
        ingress = settings.deployments["ingress"]
        # The fused layout: the three stages in this replica's own process.
        self.local = LocalStages(settings.render, ingress.max_batch_size, ingress.batch_wait_timeout_s,
                                 settings.test_hooks) if fused(settings) else None
        self.settings = settings  # without API keys: build_app strips them
        self.key_digests = key_digests  # SHA-256 of each key
        self.storage = open_output(settings)  # None unless an output location is configured
        self.inflight = 0  # requests this replica is answering now (admission_limit bounds it)

    @api.post("/v1/tracks", openapi_extra=_BODY, responses=_AUDIO, summary="Render one track")
    async def tracks(self, request: Request) -> Response:
        return await self._answer(request, self._track)

    @api.post("/v1/plans", openapi_extra=_BODY, summary="Plan one track (no audio)")
    async def plans(self, request: Request) -> Response:
        return await self._answer(request, self._plan_only)

    @api.get("/healthz", summary="Health of every deployment")
    async def healthz(self) -> Response:
        stages = self._stages()
        answers = await asyncio.gather(*[self._stage_health(n, h) for n, h in stages.items()], return_exceptions=True)
        report: dict[str, Any] = {"ingress": {"ok": True}}
        for name, answer in zip(stages, answers):
            if isinstance(answer, Exception):  # a failing check, a dead replica, a timeout
                answer = {"ok": False, "error": f"{type(answer).__name__}: {answer}"[:300]}
            report[name] = answer
        ok = all(r["ok"] for r in report.values())
        return JSONResponse({"status": "ok" if ok else "unhealthy", "deployments": report},
                            status_code=200 if ok else 503)

    @api.post("/v1/admin/fail-health/{deployment}", include_in_schema=False)
    async def fail_health(self, deployment: str, request: Request) -> Response:
        """Test-only (settings.test_hooks): make one replica of a stage fail its health checks."""
        rid = http.request_id_of(request)
        handle = self._stages().get(deployment)
        if not self.settings.test_hooks or deployment not in self._stages():
            return http.Problem(404, "not found").response(rid)
        if not http.authorized(request.headers.get("authorization"), self.key_digests):
            return http.unauthorized().response(rid)
        # Fused: this replica holds the stage, so this replica fails its checks and is replaced.
        replica = self.local.fail_health() if self.local else await handle.fail_health.remote()
        return JSONResponse({"deployment": deployment, "replica": replica, "failing": True})

    async def _stage_health(self, name: str, handle) -> dict[str, Any]:
        """A live call of the stage's health check (the same check Serve runs). A stage that
        may scale to zero is not woken for a probe: Serve's own status of it is reported."""
        if self.local:  # fused: the stage is in this replica
            return {"ok": True, **self.local.health(name)}
        auto = self.settings.deployments[name].autoscaling
        if auto is not None and auto.min_replicas == 0:
            state = await asyncio.to_thread(_deployment_status, self.settings.app_name, DEPLOYMENT_NAMES[name])
            return {"ok": state not in ("UNHEALTHY", "DEPLOY_FAILED"), "status": state, "live_check": False}
        return {"ok": True, **await asyncio.wait_for(handle.health.remote(), timeout=10.0)}

    def _stages(self) -> dict[str, Any]:
        return {"planner": self.planner, "generator": self.generator, "verifier": self.verifier}

    def check_health(self) -> None:
        """Serve's periodic check of this replica: in the fused layout, its stages'."""
        if self.local:
            self.local.check_health()

    async def _answer(self, request: Request, work) -> Response:
        """Admission, auth, then `work`; every failure becomes a JSON error document with the
        request id. A request beyond the ingress's ongoing + queued limit is shed here, as the
        API's JSON 503 with Retry-After (Serve's own queue-full answer is plain text)."""
        rid = http.request_id_of(request)
        ingress = self.settings.deployments["ingress"]
        self.inflight += 1
        try:
            if self.inflight > admission_limit(ingress):
                raise http.Problem(503, "overloaded: try again later",
                                   headers={"Retry-After": str(max(1, math.ceil(ingress.retry_after_s)))})
            if not http.authorized(request.headers.get("authorization"), self.key_digests):
                raise http.unauthorized()
            return await work(request, rid)
        except Exception as exc:  # noqa: BLE001 — every failure gets an answer; problem_for logs it
            return problem_for(exc, rid, ingress.retry_after_s).response(rid)
        finally:
            self.inflight -= 1

    async def _parse(self, request: Request, rid: str) -> tuple[TrackRequest, str, float]:
        raw = await http.read_body(request, self.settings.limits.max_body_bytes)
        default_id = "online-" + re.sub(r"[^\w.-]", "-", rid)[:32]  # a safe file name from the request id
        return http.parse_track_body(raw, self.settings.limits, self.settings.render, default_id)

    async def _planned(self, track: TrackRequest, rid: str) -> tuple[SongPlan, dict[str, Any]]:
        """The planner's row for `track` (plan, plan_s, planner_version, ...) and its plan."""
        row = {**new_row(track, 0), "request_id": rid}
        row = await (self.local.plan(row) if self.local else self.planner.plan.remote(row))
        return self._checked_plan(track, row), row

    def _checked_plan(self, track: TrackRequest, row: dict[str, Any]) -> SongPlan:
        """The plan of the planner's row; a user error in the request (it names a field) is a
        422 with the field and value, and so is a length from the prompt over the limits."""
        if row["status"] != "ok":
            if row["error_field"]:
                value = json.loads(row["error_value"]) if row["error_value"] else None
                raise http.invalid([FieldError(row["error_field"], value, row["error"])])
            raise BackendFailure("planner", row["error"])
        plan = SongPlan.from_json(row["plan"])
        http.check_planned_duration(track, plan, self.settings.limits)
        return plan

    async def _plan_only(self, request: Request, rid: str) -> Response:
        track, _, _ = await self._parse(request, rid)
        plan, planned = await self._planned(track, rid)
        return JSONResponse({"request_id": rid, "track_id": track.id, "summary": plan.summary(),
                             "plan": plan.to_dict(), "plan_s": round(planned["plan_s"], 6)})

    async def _track(self, request: Request, rid: str) -> Response:
        t0 = time.perf_counter()
        track, fmt, min_score = await self._parse(request, rid)
        settings = self._render_settings(fmt, min_score)
        plan, planned = await self._planned(track, rid)
        life, chosen, files = await render_rounds(track, planned, settings, self.settings.job_name,
                                                  self.local.start_round if self.local else self._split_round)
        if chosen is None:
            raise BackendFailure(life.failure.get("error_stage") or "stage", life.failure.get("error", ""))
        verdict = Verdict.from_json(chosen["verdict"])
        summary = {
            "track_id": track.id, "status": life.status, "attempts": life.rounds, "attempt": chosen["attempt"],
            "candidate": chosen["candidate"], "seed": chosen["seed"], "duration_s": chosen["duration_s"],
            "sample_rate": chosen["sample_rate"], "generator": chosen["generator"], "model": chosen["model"],
        }
        audio, uri = files[1], None
        if self.storage is not None:  # storage writes block: keep them off the event loop
            uri = await asyncio.to_thread(self._store, life, chosen, files[0], settings)
        logger.info("request %s: track %s %s, score %.3f after %d attempt(s)", rid, track.id, life.status,
                    verdict.score, life.rounds)
        timings = {"plan_s": planned["plan_s"], "generate_s": life.stage_s["generate"],
                   "verify_s": life.stage_s["verify"], "total_s": time.perf_counter() - t0}
        # Server-Timing (ms): where the time went inside the server, for clients and the benchmark.
        server_timing = ", ".join(f"{k[:-2]};dur={v * 1000:.1f}" for k, v in timings.items())
        if "application/json" not in request.headers.get("accept", ""):
            headers = {**http.track_headers(summary, plan, verdict, uri), "Server-Timing": server_timing}
            return Response(audio, media_type=http.FORMATS[fmt], headers=headers)
        where = {"uri": uri} if uri else {"base64": base64.b64encode(audio).decode()}
        return JSONResponse({
            "request_id": rid, **summary, "min_score": min_score, "summary": plan.summary(),
            "plan": plan.to_dict(), "verdict": verdict.to_dict(), "takes": life.takes,
            "timings": {**timings, "generator_batch": chosen["generator_batch"]},
            "audio": {"format": fmt, "media_type": http.FORMATS[fmt], "bytes": len(audio), **where},
        }, headers={"Server-Timing": server_timing})

    def _render_settings(self, fmt: str, min_score: float) -> RenderSettings:
        """The endpoint's render settings with the request's own format and min_score: what a
        job with those settings runs (its fingerprint matches that job's)."""
        render = self.settings.render
        delivery = dataclasses.replace(render.delivery, format=fmt)
        return dataclasses.replace(render, min_score=min_score, delivery=delivery)

    def _split_round(self, row: dict[str, Any]):
        """One round over the split deployments (stages.render_rounds' `start_round`). The
        generator's answer goes to the verifier by reference: the verifier starts as soon as
        the takes exist and the audio is not copied through this replica again."""
        rendering = self.generator.render.remote(row)
        return rendering, self.verifier.verify.remote(rendering)

    def _store(self, life: TrackLifecycle, take: dict[str, Any], audio: bytes, settings: RenderSettings) -> str:
        """Write the answer through the farm's sink (the file with its tags, MIDI, the
        lifecycle's manifest row: one Parquet part per track, an online request being its own
        small job run) → the audio's URI. `audio` is the take already encoded, untagged."""
        track = life.request
        take = {**take, "audio": audio}  # already encoded: the sink writes it as it is
        delivery = dataclasses.replace(settings.delivery, sample_rate=int(take["sample_rate"]), stems=False)
        sink = Sink(self.storage, self.settings.job_name, delivery, SinkConfig(flush_rows=1))
        files = sink.write_files(track.id, take, take_tags(self.settings.job_name, track, take))
        sink.add_row(life.manifest_values(files))
        sink.flush()
        return files["audio_uri"]


def build_app(settings: ServeSettings | dict[str, Any] | None = None):
    """The Serve application for `settings` (default: pipelines/online/serve_config.yaml).

    Also the `import_path` target of a Serve config file: Serve passes the file's `args`
    (a settings dict) here. Deployment options come from the settings; API keys are
    reduced to their SHA-256 digests before they reach Serve.
    """
    if settings is None:
        settings = load_settings()
    elif isinstance(settings, dict):
        settings = settings_from_dict(settings, "Serve application args")
    opts = {name: deployment_options(settings.deployments[name]) for name in deployed(settings)}
    # The ingress takes every request within its limit itself and sheds the rest as JSON
    # (Ingress._answer), which answers an overload at once. Serve's router counts a burst as
    # queued until a replica takes it, so its bounded queue in front of the ingress is deep
    # (INGRESS_QUEUE_FACTOR x the limit): only a flood far past the limit meets Serve's text 503.
    limit = admission_limit(settings.deployments["ingress"])
    opts["ingress"].update(max_ongoing_requests=limit + 1, max_queued_requests=INGRESS_QUEUE_FACTOR * limit)
    planner = generator = verifier = None  # fused: the ingress builds the stages itself (Ingress.local)
    if not fused(settings):
        gen = settings.deployments["generator"]
        planner = PlannerDeployment.options(name=DEPLOYMENT_NAMES["planner"], **opts["planner"]).bind(
            settings.render, settings.test_hooks)
        generator = GeneratorDeployment.options(name=DEPLOYMENT_NAMES["generator"], **opts["generator"]).bind(
            settings.render, gen.max_batch_size, gen.batch_wait_timeout_s, settings.test_hooks)
        verifier = VerifierDeployment.options(name=DEPLOYMENT_NAMES["verifier"], **opts["verifier"]).bind(
            settings.render, settings.test_hooks)
    public = dataclasses.replace(settings, api_keys=[])
    return Ingress.options(name=DEPLOYMENT_NAMES["ingress"], **opts["ingress"]).bind(
        planner, generator, verifier, public, settings.key_digests())
