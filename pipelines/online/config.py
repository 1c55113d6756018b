"""Typed settings of the online endpoint (`songfarm serve`), and the Serve config they become.

One YAML file holds everything the endpoint needs: the render settings (backends,
min_score, max_attempts, candidates, delivery format, calibration prompts: the same
`RenderSettings` a job renders with, read by the same loader, pipelines/core/
settings_file.py, with the same defaults from models/settings.py), per-deployment
replicas / autoscaling range / queue limits / CPU and GPU asks, the request limits, the
API-key source, the optional output location, and the layout of the stages (`stage_layout`:
all three in the ingress's own replicas, or one deployment each; `fused` decides).
`pipelines/online/serve_config.yaml` is the laptop default; `cluster/serve_gpu.yaml` the GPU
cluster profile. The same settings become a Serve config file for `serve deploy` and the
`serveConfigV2` of a KubeRay RayService through `serve_config_file`:

    python -m songfarm.pipelines.online.config cluster/serve_gpu.yaml > cluster/serve_deploy.yaml
    python -m songfarm.pipelines.online.config cluster/serve_gpu.yaml --rayservice cluster/rayservice.yaml

Every problem in a settings file is reported, each as "FILE:LINE: field: message (value)",
in one ServeConfigError. API keys are never written into a generated file, logged or
shown by `repr` or a message: give them in the environment variable named by
`api_keys_env` (a Kubernetes Secret in a RayService).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ...models.errors import SongfarmError
from ...models.request import MAX_CANDIDATES, MAX_DURATION_S, MIN_DURATION_S
from ...models.settings import RenderSettings, share_a_process
from ..core.settings_file import (SETTINGS_KEYS, Problems, Report, did_you_mean, kind_of, parse_yaml, read_settings,
                                  read_text, settings_dict)

DEFAULT_CONFIG = Path(__file__).with_name("serve_config.yaml")
DEPLOYMENTS = ("ingress", "planner", "generator", "verifier")
STAGE_DEPLOYMENTS = DEPLOYMENTS[1:]  # one deployment each in the split layout
# Serve deployment names of the four settings sections (what `serve status` shows).
DEPLOYMENT_NAMES = {"ingress": "Ingress", "planner": "Planner", "generator": "Generator", "verifier": "Verifier"}
# auto: fused when no stage asks for a GPU (their resources are the same kind), else split.
STAGE_LAYOUTS = ("auto", "fused", "split")
IMPORT_PATH = "songfarm.pipelines.online.app:build_app"
MAX_SHOWN = 50  # problems listed in the message


class ServeConfigError(SongfarmError, ValueError):
    """A bad serve settings file or value. The message is one "FILE:LINE: field: message
    (value)" line, or for several problems "N problems in FILE:" and one indented line each."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        if len(problems) == 1:
            super().__init__(problems[0])
            return
        shown = problems[:MAX_SHOWN]
        more = f"\n  ... and {len(problems) - MAX_SHOWN} more" if len(problems) > MAX_SHOWN else ""
        super().__init__(f"{len(problems)} problems in {source}:\n" + "\n".join("  " + p for p in shown) + more)


@dataclass
class Autoscaling:
    """A replica range instead of a fixed count (Serve's autoscaling_config)."""

    min_replicas: int = 1  # 0 = scale to zero when idle; the next request waits for a cold start
    max_replicas: int = 1  # ceiling; each replica takes the deployment's CPU/GPU ask
    initial_replicas: int | None = None  # replicas at deploy time (None → min_replicas)
    target_ongoing_requests: float = 2.0  # requests per replica the autoscaler aims for
    upscale_delay_s: float = 30.0  # load must stay high this long before adding replicas
    downscale_delay_s: float = 600.0  # load must stay low this long before removing replicas
    downscale_to_zero_delay_s: float | None = None  # idle time before the last replica goes (min_replicas 0)


@dataclass
class DeploymentSettings:
    """How one deployment's replicas are sized, queued and placed."""

    num_replicas: int = 1  # fixed replica count; ignored when `autoscaling` is set
    autoscaling: Autoscaling | None = None  # a replica range instead of num_replicas
    max_ongoing_requests: int = 4  # requests one replica works on at once
    max_queued_requests: int = 16  # requests a caller may queue beyond that; more → 503 (never unbounded)
    retry_after_s: float = 2.0  # Retry-After (seconds) of those 503s
    num_cpus: float = 1.0  # CPUs reserved per replica (scheduling only)
    num_gpus: float = 0.0  # GPUs per replica, fractional allowed; 0 = CPU only
    health_check_period_s: float = 10.0  # how often Serve calls check_health on each replica
    health_check_timeout_s: float = 30.0  # a check slower than this counts as failed
    # The generator's (the ingress's in the fused layout, where it holds the generator):
    max_batch_size: int = 1  # requests merged into one generator call (@serve.batch)
    batch_wait_timeout_s: float = 0.01  # seconds a batch waits to fill up


@dataclass
class Limits:
    """What one HTTP request may ask for; anything outside gets 422 naming the field."""

    max_body_bytes: int = 65536  # JSON body size
    min_duration_s: float = MIN_DURATION_S  # shortest track
    max_duration_s: float = 120.0  # longest track (also applies to a length read from the prompt)
    max_candidates: int = 4  # takes per attempt
    request_timeout_s: float = 300.0  # Serve proxy's end-to-end timeout; slower requests get 408


@dataclass
class ServeSettings:
    # What decides each request's outcome: backends, min_score, max_attempts, candidates,
    # delivery, calibration prompts. Top-level keys of the settings file.
    render: RenderSettings = field(default_factory=RenderSettings)
    deployments: dict[str, DeploymentSettings] = field(
        default_factory=lambda: {d: DeploymentSettings() for d in DEPLOYMENTS})
    limits: Limits = field(default_factory=Limits)
    # "fused": the planner, generator and verifier run inside each ingress replica, which
    # answers a whole request in its own process (the ingress section sizes it, batching
    # included); "split": one deployment each (the planner / generator / verifier sections);
    # "auto": fused unless one of those three sections asks for a GPU.
    stage_layout: str = "auto"
    api_keys: list[str] = field(default_factory=list, repr=False)  # prefer api_keys_env; never logged
    api_keys_env: str = "SONGFARM_API_KEYS"  # env var with comma-separated keys; none at all → auth off
    output: str | None = None  # local folder or s3://bucket/prefix; set → audio + manifest row written
    job_name: str = "online"  # folder under `output` (<output>/<job_name>/audio/<id>.flac)
    s3_endpoint: str | None = None  # endpoint URL of an S3-compatible store (MinIO, Ceph, R2)
    host: str = "127.0.0.1"  # HTTP bind address in the Serve config file (`songfarm serve` takes --host)
    port: int = 8000  # HTTP port in the Serve config file (`songfarm serve` takes --port)
    app_name: str = "songfarm"  # Serve application name
    route_prefix: str = "/"  # where the API is mounted
    # Test-only: enables POST /v1/admin/fail-health/{deployment}, which makes that
    # deployment's replica fail its next health checks so Serve replaces it. Keep off.
    test_hooks: bool = False

    def resolved_api_keys(self) -> list[str]:
        """Keys from the settings plus the environment variable `api_keys_env`."""
        keys = [k for k in self.api_keys if k]
        keys += [k.strip() for k in os.environ.get(self.api_keys_env, "").split(",") if k.strip()]
        return keys

    def key_digests(self) -> list[str]:
        """SHA-256 of each key: the ingress compares digests, so keys never travel into Serve."""
        return sorted({hashlib.sha256(k.encode()).hexdigest() for k in self.resolved_api_keys()})


# The file's top-level keys: the render settings, then ServeSettings' own fields.
_OWN_KEYS = tuple(f.name for f in dataclasses.fields(ServeSettings) if f.name != "render")
TOP_KEYS = SETTINGS_KEYS + _OWN_KEYS


def load_settings(path: str | os.PathLike | None = None) -> ServeSettings:
    """Read a serve settings YAML (default: pipelines/online/serve_config.yaml).

    Raises ServeConfigError listing every problem in the file, each with its line."""
    path = Path(path) if path else DEFAULT_CONFIG
    file = str(path)
    report = Problems()
    settings = ServeSettings()
    text = read_text(path, file, report)
    if text is not None:
        data = parse_yaml(text, file, report)
        if data is not None or not len(report):  # an empty file is all defaults
            settings = _read(data if data is not None else {}, file, report)
    _raise_if_any(report, file)
    return settings


def settings_from_dict(data: dict[str, Any], where: str = "serve settings") -> ServeSettings:
    """Build and check settings from a plain dict (Serve `args`, or a test's); problems are
    reported as "WHERE: field: message (value)" in one ServeConfigError."""
    report = Problems()
    settings = _read(data, where, report)
    _raise_if_any(report, where)
    return settings


def check_settings(s: ServeSettings, where: str = "serve settings") -> None:
    """Raise ServeConfigError naming every field of `s` whose value cannot work (for
    settings built or changed in code; files are checked as they are read)."""
    report = Problems()
    _check(s, where, report, {})
    _raise_if_any(report, where)


def check_backends(s: ServeSettings, checkpoints: bool = True) -> None:
    """Check each backend name and its options, as the backend will be built with them
    (RenderSettings.stage_options), against the backend's config class and, with
    `checkpoints`, a neural backend's checkpoint path (models.factory.preflight).

    Loads no model; `songfarm serve` calls this before starting Ray so a typo or a missing
    checkpoint fails in a second (checkpoints only when Ray is local: on a remote cluster
    the paths are the replicas')."""
    from ...models.factory import preflight

    for stage, spec in s.render.backends.items():
        preflight(stage, spec.name, s.render.stage_options(stage), checkpoints)


def fused(s: ServeSettings) -> bool:
    """Whether the three stages run inside the ingress's replicas rather than one deployment each."""
    if s.stage_layout != "auto":
        return s.stage_layout == "fused"
    return share_a_process([(s.deployments[name].num_gpus, {}) for name in STAGE_DEPLOYMENTS])


def deployed(s: ServeSettings) -> tuple[str, ...]:
    """The settings sections of the deployments `build_app` builds for `s`."""
    return ("ingress",) if fused(s) else DEPLOYMENTS


def settings_to_dict(s: ServeSettings) -> dict[str, Any]:
    """Plain dict of the settings in the file's own shape (the render settings as top-level
    keys), without API keys: safe to write into any file, and `settings_from_dict` reads it.
    `stage_layout` is written only when it is not "auto" (files older than it read the same)."""
    d = settings_dict(s.render)
    for name in _OWN_KEYS:
        if name != "api_keys" and not (name == "stage_layout" and s.stage_layout == "auto"):
            d[name] = getattr(s, name)
    d["deployments"] = {k: dataclasses.asdict(v) for k, v in s.deployments.items()}
    d["limits"] = dataclasses.asdict(s.limits)
    return d


def deployment_options(d: DeploymentSettings) -> dict[str, Any]:
    """The settings as `Deployment.options(**...)` keyword arguments (Serve config field names)."""
    opts: dict[str, Any] = {
        "max_ongoing_requests": d.max_ongoing_requests,
        "max_queued_requests": d.max_queued_requests,
        "backpressure_config": {"status_code": 503, "retry_after_s": d.retry_after_s},
        "ray_actor_options": {"num_cpus": d.num_cpus, "num_gpus": d.num_gpus},
        "health_check_period_s": d.health_check_period_s,
        "health_check_timeout_s": d.health_check_timeout_s,
    }
    if d.autoscaling is None:
        opts["num_replicas"] = d.num_replicas
    else:
        a = {k: v for k, v in dataclasses.asdict(d.autoscaling).items() if v is not None}
        opts["autoscaling_config"] = a
    return opts


def serve_config_file(s: ServeSettings) -> dict[str, Any]:
    """A Serve config (the `serve deploy` file and a RayService's serveConfigV2) for `s`.

    `args` carries the settings (minus keys) to `build_app`, which applies them to the
    deployments itself; the `deployments` list repeats the same values for the deployments
    built (`deployed`) so operators see them in `serve status` and can override one in
    place, as Serve's config files allow.
    """
    return {
        "proxy_location": "EveryNode",
        "http_options": {"host": s.host, "port": s.port, "request_timeout_s": s.limits.request_timeout_s},
        "applications": [{
            "name": s.app_name,
            "route_prefix": s.route_prefix,
            "import_path": IMPORT_PATH,
            "args": settings_to_dict(s),
            "deployments": [{"name": DEPLOYMENT_NAMES[k], **deployment_options(s.deployments[k])} for k in deployed(s)],
        }],
    }


def _raise_if_any(report: Problems, source: str) -> None:
    if len(report):
        raise ServeConfigError(source, report.sorted())


def _read(data: Any, file: str, report: Report) -> ServeSettings:
    """The settings of one document; every problem reported, bad values left at their defaults."""
    settings = ServeSettings()
    if not isinstance(data, dict):
        report(file, getattr(data, "line", None), "settings", f"must be a mapping (found {kind_of(data)})")
        return settings
    lines: dict[str, int | None] = {}  # "deployments.generator.num_gpus" → its line
    key_lines = getattr(data, "key_lines", {})
    for key in data:
        if key not in TOP_KEYS:
            report(file, key_lines.get(key), key, f"unknown setting{did_you_mean(str(key), TOP_KEYS)}")
    settings.render = read_settings(data, file, report)
    for key in _OWN_KEYS:
        if key in data:
            lines[key] = key_lines.get(key)
    deployments = data.get("deployments")
    if deployments is not None:
        if not isinstance(deployments, dict):
            report(file, lines["deployments"], "deployments", f"must be a mapping of {', '.join(DEPLOYMENTS)}",
                   deployments)
        else:
            for name, section in deployments.items():
                where, at = f"deployments.{name}", getattr(deployments, "key_lines", {}).get(name)
                if name not in DEPLOYMENTS:
                    report(file, at, where, f"unknown deployment{did_you_mean(str(name), DEPLOYMENTS)}")
                    continue
                lines[where] = at
                settings.deployments[name] = _deployment(section or {}, file, report, where, lines)
    if data.get("limits") is not None:
        settings.limits = _dataclass(Limits, data["limits"], file, report, "limits", lines)
    for key in _OWN_KEYS:
        if key in data and key not in ("deployments", "limits"):
            setattr(settings, key, data[key])
    if isinstance(settings.api_keys, str):
        settings.api_keys = [k.strip() for k in settings.api_keys.split(",") if k.strip()]
    _check(settings, file, report, lines)
    return settings


def _deployment(section: Any, file: str, report: Report, where: str, lines: dict) -> DeploymentSettings:
    d = _dataclass(DeploymentSettings, section, file, report, where, lines, nested=("autoscaling",))
    auto = section.get("autoscaling") if isinstance(section, dict) else None
    if auto is not None:
        d.autoscaling = _dataclass(Autoscaling, auto, file, report, f"{where}.autoscaling", lines)
    return d


def _dataclass(cls: type, data: Any, file: str, report: Report, where: str, lines: dict, nested: tuple = ()):
    """`cls` from a mapping, `nested` sections left to the caller: unknown keys reported,
    values left for _check, the line of each noted in `lines`."""
    if not isinstance(data, dict):
        report(file, lines.get(where), where, "must be a mapping", data)
        return cls()
    key_lines = getattr(data, "key_lines", {})
    known = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for key, value in data.items():
        path = f"{where}.{key}"
        lines[path] = key_lines.get(key, lines.get(where))
        if key not in known:
            report(file, lines[path], path, f"unknown setting{did_you_mean(str(key), known)}")
        elif key not in nested:
            values[key] = value
    return cls(**values)


def _check(s: ServeSettings, file: str, report: Report, lines: dict[str, int | None]) -> None:
    """Every value that cannot work, reported at its line (where known)."""

    def bad(path: str, value: Any, reason: str) -> None:
        report(file, lines.get(path, lines.get(path.rsplit(".", 1)[0])), path, reason, value)

    for name, d in s.deployments.items():
        p = f"deployments.{name}"
        if not _int_in(d.num_replicas, 1, 1024):
            bad(f"{p}.num_replicas", d.num_replicas, "must be an integer ≥ 1 (use autoscaling for 0)")
        ongoing_ok = _int_in(d.max_ongoing_requests, 1, 100000)
        if not ongoing_ok:
            bad(f"{p}.max_ongoing_requests", d.max_ongoing_requests, "must be an integer ≥ 1")
        # -1 would be Serve's "unbounded": overload must get a 503, never an endless queue.
        if not _int_in(d.max_queued_requests, 0, 100000):
            bad(f"{p}.max_queued_requests", d.max_queued_requests, "must be an integer ≥ 0 (a bounded queue)")
        for fname in ("retry_after_s", "num_cpus", "num_gpus", "batch_wait_timeout_s"):
            if not _num_in(getattr(d, fname), 0, math.inf):
                bad(f"{p}.{fname}", getattr(d, fname), "must be a number ≥ 0")
        for fname in ("health_check_period_s", "health_check_timeout_s"):
            if not _num_in(getattr(d, fname), 0.1, math.inf):
                bad(f"{p}.{fname}", getattr(d, fname), "must be a number ≥ 0.1")
        if not _int_in(d.max_batch_size, 1, 1024):
            bad(f"{p}.max_batch_size", d.max_batch_size, "must be an integer ≥ 1")
        elif ongoing_ok and d.max_batch_size > d.max_ongoing_requests:
            bad(f"{p}.max_batch_size", d.max_batch_size,
                f"larger than max_ongoing_requests={d.max_ongoing_requests}: batches could never fill")
        a = d.autoscaling
        if a is not None:
            q = f"{p}.autoscaling"
            if not _int_in(a.min_replicas, 0, 1024) or not _int_in(a.max_replicas, 1, 1024) \
                    or a.min_replicas > a.max_replicas:
                bad(q, f"{a.min_replicas}..{a.max_replicas}", "needs 0 ≤ min_replicas ≤ max_replicas, max_replicas ≥ 1")
            elif a.initial_replicas is not None and not _int_in(a.initial_replicas, a.min_replicas, a.max_replicas):
                bad(f"{q}.initial_replicas", a.initial_replicas, "must lie in the replica range")
            elif name == "ingress" and a.min_replicas < 1:
                bad(f"{q}.min_replicas", a.min_replicas, "the ingress must stay up to answer (≥ 1)")
            if not _num_in(a.target_ongoing_requests, 0.01, math.inf):
                bad(f"{q}.target_ongoing_requests", a.target_ongoing_requests, "must be > 0")
            for fname in ("upscale_delay_s", "downscale_delay_s"):
                if not _num_in(getattr(a, fname), 0, math.inf):
                    bad(f"{q}.{fname}", getattr(a, fname), "must be a number ≥ 0")
            if a.downscale_to_zero_delay_s is not None and not _num_in(a.downscale_to_zero_delay_s, 0, math.inf):
                bad(f"{q}.downscale_to_zero_delay_s", a.downscale_to_zero_delay_s, "must be a number ≥ 0")
    lim = s.limits
    if not _int_in(lim.max_body_bytes, 256, 64 * 2**20):
        bad("limits.max_body_bytes", lim.max_body_bytes, "must be an integer in [256, 64 MiB]")
    if not (_num_in(lim.min_duration_s, MIN_DURATION_S, MAX_DURATION_S)
            and _num_in(lim.max_duration_s, lim.min_duration_s, MAX_DURATION_S)):
        bad("limits", f"{lim.min_duration_s}..{lim.max_duration_s} s",
            f"durations must satisfy {MIN_DURATION_S:g} ≤ min_duration_s ≤ max_duration_s ≤ {MAX_DURATION_S:g}")
    if not _int_in(lim.max_candidates, 1, MAX_CANDIDATES):
        bad("limits.max_candidates", lim.max_candidates, f"must be an integer in [1, {MAX_CANDIDATES}]")
    elif s.render.candidates > lim.max_candidates:
        # A request that does not say would ask for more takes than a request may.
        bad("candidates", s.render.candidates, f"more than limits.max_candidates={lim.max_candidates}")
    if not _num_in(lim.request_timeout_s, 1, math.inf):
        bad("limits.request_timeout_s", lim.request_timeout_s, "must be a number ≥ 1")
    if not (isinstance(s.api_keys, list) and all(isinstance(k, str) for k in s.api_keys)):
        report(file, lines.get("api_keys"), "api_keys", "must be a list of text (values not shown)")
    if not _int_in(s.port, 0, 65535):
        bad("port", s.port, "must be an integer in [0, 65535]")
    if not isinstance(s.route_prefix, str) or not s.route_prefix.startswith("/"):
        bad("route_prefix", s.route_prefix, "must start with '/'")
    for name in ("job_name", "app_name", "api_keys_env", "host"):
        if not isinstance(getattr(s, name), str) or not getattr(s, name):
            bad(name, getattr(s, name), "must be non-empty text")
    if s.stage_layout not in STAGE_LAYOUTS:
        bad("stage_layout", s.stage_layout, f"must be one of {', '.join(STAGE_LAYOUTS)}")
    if not isinstance(s.test_hooks, bool):
        bad("test_hooks", s.test_hooks, "must be true or false")
    for name in ("output", "s3_endpoint"):
        value = getattr(s, name)
        if value is not None and (not isinstance(value, str) or not value):
            bad(name, value, "must be a local folder or s3://bucket/prefix" if name == "output"
                else "must be an http:// or https:// URL")


def _int_in(value: Any, lo: float, hi: float) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _num_in(value: Any, lo: float, hi: float) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
            and lo <= value <= hi)


def main(argv: list[str] | None = None) -> int:
    """Regenerate the Serve config files from a settings YAML:

        python -m songfarm.pipelines.online.config SETTINGS.yaml                  # print the `serve deploy` file
        python -m songfarm.pipelines.online.config SETTINGS.yaml --rayservice R   # rewrite R's serveConfigV2
    """
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (1, 3) or (len(argv) == 3 and argv[1] != "--rayservice"):
        print(main.__doc__, file=sys.stderr)
        return 2
    try:
        settings = load_settings(argv[0])
    except ServeConfigError as exc:
        print(f"songfarm: error: {exc}", file=sys.stderr)
        return 2
    text = yaml.safe_dump(serve_config_file(settings), sort_keys=False, allow_unicode=True)
    if len(argv) == 1:
        print(f"# Generated from {argv[0]} by `python -m songfarm.pipelines.online.config {argv[0]}`;"
              " edit that file and regenerate.\n# API keys come from the environment variable "
              f"{settings.api_keys_env} on the cluster, never from this file.")
        print(text, end="")
        return 0
    # The RayService keeps everything else; only the block under `serveConfigV2: |` is replaced.
    path = Path(argv[2])
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.rstrip() == "  serveConfigV2: |") + 1
    end = next(i for i in range(start, len(lines)) if lines[i].strip() and not lines[i].startswith("    "))
    block = ["    " + line + "\n" for line in text.splitlines()]
    path.write_text("".join(lines[:start] + block + lines[end:]), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
