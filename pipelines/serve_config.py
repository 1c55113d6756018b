"""Typed settings of the online endpoint (`songfarm serve`), and the Serve config they become.

One YAML file holds everything the endpoint needs: the three backends, per-deployment
replicas / autoscaling range / queue limits / CPU and GPU asks, the request limits, the
re-render rule, the API-key source and the optional output location.
`pipelines/serve_config.yaml` is the laptop default; `cluster/serve_gpu.yaml` the GPU
cluster profile. The same settings become a Serve config file for `serve deploy` and the
`serveConfigV2` of a KubeRay RayService through `serve_config_file`:

    python -m songfarm.pipelines.serve_config cluster/serve_gpu.yaml > cluster/serve_deploy.yaml
    python -m songfarm.pipelines.serve_config cluster/serve_gpu.yaml --rayservice cluster/rayservice.yaml

API keys are never written into a generated file, logged or shown by `repr`: give them in
the environment variable named by `api_keys_env` (a Kubernetes Secret in a RayService).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..models.errors import SongfarmError
from ..models.request import MAX_CANDIDATES, MAX_DURATION_S, MIN_DURATION_S

DEFAULT_CONFIG = Path(__file__).with_name("serve_config.yaml")
DEPLOYMENTS = ("ingress", "planner", "generator", "verifier")
# Serve deployment names of the four settings sections (what `serve status` shows).
DEPLOYMENT_NAMES = {"ingress": "Ingress", "planner": "Planner", "generator": "Generator", "verifier": "Verifier"}
IMPORT_PATH = "songfarm.pipelines.serve_app:build_app"


class ServeConfigError(SongfarmError, ValueError):
    """A bad serve settings file or value; the message names the file and the field."""


@dataclass
class StageBackend:
    name: str  # a backend of models/factory.py: "rules", "synth", "features", "diffusion", "clap", "llm"
    options: dict[str, Any] = field(default_factory=dict)  # that backend's config fields


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
    max_batch_size: int = 1  # generator only: requests merged into one backend call (@serve.batch)
    batch_wait_timeout_s: float = 0.01  # generator only: seconds a batch waits to fill up


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
    backends: dict[str, StageBackend] = field(default_factory=lambda: {
        "planner": StageBackend("rules"), "generator": StageBackend("synth"), "verifier": StageBackend("features")})
    deployments: dict[str, DeploymentSettings] = field(
        default_factory=lambda: {d: DeploymentSettings() for d in DEPLOYMENTS})
    limits: Limits = field(default_factory=Limits)
    min_score: float = 0.75  # default threshold: a take is accepted at or above this verifier score
    max_attempts: int = 2  # render rounds before the best take is returned with status "rejected"
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


def load_settings(path: str | os.PathLike | None = None) -> ServeSettings:
    """Read a serve settings YAML (default: pipelines/serve_config.yaml); raises ServeConfigError."""
    path = Path(path) if path else DEFAULT_CONFIG
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ServeConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ServeConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return settings_from_dict(data or {}, str(path))


def settings_from_dict(data: dict[str, Any], where: str = "serve settings") -> ServeSettings:
    """Build and validate settings from a plain dict (a YAML document or Serve `args`)."""
    if not isinstance(data, dict):
        raise ServeConfigError(f"{where}: must be a mapping, got {type(data).__name__}")
    data = copy.deepcopy(data)
    known = {f.name for f in dataclasses.fields(ServeSettings)}
    _no_unknown(data, known, where, "")
    backends = ServeSettings().backends
    for stage, spec in (data.pop("backends", None) or {}).items():
        if stage not in backends:
            raise ServeConfigError(f"{where}: backends.{stage}: unknown stage (known: planner, generator, verifier)")
        if isinstance(spec, str):
            spec = {"name": spec}
        if not isinstance(spec, dict):
            raise ServeConfigError(f"{where}: backends.{stage}: must be a mapping with name and options")
        _no_unknown(spec, {"name", "options"}, where, f"backends.{stage}.")
        if not isinstance(spec.get("options") or {}, dict):
            raise ServeConfigError(f"{where}: backends.{stage}.options: must be a mapping")
        backends[stage] = StageBackend(str(spec.get("name") or backends[stage].name), dict(spec.get("options") or {}))
    deployments = {d: DeploymentSettings() for d in DEPLOYMENTS}
    for name, section in (data.pop("deployments", None) or {}).items():
        if name not in deployments:
            raise ServeConfigError(f"{where}: deployments.{name}: unknown deployment (known: {', '.join(DEPLOYMENTS)})")
        deployments[name] = _deployment_from_dict(section or {}, where, f"deployments.{name}")
    limits = _dataclass_from_dict(Limits, data.pop("limits", None) or {}, where, "limits")
    settings = _dataclass_from_dict(ServeSettings, data, where, "")
    settings.backends, settings.deployments, settings.limits = backends, deployments, limits
    if isinstance(settings.api_keys, str):
        settings.api_keys = [k.strip() for k in settings.api_keys.split(",") if k.strip()]
    check_settings(settings, where)
    return settings


def check_settings(s: ServeSettings, where: str = "serve settings") -> None:
    """Raise ServeConfigError naming the first field whose value cannot work."""

    def bad(name: str, value: Any, reason: str) -> ServeConfigError:
        return ServeConfigError(f"{where}: {name}={value!r}: {reason}")

    for name, d in s.deployments.items():
        p = f"deployments.{name}"
        if not _int_in(d.num_replicas, 1, 1024):
            raise bad(f"{p}.num_replicas", d.num_replicas, "must be an integer ≥ 1 (use autoscaling for 0)")
        if not _int_in(d.max_ongoing_requests, 1, 100000):
            raise bad(f"{p}.max_ongoing_requests", d.max_ongoing_requests, "must be an integer ≥ 1")
        # -1 would be Serve's "unbounded": overload must get a 503, never an endless queue.
        if not _int_in(d.max_queued_requests, 0, 100000):
            raise bad(f"{p}.max_queued_requests", d.max_queued_requests, "must be an integer ≥ 0 (a bounded queue)")
        for fname in ("retry_after_s", "num_cpus", "num_gpus", "batch_wait_timeout_s"):
            if not _num_in(getattr(d, fname), 0, math.inf):
                raise bad(f"{p}.{fname}", getattr(d, fname), "must be a number ≥ 0")
        for fname in ("health_check_period_s", "health_check_timeout_s"):
            if not _num_in(getattr(d, fname), 0.1, math.inf):
                raise bad(f"{p}.{fname}", getattr(d, fname), "must be a number ≥ 0.1")
        if not _int_in(d.max_batch_size, 1, 1024):
            raise bad(f"{p}.max_batch_size", d.max_batch_size, "must be an integer ≥ 1")
        if d.max_batch_size > d.max_ongoing_requests:
            raise bad(f"{p}.max_batch_size", d.max_batch_size,
                      f"larger than max_ongoing_requests={d.max_ongoing_requests}: batches could never fill")
        a = d.autoscaling
        if a is not None:
            if not _int_in(a.min_replicas, 0, 1024) or not _int_in(a.max_replicas, max(1, a.min_replicas), 1024):
                raise bad(f"{p}.autoscaling", f"{a.min_replicas}..{a.max_replicas}",
                          "needs 0 ≤ min_replicas ≤ max_replicas, max_replicas ≥ 1")
            if a.initial_replicas is not None and not _int_in(a.initial_replicas, a.min_replicas, a.max_replicas):
                raise bad(f"{p}.autoscaling.initial_replicas", a.initial_replicas, "must lie in the replica range")
            if not _num_in(a.target_ongoing_requests, 0.01, math.inf):
                raise bad(f"{p}.autoscaling.target_ongoing_requests", a.target_ongoing_requests, "must be > 0")
    if s.deployments["ingress"].autoscaling and s.deployments["ingress"].autoscaling.min_replicas < 1:
        raise bad("deployments.ingress.autoscaling.min_replicas", 0, "the ingress must stay up to answer (≥ 1)")
    lim = s.limits
    if not _int_in(lim.max_body_bytes, 256, 64 * 2**20):
        raise bad("limits.max_body_bytes", lim.max_body_bytes, "must be an integer in [256, 64 MiB]")
    if not (_num_in(lim.min_duration_s, MIN_DURATION_S, MAX_DURATION_S)
            and _num_in(lim.max_duration_s, lim.min_duration_s, MAX_DURATION_S)):
        raise bad("limits", f"{lim.min_duration_s}..{lim.max_duration_s} s",
                  f"durations must satisfy {MIN_DURATION_S:g} ≤ min_duration_s ≤ max_duration_s ≤ {MAX_DURATION_S:g}")
    if not _int_in(lim.max_candidates, 1, MAX_CANDIDATES):
        raise bad("limits.max_candidates", lim.max_candidates, f"must be an integer in [1, {MAX_CANDIDATES}]")
    if not _num_in(lim.request_timeout_s, 1, math.inf):
        raise bad("limits.request_timeout_s", lim.request_timeout_s, "must be a number ≥ 1")
    if not _num_in(s.min_score, 0, 1):
        raise bad("min_score", s.min_score, "must be a number in [0, 1]")
    if not _int_in(s.max_attempts, 1, 10):
        raise bad("max_attempts", s.max_attempts, "must be an integer in [1, 10]")
    if not (isinstance(s.api_keys, list) and all(isinstance(k, str) for k in s.api_keys)):
        raise ServeConfigError(f"{where}: api_keys: must be a list of text (values not shown)")
    if not _int_in(s.port, 0, 65535):
        raise bad("port", s.port, "must be an integer in [0, 65535]")
    if not isinstance(s.route_prefix, str) or not s.route_prefix.startswith("/"):
        raise bad("route_prefix", s.route_prefix, "must start with '/'")
    for name in ("job_name", "app_name", "api_keys_env", "host"):
        if not isinstance(getattr(s, name), str) or not getattr(s, name):
            raise bad(name, getattr(s, name), "must be non-empty text")
    if not isinstance(s.test_hooks, bool):
        raise bad("test_hooks", s.test_hooks, "must be true or false")
    if s.output is not None and (not isinstance(s.output, str) or not s.output):
        raise bad("output", s.output, "must be a local folder or s3://bucket/prefix")


def check_backends(s: ServeSettings, checkpoints: bool = True) -> None:
    """Check each backend name and its options against the backend's config class and, with
    `checkpoints`, a neural backend's checkpoint path (models.factory.preflight).

    Loads no model; `songfarm serve` calls this before starting Ray so a typo or a missing
    checkpoint fails in a second (checkpoints only when Ray is local: on a remote cluster
    the paths are the replicas')."""
    from ..models.factory import preflight

    for stage, spec in s.backends.items():
        preflight(stage, spec.name, spec.options, checkpoints)


def settings_to_dict(s: ServeSettings) -> dict[str, Any]:
    """Plain dict of the settings, without API keys (safe to write into any file)."""
    d = dataclasses.asdict(s)
    d.pop("api_keys")
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
    deployments itself; the `deployments` list repeats the same values so operators see
    them in `serve status` and can override one in place, as Serve's config files allow.
    """
    return {
        "proxy_location": "EveryNode",
        "http_options": {"host": s.host, "port": s.port, "request_timeout_s": s.limits.request_timeout_s},
        "applications": [{
            "name": s.app_name,
            "route_prefix": s.route_prefix,
            "import_path": IMPORT_PATH,
            "args": settings_to_dict(s),
            "deployments": [{"name": DEPLOYMENT_NAMES[k], **deployment_options(s.deployments[k])} for k in DEPLOYMENTS],
        }],
    }


def _deployment_from_dict(section: dict[str, Any], where: str, prefix: str) -> DeploymentSettings:
    if not isinstance(section, dict):
        raise ServeConfigError(f"{where}: {prefix}: must be a mapping")
    section = dict(section)
    auto = section.pop("autoscaling", None)
    d = _dataclass_from_dict(DeploymentSettings, section, where, prefix)
    if auto is not None:
        d.autoscaling = _dataclass_from_dict(Autoscaling, auto, where, f"{prefix}.autoscaling")
    return d


def _dataclass_from_dict(cls: type, data: Any, where: str, prefix: str):
    if not isinstance(data, dict):
        raise ServeConfigError(f"{where}: {prefix or 'settings'}: must be a mapping")
    _no_unknown(data, {f.name for f in dataclasses.fields(cls)}, where, f"{prefix}." if prefix else "")
    return cls(**data)


def _no_unknown(data: dict[str, Any], known: set[str], where: str, prefix: str) -> None:
    unknown = sorted(set(data) - known, key=str)
    if unknown:
        raise ServeConfigError(f"{where}: {prefix}{unknown[0]}: unknown setting (known: {', '.join(sorted(known))})")


def _int_in(value: Any, lo: float, hi: float) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _num_in(value: Any, lo: float, hi: float) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
            and lo <= value <= hi)


def main(argv: list[str] | None = None) -> int:
    """Regenerate the Serve config files from a settings YAML:

        python -m songfarm.pipelines.serve_config SETTINGS.yaml                  # print the `serve deploy` file
        python -m songfarm.pipelines.serve_config SETTINGS.yaml --rayservice R   # rewrite R's serveConfigV2
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
        print(f"# Generated from {argv[0]} by `python -m songfarm.pipelines.serve_config {argv[0]}`;"
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
