"""The online endpoint against a real Ray Serve instance on 127.0.0.1, over HTTP.

Two deployments of the same application share one Serve instance (on the session's
shared Ray): first an open one (no keys, no output location; the laptop's fused layout, the
stages inside the ingress) for the endpoints, the identity with the in-process render,
validation, batching, overload, backend errors and health-check replacement; then,
redeployed, one with API keys and an output folder in the split layout (one deployment per
stage, as the GPU profile runs). Tracks are 3 seconds long to keep the module short on 2 cores.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import re
import socket
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
import yaml

from songfarm.models.factory import make
from songfarm.models.request import TrackRequest
from songfarm.models.errors import SongfarmError
from songfarm.models.take import decode_audio, encode_flac
from songfarm.pipelines.delivery import manifest
from songfarm.pipelines.core.local import render_track
from songfarm.pipelines.core.shell import stage_shells
from songfarm.pipelines.online.config import (Autoscaling, ServeConfigError, check_backends, deployed, fused,
                                              load_settings, serve_config_file, settings_from_dict, settings_to_dict)
from songfarm.pipelines.delivery.sink import take_tags
from songfarm.pipelines.online.stages import encoded
from songfarm.pipelines.delivery.storage import open_storage

ROOT = Path(__file__).resolve().parents[3]
API_KEY = "sk-test-9f8e7d6c5b4a"  # must never appear in a response or a log
PROMPT = "an upbeat pop song in C major at 120 bpm"
TRACK = {"prompt": PROMPT, "duration_s": 3, "seed": 11}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _test_settings(**changes):
    """The laptop settings, sized for the tests' shared 2-CPU Ray and tight queues."""
    s = load_settings()
    for d in s.deployments.values():
        d.num_cpus = 0.1  # scheduling only: leave room for the other tests' actors
    ingress = s.deployments["ingress"]
    ingress.num_replicas = 1  # the admission limits below are one replica's
    # Serve counts a request as queued until a replica takes it, so a burst of 4 needs 4 slots.
    ingress.max_ongoing_requests, ingress.max_queued_requests, ingress.retry_after_s = 4, 4, 3
    # The generator's replica: the ingress's in the fused layout, its own in the split one.
    for d in (ingress, s.deployments["generator"]):
        d.health_check_period_s, d.health_check_timeout_s = 1.0, 5.0
        d.max_batch_size, d.batch_wait_timeout_s = 4, 0.1
    s.limits.max_duration_s = 30
    s.test_hooks = True
    for name, value in changes.items():
        setattr(s, name, value)
    return s


class ServeFixture:
    """One Serve instance; `deploy` (re)deploys the app with other settings."""

    def __init__(self, port: int):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.phase = None

    def deploy(self, phase: str, settings) -> httpx.Client:
        from ray import serve

        from songfarm.pipelines.online.app import build_app

        if self.phase != phase:
            serve.run(build_app(settings), name="songfarm", route_prefix="/")
            self.phase = phase
        return httpx.Client(base_url=self.url, timeout=120)


@pytest.fixture(scope="module")
def serve_instance(ray_session):
    from ray import serve

    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port, "request_timeout_s": 120})
    yield ServeFixture(port)
    serve.shutdown()


@pytest.fixture
def client(serve_instance):
    with serve_instance.deploy("open", _test_settings()) as c:
        yield c


@pytest.fixture(scope="module")
def output_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("online-output")


@pytest.fixture
def locked(serve_instance, output_dir, monkeypatch):
    # The key arrives through the environment variable, as in production.
    monkeypatch.setenv("SONGFARM_TEST_KEYS", API_KEY)
    settings = _test_settings(api_keys_env="SONGFARM_TEST_KEYS", output=str(output_dir), stage_layout="split")
    # The generator may scale to zero here, as in the GPU profile: it starts with no replica.
    settings.deployments["generator"].autoscaling = Autoscaling(min_replicas=0, max_replicas=1, initial_replicas=0)
    with serve_instance.deploy("locked", settings) as c:
        yield c


@pytest.fixture(scope="module")
def stages():
    """The same backends, in this process: the reference render."""
    return make("planner", "rules"), make("generator", "synth"), make("verifier", "features")


# --- settings and config files (no Ray) -------------------------------------------------


def test_laptop_settings_are_bounded_and_fit_two_cores():
    s = load_settings()
    assert all(d.max_queued_requests >= 0 for d in s.deployments.values())  # never unbounded
    assert fused(s) and deployed(s) == ("ingress",)  # CPU-only stages: inside the ingress
    assert sum(s.deployments[k].num_cpus * s.deployments[k].num_replicas for k in deployed(s)) <= 2
    assert s.deployments["ingress"].max_batch_size > 1 and s.deployments["generator"].max_batch_size > 1


def test_gpu_profile_scales_gpu_stages_to_zero():
    s = load_settings(ROOT / "cluster" / "serve_gpu.yaml")
    assert not fused(s) and deployed(s) == ("ingress", "planner", "generator", "verifier")
    for name in ("generator", "verifier"):
        d = s.deployments[name]
        assert d.num_gpus > 0 and d.autoscaling.min_replicas == 0
    assert s.deployments["ingress"].autoscaling.min_replicas >= 1
    check_backends(s, checkpoints=False)  # the neural backends' options exist (no model is loaded)
    # The checkpoints are the cluster's paths: checked here, each missing one is named.
    with pytest.raises(SongfarmError, match=r"backends\.\w+ \(\w+\): checkpoint /\S+: does not exist"):
        check_backends(s)


def test_serve_deploy_file_and_rayservice_match_the_gpu_profile():
    from ray.serve.schema import ServeDeploySchema

    expected = serve_config_file(load_settings(ROOT / "cluster" / "serve_gpu.yaml"))
    deploy = yaml.safe_load((ROOT / "cluster" / "serve_deploy.yaml").read_text())
    service = yaml.safe_load((ROOT / "cluster" / "rayservice.yaml").read_text())
    assert deploy == expected, "regenerate: python -m songfarm.pipelines.online.config cluster/serve_gpu.yaml"
    assert service["kind"] == "RayService" and yaml.safe_load(service["spec"]["serveConfigV2"]) == expected
    app = ServeDeploySchema.model_validate(deploy).applications[0]
    assert app.import_path == "songfarm.pipelines.online.app:build_app"
    # The builder accepts the file's args and applies the same deployment options.
    from songfarm.pipelines.online.app import build_app

    built = build_app(app.args)
    assert built._bound_deployment.name == "Ingress"
    assert settings_from_dict(app.args).deployments["generator"].num_gpus == 1


@pytest.mark.parametrize("text, where", [
    ("deployments: {generator: {max_queued_requests: -1}}",
     "serve.yaml:1: deployments.generator.max_queued_requests: must be an integer ≥ 0 (a bounded queue) (-1)"),
    ("deployments: {generator: {max_batch_sise: 4}}", "deployments.generator.max_batch_sise: unknown setting"),
    ("limits: {max_duration_s: 9000}", "limits"),
    ("backends: {mixer: {name: x}}", "backends.mixer: unknown stage"),
    ("min_score: 2", "min_score: must be a verifier score in [0, 1] (2)"),
    ("deployments: {ingress: {autoscaling: {min_replicas: 0, max_replicas: 2}}}", "ingress"),
    ("port: [8000", "serve.yaml:1: yaml: invalid YAML"),
])
def test_bad_settings_name_the_field(tmp_path, text, where):
    path = tmp_path / "serve.yaml"
    path.write_text(text)
    with pytest.raises(ServeConfigError) as err:
        load_settings(path)
    assert str(path) in str(err.value) and where in str(err.value)


def test_api_keys_never_serialised(monkeypatch):
    s = settings_from_dict({"api_keys": [API_KEY]})
    assert API_KEY not in repr(s) and API_KEY not in json.dumps(settings_to_dict(s))
    assert API_KEY not in json.dumps(serve_config_file(s))
    monkeypatch.setenv("SONGFARM_API_KEYS", "k2, k3")
    assert len(s.key_digests()) == 3 and API_KEY not in s.key_digests()


def test_cli_serve_with_a_bad_config_fails_in_one_line(tmp_path, capsys):
    from songfarm.jobs.cli import main

    bad = tmp_path / "serve.yaml"
    bad.write_text("deployments: {planner: {num_cpus: -1}}\n")
    assert main(["serve", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("songfarm: error:") and "deployments.planner.num_cpus: must be a number ≥ 0 (-1)" in err
    assert "\n" not in err


# --- the open deployment ----------------------------------------------------------------


def test_healthz_and_docs(client):
    r = client.get("/healthz")
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["status"] == "ok"
    assert set(report["deployments"]) == {"ingress", "planner", "generator", "verifier"}
    assert all(d["ok"] for d in report["deployments"].values())
    # Fused: one replica answers for the three stages, the ingress's own.
    assert len({report["deployments"][s]["replica"] for s in ("planner", "generator", "verifier")}) == 1
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/v1/tracks", "/v1/plans", "/healthz"} <= set(spec["paths"])
    body = spec["paths"]["/v1/tracks"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["prompt"] and body["properties"]["format"]["enum"] == ["flac", "wav"]


def test_plan_matches_in_process(client, stages):
    r = client.post("/v1/plans", json={**TRACK, "id": "p1"})
    assert r.status_code == 200, r.text
    planner = stages[0]
    expected = planner.plan(TrackRequest.from_dict({**TRACK, "id": "p1"}))
    assert r.json()["plan"] == json.loads(expected.to_json())
    assert r.json()["summary"] == expected.summary()


def test_track_audio_is_the_in_process_render(client, stages):
    """Same request and seed → the same samples as `songfarm take` (FLAC decoded both ways)."""
    r = client.post("/v1/tracks", json={**TRACK, "candidates": 2})  # no Authorization: auth is off
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "audio/flac"
    h = r.headers
    assert h["x-songfarm-status"] in ("accepted", "rejected") and 0 <= float(h["x-songfarm-score"]) <= 1
    assert h["x-songfarm-bpm"] == "120" and h["x-songfarm-key"] == "C major"
    assert h["x-request-id"] and json.loads(h["x-songfarm-verdict"])
    assert {"plan", "generate", "verify", "total"} <= {p.split(";")[0].strip() for p in h["server-timing"].split(",")}
    planner, generator, verifier = stages
    request = TrackRequest.from_dict({**TRACK, "id": "take", "candidates": 2})
    plan = planner.plan(request)
    takes = generator.takes_for(plan, request, int(h["x-songfarm-attempt"]))
    take = takes[int(h["x-songfarm-candidate"])]
    assert take.seed == int(h["x-songfarm-seed"])
    expected, sr = decode_audio(encode_flac(take.audio, take.sample_rate))
    served, served_sr = decode_audio(r.content)
    assert served_sr == sr == 44100
    np.testing.assert_array_equal(served, expected)
    # The verifier judged the same decoded audio.
    take.audio = expected
    assert float(h["x-songfarm-score"]) == pytest.approx(verifier.verify(take, plan, request).score, abs=1e-4)


def _expected_answer(settings, body: dict) -> bytes:
    """The answer's bytes as this process renders them: the lifecycle over the stage shells,
    then the encode and tags of the chosen take (what `songfarm take` does, plus the tags)."""
    render = settings.render
    request = TrackRequest.from_dict(body)
    best = render_track(request, stage_shells(render), render, audio_encoding="pcm").take
    return encoded(best, render.delivery.format, take_tags(settings.job_name, request, best))[1]


def test_fused_answer_is_the_in_process_file_byte_for_byte(client):
    body = {**TRACK, "id": "same-bytes", "candidates": 2}
    r = client.post("/v1/tracks", json=body)
    assert r.status_code == 200, r.text
    assert r.content == _expected_answer(_test_settings(), body)


def test_track_as_json_with_wav_audio(client):
    r = client.post("/v1/tracks", json={**TRACK, "format": "wav", "min_score": 0.5},
                    headers={"Accept": "application/json", "X-Request-ID": "caller:trace:42"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["plan"]["bpm"] == 120 and doc["verdict"]["checks"] and doc["min_score"] == 0.5
    assert doc["request_id"] == "caller:trace:42" and doc["track_id"] == "online-caller-trace-42"
    assert doc["audio"]["format"] == "wav" and doc["audio"]["media_type"] == "audio/wav"
    assert len(doc["takes"]) >= 1 and doc["attempts"] >= 1
    audio, sr = sf.read(io.BytesIO(base64.b64decode(doc["audio"]["base64"])), always_2d=True)
    assert sr == 44100 and audio.shape[1] == 2 and abs(len(audio) / sr - 3.0) < 0.05


def test_never_accepted_track_comes_back_rejected_after_max_attempts(client):
    r = client.post("/v1/tracks", json={**TRACK, "min_score": 1.0}, headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    doc = r.json()
    if doc["status"] == "rejected":  # a perfect 1.0 would be accepted: only then is this skipped
        assert doc["attempts"] == 3 and len(doc["takes"]) == 3  # max_attempts: the RenderSettings default
        assert {t["attempt"] for t in doc["takes"]} == {0, 1, 2}


@pytest.mark.parametrize("body, field", [
    ({"prompt": ""}, "prompt"),
    ({"prompt": "   "}, "prompt"),
    ({"prompt": "x", "duration_s": 31}, "duration_s"),  # over this server's limit (30)
    ({"prompt": "x", "duration_s": 1}, "duration_s"),
    ({"prompt": "x", "candidates": 5}, "candidates"),  # over the limit (4)
    ({"prompt": "x", "candidates": 0}, "candidates"),
    ({"prompt": "x", "format": "mp3"}, "format"),
    ({"prompt": "x", "min_score": 3}, "min_score"),
    ({"prompt": "x", "seed": "seven"}, "seed"),
    ({"prompt": "x", "duraton_s": 4}, "duraton_s"),
    ({"duration_s": 4}, "prompt"),
    ({"prompt": "a ten minute long orchestral epic"}, "duration_s"),  # length from the prompt
])
def test_bad_input_gets_422_naming_the_field(client, body, field):
    for path in ("/v1/tracks", "/v1/plans"):
        r = client.post(path, json=body)
        assert r.status_code == 422, (path, r.text)
        doc = r.json()
        assert field in [f["field"] for f in doc["fields"]], doc
        assert doc["request_id"] and all(f["reason"] for f in doc["fields"])


def test_body_over_the_limit_gets_413(client):
    for path in ("/v1/tracks", "/v1/plans"):
        r = client.post(path, json={"prompt": "x", "pad": "a" * 70000})
        assert r.status_code == 413, (path, r.text)
        assert "65536 bytes" in r.json()["error"] and r.json()["request_id"]


@pytest.mark.parametrize("raw, reason", [
    (b'{"prompt": "x",', "invalid JSON"),
    (b'["a list"]', "JSON object"),
    (b'\xff\xfe{}', "UTF-8"),
    (b'{"prompt": "x", "duration_s": NaN}', "seconds"),
])
def test_unparseable_body_gets_422(client, raw, reason):
    r = client.post("/v1/tracks", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and reason in r.text, r.text


def _burst(url: str, n: int, body: dict) -> list[httpx.Response]:
    async def run():
        async with httpx.AsyncClient(base_url=url, timeout=120) as c:
            return await asyncio.gather(*[c.post("/v1/tracks", json={**body, "seed": i},
                                                 headers={"Accept": "application/json"}) for i in range(n)])
    return asyncio.run(run())


def test_concurrent_requests_share_a_generator_call(client, serve_instance):
    responses = _burst(serve_instance.url, 4, {**TRACK})
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert max(r.json()["timings"]["generator_batch"] for r in responses) > 1


def test_burst_beyond_the_queue_gets_503_and_the_server_keeps_answering(client, serve_instance):
    # The ingress takes 4 at once and queues 4: a burst of 16 must shed load, not queue it.
    responses = _burst(serve_instance.url, 16, {**TRACK, "duration_s": 2})
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 503}, codes
    assert codes.count(503) >= 1 and codes.count(200) >= 1, codes
    for shed in (r for r in responses if r.status_code == 503):  # the API's JSON, not Serve's plain text
        assert int(shed.headers["retry-after"]) >= 1
        assert shed.json()["error"].startswith("overloaded") and shed.json()["request_id"]
    after = client.post("/v1/tracks", json=TRACK)
    assert after.status_code == 200 and client.get("/healthz").status_code == 200


def test_impossible_override_is_a_422_from_the_planner(client):
    r = client.post("/v1/tracks", json={**TRACK, "key": "H# locrian"})
    assert r.status_code == 422, r.text
    assert r.json()["fields"][0]["field"] == "key" and r.json()["fields"][0]["value"] == "H# locrian"


def test_replica_failing_its_health_check_is_replaced(client):
    before = client.get("/healthz").json()["deployments"]["generator"]["replica"]
    r = client.post("/v1/admin/fail-health/generator")
    assert r.status_code == 200 and r.json()["replica"] == before
    deadline, now = time.monotonic() + 90, None
    while time.monotonic() < deadline:
        gen = client.get("/healthz").json()["deployments"]["generator"]
        if gen["ok"] and gen["replica"] != before:
            now = gen["replica"]
            break
        time.sleep(1)
    assert now is not None, "Serve did not replace the unhealthy generator replica within 90 s"
    assert client.post("/v1/tracks", json=TRACK).status_code == 200


def test_test_hook_is_off_by_default():
    assert load_settings().test_hooks is False


# --- the locked deployment: API keys and an output location -----------------------------


def test_auth_required_when_keys_are_configured(locked):
    for headers in ({}, {"Authorization": "Bearer wrong-key"}, {"Authorization": API_KEY},
                    {"Authorization": f"Basic {API_KEY}"}):
        r = locked.post("/v1/tracks", json=TRACK, headers=headers)
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"].startswith("Bearer") and API_KEY not in r.text
        assert locked.post("/v1/plans", json=TRACK, headers=headers).status_code == 401
    ok = locked.post("/v1/plans", json=TRACK, headers={"Authorization": f"Bearer {API_KEY}"})
    assert ok.status_code == 200 and API_KEY not in ok.text
    health = locked.get("/healthz")  # probes need no key, and do not wake a scaled-to-zero stage
    assert health.status_code == 200 and health.json()["deployments"]["generator"]["live_check"] is False


def test_output_location_gets_the_audio_and_a_manifest_row(locked, output_dir):
    # The first track also starts the generator from zero replicas.
    auth = {"Authorization": f"Bearer {API_KEY}"}
    r = locked.post("/v1/tracks", json={**TRACK, "id": "cue-1"}, headers={**auth, "Accept": "application/json"})
    assert r.status_code == 200, r.text
    doc = r.json()
    uri = doc["audio"]["uri"]
    assert "base64" not in doc["audio"] and re.search(r"online/audio/cue-1\.[0-9a-f]{12}\.flac$", uri)
    data = Path(uri).read_bytes()
    rows = manifest.current_rows(open_storage(str(output_dir / "online")))
    row = rows["cue-1"]
    assert row["status"] == doc["status"] and row["audio_sha256"] == hashlib.sha256(data).hexdigest()
    assert row["take_seed"] == doc["seed"] and json.loads(row["takes_json"])
    assert row["generator"] == "synth" and row["check_tempo_expected"] == 120
    # The audio answer is the delivered file, provenance tags included.
    again = locked.post("/v1/tracks", json={**TRACK, "id": "cue-1"}, headers=auth)
    assert again.status_code == 200 and again.content == data and again.headers["x-songfarm-uri"] == uri
    from mutagen.flac import FLAC

    assert "generated" in FLAC(io.BytesIO(again.content))["GENERATED"][0]


def test_split_answer_is_the_in_process_file_byte_for_byte(locked):
    """The split layout (one deployment per stage, the ingress running the rounds) answers
    the same bytes as the fused one: both are the in-process render's."""
    body = {**TRACK, "id": "same-bytes", "candidates": 2}
    r = locked.post("/v1/tracks", json=body, headers={"Authorization": f"Bearer {API_KEY}"})
    assert r.status_code == 200, r.text
    assert r.content == _expected_answer(_test_settings(), body)
    health = locked.get("/healthz").json()["deployments"]
    assert health["planner"]["replica"] != health["verifier"]["replica"]  # separate deployments


def test_backend_error_gets_500_with_a_request_id(locked, output_dir):
    # A real failure past the stages: the track's MIDI cannot be written (a file is where its folder goes).
    midi = output_dir / "online" / "midi"
    saved = midi.with_name("midi.saved")
    if midi.exists():
        midi.rename(saved)
    midi.write_text("in the way")
    try:
        r = locked.post("/v1/tracks", json={**TRACK, "id": "blocked"}, headers={"Authorization": f"Bearer {API_KEY}"})
    finally:
        midi.unlink()
        if saved.exists():
            saved.rename(midi)
    assert r.status_code == 500, r.text
    doc = r.json()
    assert doc["request_id"] == r.headers["x-request-id"] and doc["request_id"] in doc["error"]
    assert "Traceback" not in r.text and str(output_dir) not in r.text  # details stay in the log
    assert locked.get("/healthz").status_code == 200
    deadline = time.monotonic() + 15  # the replica's log, with the request id and the traceback
    while not any(doc["request_id"] in text and "FileExistsError" in text for text in _serve_logs()):
        assert time.monotonic() < deadline, "no traceback logged for the failed request"
        time.sleep(0.5)


def _serve_logs() -> list[str]:
    import ray

    logs = Path(ray._private.worker._global_node.get_session_dir_path()) / "logs" / "serve"
    return [p.read_text(errors="replace") for p in logs.glob("replica_*Ingress*.log")]


def test_keys_never_reach_the_logs(locked):
    import ray

    locked.post("/v1/tracks", json={"prompt": ""}, headers={"Authorization": f"Bearer {API_KEY}"})
    logs = Path(ray._private.worker._global_node.get_session_dir_path()) / "logs"
    leaked = [p.name for p in logs.rglob("*") if p.is_file() and API_KEY.encode() in p.read_bytes()]
    assert not leaked


def test_failures_map_to_status_codes_without_leaking_details():
    """Each kind of failure gets its status; where and why stay in the server's log."""
    from ray.serve.exceptions import BackPressureError

    from songfarm.pipelines.online.app import BackendFailure, problem_for
    from songfarm.pipelines.delivery.storage import StorageError

    down = StorageError("s3://studio/online (endpoint http://10.0.0.5:9000): store unavailable, put failed 5 times",
                        unavailable=True)
    cases = [
        (down, 503, "30"),
        (StorageError("cannot write /srv/online/audio/x.flac: Is a directory"), 500, None),
        (BackPressureError(num_queued_requests=9, max_queued_requests=8, retry_after_s=2.5), 503, "3"),
        (BackendFailure("generator", "CUDA out of memory"), 500, None),
        (RuntimeError("/secret/path exploded"), 500, None),
    ]
    for exc, status, retry_after in cases:
        problem = problem_for(exc, "rid-1", 2.0)
        doc = json.loads(problem.response("rid-1").body)
        assert problem.status == status and problem.headers.get("Retry-After") == retry_after, exc
        assert "/srv" not in doc["error"] and "10.0.0.5" not in doc["error"] and "/secret" not in doc["error"]
        if status == 500:
            assert "rid-1" in doc["error"]
