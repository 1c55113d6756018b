"""The Serve settings file, without Ray: the render settings come through the same loader
as a job file's, with the same defaults, and every problem reads FILE:LINE: field: message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from songfarm.jobs.jobfile import load_job
from songfarm.models.settings import CANDIDATES, MAX_ATTEMPTS, MIN_SCORE, BackendSpec, RenderSettings
from songfarm.pipelines.online.config import (ServeConfigError, ServeSettings, check_settings, deployed, fused,
                                             load_settings, main, serve_config_file, settings_from_dict,
                                             settings_to_dict)

ROOT = Path(__file__).resolve().parents[3]


def problems(path: Path) -> list[str]:
    with pytest.raises(ServeConfigError) as info:
        load_settings(path)
    return info.value.problems


def test_laptop_defaults_are_the_render_settings_defaults():
    s = load_settings()
    assert s.render == RenderSettings()
    assert (s.render.min_score, s.render.max_attempts, s.render.candidates) == (MIN_SCORE, MAX_ATTEMPTS, CANDIDATES)


def test_same_keys_mean_the_same_as_in_a_job_file(tmp_path):
    keys = ("backends: {generator: {name: synth, options: {stems: true}}}\n"
            "min_score: 0.6\nmax_attempts: 4\ncandidates: 2\nformat: wav\nsample_rate: 48000\nstems: true\n"
            "midi: false\ncalibration_prompts: [a solo piano ballad, heavy metal]\n")
    serve = tmp_path / "serve.yaml"
    serve.write_text(keys)
    job = tmp_path / "job.yaml"
    job.write_text("backends: {generator: {name: synth, options: {stems: true}}}\ndefaults:\n"
                   + "".join(f"  {line}\n" for line in keys.splitlines()[1:]) + "tracks:\n  - {id: a, prompt: x}\n")
    assert load_settings(serve).render == load_job(job).settings


def test_gpu_profile_calibration_prompts_reach_the_clap_verifier():
    s = load_settings(ROOT / "cluster" / "serve_gpu.yaml")
    assert s.render.backends["verifier"] == BackendSpec("clap", {"checkpoint": "/models/larger_clap_music"})
    assert s.render.stage_options("verifier")["calibration_prompts"] == s.render.calibration_prompts
    assert len(s.render.calibration_prompts) == 6 and s.render.max_attempts == MAX_ATTEMPTS


def test_every_problem_is_reported_with_its_line(tmp_path):
    path = tmp_path / "serve.yaml"
    path.write_text("""\
min_score: 2
max_atempts: 4
backends:
  mixer: {name: x}
  generator: {name: synth, options: {nope: 1}}
calibration_prompts: job
limits: {max_duration_s: 9000}
deployments:
  generator: {max_queued_requests: -1, max_batch_sise: 4}
  ingress:
    autoscaling: {min_replicas: 0, max_replicas: 2}
port: [8000]
""")
    f = str(path)
    assert problems(path) == [
        f"{f}:1: min_score: must be a verifier score in [0, 1] (2)",
        f"{f}:2: max_atempts: unknown setting; did you mean 'max_attempts'?",
        f"{f}:4: backends.mixer: unknown stage (known: planner, generator, verifier)",
        f"{f}:5: backends.generator.options.nope: unknown option of 'synth' (known: soundfont, sample_rate, stems, "
        "target_lufs, true_peak_db) (1)",
        f"{f}:6: calibration_prompts: `job` (a job's own prompts) means something only in a job file; list the "
        "prompts ('job')",
        f"{f}:7: limits: durations must satisfy 2 ≤ min_duration_s ≤ max_duration_s ≤ 600 ('2.0..9000 s')",
        f"{f}:9: deployments.generator.max_batch_sise: unknown setting; did you mean 'max_batch_size'?",
        f"{f}:9: deployments.generator.max_queued_requests: must be an integer ≥ 0 (a bounded queue) (-1)",
        f"{f}:11: deployments.ingress.autoscaling.min_replicas: the ingress must stay up to answer (≥ 1) (0)",
        f"{f}:12: port: must be an integer in [0, 65535] ([8000])",
    ]


def test_one_problem_is_one_line_for_the_command_line(tmp_path, capsys):
    path = tmp_path / "serve.yaml"
    path.write_text("port: 8000\ndeployments: {planner: {num_cpus: -1}}\n")
    assert main([str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"songfarm: error: {path}:2: deployments.planner.num_cpus: must be a number ≥ 0 (-1)"


def test_yaml_errors_and_hostile_files_are_placed(tmp_path):
    path = tmp_path / "serve.yaml"
    path.write_text("port: [8000\n")
    assert problems(path)[0].startswith(f"{path}:2: yaml: invalid YAML: while parsing a flow sequence")
    path.write_text('a: &a ["x", "x", "x", "x", "x", "x", "x", "x"]\n'
                    + "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 8)}]\n" for p, c in zip("abcdefgh", "bcdefghi")))
    [problem] = problems(path)
    assert "too many aliases" in problem
    path.write_bytes(b"host: caf\xe9\n")
    assert problems(path) == [f"{path}:1: encoding: not UTF-8 text: byte 0xe9 at offset 9; save the file as UTF-8"]


def test_an_empty_file_is_all_defaults(tmp_path):
    path = tmp_path / "serve.yaml"
    path.write_text("# nothing set\n")
    assert load_settings(path) == ServeSettings()


def test_serve_args_round_trip_through_the_generated_config():
    s = load_settings(ROOT / "cluster" / "serve_gpu.yaml")
    args = serve_config_file(s)["applications"][0]["args"]
    assert set(args) >= {"backends", "min_score", "max_attempts", "calibration_prompts", "deployments"}
    assert settings_from_dict(yaml.safe_load(yaml.safe_dump(args)), "Serve application args") == s


def test_generated_files_match_the_gpu_profile():
    expected = serve_config_file(load_settings(ROOT / "cluster" / "serve_gpu.yaml"))
    deploy = yaml.safe_load((ROOT / "cluster" / "serve_deploy.yaml").read_text())
    service = yaml.safe_load((ROOT / "cluster" / "rayservice.yaml").read_text())
    assert deploy == expected, "regenerate: python -m songfarm.pipelines.online.config cluster/serve_gpu.yaml"
    assert yaml.safe_load(service["spec"]["serveConfigV2"]) == expected


def test_dict_settings_report_every_problem_without_showing_keys():
    with pytest.raises(ServeConfigError) as info:
        settings_from_dict({"min_score": 2, "api_kyes": "sk-secret-1", "api_keys": 7}, "Serve application args")
    text = str(info.value)
    assert text.startswith("3 problems in Serve application args:\n") and "sk-secret" not in text
    assert "  Serve application args: api_kyes: unknown setting; did you mean 'api_keys'?" in text
    assert "  Serve application args: api_keys: must be a list of text (values not shown)" in text


def test_default_candidates_must_fit_the_request_limit():
    with pytest.raises(ServeConfigError, match=r"candidates: more than limits.max_candidates=4 \(5\)"):
        settings_from_dict({"candidates": 5})


def test_check_settings_checks_settings_changed_in_code():
    s = load_settings()
    s.deployments["generator"].max_batch_size = 64
    with pytest.raises(ServeConfigError, match="deployments.generator.max_batch_size: larger than"):
        check_settings(s)


def test_settings_to_dict_has_no_keys():
    s = settings_from_dict({"api_keys": ["sk-test-1"]})
    assert "api_keys" not in settings_to_dict(s) and "sk-test-1" not in repr(s)


def test_stage_layout_follows_the_stages_resources():
    laptop = load_settings()
    assert laptop.stage_layout == "auto" and fused(laptop)  # no stage asks for a GPU
    assert [d["name"] for d in serve_config_file(laptop)["applications"][0]["deployments"]] == ["Ingress"]
    gpu = settings_from_dict({"deployments": {"generator": {"num_gpus": 1}}})
    assert not fused(gpu) and deployed(gpu) == ("ingress", "planner", "generator", "verifier")
    assert fused(settings_from_dict({"stage_layout": "fused", "deployments": {"generator": {"num_gpus": 1}}}))
    split = settings_from_dict({"stage_layout": "split"})
    assert not fused(split) and settings_to_dict(split)["stage_layout"] == "split"
    assert "stage_layout" not in settings_to_dict(laptop)  # auto, the default: generated files stay as they were
    assert settings_from_dict(yaml.safe_load(yaml.safe_dump(settings_to_dict(laptop)))) == laptop


def test_bad_stage_layout_names_the_choices(tmp_path):
    path = tmp_path / "serve.yaml"
    path.write_text("stage_layout: together\n")
    assert problems(path) == [f"{path}:1: stage_layout: must be one of auto, fused, split ('together')"]
