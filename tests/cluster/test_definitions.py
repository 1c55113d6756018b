"""The cluster definitions, checked by the tools that own them — offline, no cluster, no cloud.

    cluster/launcher-aws.yaml        Ray's launcher schema (ray/autoscaler/ray-schema.json) and
                                     validate_config, after the defaults `ray up` fills in
    cluster/serve_deploy.yaml        Ray Serve's ServeDeploySchema (and AutoscalingConfig)
    cluster/rayservice.yaml          its serveConfigV2 likewise; its pod templates as below
    cluster/kuberay-*.yaml           every pod template as a Kubernetes PodTemplate
                                     (kubernetes-validate, strict), and the KubeRay fields
    infra/Dockerfile                 the base tag against the pinned Ray and Python, the commands

Each tool is also shown a broken copy once, so a check that stopped biting would fail here.
"""

from __future__ import annotations

import copy
import importlib.metadata
import importlib.util
import json
import re
import shlex
import sys
import tomllib
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import ray
import yaml
from kubernetes_validate.utils import all_versions, major_minor

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "cluster"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
VERSION = PYPROJECT["project"]["version"]  # the image tag: songfarm:<version>[-gpu]
SCRIPTS = PYPROJECT["project"]["scripts"]  # {"songfarm": "songfarm.jobs.cli:main"}
PY_TAG = PYPROJECT["tool"]["ruff"]["target-version"]  # "py311": the Python the project targets
K8S_VERSION = "1.33"  # a Kubernetes release kubernetes-validate ships schemas for (EKS/GKE/AKS supported)
APP_IMPORT_PATH = "songfarm.pipelines.online.app:build_app"
GPU = "nvidia.com/gpu"

MANIFESTS = {  # file → (kind, where the RayCluster spec sits in spec)
    "kuberay-raycluster.yaml": ("RayCluster", None),
    "kuberay-rayjob.yaml": ("RayJob", "rayClusterSpec"),
    "rayservice.yaml": ("RayService", "rayClusterConfig"),
}


def load(name: str):
    return yaml.safe_load((CLUSTER / name).read_text(encoding="utf-8"))


def cluster_spec(name: str) -> dict:
    doc = load(name)
    key = MANIFESTS[name][1]
    return doc["spec"][key] if key else doc["spec"]


def groups(name: str):
    """(group name, group spec) for the head and each worker group of a manifest's RayCluster."""
    spec = cluster_spec(name)
    yield "head", spec["headGroupSpec"]
    for g in spec["workerGroupSpecs"]:
        yield g["groupName"], g


def pod_templates():
    for name in MANIFESTS:
        for group, g in groups(name):
            yield pytest.param(name, g["template"], id=f"{name}:{group}")
        submitter = load(name)["spec"].get("submitterPodTemplate")
        if submitter:
            yield pytest.param(name, submitter, id=f"{name}:submitter")


def ray_container(template: dict) -> dict:
    return template["spec"]["containers"][0]  # KubeRay runs Ray in the first container


def is_gpu_group(group: str, g: dict) -> bool:
    """A group meant for GPUs: named so, running the GPU image, or asking for a GPU."""
    c = ray_container(g["template"])
    return ("gpu" in group or c["image"].endswith("-gpu")
            or GPU in c.get("resources", {}).get("limits", {}) or GPU in c.get("resources", {}).get("requests", {}))


def cpus(quantity) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def check_image(image: str, gpu: bool) -> None:
    """Pinned to this release of songfarm: <registry>/songfarm:<version>, -gpu for GPU nodes."""
    repo, _, tag = image.rpartition(":")
    assert repo.endswith("/songfarm") and "@" not in repo, image
    assert tag == (f"{VERSION}-gpu" if gpu else VERSION), f"{image}: expected tag {VERSION}{'-gpu' * gpu}"


# --- the cluster launcher -------------------------------------------------------------


@pytest.fixture
def no_aws(monkeypatch):
    """Any boto3 client or resource made while filling defaults fails the test: no AWS call."""
    import boto3
    import boto3.session

    def refuse(*args, **kwargs):
        raise AssertionError(f"contacted AWS: {args} {kwargs}")

    for target in (boto3, boto3.session.Session):
        monkeypatch.setattr(target, "client", refuse)
        monkeypatch.setattr(target, "resource", refuse)


def prepared_launcher_config(config: dict) -> dict:
    """The config as `ray up` hands it to validation: defaults from the provider's defaults.yaml,
    setup commands merged, per-type min/max workers filled (ray.autoscaler._private.util.prepare_config).
    The AWS bootstrap (IAM role, subnets, EC2 look-ups) that comes after it is not run."""
    from ray.autoscaler._private.util import prepare_config

    return prepare_config(copy.deepcopy(config))


def test_launcher_config_passes_rays_schema_and_validate_config(no_aws):
    from ray.autoscaler._private.util import validate_config

    config = load("launcher-aws.yaml")
    schema_path = Path(ray.autoscaler.__file__).parent / "ray-schema.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    jsonschema.validate(config, schema)  # the file as written
    prepared = prepared_launcher_config(config)
    validate_config(prepared)  # the schema again, plus Ray's own cross-checks (head type, min workers)
    assert prepared["provider"]["type"] == "aws" and prepared["head_node_type"] in prepared["available_node_types"]


def test_rays_launcher_validation_rejects_a_broken_copy(no_aws):
    from ray.autoscaler._private.util import validate_config

    config = load("launcher-aws.yaml")
    typo = copy.deepcopy(config)
    typo["available_node_types"]["gpu_worker"]["max_worker"] = 4
    with pytest.raises(jsonschema.ValidationError, match="max_worker"):
        validate_config(prepared_launcher_config(typo))
    no_head = copy.deepcopy(config)
    no_head["head_node_type"] = "gpu_head"
    with pytest.raises(ValueError, match="head_node_type"):
        validate_config(prepared_launcher_config(no_head))


def test_launcher_node_types_run_the_right_image_and_state_their_gpus(no_aws):
    config = prepared_launcher_config(load("launcher-aws.yaml"))
    docker = config["docker"]
    head = config["available_node_types"][config["head_node_type"]]
    # The head runs the driver, no stage actors: CPU 0 in the autoscaler's view and in `ray start`.
    assert head["resources"].get("CPU") == 0
    assert any("--head" in c and "--num-cpus=0" in c for c in config["head_start_ray_commands"])
    check_image(docker.get("head_image", docker["image"]), gpu=False)
    for name, node in config["available_node_types"].items():
        if name == config["head_node_type"]:
            continue
        gpu = bool(re.match(r"(g\d|p\d)", node["node_config"]["InstanceType"]))  # AWS's GPU families
        image = node.get("docker", {}).get("worker_image", docker.get("worker_image", docker["image"]))
        check_image(image, gpu=gpu)
        if gpu:  # stated, so GPU demand reaches this type without `ray up`'s EC2 look-up
            assert node["resources"].get("GPU", 0) >= 1, name
        else:
            assert node["resources"].get("GPU", 0) == 0, name
        assert 0 <= node["min_workers"] <= node["max_workers"] <= config["max_workers"], name


# --- Serve configs ----------------------------------------------------------------------


def serve_configs():
    yield pytest.param(load("serve_deploy.yaml"), id="serve_deploy.yaml")
    yield pytest.param(yaml.safe_load(load("rayservice.yaml")["spec"]["serveConfigV2"]), id="rayservice.yaml")


@pytest.mark.parametrize("config", serve_configs())
def test_serve_configs_parse_through_serve_schema(config):
    from ray.serve.config import AutoscalingConfig
    from ray.serve.schema import ServeDeploySchema

    schema = ServeDeploySchema.model_validate(config)
    (app,) = schema.applications
    assert app.import_path == APP_IMPORT_PATH and app.route_prefix == "/"
    names = [d.name for d in app.deployments]
    assert names == ["Ingress", "Planner", "Generator", "Verifier"]
    for d in app.deployments:  # the schema keeps autoscaling_config a dict: Serve's own model checks it
        AutoscalingConfig.model_validate(d.autoscaling_config)
    assert {d.name for d in app.deployments if d.ray_actor_options.num_gpus > 0} == {"Generator", "Verifier"}


def test_serve_schema_rejects_a_broken_copy():
    from ray.serve.config import AutoscalingConfig
    from ray.serve.schema import ServeDeploySchema

    broken = load("serve_deploy.yaml")
    broken["applications"][0]["import_path"] = "build_app"
    with pytest.raises(ValueError, match="import path"):
        ServeDeploySchema.model_validate(broken)
    with pytest.raises(ValueError, match="max_replicas"):
        AutoscalingConfig.model_validate({"min_replicas": 2, "max_replicas": 1})


# --- KubeRay manifests ------------------------------------------------------------------


def test_kubernetes_version_is_one_kubernetes_validate_ships():
    assert K8S_VERSION in {major_minor(v) for v in all_versions()}


@pytest.mark.parametrize("name, template", pod_templates())
def test_pod_templates_are_valid_kubernetes(name, template):
    resource = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "songfarm"}, "template": template}
    assert kubernetes_validate.validate(resource, K8S_VERSION, strict=True) == K8S_VERSION


def test_kubernetes_validate_rejects_a_broken_pod_template():
    template = copy.deepcopy(cluster_spec("kuberay-raycluster.yaml")["headGroupSpec"]["template"])
    c = template["spec"]["containers"][0]
    c["resource"] = c.pop("resources")  # a typo strict validation must catch
    resource = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "x"}, "template": template}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(resource, K8S_VERSION, strict=True)


@pytest.mark.parametrize("name", MANIFESTS)
def test_kuberay_fields(name):
    doc = load(name)
    assert doc["apiVersion"] == "ray.io/v1" and doc["kind"] == MANIFESTS[name][0]
    spec = cluster_spec(name)
    assert spec["rayVersion"] == ray.__version__ == "2.60.0"
    workers = spec["workerGroupSpecs"]
    assert len({g["groupName"] for g in workers}) == len(workers)
    for g in workers:
        assert 0 <= g["minReplicas"] <= g["replicas"] <= g["maxReplicas"], g["groupName"]
    if any(g["minReplicas"] < g["maxReplicas"] for g in workers):  # autoscaling is intended
        assert spec.get("enableInTreeAutoscaling") is True
    head = ray_container(spec["headGroupSpec"]["template"])
    assert {6379, 8265} <= {p["containerPort"] for p in head.get("ports", [])}  # GCS, dashboard / job API
    for group, g in groups(name):
        # KubeRay's rayStartParams is a map of strings: a bare number is rejected by the CRD.
        assert all(isinstance(v, str) for v in g["rayStartParams"].values()), group
        template = g["template"]
        c = ray_container(template)
        gpu = group != "head" and is_gpu_group(group, g)
        check_image(c["image"], gpu=gpu)
        limits, requests = c["resources"]["limits"], c["resources"].get("requests", {})
        assert "cpu" in limits and "memory" in limits, group
        if gpu:
            assert int(limits[GPU]) >= 1, f"{name}:{group}: {GPU} missing from limits"
            assert requests.get(GPU, limits[GPU]) == limits[GPU], f"{name}:{group}: GPU requests != limits"
            tolerations = template["spec"].get("tolerations", [])
            assert any(t.get("key") == GPU and t.get("operator", "Equal") in ("Exists", "Equal")
                       and t.get("effect") in (None, "", "NoSchedule") for t in tolerations), \
                f"{name}:{group}: no toleration for the {GPU} taint"
            # The neural backends read checkpoints from /models (docs/neural.md).
            assert any(m["mountPath"] == "/models" for m in c.get("volumeMounts", [])), \
                f"{name}:{group}: no volume mounted at /models for the checkpoints"
        else:
            assert GPU not in limits and GPU not in requests, group


def test_rayjob_entrypoint_is_a_songfarm_command(capsys):
    from songfarm.jobs.cli import build_parser, main

    doc = load("kuberay-rayjob.yaml")
    argv = shlex.split(doc["spec"]["entrypoint"])
    assert argv[0] in SCRIPTS, f"{argv[0]}: not a console script of pyproject [project.scripts]"
    (ep,) = [e for e in importlib.metadata.entry_points(group="console_scripts") if e.name == argv[0]]
    assert ep.value == SCRIPTS[argv[0]] and callable(ep.load())  # installed, and it resolves
    args = build_parser().parse_args(argv[1:])  # the CLI's own parser accepts the arguments
    assert args.command == "render" and args.output.startswith("s3://")
    # The job file is the image's copy (infra/Dockerfile: WORKDIR, COPY jobs), and it validates.
    workdir = dockerfile_instructions("WORKDIR")[-1]
    job = Path(args.job).relative_to(workdir)
    assert job.parts[0] in copied_folders() and (ROOT / job).is_file()
    assert main(["validate", str(ROOT / job)]) == 0, capsys.readouterr().err
    check_image(ray_container(doc["spec"]["submitterPodTemplate"])["image"], gpu=False)
    assert doc["spec"]["submissionMode"] == "K8sJobMode" and doc["spec"]["shutdownAfterJobFinishes"] is True


def test_rayservice_replicas_fit_the_pods_and_find_their_checkpoints():
    doc = load("rayservice.yaml")
    app = yaml.safe_load(doc["spec"]["serveConfigV2"])["applications"][0]
    nodes = {}  # group → (Ray CPUs, GPUs) of one pod
    for group, g in groups("rayservice.yaml"):
        c = ray_container(g["template"])
        limits = c["resources"]["limits"]
        nodes[group] = (cpus(g["rayStartParams"].get("num-cpus", limits["cpu"])), int(limits.get(GPU, 0)))
    for d in app["deployments"]:
        need = d["ray_actor_options"]
        assert any(need["num_cpus"] <= c and need["num_gpus"] <= n for c, n in nodes.values()), \
            f"{d['name']}: no pod fits {need}"
    # Every checkpoint path the backends name lies under a mount of every GPU group.
    paths = [v for b in app["args"]["backends"].values() for v in b.get("options", {}).values()
             if isinstance(v, str) and v.startswith("/")]
    assert paths
    for group, g in groups("rayservice.yaml"):
        if group != "head" and is_gpu_group(group, g):
            mounts = [m["mountPath"] for m in ray_container(g["template"]).get("volumeMounts", [])]
            for p in paths:
                assert any(p == m or p.startswith(m.rstrip("/") + "/") for m in mounts), f"{group}: {p}"


# --- the Dockerfile -------------------------------------------------------------------


def dockerfile_lines() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = (ROOT / "infra" / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return [line.strip() for line in "\n".join(lines).replace("\\\n", " ").splitlines() if line.strip()]


def dockerfile_instructions(name: str) -> list[str]:
    return [line.split(None, 1)[1] for line in dockerfile_lines() if line.split(None, 1)[0].upper() == name]


def dockerfile_args() -> dict[str, str]:
    return dict((a.split("=", 1) + [""])[:2] for a in dockerfile_instructions("ARG"))


def copied_folders() -> set[str]:
    """What the COPY instructions take from the build context (the repo root)."""
    out = set()
    for args in dockerfile_instructions("COPY"):
        out.update(a for a in args.split()[:-1] if not a.startswith("--"))
    return out


def test_dockerfile_base_is_the_pinned_ray_on_the_targeted_python():
    base = dockerfile_args()["BASE"]
    assert dockerfile_instructions("FROM") == ["${BASE}"]
    assert base == f"rayproject/ray:{ray.__version__}-{PY_TAG}", base
    major, minor = int(PY_TAG[2]), int(PY_TAG[3:])
    assert (major, minor) == sys.version_info[:2]  # the Python the tests run on, as the image's
    assert PYPROJECT["project"]["requires-python"] == f">={major}.{minor}"
    assert f"ray[data,serve]=={ray.__version__}" in PYPROJECT["project"]["dependencies"]
    # The GPU build named in the file's header: Ray's -gpu tag of the same release, an extra that exists.
    text = (ROOT / "infra" / "Dockerfile").read_text(encoding="utf-8").replace("\\\n#", "")
    gpu_build = next(line for line in text.splitlines() if "-gpu" in line and "docker build" in line)
    assert f"BASE=rayproject/ray:{ray.__version__}-{PY_TAG}-gpu" in gpu_build
    extras = re.search(r"EXTRAS=\[([\w,]+)\]", gpu_build)
    assert extras, f"{gpu_build}: the GPU image needs the neural extra (--build-arg EXTRAS=[neural])"
    extras = extras.group(1).split(",")
    assert set(extras) <= set(PYPROJECT["project"]["optional-dependencies"]) and "neural" in extras
    assert f"songfarm:{VERSION}-gpu" in gpu_build


def test_dockerfile_installs_the_package_and_runs_commands_it_installs():
    copied = copied_folders()
    package_dirs = set(PYPROJECT["tool"]["setuptools"]["package-dir"].values())
    assert {"pyproject.toml", PYPROJECT["project"]["readme"]} | package_dirs <= copied, copied
    assert all((ROOT / c).exists() for c in copied)
    (run,) = dockerfile_instructions("RUN")
    assert re.search(r'pip install --no-cache-dir "?\.(\$\{EXTRAS\})?"?( |$)', run), run
    # Every command the image runs (RUN, CMD, ENTRYPOINT) is a console script or a module that exists.
    commands = [run] + dockerfile_instructions("CMD") + dockerfile_instructions("ENTRYPOINT")
    for command in commands:
        for part in re.split(r"&&|;|\|\|", command):
            words = shlex.split(part.strip().strip("[]").replace('", "', " ")) if part.strip() else []
            if not words:
                continue
            if words[0] in ("python", "python3") and words[1:2] == ["-m"]:
                importlib.util.find_spec(words[2]) or pytest.fail(f"no module {words[2]}")
            elif words[0] not in ("pip", "ray"):
                assert words[0] in SCRIPTS, f"{part.strip()}: {words[0]} is not a console script"
                from songfarm.jobs.cli import build_parser

                with pytest.raises(SystemExit) as done:  # `songfarm --help` as the build runs it
                    build_parser().parse_args(words[1:] or ["--help"])
                assert done.value.code == 0
