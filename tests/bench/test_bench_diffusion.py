"""bench/bench_diffusion.py at toy size on the CPU: the tests' tiny Stable Audio and CLAP models,
two denoising steps, one timed call per configuration, the CLAP verifier in a second thread.
The GPU fields are "n/a"/None here; the CUDA test checks that NVML (or nvidia-smi) fills them."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
import types
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_diffusion.py"
TOY = ["--toy", "--batches", "1,2", "--dtypes", "bf16", "--calls", "1", "--clap-mode", "threads"]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_diffusion", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.mark.slow  # ~20 s on 2 cores, most of it importing torch, diffusers and transformers
def test_toy_run_writes_every_measure(bench, tmp_path, capsys):
    out = tmp_path / "diffusion.json"
    only = "naive,bf16-b1,bf16-b2,bf16-b2-mixed,bf16-b2-compile,clap-beside"
    assert bench.main(TOY + ["--device", "cpu", "--only", only, "--max-seconds", "300", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["size"] == "toy" and doc["device"] == "cpu" and doc["skipped"] == [] and doc["complete"]
    by_name = {c["name"]: c for c in doc["configs"]}
    assert list(by_name) == only.split(","), [c.get("error") for c in doc["configs"]]
    assert all(c["status"] == "ok" for c in doc["configs"]), [c.get("error") for c in doc["configs"]]
    for name in ("naive", "bf16-b1", "bf16-b2", "bf16-b2-mixed", "bf16-b2-compile"):
        c = by_name[name]
        for field in ("load_s", "call_s", "per_take_s", "tracks_per_gpu_hour", "job100_s",
                      "job100_tracks_per_gpu_hour", "speedup_vs_naive", "calls_timed", "takes"):
            assert c[field] is not None and c[field] > 0, (name, field)
        # per_take_s is rounded to 4 digits in the JSON: a toy take of ~0.04 s carries ±0.1 % of its own
        assert c["tracks_per_gpu_hour"] == pytest.approx(3600 / c["per_take_s"], rel=1e-2)
        # no GPU: the NVML fields say so
        assert c["gpu"]["source"] == "n/a" and c["gpu"]["busy_fraction"] is None and c["gpu"]["samples"] == 0
        assert c["torch_peak_mib"] is None
    assert by_name["naive"]["speedup_vs_naive"] == 1.0 and by_name["naive"]["pipeline_calls"] == 1
    b2 = by_name["bf16-b2"]
    assert b2["batch"] == 2 and b2["takes"] == 2 and b2["pipeline_calls"] == 1  # one call for the batch
    assert b2["dtype_effective"] == "fp32"  # half precision is not used on the CPU
    assert b2["job100_s"] == pytest.approx(b2["load_s"] + b2["warmup_s"] + 49 * b2["call_s"], rel=1e-2, abs=1e-2)
    mixed = by_name["bf16-b2-mixed"]
    assert len(mixed["track_lengths_s"]) == 2 and mixed["pipeline_calls"] >= 2  # own tempo, own length, own call
    assert by_name["bf16-b2-compile"]["compile"] == "regional"
    clap = by_name["clap-beside"]
    assert clap["mode"] == "threads" and clap["alone"]["takes"] == clap["with_clap"]["takes"] == clap["takes"]
    assert clap["tracks_per_gpu_hour"] > 0 and clap["combined_vs_alone"] > 0
    assert clap["with_clap"]["clap_s_per_take"] > 0 and clap["gpu"]["busy_fraction"] is None
    assert doc["gpu_monitor"]["source"] == "n/a"
    assert doc["best"] in by_name and doc["target"]["met"] is None and doc["target"]["busy_fraction"] is None
    assert doc["target"]["speedup_min"] == 2.0 and doc["target"]["busy_min"] == 0.85
    assert "ceil(100 / batch)" in doc["extrapolation"]
    printed = capsys.readouterr().out
    assert "tracks/GPU-h" in printed and "n/a (no GPU)" in printed and "clap-beside: +clap threads" in printed


def test_errors_are_recorded_and_the_budget_skips(bench, tmp_path):
    out = tmp_path / "diffusion.json"
    assert bench.main(["--toy", "--device", "cpu", "--batches", "1", "--dtypes", "bf16", "--calls", "1",
                       "--only", "bf16-b1,bf16-b1-compile", "--compile-backend", "no-such-backend",
                       "--json", str(out)]) == 0
    configs = {c["name"]: c for c in json.loads(out.read_text())["configs"]}
    assert configs["bf16-b1"]["status"] == "ok"
    assert configs["bf16-b1-compile"]["status"] == "error" and "no-such-backend" in configs["bf16-b1-compile"]["error"]

    assert bench.main(["--toy", "--device", "cpu", "--only", "naive", "--max-seconds", "0", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["configs"] == [] and [s["name"] for s in doc["skipped"]] == ["naive"]
    assert "time budget" in doc["skipped"][0]["reason"]


def test_compile_option_compiles_the_denoiser_and_keeps_the_audio(tmp_path):
    """The generator's `compile` option (the bench's compiled configuration) on the tiny pipeline,
    through the "eager" backend: dynamo captures the graph, no C++ is built."""
    import numpy as np

    import neural_fixtures as nf
    from songfarm.models.factory import make_generator
    from songfarm.models.generators.diffusion import DiffusionConfig
    from songfarm.models.request import TrackRequest

    assert DiffusionConfig(compile="regional", compile_mode="max-autotune").compile == "regional"
    for bad in ({"compile": "yes"}, {"compile_mode": "fastest"}, {"compile_backend": ""}):
        with pytest.raises(ValueError):
            DiffusionConfig(**bad)

    ckpt = nf.save_stable_audio(tmp_path / "sa", window_s=2.0)
    options = {"checkpoint": str(ckpt), "steps": 2, "sample_rate": 8000, "device": "cpu"}
    request = TrackRequest.from_dict({"id": "t", "prompt": "a calm piano piece", "seed": 3})
    plan = nf.toy_plan((1,))
    plain = make_generator("diffusion", options).generate(plan, request, [3])[0]
    for how in ("full", "regional"):  # nn.Module.compile marks the modules; the graph is captured at the first call
        gen = make_generator("diffusion", {**options, "compile": how, "compile_backend": "eager"})
        blocks = gen.pipe.transformer.transformer_blocks
        compiled = [m for m in (gen.pipe.transformer, *blocks) if m._compiled_call_impl is not None]
        assert compiled == (list(blocks) if how == "regional" else [gen.pipe.transformer])
    take = gen.generate(plan, request, [3])[0]
    assert np.allclose(take.audio, plain.audio, atol=1e-4)


def test_gpu_monitor_busy_fraction_from_nvml(bench, monkeypatch):
    """The sampling thread, fed by a stand-in pynvml (what nvidia-ml-py's calls return)."""
    calls = {"uuid": []}
    fake = types.ModuleType("pynvml")
    fake.nvmlInit = lambda: None
    fake.nvmlDeviceGetHandleByUUID = lambda uuid: calls["uuid"].append(uuid) or "handle"
    fake.nvmlDeviceGetHandleByIndex = lambda index: pytest.fail("the UUID is known")
    utils = iter([100.0, 80.0] * 1000)
    fake.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=next(utils))
    fake.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=3 * 2**30)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(bench, "_cuda_identity", lambda device: ("GPU-1234", 0))
    with bench.GpuMonitor("cuda:0", interval_s=0.01) as gpu:
        time.sleep(0.2)
    s = gpu.summary()
    assert calls["uuid"] == ["GPU-1234"] and s["source"] == "nvml" and s["samples"] >= 4
    assert 0.85 <= s["busy_fraction"] <= 1.0 and s["util_min_pct"] == 80.0 and s["mem_peak_mib"] == 3072


def test_gpu_monitor_falls_back_to_nvidia_smi(bench, monkeypatch, tmp_path):
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\nwhile true; do echo '90, 2048'; sleep 0.02; done\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setitem(sys.modules, "pynvml", None)  # not installed
    monkeypatch.setattr(bench, "_cuda_identity", lambda device: ("", 0))
    with bench.GpuMonitor("cuda:0", interval_s=0.02) as gpu:
        time.sleep(0.3)
    s = gpu.summary()
    assert s["source"] == "nvidia-smi" and s["samples"] >= 2 and s["busy_fraction"] == 0.9
    assert s["mem_peak_mib"] == 2048 and "pynvml" in s["note"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_toy_run_on_the_gpu_samples_utilisation(bench, tmp_path):
    out = tmp_path / "diffusion.json"
    assert bench.main(TOY + ["--device", "cuda", "--only", "naive,bf16-b2", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    for c in doc["configs"]:
        assert c["status"] == "ok", c.get("error")
        assert c["torch_peak_mib"] > 0
        if c["gpu"]["source"] != "n/a":  # pynvml or nvidia-smi is there
            assert c["gpu"]["samples"] > 0 and 0 <= c["gpu"]["busy_fraction"] <= 1
