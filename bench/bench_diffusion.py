"""Benchmark: the `diffusion` generator through the farm vs a plain loop over the pipeline.

    python bench/bench_diffusion.py                      # on a GPU: Stable Audio Open sizes, random weights
    python bench/bench_diffusion.py --tracks 32 --batch 8 --steps 50 --duration 30
    python bench/bench_diffusion.py --toy --tracks 4     # tiny weights on the CPU: checks the benchmark runs

Weights do not change speed, so the pipeline is built from the real architecture's configs
(Stable Audio Open 1.0: a 24-layer 1536-wide DiT, T5-base, the Oobleck VAE) with random
weights and saved with save_pretrained, then loaded by both sides from that folder.

Same run, same tracks, same steps and seeds, measured one after the other:

- loop: the baseline a studio would write: `StableAudioPipeline.from_pretrained`, then one
  pipeline call per take, one prompt at a time;
- generator: songfarm's DiffusionGenerator in this process, `generate_batch` over the
  tracks `--batch` at a time (batching alone, no Ray);
- farm: the whole job through Ray Data (rules planner → diffusion generator pool → features
  verifier pool → sink), the generator actors asking for one GPU each.

Prints tracks per hour, wall time, GPU utilisation (mean of nvidia-smi samples) and peak GPU
memory for each, with the ratios to the loop, and writes bench/results/diffusion.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # neural_fixtures: the tiny pipeline and the char-level T5 tokenizer


def build_pipeline(path: Path, toy: bool, fp16: bool) -> Path:
    """Stable Audio Open's architecture (or the tests' toy one) with random weights, saved."""
    import neural_fixtures as nf

    if toy:
        return nf.save_stable_audio(path, window_s=8.0)  # 2 kHz, an 8-s window: longer tracks go by sections
    import torch
    from diffusers import (AutoencoderOobleck, CosineDPMSolverMultistepScheduler, StableAudioDiTModel,
                           StableAudioPipeline, StableAudioProjectionModel)
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    dtype = torch.float16 if fp16 else torch.float32
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):  # fast random init on the GPU
        transformer = StableAudioDiTModel()  # the defaults are Stable Audio Open 1.0's: 1024 latents ≈ 47.5 s
        vae = AutoencoderOobleck()  # 44.1 kHz stereo, hop 2048, 64 latent channels
        text_encoder = T5EncoderModel(T5Config(vocab_size=32128, d_model=768, d_kv=64, d_ff=3072, num_layers=12,
                                               num_heads=12, decoder_start_token_id=0))  # t5-base
        projection = StableAudioProjectionModel(text_encoder_dim=768, conditioning_dim=768, min_value=0,
                                                max_value=512)
    scheduler = CosineDPMSolverMultistepScheduler(sigma_min=0.3, sigma_max=500, solver_order=2,
                                                  prediction_type="v_prediction", sigma_data=1.0,
                                                  sigma_schedule="exponential")
    pipe = StableAudioPipeline(vae=vae, text_encoder=text_encoder, projection_model=projection,
                               tokenizer=nf.t5_tokenizer(max_length=128), transformer=transformer,
                               scheduler=scheduler).to(dtype=dtype)
    pipe.save_pretrained(path)
    return path


class GpuMonitor:
    """Samples nvidia-smi (utilisation %, memory MiB) every 0.5 s while a phase runs."""

    def __init__(self):
        self.util: list[float] = []
        self.mem: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self.available = shutil.which("nvidia-smi") is not None

    def _poll(self):
        while not self._stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
                                      "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=5)
                util, mem = out.stdout.strip().splitlines()[0].split(",")
                self.util.append(float(util))
                self.mem.append(float(mem))
            except Exception:  # a missed sample is not worth failing the benchmark for
                pass
            self._stop.wait(0.5)

    def __enter__(self):
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self.available:
            self._thread.join()

    def summary(self) -> dict:
        if not self.util:
            return {"gpu_util_mean_pct": None, "gpu_mem_peak_mib": None, "gpu_samples": 0}
        return {"gpu_util_mean_pct": round(sum(self.util) / len(self.util), 1),
                "gpu_mem_peak_mib": max(self.mem), "gpu_samples": len(self.util)}


def plans_for(requests):
    from songfarm.models.factory import make_planner

    planner = make_planner("rules")
    return [planner.plan(r) for r in requests]


def run_loop(ckpt: Path, requests, plans, steps: int, device: str) -> dict:
    """The baseline: the diffusers pipeline, one prompt (one take) per call."""
    import torch
    from diffusers import StableAudioPipeline

    from songfarm.models.generators.prompt_text import caption
    from songfarm.models.request import take_seed

    dtype = torch.float16 if device == "cuda" else torch.float32
    pipe = StableAudioPipeline.from_pretrained(ckpt, local_files_only=True, dtype=dtype).to(device)
    pipe.set_progress_bar_config(disable=True)
    window_s = pipe.transformer.config.sample_size * pipe.vae.hop_length / pipe.vae.config.sampling_rate
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with GpuMonitor() as gpu:
        t0 = time.perf_counter()
        for request, plan in zip(requests, plans):
            for c in range(request.candidates):
                g = torch.Generator("cpu").manual_seed(take_seed(request.seed, 0, c))
                pipe(caption(plan), audio_end_in_s=min(plan.planned_s, window_s), num_inference_steps=steps,
                     generator=g, output_type="np")
        if device == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None
    del pipe
    if device == "cuda":
        torch.cuda.empty_cache()
    return {"wall_s": wall, "torch_peak_mib": peak, **gpu.summary()}


def run_generator(ckpt: Path, requests, plans, steps: int, batch: int, device: str) -> dict:
    """songfarm's generator in this process: generate_batch over `batch` tracks at a time."""
    import torch

    from songfarm.models.factory import make_generator
    from songfarm.models.request import take_seed

    gen = make_generator("diffusion", {"checkpoint": str(ckpt), "steps": steps, "device": device,
                                       "max_batch": batch * max(r.candidates for r in requests)})
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with GpuMonitor() as gpu:
        t0 = time.perf_counter()
        for start in range(0, len(requests), batch):
            work = [(p, r, [take_seed(r.seed, 0, c) for c in range(r.candidates)], 0)
                    for r, p in zip(requests[start:start + batch], plans[start:start + batch])]
            for result in gen.generate_batch(work):
                if isinstance(result, Exception):
                    raise result
        wall = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None
    out = {"wall_s": wall, "torch_peak_mib": peak, "pipeline_calls": gen.calls, "oom_splits": gen.splits,
           **gpu.summary()}
    del gen
    if device == "cuda":
        torch.cuda.empty_cache()
    return out


def run_farm(ckpt: Path, requests, steps: int, batch: int, device: str, out_dir: str) -> dict:
    """The job through Ray Data actor pools into a local sink."""
    from songfarm.cluster.connect import connect, disconnect
    from songfarm.models.job import Job
    from songfarm.models.settings import BackendSpec, RenderSettings, StageResources
    from songfarm.pipelines.farm.driver import Farm, FarmConfig
    from songfarm.pipelines.delivery.sink import Sink
    from songfarm.pipelines.delivery.storage import open_storage

    gpus = 1.0 if device == "cuda" else 0.0
    cpus = os.cpu_count() or 2
    backends = {"planner": BackendSpec("rules"),
                "generator": BackendSpec("diffusion", {
                    "checkpoint": str(ckpt), "steps": steps, "device": device,
                    "max_batch": batch * max(r.candidates for r in requests)}),
                "verifier": BackendSpec("features")}
    job = Job(name="bench-diffusion", output=out_dir, tracks=list(requests),
              settings=RenderSettings(backends=backends, max_attempts=1),
              resources={"planner": StageResources(1, 1, max(batch, 4), 0.5),
                         "generator": StageResources(1, 1, batch, 1.0, gpus),
                         "verifier": StageResources(1, max(1, min(8, cpus - 2)), 1, 1.0)})
    cluster = connect(num_cpus=cpus)
    try:
        sink = Sink(open_storage(f"{out_dir}/{job.name}"), job.name, job.settings.delivery)
        with GpuMonitor() as gpu:
            t0 = time.perf_counter()
            result = Farm(job, sink, FarmConfig(progress_s=30.0, progress_bars=False)).run(job.tracks)
            wall = time.perf_counter() - t0
    finally:
        disconnect(cluster)
    return {"wall_s": wall, "ray_start_s": cluster.start_s, "counts": result.counts,
            "stage_wall_s": result.stage_s, "torch_peak_mib": None, **gpu.summary(),
            "resources": {s: dataclasses.asdict(r) for s, r in job.resources.items()}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tracks", type=int, default=16)
    p.add_argument("--duration", type=float, default=30.0, help="seconds per track (≤ 47 s: one window)")
    p.add_argument("--candidates", type=int, default=1)
    p.add_argument("--steps", type=int, default=50, help="denoising steps (Stable Audio's default is 100)")
    p.add_argument("--batch", type=int, default=8, help="tracks per generator call (farm batch_size)")
    p.add_argument("--toy", action="store_true", help="tiny random pipeline on the CPU (checks the benchmark)")
    p.add_argument("--skip-farm", action="store_true", help="loop and generator only (no Ray)")
    p.add_argument("--json", default=str(ROOT / "bench" / "results" / "diffusion.json"))
    args = p.parse_args(argv)

    import torch

    from songfarm.models.request import TrackRequest

    device = "cuda" if torch.cuda.is_available() and not args.toy else "cpu"
    work = Path(tempfile.mkdtemp(prefix="songfarm-bench-diffusion-"))
    t0 = time.perf_counter()
    ckpt = build_pipeline(work / "stable-audio-random", args.toy, fp16=device == "cuda")
    build_s = time.perf_counter() - t0
    prompts = ["a relaxed lo-fi hip hop beat with electric piano", "an epic orchestral trailer with brass",
               "a driving rock song with distorted guitars", "a calm ambient piece with soft pads"]
    requests = [TrackRequest.from_dict({"id": f"b{i}", "prompt": prompts[i % len(prompts)], "seed": i,
                                        "duration_s": args.duration, "candidates": args.candidates})
                for i in range(args.tracks)]
    plans = plans_for(requests)
    print(f"bench: {args.tracks} tracks × {args.duration:g} s × {args.candidates} candidate(s), {args.steps} steps, "
          f"batch {args.batch}, device {device} ({torch.cuda.get_device_name() if device == 'cuda' else 'CPU'}); "
          f"pipeline built in {build_s:.0f} s", flush=True)

    results = {"loop": run_loop(ckpt, requests, plans, args.steps, device)}
    print(f"bench: loop {results['loop']['wall_s']:.1f} s", flush=True)
    results["generator"] = run_generator(ckpt, requests, plans, args.steps, args.batch, device)
    print(f"bench: generator {results['generator']['wall_s']:.1f} s", flush=True)
    if not args.skip_farm:
        results["farm"] = run_farm(ckpt, requests, args.steps, args.batch, device, str(work / "out"))
        print(f"bench: farm {results['farm']['wall_s']:.1f} s", flush=True)

    base = results["loop"]["wall_s"]
    print(f"\n{'':<10} {'wall s':>8} {'tracks/h':>9} {'× loop':>7} {'GPU util %':>10} {'GPU MiB peak':>12}")
    for name, r in results.items():
        r["tracks_per_hour"] = 3600 * args.tracks / r["wall_s"]
        r["speedup_vs_loop"] = base / r["wall_s"]
        util = "-" if r.get("gpu_util_mean_pct") is None else f"{r['gpu_util_mean_pct']:.0f}"
        mem = "-" if r.get("gpu_mem_peak_mib") is None else f"{r['gpu_mem_peak_mib']:.0f}"
        print(f"{name:<10} {r['wall_s']:>8.1f} {r['tracks_per_hour']:>9.0f} {r['speedup_vs_loop']:>7.2f} "
              f"{util:>10} {mem:>12}")
    if "farm" in results:
        print(f"(farm excludes Ray start-up: {results['farm']['ray_start_s']:.1f} s; it also plans and verifies)")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "device": device, "build_s": build_s, "results": results},
                              indent=2, default=str))
    print(f"wrote {out}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
