"""The online endpoint: planner → generator → verifier behind a FastAPI ingress on Ray Serve.

    HTTP ──► Ingress (FastAPI) ──► Planner ──► Generator (@serve.batch) ──► Verifier
                 │                                  ▲                          │
                 └──────── re-render with new seeds ┴── until accepted or max_attempts

API (all bodies JSON; GET /docs has the OpenAPI page):

    POST /v1/tracks   TrackRequest fields (+ format flac|wav, min_score) → the audio, with the
                      verdict and plan summary in X-Songfarm-* headers; with
                      `Accept: application/json` a JSON document with plan, verdict and the
                      audio as base64 (or its storage URI when an output location is set)
    POST /v1/plans    the same body → the plan only
    GET  /healthz     each stage deployment's health check, called live (a stage that may
                      scale to zero reports Serve's status instead of being woken); 503 when one fails

The re-render rule is the farm's: each attempt renders `candidates` takes with seeds
models/request.take_seed(seed, attempt, candidate), the best-scoring take of the attempt
is kept, and the track is done once a take is accepted (the verifier accepts it and its
score reaches min_score); after max_attempts the best take so far is returned with status
"rejected". Attempt 0, candidate 0 uses the request's seed, so a request rendered here is
sample-for-sample the one `songfarm take` or a batch job renders.

Errors (`problem_for`): 401 without a valid key (when keys are configured), 422 naming each
bad field, 503 with Retry-After when a queue is full (Serve's max_queued_requests) or the
output store stays down through its retries, 500 with the request id when a backend fails
(the traceback is in the replica's log).

Nothing here starts Ray at import; `build_app(settings)` returns the Serve application and
`serve_main(args)` runs it for `songfarm serve`.
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

from ..cluster.connect import starts_local_ray
from ..models.job import Delivery
from ..models.plan import SongPlan
from ..models.request import FieldError, TrackRequest
from ..models.stages import new_row
from ..models.verdict import Verdict
from . import manifest
from . import serve_http as http
from .serve_config import DEPLOYMENT_NAMES, ServeSettings, check_backends, deployment_options, load_settings, \
    settings_from_dict
from .selection import accepted, round_best, take_summary
from .serve_stages import GeneratorDeployment, PlannerDeployment, VerifierDeployment
from .sink import Sink, SinkConfig, delivered_audio, provenance_tags, tag_audio
from .storage import StorageError, open_storage

logger = logging.getLogger("ray.serve")
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


def encoded(take: dict[str, Any], fmt: str, tags: dict[str, Any]) -> tuple[bytes, bytes]:
    """A take's audio (packed PCM from the generator) → (the `fmt` file as the sink encodes it,
    the same with its provenance tags: the answer)."""
    data = delivered_audio(take["audio"], fmt, int(take["sample_rate"]))[0]
    return data, tag_audio(data, fmt, provenance_tags(tags))


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


def _raise_failed(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        if row["status"] != "ok":
            raise BackendFailure(row.get("error_stage") or "stage", row["error"])


# serve.ingress copies the class when it is defined: everything it calls must exist above.
@serve.deployment(name="Ingress")
@serve.ingress(api)
class Ingress:
    def __init__(self, planner, generator, verifier, settings: ServeSettings, key_digests: list[str]):
        self.planner, self.generator, self.verifier = planner, generator, verifier
        self.settings = settings  # without API keys: build_app strips them
        self.key_digests = key_digests  # SHA-256 of each key
        self.storage = open_output(settings)  # None unless an output location is configured

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
        if not self.settings.test_hooks or handle is None:
            return http.Problem(404, "not found").response(rid)
        if not http.authorized(request.headers.get("authorization"), self.key_digests):
            return http.unauthorized().response(rid)
        replica = await handle.fail_health.remote()
        return JSONResponse({"deployment": deployment, "replica": replica, "failing": True})

    async def _stage_health(self, name: str, handle) -> dict[str, Any]:
        """A live call of the stage's health check (the same check Serve runs). A stage that
        may scale to zero is not woken for a probe: Serve's own status of it is reported."""
        auto = self.settings.deployments[name].autoscaling
        if auto is not None and auto.min_replicas == 0:
            state = await asyncio.to_thread(_deployment_status, self.settings.app_name, DEPLOYMENT_NAMES[name])
            return {"ok": state not in ("UNHEALTHY", "DEPLOY_FAILED"), "status": state, "live_check": False}
        return {"ok": True, **await asyncio.wait_for(handle.health.remote(), timeout=10.0)}

    def _stages(self) -> dict[str, Any]:
        return {"planner": self.planner, "generator": self.generator, "verifier": self.verifier}

    async def _answer(self, request: Request, work) -> Response:
        """Auth, then `work`; every failure becomes a JSON error document with the request id."""
        rid = http.request_id_of(request)
        try:
            if not http.authorized(request.headers.get("authorization"), self.key_digests):
                raise http.unauthorized()
            return await work(request, rid)
        except Exception as exc:  # noqa: BLE001 — every failure gets an answer; problem_for logs it
            return problem_for(exc, rid, self.settings.deployments["ingress"].retry_after_s).response(rid)

    async def _parse(self, request: Request, rid: str) -> tuple[TrackRequest, str, float]:
        raw = await http.read_body(request, self.settings.limits.max_body_bytes)
        default_id = "online-" + re.sub(r"[^\w.-]", "-", rid)[:32]  # a safe file name from the request id
        return http.parse_track_body(raw, self.settings.limits, self.settings.min_score, default_id)

    async def _planned(self, track: TrackRequest, rid: str) -> tuple[SongPlan, dict[str, Any]]:
        answer = await self.planner.plan.remote(track.to_json(), rid)
        if "error" in answer:
            if answer["user_error"]:
                raise http.invalid([FieldError(*f) for f in answer["fields"]])
            raise BackendFailure("planner", answer["error"])
        plan = SongPlan.from_json(answer["plan"])
        http.check_planned_duration(track, plan, self.settings.limits)
        return plan, answer

    async def _plan_only(self, request: Request, rid: str) -> Response:
        track, _, _ = await self._parse(request, rid)
        plan, answer = await self._planned(track, rid)
        return JSONResponse({"request_id": rid, "track_id": track.id, "summary": plan.summary(),
                             "plan": plan.to_dict(), "plan_s": round(answer["plan_s"], 6)})

    async def _track(self, request: Request, rid: str) -> Response:
        t0 = time.perf_counter()
        track, fmt, min_score = await self._parse(request, rid)
        plan, planned = await self._planned(track, rid)
        chosen, files, attempts, takes, stage_s = await self._render(track, plan, min_score, fmt, rid)
        verdict = Verdict.from_json(chosen["verdict"])
        status = "accepted" if accepted(chosen, min_score) else "rejected"
        summary = {
            "track_id": track.id, "status": status, "attempts": attempts, "attempt": chosen["attempt"],
            "candidate": chosen["candidate"], "seed": chosen["seed"], "duration_s": chosen["duration_s"],
            "sample_rate": chosen["sample_rate"], "generator": chosen["generator"], "model": chosen["model"],
        }
        audio, uri = files[1], None
        if self.storage is not None:  # storage writes block: keep them off the event loop
            uri = await asyncio.to_thread(self._store, track, chosen, files[0], fmt, {
                "status": status, "attempts": attempts, "takes_json": json.dumps(takes, ensure_ascii=False),
                "plan_json": planned["plan"], "plan_s": planned["plan_s"], "planner_version": planned["version"]})
        logger.info("request %s: track %s %s, score %.3f after %d attempt(s)", rid, track.id, status,
                    verdict.score, attempts)
        timings = {"plan_s": planned["plan_s"], **stage_s, "total_s": time.perf_counter() - t0}
        # Server-Timing (ms): where the time went inside the server, for clients and the benchmark.
        server_timing = ", ".join(f"{k[:-2]};dur={v * 1000:.1f}" for k, v in timings.items())
        if "application/json" not in request.headers.get("accept", ""):
            headers = {**http.track_headers(summary, plan, verdict, uri), "Server-Timing": server_timing}
            return Response(audio, media_type=http.FORMATS[fmt], headers=headers)
        where = {"uri": uri} if uri else {"base64": base64.b64encode(audio).decode()}
        return JSONResponse({
            "request_id": rid, **summary, "min_score": min_score, "summary": plan.summary(),
            "plan": plan.to_dict(), "verdict": verdict.to_dict(), "takes": takes,
            "timings": {**timings, "generator_batch": chosen["generator_batch"]},
            "audio": {"format": fmt, "media_type": http.FORMATS[fmt], "bytes": len(audio), **where},
        }, headers={"Server-Timing": server_timing})

    async def _render(self, track: TrackRequest, plan: SongPlan, min_score: float, fmt: str,
                      rid: str) -> tuple[dict[str, Any], tuple[bytes, bytes], int, list[dict[str, Any]], dict[str, float]]:
        """The farm's re-render rule → (chosen take row, its audio as `fmt` untagged and tagged
        (models `encoded`), attempts made, a summary of every take, seconds spent in the
        generator and verifier over all takes)."""
        best, takes_so_far, stage_s = None, [], {"generate_s": 0.0, "verify_s": 0.0}
        encodes: dict[tuple[int, int], asyncio.Future] = {}  # (attempt, candidate) → its encoded files
        try:
            for attempt in range(self.settings.max_attempts):
                row = {**new_row(track, attempt), "plan": plan.to_json(), "plan_s": 0.0, "request_id": rid}
                # The generator's answer goes to the verifier by reference: the verifier starts as
                # soon as the takes exist and the audio is not copied through this replica again.
                rendering = self.generator.render.remote(row)
                verifying = self.verifier.verify.remote(rendering)
                takes = await rendering
                _raise_failed(takes)
                if len(takes) == 1:
                    # A lone take is the answer unless a later attempt beats it: encode and tag
                    # it on another core while the verifier listens, off the critical path.
                    encodes[(attempt, takes[0]["candidate"])] = asyncio.ensure_future(
                        asyncio.to_thread(encoded, takes[0], fmt, self._tags(track, takes[0])))
                verdicts = await verifying
                _raise_failed(verdicts)
                for take, verdict in zip(takes, verdicts):
                    take.update(verdict)
                takes_so_far += [take_summary(t, min_score) for t in takes]
                for name in stage_s:
                    stage_s[name] += sum(float(t[name]) for t in takes)
                pick = round_best(takes)
                if accepted(pick, min_score):
                    best = pick
                    break
                if best is None or pick["score"] > best["score"]:  # earlier rounds win ties
                    best = pick
            key = (best["attempt"], best["candidate"])
            files = await (encodes.pop(key) if key in encodes
                           else asyncio.to_thread(encoded, best, fmt, self._tags(track, best)))
            return best, files, attempt + 1, takes_so_far, stage_s
        finally:
            for pending in encodes.values():  # encodes of takes not chosen: let them finish unobserved
                pending.add_done_callback(lambda f: f.exception())

    def _tags(self, track: TrackRequest, take: dict[str, Any]) -> dict[str, Any]:
        return {"job": self.settings.job_name, "track_id": track.id, "prompt": track.prompt, "seed": take["seed"],
                "generator": take["generator"], "model": take["model"]}

    def _store(self, track: TrackRequest, take: dict[str, Any], audio: bytes, fmt: str,
               columns: dict[str, Any]) -> str:
        """Write the answer through the farm's sink (the file with its tags, MIDI, a manifest
        row: one Parquet part per track, an online request being its own small job run) →
        the audio's URI. `audio` is the take already encoded as `fmt`, untagged."""
        tags = self._tags(track, take)
        take = {**take, "audio": audio}  # already encoded: the sink writes it as it is
        delivery = Delivery(format=fmt, sample_rate=int(take["sample_rate"]), stems=False, midi=True)
        sink = Sink(self.storage, self.settings.job_name, delivery, SinkConfig(flush_rows=1))
        files = sink.write_files(track.id, take, tags)
        b = self.settings.backends
        sink.add_row({
            "track_id": track.id, "prompt": track.prompt, "request_json": track.to_json(), "seed": track.seed,
            "take_attempt": take["attempt"], "take_candidate": take["candidate"], "take_seed": take["seed"],
            "score": float(take["score"]), "verdict_json": take["verdict"], **manifest.check_columns(take["verdict"]),
            **files, "planner": b["planner"].name, "generator": b["generator"].name, "verifier": b["verifier"].name,
            "generator_version": take["generator_version"], "verifier_version": take["verifier_version"],
            "model": take["model"], "generate_s": take["generate_s"], "verify_s": take["verify_s"],
            "node": take["generator_host"], **columns,
        })
        sink.flush()
        return files["audio_uri"]


def build_app(settings: ServeSettings | dict[str, Any] | None = None):
    """The Serve application for `settings` (default: pipelines/serve_config.yaml).

    Also the `import_path` target of a Serve config file: Serve passes the file's `args`
    (a settings dict) here. Deployment options come from the settings; API keys are
    reduced to their SHA-256 digests before they reach Serve.
    """
    if settings is None:
        settings = load_settings()
    elif isinstance(settings, dict):
        settings = settings_from_dict(settings, "Serve application args")
    opts = {name: deployment_options(d) for name, d in settings.deployments.items()}
    gen = settings.deployments["generator"]
    planner = PlannerDeployment.options(name=DEPLOYMENT_NAMES["planner"], **opts["planner"]).bind(
        settings.backends["planner"], settings.test_hooks)
    generator = GeneratorDeployment.options(name=DEPLOYMENT_NAMES["generator"], **opts["generator"]).bind(
        settings.backends["generator"], gen.max_batch_size, gen.batch_wait_timeout_s, settings.test_hooks)
    verifier = VerifierDeployment.options(name=DEPLOYMENT_NAMES["verifier"], **opts["verifier"]).bind(
        settings.backends["verifier"], settings.test_hooks)
    public = dataclasses.replace(settings, api_keys=[])
    return Ingress.options(name=DEPLOYMENT_NAMES["ingress"], **opts["ingress"]).bind(
        planner, generator, verifier, public, settings.key_digests())


def serve_main(args) -> int:
    """`songfarm serve [--config FILE] [--host H] [--port P]`: run locally until Ctrl-C."""
    settings = load_settings(getattr(args, "config", None))
    check_backends(settings, checkpoints=starts_local_ray())  # fails now, not in a replica
    open_output(settings)  # so does an output location that cannot be written
    host = getattr(args, "host", None) or settings.host
    port = getattr(args, "port", None) or settings.port
    auth = "on" if settings.key_digests() else f"off (set {settings.api_keys_env} to require keys)"
    serve.start(http_options={"host": host, "port": port, "request_timeout_s": settings.limits.request_timeout_s})
    print(f"songfarm: serving on http://{host}:{port}  (API docs at /docs, auth {auth}); Ctrl-C stops", flush=True)
    try:
        serve.run(build_app(settings), name=settings.app_name, route_prefix=settings.route_prefix, blocking=True)
    except KeyboardInterrupt:
        pass
    finally:
        serve.shutdown()
    return 0
