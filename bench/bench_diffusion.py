"""Benchmark: the `diffusion` generator on one GPU — batch size, dtype, torch.compile and the CLAP
verifier beside it — against a naive diffusers loop, in tracks per GPU-hour.

    python bench/bench_diffusion.py                     # --size real on a GPU: fits ~8 minutes on one H200
    python bench/bench_diffusion.py --toy               # tiny models on the CPU: checks the benchmark (~20 s)
    python bench/bench_diffusion.py --only naive,bf16-b8,clap-beside --max-seconds 300

Weights do not change speed, so every model is built at its real architecture size from its
configs with random weights, saved with save_pretrained and loaded back through the same
from_pretrained(local_files_only=True) code a real checkpoint goes through; nothing is
downloaded. `--size real`: Stable Audio Open 1.0 (a 24-layer 1536-wide DiT, T5-base, the Oobleck
VAE at 44.1 kHz) and LAION's larger CLAP music model (HTSAT-base + RoBERTa-base) through the
`clap` verifier's transformers loader. `--size toy`: the tests' tiny versions (neural_fixtures).

The configurations, run one after the other in this process (in this order, which is also
their priority when the time budget runs out):

- naive: the baseline a studio would write — `StableAudioPipeline.from_pretrained` in fp32,
  then one pipeline call per track (batch 1, no compile);
- <dtype>-b<N>: songfarm's DiffusionGenerator (`generate_batch`, N tracks a call: `max_batch`),
  fp32 at batch 1 (the generator's own overhead against the naive loop), the low-precision dtype
  (bf16) at every batch size, the best batch compiled (`compile`, regional by default), the
  other dtypes (fp16, fp32) at the largest batch;
- <dtype>-b<N>-mixed: the same generator on prompts that keep their own tempo, so their lengths
  differ: the generator groups one length per pipeline call, which is what a real job gets;
- clap-beside: the best generator configuration and the `clap` verifier sharing the GPU — two
  Ray actors asking for 0.75 and 0.25 of it (two threads in this process without Ray, or on the
  CPU) — the takes flow from the generator to the verifier while the next batch renders.
  Reported: the generator alone, then with the verifier, in the same actors.

Each configuration: its model loaded (timed), one warm-up call (timed: it holds the compile),
then `--calls` timed calls between torch.cuda.synchronize()s while a background thread samples
NVML (pynvml, from nvidia-ml-py; nvidia-smi when pynvml is missing; "n/a" without a GPU) every
0.1 s: utilisation.gpu, the share of time a kernel ran, averaged over the calls, is the busy
fraction. How tracks per GPU-hour are extrapolated (also written into the JSON):

    per_take_s            = timed wall / (calls × batch)            one take per track (1 candidate)
    tracks_per_gpu_hour   = 3600 / per_take_s                       steady state
    job100_s              = load_s + warmup_s + (ceil(100 / batch) − 1) × call_s
    job100 tracks/GPU-h   = 100 × 3600 / job100_s                   a 100-track job, load and compile paid once

Stable Audio always denoises its whole ~47.5 s window (audio_end_in_s only trims the output), so
a 30-s track costs one window. The target printed at the end: the best configuration renders at
least 2× the naive loop's tracks per GPU-hour with the GPU busy at least 85 % of the time.

Every configuration runs in try/except: an error (bf16 unsupported, a compile failure, out of
memory) is recorded in the JSON and the next one runs. `--max-seconds` bounds the whole run: a
configuration whose estimated time no longer fits is skipped (and listed), and timed calls stop
early when the budget runs out. One table is printed; the JSON goes to bench/results/diffusion.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # neural_fixtures: the tiny models and the offline tokenizers

JOB_TRACKS = 100  # the job the GPU-hour figures are extrapolated to
TARGET_SPEEDUP = 2.0
TARGET_BUSY = 0.85
PROMPTS = ("a relaxed lo-fi hip hop beat with electric piano", "an epic orchestral trailer with brass",
           "a driving rock song with distorted guitars", "a calm ambient piece with soft pads",
           "a twelve-bar blues with harmonica and slide guitar", "an upbeat jazz trio with walking bass",
           "a dreamy synthwave track with arpeggios", "a folk song with acoustic guitar and fiddle")
SIZES = {  # per size: defaults of the options that differ
    "real": {"steps": 50, "duration": 30.0, "calls": 3, "max_seconds": 420.0, "compile_backend": "inductor",
             "sample_rate": 44100, "compile_guess_s": 90.0, "ray_guess_s": 45.0},
    "toy": {"steps": 2, "duration": 4.0, "calls": 1, "max_seconds": 45.0, "compile_backend": "eager",
            "sample_rate": 8000, "compile_guess_s": 5.0, "ray_guess_s": 20.0},
}


@dataclass
class Spec:
    """One configuration to measure."""

    name: str
    kind: str  # "naive", "generator" or "clap"
    batch: int = 1
    dtype: str = "fp32"
    compile: str = "off"
    mixed: bool = False  # prompts keep their own tempo: lengths differ (a real job's mix)


# ---- the models, built offline -------------------------------------------------------------

def _params(module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def build_stable_audio(path: Path, size: str, device: str) -> dict:
    """Stable Audio Open 1.0's architecture (or the tests' toy one), random weights, saved in fp32."""
    import torch

    import neural_fixtures as nf

    t0 = time.perf_counter()
    if size == "toy":
        nf.save_stable_audio(path, sampling_rate=2000, window_s=4.0)
        return {"pipeline": "StableAudioPipeline (toy)", "build_s": time.perf_counter() - t0}
    from diffusers import (AutoencoderOobleck, CosineDPMSolverMultistepScheduler, StableAudioDiTModel,
                           StableAudioPipeline, StableAudioProjectionModel)
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    with torch.device(device):  # random init on the GPU is seconds, not minutes
        transformer = StableAudioDiTModel()  # the defaults are Stable Audio Open 1.0's: 1024 latents ≈ 47.5 s
        vae = AutoencoderOobleck()  # 44.1 kHz stereo, hop 2048, 64 latent channels
        text_encoder = T5EncoderModel(T5Config(vocab_size=32128, d_model=768, d_kv=64, d_ff=3072, num_layers=12,
                                               num_heads=12, decoder_start_token_id=0))  # t5-base
        projection = StableAudioProjectionModel(text_encoder_dim=768, conditioning_dim=768, min_value=0,
                                                max_value=512)
    scheduler = CosineDPMSolverMultistepScheduler(sigma_min=0.3, sigma_max=500, solver_order=2,
                                                  prediction_type="v_prediction", sigma_data=1.0,
                                                  sigma_schedule="exponential")
    # T5 pads every prompt to model_max_length (128, as Stable Audio's tokenizer), so a
    # character-level vocabulary costs the encoder what the real one does.
    pipe = StableAudioPipeline(vae=vae, text_encoder=text_encoder, projection_model=projection,
                               tokenizer=nf.t5_tokenizer(max_length=128), transformer=transformer,
                               scheduler=scheduler)
    params = {"transformer": _params(transformer), "text_encoder": _params(text_encoder), "vae": _params(vae),
              "projection_model": _params(projection)}
    pipe.save_pretrained(path)
    del pipe, transformer, vae, text_encoder, projection
    _free()
    return {"pipeline": "StableAudioPipeline (Stable Audio Open 1.0 architecture)", "params": params,
            "build_s": time.perf_counter() - t0}


def build_clap(path: Path, size: str, device: str) -> dict:
    """LAION's larger CLAP music architecture (HTSAT-base audio, RoBERTa-base text), random, saved."""
    import torch

    import neural_fixtures as nf

    t0 = time.perf_counter()
    if size == "toy":
        nf.save_clap(path, window_s=2)
        return {"model": "ClapModel (toy)", "build_s": time.perf_counter() - t0}
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor

    config = ClapConfig(text_config={},  # RoBERTa-base: the ClapTextConfig defaults
                        audio_config={"patch_embeds_hidden_size": 128, "depths": [2, 2, 12, 2],
                                      "num_attention_heads": [4, 8, 16, 32], "hidden_size": 1024,
                                      "enable_fusion": False},  # HTSAT-base, as larger_clap_music
                        projection_dim=512)
    torch.manual_seed(0)
    with torch.device(device):
        model = ClapModel(config).eval()
    params = {"model": _params(model)}
    features = ClapFeatureExtractor()  # 64 mel bins, 48 kHz, hop 480, 10-s windows
    ClapProcessor(feature_extractor=features, tokenizer=nf.roberta_tokenizer(max_length=77)).save_pretrained(path)
    model.save_pretrained(path)
    del model
    _free()
    return {"model": "ClapModel (HTSAT-base + RoBERTa-base, larger_clap_music architecture)", "params": params,
            "build_s": time.perf_counter() - t0}


# ---- GPU utilisation -----------------------------------------------------------------------

class GpuMonitor:
    """Samples the GPU's utilisation (the share of time a kernel ran) and memory in a thread.

    NVML through pynvml (the nvidia-ml-py package), imported only here; nvidia-smi's own loop
    when pynvml is missing; nothing ("n/a") on the CPU or without either."""

    def __init__(self, device: str, interval_s: float = 0.1):
        self.device = device
        self.interval_s = interval_s
        self.util: list[float] = []
        self.mem_mib: list[float] = []
        self.source = "n/a"
        self.note = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen | None = None
        self._t0 = self._t1 = 0.0

    def __enter__(self):
        self._t0 = time.perf_counter()
        if not self.device.startswith("cuda"):
            self.note = "no GPU"
            return self
        uuid, index = _cuda_identity(self.device)
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = None
            if uuid:
                try:
                    handle = pynvml.nvmlDeviceGetHandleByUUID(uuid)
                except Exception:
                    handle = None
            if handle is None:
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self.source = "nvml"
            self._thread = threading.Thread(target=self._poll_nvml, args=(pynvml, handle), daemon=True)
        except Exception as exc:  # not installed, or no driver library
            self.note = f"pynvml: {type(exc).__name__}: {exc}"[:200]
            smi = shutil.which("nvidia-smi")
            if smi:
                self.source = "nvidia-smi"
                which = str(index) if not os.environ.get("CUDA_VISIBLE_DEVICES") or not uuid else uuid
                self._proc = subprocess.Popen(
                    [smi, "-i", which, "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits",
                     "-lms", str(int(self.interval_s * 1000))],
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                self._thread = threading.Thread(target=self._read_smi, daemon=True)
        if self._thread is not None:
            self._thread.start()
        return self

    def _poll_nvml(self, pynvml, handle):
        while not self._stop.is_set():
            try:
                self.util.append(float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu))
                self.mem_mib.append(pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20)
            except Exception:  # a missed sample is not worth failing the benchmark for
                pass
            self._stop.wait(self.interval_s)

    def _read_smi(self):
        for line in self._proc.stdout:
            if self._stop.is_set():
                break
            try:
                util, mem = line.strip().split(",")[:2]
                self.util.append(float(util))
                self.mem_mib.append(float(mem))
            except ValueError:
                pass

    def __exit__(self, *exc):
        self._t1 = time.perf_counter()
        self._stop.set()
        if self._proc is not None:
            self._proc.terminate()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._proc is not None:
            self._proc.wait(timeout=5)

    def summary(self) -> dict:
        if not self.util:
            return {"source": "n/a" if self.source == "n/a" else self.source, "samples": 0, "busy_fraction": None,
                    "util_mean_pct": None, "util_min_pct": None, "mem_peak_mib": None,
                    "note": self.note or "no samples"}
        mean = sum(self.util) / len(self.util)
        return {"source": self.source, "samples": len(self.util), "busy_fraction": round(mean / 100, 3),
                "util_mean_pct": round(mean, 1), "util_min_pct": min(self.util),
                "mem_peak_mib": round(max(self.mem_mib)) if self.mem_mib else None, "note": self.note}


def _cuda_identity(device: str) -> tuple[str, int]:
    """(NVML UUID "GPU-…" or "", NVML index) of a torch CUDA device."""
    import torch

    dev = torch.device(device)
    index = dev.index if dev.index is not None else torch.cuda.current_device()
    uuid = ""
    try:
        uuid = "GPU-" + str(torch.cuda.get_device_properties(index).uuid)
    except Exception:
        pass
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    if visible and not uuid:  # torch's index counts the visible GPUs; NVML's counts them all
        try:
            index = int(visible.split(",")[index])
        except (ValueError, IndexError):
            pass
    return uuid, index


# ---- helpers -------------------------------------------------------------------------------

def _free() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:
        pass


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)


def _reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats(device)


def _peak_mib(device: str) -> float | None:
    if device.startswith("cuda"):
        import torch

        return round(torch.cuda.max_memory_allocated(device) / 2**20)
    return None


def _error(exc: BaseException) -> dict:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()] or [""]
    first = lines[0][:300] if len(lines) == 1 else f"{lines[0][:150]} … {lines[-1][:250]}"  # Ray: the cause last
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {"status": "error", "error": f"{type(exc).__name__}: {first}", "traceback": "".join(tb)[-3000:]}


def _r(x, nd=3):
    return None if x is None else round(float(x), nd)


def _tracks(n: int, duration: float, mixed: bool, offset: int = 0) -> list:
    """n (request, plan) pairs. Unless `mixed`, every track is 120 BPM in 4/4 so all plans have the
    same length and the generator can put a whole batch in one pipeline call."""
    from songfarm.models.factory import make_planner
    from songfarm.models.request import TrackRequest

    planner = make_planner("rules")
    out = []
    for i in range(offset, offset + n):
        row = {"id": f"b{i}", "prompt": PROMPTS[i % len(PROMPTS)], "seed": 1000 + i, "duration_s": duration,
               "candidates": 1}
        if not mixed:
            row.update(bpm=120, time_signature="4/4")
        request = TrackRequest.from_dict(row)
        out.append((request, planner.plan(request)))
    return out


def _work(tracks: list) -> list:
    from songfarm.models.request import take_seed

    return [(plan, request, [take_seed(request.seed, 0, 0)], 0) for request, plan in tracks]


def _check(results: list) -> list:
    """generate_batch's results → the takes; the first failed track raises its exception."""
    for r in results:
        if isinstance(r, Exception):
            raise r
    return [take for takes in results for take in takes]


# ---- the benchmark -------------------------------------------------------------------------

class Bench:
    def __init__(self, args, device: str, ckpt: Path, clap_ckpt: Path | None, window_s: float):
        self.args = args
        self.device = device
        self.ckpt = ckpt
        self.clap_ckpt = clap_ckpt
        self.window_s = window_s
        self.size = SIZES[args.size]
        self.deadline = args.t_start + args.max_seconds
        self.generators: dict[tuple[str, str], tuple[object, float]] = {}  # (dtype, compile) → (generator, load_s)
        self.results: list[dict] = []
        self.skipped: list[dict] = []
        self.load_s: list[float] = []

    # -- time budget --

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def estimate_s(self, spec: Spec) -> float | None:
        """Seconds a configuration should take at least (warm-up + one timed call, a load, a
        compile), from what has been measured; None when nothing comparable has been."""
        half = {"bf16": "half", "fp16": "half", "fp32": "fp32"}
        per_take = None
        for r in self.results:
            if r.get("status") != "ok" or r["kind"] not in ("naive", "generator") or r.get("mixed"):
                continue
            if half.get(r["dtype"]) != half.get(spec.dtype) or r["batch"] > max(spec.batch, 1):
                continue
            # per take at the largest measured batch not above this one (batching rarely helps less)
            if per_take is None or r["batch"] >= per_take[0]:
                per_take = (r["batch"], r["per_take_s"])
        if per_take is None:
            return None
        call = per_take[1] * spec.batch
        if spec.kind == "clap":  # warm-up, alone, with the verifier; the actors start and load (and compile)
            return 4 * call + self.size["ray_guess_s"] + (self.size["compile_guess_s"] / 2 if spec.compile != "off"
                                                          else 0.0)
        est = (1 if spec.mixed else 2) * call
        if (spec.dtype, spec.compile) not in self.generators or spec.kind == "naive":
            est += max(self.load_s, default=0.0)
        if spec.compile != "off":
            est += self.size["compile_guess_s"]
        return est

    def run(self, plan: list[Spec]) -> None:
        for spec in plan:
            est = self.estimate_s(spec)
            left = self.left()
            if left <= 0 or (est is not None and est > left):
                why = (f"time budget: {left:.0f} s left of --max-seconds {self.args.max_seconds:g}"
                       + (f", needs ~{est:.0f} s" if est is not None else ""))
                self.skipped.append({"name": spec.name, "reason": why})
                print(f"bench: skip {spec.name} ({why})", flush=True)
                continue
            t0 = time.perf_counter()
            base = {"name": spec.name, "kind": spec.kind, "batch": spec.batch, "dtype": spec.dtype,
                    "compile": spec.compile, "mixed": spec.mixed, "estimate_s": _r(est, 1)}
            try:
                if spec.kind == "naive":
                    out = self.naive(spec)
                elif spec.kind == "generator":
                    out = self.generator(spec)
                else:
                    out = self.clap_beside(spec)
                out = {"status": "ok", **out}
            except Exception as exc:  # record it and go on with the next configuration
                out = _error(exc)
                if spec.kind == "generator":
                    self.generators.pop((spec.dtype, spec.compile), None)
            _free()
            result = {**base, **out, "config_s": round(time.perf_counter() - t0, 2)}
            self.results.append(result)
            print(f"bench: {spec.name}: " + (f"{result['per_take_s']:.3f} s/take, "
                                             f"{result['tracks_per_gpu_hour']:.0f} tracks/GPU-h"
                                             if result["status"] == "ok" else result["error"])
                  + f" ({result['config_s']:.0f} s)", flush=True)

    # -- timing --

    def timed(self, call, n_calls: int) -> dict:
        """`call(i)` n_calls times between synchronizes, the GPU sampled throughout; stops early
        (after at least one) when the next call would pass the deadline."""
        times: list[float] = []
        _reset_peak(self.device)
        with GpuMonitor(self.device) as gpu:
            for i in range(n_calls):
                if times and time.perf_counter() + sum(times) / len(times) > self.deadline:
                    break
                _sync(self.device)
                t0 = time.perf_counter()
                call(i)
                _sync(self.device)
                times.append(time.perf_counter() - t0)
        return {"calls_timed": len(times), "cut_by_budget": len(times) < n_calls, "wall_s": sum(times),
                "call_times_s": [round(t, 4) for t in times], "torch_peak_mib": _peak_mib(self.device),
                "gpu": gpu.summary()}

    def rates(self, out: dict, batch: int, load_s: float, warmup_s: float | None) -> dict:
        takes = out["calls_timed"] * batch
        call_s = out["wall_s"] / out["calls_timed"]
        per_take = out["wall_s"] / takes
        first = warmup_s if warmup_s is not None else call_s
        job_s = load_s + first + (math.ceil(JOB_TRACKS / batch) - 1) * call_s
        return {**out, "takes": takes, "load_s": _r(load_s), "warmup_s": _r(warmup_s), "call_s": _r(call_s, 4),
                "per_take_s": _r(per_take, 4), "tracks_per_gpu_hour": _r(3600 / per_take, 1),
                "job100_s": _r(job_s, 3), "job100_tracks_per_gpu_hour": _r(JOB_TRACKS * 3600 / job_s, 1)}

    # -- the configurations --

    def naive(self, spec: Spec) -> dict:
        """StableAudioPipeline in fp32, one prompt per call: the loop a studio would write."""
        import torch
        from diffusers import StableAudioPipeline

        from songfarm.models.generators.prompt_text import caption
        from songfarm.models.request import take_seed

        t0 = time.perf_counter()
        pipe = StableAudioPipeline.from_pretrained(self.ckpt, local_files_only=True, dtype=torch.float32)
        pipe = pipe.to(self.device)
        pipe.set_progress_bar_config(disable=True)
        _sync(self.device)
        load_s = time.perf_counter() - t0
        self.load_s.append(load_s)
        tracks = _tracks(self.args.calls, self.args.duration, False)
        warm = _tracks(1, self.args.duration, False, offset=10_000)

        def one(request, plan):
            g = torch.Generator("cpu").manual_seed(take_seed(request.seed, 0, 0))
            pipe(caption(plan), audio_end_in_s=min(plan.planned_s, self.window_s),
                 num_inference_steps=self.args.steps, generator=g, output_type="np")

        t0 = time.perf_counter()
        one(*warm[0])
        _sync(self.device)
        warmup_s = time.perf_counter() - t0
        out = self.timed(lambda i: one(*tracks[i]), self.args.calls)
        return {**self.rates(out, 1, load_s, warmup_s), "dtype_effective": "fp32", "pipeline_calls": out["calls_timed"]}

    def _generator_options(self, dtype: str, compile_: str, batch: int) -> dict:
        return {"checkpoint": str(self.ckpt), "steps": self.args.steps, "device": self.device, "dtype": dtype,
                "max_batch": batch, "compile": compile_, "compile_mode": self.args.compile_mode,
                "compile_backend": self.args.compile_backend, "sample_rate": self.size["sample_rate"]}

    def _get_generator(self, dtype: str, compile_: str):
        key = (dtype, compile_)
        if key not in self.generators:
            from songfarm.models.factory import make_generator

            for other in [k for k in self.generators if k != key]:  # one model on the GPU at a time
                del self.generators[other]
            _free()
            t0 = time.perf_counter()
            gen = make_generator("diffusion", self._generator_options(dtype, compile_, 1))
            _sync(self.device)
            load_s = time.perf_counter() - t0
            self.load_s.append(load_s)
            self.generators[key] = (gen, load_s)
        return self.generators[key]

    def generator(self, spec: Spec) -> dict:
        gen, load_s = self._get_generator(spec.dtype, spec.compile)
        gen.config.max_batch = spec.batch  # waveforms per pipeline call (the `max_batch` option)
        calls = 1 if spec.mixed else self.args.calls
        tracks = _tracks(calls * spec.batch, self.args.duration, spec.mixed)
        warmup_s = None
        if not spec.mixed:  # the first call at this batch: new shapes, and the compile
            warm = _tracks(spec.batch, self.args.duration, False, offset=10_000)
            t0 = time.perf_counter()
            _check(gen.generate_batch(_work(warm)))
            _sync(self.device)
            warmup_s = time.perf_counter() - t0
        calls0, splits0 = gen.calls, gen.splits
        out = self.timed(lambda i: _check(gen.generate_batch(_work(tracks[i * spec.batch:(i + 1) * spec.batch]))),
                         calls)
        lengths = sorted({round(p.planned_s, 2) for _, p in tracks})  # longer than the window: in segments
        return {**self.rates(out, spec.batch, load_s, warmup_s), "dtype_effective": _dtype_name(gen.dtype),
                "pipeline_calls": gen.calls - calls0, "expected_pipeline_calls": out["calls_timed"],
                "oom_splits": gen.splits - splits0, "track_lengths_s": lengths}

    def clap_beside(self, spec: Spec) -> dict:
        """The generator and the CLAP verifier on one GPU: alone, then with the verifier."""
        mode = self.args.clap_mode
        if mode == "auto":
            mode = "ray" if self.device.startswith("cuda") and _has_ray() else "threads"
        tracks = _tracks(self.args.calls * spec.batch, self.args.duration, False)
        batches = [tracks[i * spec.batch:(i + 1) * spec.batch] for i in range(self.args.calls)]
        warm = _tracks(spec.batch, self.args.duration, False, offset=10_000)
        clap_options = {"checkpoint": str(self.clap_ckpt), "device": self.device,
                        "features": self.args.clap_features, "calibration_prompts": list(PROMPTS)}
        gen_options = self._generator_options(spec.dtype, spec.compile, spec.batch)
        out = {"mode": mode, "generator": {"batch": spec.batch, "dtype": spec.dtype, "compile": spec.compile},
               "clap_features": self.args.clap_features}
        if mode == "ray":
            try:
                out.update(self._clap_ray(gen_options, clap_options, warm, batches))
            except Exception as exc:
                out["ray_error"] = _error(exc)["error"]
                print(f"bench: clap-beside with Ray failed ({out['ray_error']}); two threads instead", flush=True)
                _free()
                mode = out["mode"] = "threads"
        if mode == "threads":
            out.update(self._clap_threads(spec, clap_options, warm, batches))
        alone, both = out["alone"], out["with_clap"]
        takes = both["takes"]
        out.update(takes=takes, wall_s=both["wall_s"], per_take_s=_r(both["wall_s"] / takes, 4),
                   tracks_per_gpu_hour=_r(3600 * takes / both["wall_s"], 1), gpu=both["gpu"],
                   dtype_effective=spec.dtype if self.device.startswith("cuda") else "fp32",
                   combined_vs_alone=_r(alone["wall_s"] / both["wall_s"]))
        alone["tracks_per_gpu_hour"] = _r(3600 * alone["takes"] / alone["wall_s"], 1)
        both["tracks_per_gpu_hour"] = out["tracks_per_gpu_hour"]
        return out

    def _clap_threads(self, spec: Spec, clap_options: dict, warm: list, batches: list) -> dict:
        from songfarm.models.factory import make_verifier

        gen, _ = self._get_generator(spec.dtype, spec.compile)
        gen.config.max_batch = spec.batch
        t0 = time.perf_counter()
        clap = make_verifier("clap", clap_options)
        load_s = time.perf_counter() - t0
        for take, (request, plan) in zip(_check(gen.generate_batch(_work(warm))), warm):  # warm both
            clap.verify(take, plan, request)

        def run(with_clap: bool) -> dict:
            todo: queue.Queue = queue.Queue()
            errors: list[BaseException] = []
            clap_s = [0.0]

            def verifier():
                while (item := todo.get()) is not None:
                    try:
                        t = time.perf_counter()
                        for take, (request, plan) in item:
                            clap.verify(take, plan, request)
                        clap_s[0] += time.perf_counter() - t
                    except BaseException as exc:  # noqa: B036 — handed to the main thread
                        errors.append(exc)

            thread = threading.Thread(target=verifier, daemon=True)
            _reset_peak(self.device)
            with GpuMonitor(self.device) as gpu:
                _sync(self.device)
                t = time.perf_counter()
                if with_clap:
                    thread.start()
                for batch in batches:
                    takes = _check(gen.generate_batch(_work(batch)))
                    if with_clap:
                        todo.put(list(zip(takes, batch)))
                if with_clap:
                    todo.put(None)
                    thread.join()
                _sync(self.device)
                wall = time.perf_counter() - t
            if errors:
                raise errors[0]
            n = sum(len(b) for b in batches)
            return {"wall_s": _r(wall, 4), "takes": n, "gpu": gpu.summary(), "torch_peak_mib": _peak_mib(self.device),
                    **({"clap_s_per_take": _r(clap_s[0] / n, 4)} if with_clap else {})}

        return {"alone": run(False), "with_clap": run(True), "clap_load_s": _r(load_s)}

    def _clap_ray(self, gen_options: dict, clap_options: dict, warm: list, batches: list) -> dict:
        """Two Ray actors on one GPU (num_gpus 0.75 and 0.25); the takes go from one to the other
        through the object store while the generator renders the next batch."""
        import ray

        from songfarm.cluster.connect import connect, disconnect

        fractions = {"generator": self.args.gpu_fraction, "clap": round(1.0 - self.args.gpu_fraction, 3)}
        cuda = self.device.startswith("cuda")
        for key in list(self.generators):  # the actors load their own models; free this process's GPU
            del self.generators[key]
        _free()
        t0 = time.perf_counter()
        cluster = connect(num_cpus=os.cpu_count() or 2, log_to_driver=False)
        try:
            if cuda and ray.cluster_resources().get("GPU", 0) < 1:
                raise RuntimeError(f"Ray sees no GPU (resources {ray.cluster_resources()})")
            gen_cls, clap_cls = _actor_classes(ray)
            device = "cuda" if cuda else "cpu"  # Ray sets CUDA_VISIBLE_DEVICES for each actor
            gen = gen_cls.options(num_gpus=fractions["generator"] if cuda else 0, num_cpus=1).remote(
                {**gen_options, "device": device})
            clap = clap_cls.options(num_gpus=fractions["clap"] if cuda else 0, num_cpus=1).remote(
                {**clap_options, "device": device})
            timeout = max(30.0, self.left() + 30)  # never wait for ever on an actor that cannot start
            ray.get([clap.verify.remote(gen.run.remote(_work(warm)), warm)], timeout=timeout)  # load, warm, compile
            start_s = time.perf_counter() - t0

            def run(with_clap: bool) -> dict:
                with GpuMonitor(self.device) as gpu:
                    t = time.perf_counter()
                    refs = [gen.run.remote(_work(b)) for b in batches]
                    if with_clap:
                        verified = ray.get([clap.verify.remote(r, b) for r, b in zip(refs, batches)], timeout=timeout)
                    else:
                        ray.get(refs, timeout=timeout)
                    wall = time.perf_counter() - t
                n = sum(len(b) for b in batches)
                out = {"wall_s": _r(wall, 4), "takes": n, "gpu": gpu.summary(), "torch_peak_mib": None}
                if with_clap:
                    out["clap_s_per_take"] = _r(sum(v[1] for v in verified) / n, 4)
                    out["verified"] = sum(v[0] for v in verified)
                return out

            result = {"alone": run(False), "with_clap": run(True), "gpu_fractions": fractions,
                      "ray_start_s": _r(cluster.start_s), "actors_ready_s": _r(start_s)}
            for actor in (gen, clap):
                ray.kill(actor)
        finally:
            disconnect(cluster)
        return result


def _dtype_name(dtype) -> str:
    name = str(dtype).split(".")[-1]
    return {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}.get(name, name)


def _has_ray() -> bool:
    try:
        import ray  # noqa: F401

        return True
    except Exception:
        return False


def _actor_classes(ray):
    """The two actors, defined here so Ray ships them by value (this file need not be importable
    in the workers; songfarm must be)."""

    class GeneratorActor:
        def __init__(self, options: dict):
            from songfarm.models.factory import make_generator

            self.gen = make_generator("diffusion", options)

        def run(self, work: list) -> list:
            takes = []
            for r in self.gen.generate_batch(work):
                if isinstance(r, Exception):
                    raise r
                takes += r
            return takes

    class ClapActor:
        def __init__(self, options: dict):
            from songfarm.models.factory import make_verifier

            self.verifier = make_verifier("clap", options)

        def verify(self, takes: list, tracks: list) -> tuple[int, float]:
            t0 = time.perf_counter()
            for take, (request, plan) in zip(takes, tracks):
                self.verifier.verify(take, plan, request)
            return len(takes), time.perf_counter() - t0

    return ray.remote(GeneratorActor), ray.remote(ClapActor)


# ---- the plan, the table, main ------------------------------------------------------------

def default_plan(batches: list[int], dtypes: list[str], compile_: str) -> list[Spec]:
    low = [d for d in dtypes if d != "fp32"]
    first = low[0] if low else "fp32"
    top = max(batches)
    plan = [Spec("naive", "naive")]
    if first != "fp32" or 1 not in batches:
        plan.append(Spec("fp32-b1", "generator", 1, "fp32"))
    plan += [Spec(f"{first}-b{b}", "generator", b, first) for b in batches]
    plan.append(Spec(f"{first}-b{top}-mixed", "generator", top, first, mixed=True))
    if compile_ != "off":
        plan.append(Spec(f"{first}-b{top}-compile", "generator", top, first, compile_))
    plan.append(Spec("clap-beside", "clap", top, first))  # batch/dtype/compile: the best measured, at run time
    plan += [Spec(f"{d}-b{top}", "generator", top, d) for d in low[1:]]
    if first != "fp32":
        plan.append(Spec(f"fp32-b{top}", "generator", top, "fp32"))
    return plan


def _best(results: list[dict]) -> dict | None:
    ok = [r for r in results if r["kind"] == "generator" and r["status"] == "ok" and not r["mixed"]]
    return max(ok, key=lambda r: r["tracks_per_gpu_hour"]) if ok else None


def print_table(results: list[dict], skipped: list[dict], device_label: str) -> None:
    head = (f"{'config':<26} {'batch':>5} {'dtype':>9} {'compile':>8} {'s/take':>8} {'tracks/GPU-h':>12} "
            f"{'× naive':>7} {'job100 t/GPU-h':>14} {'GPU busy':>8} {'peak MiB':>8}")
    print(f"\n{head}\n{'-' * len(head)}")

    def row(name, r, batch, dtype, comp, tph, speed, job, busy, peak):
        print(f"{name:<26} {batch:>5} {dtype:>9} {comp:>8} {r:>8} {tph:>12} {speed:>7} {job:>14} {busy:>8} {peak:>8}")

    def fmt(x, spec):
        return "-" if x is None else format(x, spec)

    for r in results:
        dtype = r["dtype"] if r.get("dtype_effective", r["dtype"]) == r["dtype"] else \
            f"{r['dtype']}→{r['dtype_effective']}"
        if r["status"] != "ok":
            print(f"{r['name']:<26} {r['batch']:>5} {r['dtype']:>9} {r['compile']:>8}  error: {r['error'][:80]}")
            continue
        parts = [(r["name"], r)] if r["kind"] != "clap" else [
            ("clap-beside: gen alone", r["alone"]), (f"clap-beside: +clap {r['mode']}", r["with_clap"])]
        for name, m in parts:
            per_take = m.get("per_take_s", m["wall_s"] / m["takes"])
            gpu = m["gpu"]
            busy = "n/a" if gpu["busy_fraction"] is None else f"{100 * gpu['busy_fraction']:.0f} %"
            peak = m.get("torch_peak_mib") or gpu.get("mem_peak_mib")
            comp = r["compile"] if r["kind"] != "clap" else r["generator"]["compile"]
            row(name, fmt(per_take, ".3f"), r["batch"], dtype, comp, fmt(m["tracks_per_gpu_hour"], ".0f"),
                fmt(m.get("speedup_vs_naive"), ".2f"),
                fmt(m.get("job100_tracks_per_gpu_hour"), ".0f"), busy, fmt(peak, ".0f"))
    for s in skipped:
        print(f"{s['name']:<26} skipped: {s['reason']}")
    print(f"(tracks/GPU-h on {device_label}; s/take = timed wall / takes; job100 = a {JOB_TRACKS}-track job with "
          "load and warm-up/compile paid once)")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the library's progress bars, token-length notes and torchsde's float
    round-off warnings are kept off the terminal while it runs (unless --verbose)."""
    verbose = "--verbose" in (sys.argv[1:] if argv is None else argv)
    if verbose:
        return _main(argv)
    import warnings

    import diffusers.utils.logging as dlog
    import transformers.utils.logging as tlog

    levels = dlog.get_verbosity(), tlog.get_verbosity()
    bars = dlog.is_progress_bar_enabled(), tlog.is_progress_bar_enabled()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torchsde\.")
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*weight_norm")
        dlog.set_verbosity_error()
        tlog.set_verbosity_error()
        dlog.disable_progress_bar()
        tlog.disable_progress_bar()
        try:
            return _main(argv)
        finally:
            dlog.set_verbosity(levels[0])
            tlog.set_verbosity(levels[1])
            for was_on, module in zip(bars, (dlog, tlog)):
                if was_on:
                    module.enable_progress_bar()


def _main(argv: list[str] | None = None) -> int:
    t_start = time.perf_counter()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", choices=sorted(SIZES), default="real", help="real architecture sizes, or tiny ones")
    p.add_argument("--toy", action="store_true", help="the same as --size toy")
    p.add_argument("--device", default="auto", help="auto (cuda if available, else cpu), cpu, cuda, cuda:N")
    p.add_argument("--steps", type=int, help="denoising steps (real 50; Stable Audio's default is 100; toy 2)")
    p.add_argument("--duration", type=float, help="seconds per track (real 30, toy 4)")
    p.add_argument("--batches", default="1,2,4,8", help="tracks per pipeline call to compare")
    p.add_argument("--dtypes", default="bf16,fp16", help="precisions to compare with fp32 (the first at every batch)")
    p.add_argument("--compile", default="regional", choices=["regional", "full", "off"],
                   help="how the compiled configuration compiles the denoiser (off: no compiled configuration)")
    p.add_argument("--compile-mode", default="", help="torch.compile mode ('' = its default)")
    p.add_argument("--compile-backend", help="torch.compile backend (real: inductor; toy: eager, which only traces)")
    p.add_argument("--calls", type=int, help="timed pipeline calls per configuration after one warm-up (real 3)")
    p.add_argument("--max-seconds", type=float, help="bound on the whole run, seconds (real 420, toy 45)")
    p.add_argument("--clap-mode", default="auto", choices=["auto", "ray", "threads", "off"],
                   help="the CLAP verifier beside the generator: Ray actors (auto on a GPU), two threads, or not")
    p.add_argument("--gpu-fraction", type=float, default=0.75, help="the generator actor's num_gpus (CLAP: the rest)")
    p.add_argument("--clap-features", action="store_true", help="the clap verifier also runs the features DSP checks")
    p.add_argument("--only", default="", help="comma-separated configuration names to run (default: all)")
    p.add_argument("--json", default=str(ROOT / "bench" / "results" / "diffusion.json"))
    p.add_argument("--verbose", action="store_true", help="let the libraries' warnings and progress bars through")
    args = p.parse_args(argv)
    if args.toy:
        args.size = "toy"
    size = SIZES[args.size]
    for key in ("steps", "duration", "calls", "max_seconds", "compile_backend"):
        if getattr(args, key) is None:
            setattr(args, key, size[key])
    args.t_start = t_start

    import diffusers
    import torch
    import transformers

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        print("bench: --device cuda but no CUDA GPU here", file=sys.stderr)
        return 2
    if device == "cuda":
        device = f"cuda:{torch.cuda.current_device()}"
    device_name = torch.cuda.get_device_name(device) if device.startswith("cuda") else "CPU"
    batches = sorted({int(b) for b in args.batches.split(",") if b.strip()})
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    plan = default_plan(batches, dtypes, args.compile)
    if args.clap_mode == "off":
        plan = [s for s in plan if s.kind != "clap"]
    if args.only:
        wanted = {n.strip() for n in args.only.split(",")}
        unknown = wanted - {s.name for s in plan}
        if unknown:
            print(f"bench: unknown configuration(s) {sorted(unknown)}; known: {[s.name for s in plan]}",
                  file=sys.stderr)
            return 2
        plan = [s for s in plan if s.name in wanted]

    work = Path(tempfile.mkdtemp(prefix="songfarm-bench-diffusion-"))
    doc: dict = {"schema": 1, "args": {k: v for k, v in vars(args).items() if k != "t_start"}, "size": args.size,
                 "device": device, "device_name": device_name,
                 "versions": {"torch": torch.__version__, "cuda": torch.version.cuda,
                              "diffusers": diffusers.__version__, "transformers": transformers.__version__},
                 "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
                 "plan": [asdict(s) for s in plan], "configs": [], "skipped": []}
    out_path = Path(args.json)
    bench = None
    try:
        try:
            doc["model"] = build_stable_audio(work / "stable-audio-random", args.size, device)
        except Exception as exc:  # nothing to measure without it; still write the JSON
            doc["model"] = _error(exc)
            print(f"bench: building the pipeline failed: {doc['model']['error']}", file=sys.stderr)
            return _finish(doc, out_path, t_start, 1)
        needs_clap = any(s.kind == "clap" for s in plan)
        clap_ckpt = None
        if needs_clap:
            try:
                doc["clap_model"] = build_clap(work / "clap-random", args.size, device)
                clap_ckpt = work / "clap-random"
            except Exception as exc:
                doc["clap_model"] = _error(exc)
                plan = [s for s in plan if s.kind != "clap"]
                doc["skipped"].append({"name": "clap-beside",
                                       "reason": f"CLAP build failed: {doc['clap_model']['error']}"})
        cfg = json.loads((work / "stable-audio-random" / "transformer" / "config.json").read_text())
        vae = json.loads((work / "stable-audio-random" / "vae" / "config.json").read_text())
        hop = math.prod(vae["downsampling_ratios"])
        window_s = cfg["sample_size"] * hop / vae["sampling_rate"]
        doc["model"].update(window_s=round(window_s, 3), model_rate=vae["sampling_rate"], checkpoint_dtype="fp32")
        tracks = _tracks(len(PROMPTS), args.duration, False)
        doc["track"] = {"duration_s": args.duration, "planned_s": round(tracks[0][1].planned_s, 3),
                        "rendered_s": round(window_s, 3), "steps": args.steps, "candidates": 1,
                        "bpm": 120, "note": "Stable Audio denoises its whole window whatever the length asked; "
                                            "tracks are 120 BPM 4/4 so a batch shares one length (not in -mixed)"}
        print(f"bench: {args.size} size, {args.steps} steps, {args.duration:g}-s tracks (window {window_s:.1f} s), "
              f"device {device} ({device_name}); models built in {time.perf_counter() - t_start:.0f} s; "
              f"budget {args.max_seconds:g} s", flush=True)

        bench = Bench(args, device, work / "stable-audio-random", clap_ckpt, window_s)
        for spec in plan:
            if spec.kind == "clap":  # the best configuration measured so far
                best = _best(bench.results)
                if best is not None:
                    spec.batch, spec.dtype, spec.compile = best["batch"], best["dtype"], best["compile"]
            bench.run([spec])
            # what is measured so far, in case the run is killed before the end
            _write(out_path, {**doc, "configs": bench.results, "skipped": doc["skipped"] + bench.skipped,
                              "complete": False, "total_s": round(time.perf_counter() - t_start, 1)})
        bench.generators.clear()
        _free()
        doc["configs"], doc["skipped"] = bench.results, doc["skipped"] + bench.skipped
        summarise(doc, device_name)
        return _finish(doc, out_path, t_start, 0)
    except Exception as exc:  # a bug outside the configurations' own try: keep what was measured
        doc["fatal"] = _error(exc)
        if bench is not None:
            doc["configs"], doc["skipped"] = bench.results, doc["skipped"] + bench.skipped
        print(f"bench: {doc['fatal']['error']}\n{doc['fatal']['traceback']}", file=sys.stderr)
        return _finish(doc, out_path, t_start, 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def summarise(doc: dict, device_name: str) -> None:
    """Speed-ups against the naive loop, the best configuration and the target; prints the table."""
    results = doc["configs"]
    naive = next((r for r in results if r["kind"] == "naive" and r["status"] == "ok"), None)
    for r in results:
        if r["status"] != "ok":
            continue
        if naive is not None:
            r["speedup_vs_naive"] = _r(r["tracks_per_gpu_hour"] / naive["tracks_per_gpu_hour"])
            if r.get("job100_tracks_per_gpu_hour"):
                r["job100_speedup_vs_naive"] = _r(r["job100_tracks_per_gpu_hour"] / naive["job100_tracks_per_gpu_hour"])
            if r["kind"] == "clap":
                for part in ("alone", "with_clap"):
                    r[part]["speedup_vs_naive"] = _r(r[part]["tracks_per_gpu_hour"] / naive["tracks_per_gpu_hour"])
    gpus = [r["gpu"] for r in results if r["status"] == "ok"]
    doc["gpu_monitor"] = ({"source": gpus[0]["source"], "note": gpus[0].get("note", "")} if gpus
                          else {"source": "n/a", "note": "nothing measured"})
    best = _best(results)
    busy = None if best is None else best["gpu"]["busy_fraction"]
    speed = None if best is None else best.get("speedup_vs_naive")
    met = None
    if speed is not None and busy is not None:
        met = bool(speed >= TARGET_SPEEDUP and busy >= TARGET_BUSY)
    clap = next((r for r in results if r["kind"] == "clap" and r["status"] == "ok"), None)
    doc["best"] = None if best is None else best["name"]
    doc["target"] = {"speedup_min": TARGET_SPEEDUP, "busy_min": TARGET_BUSY, "config": doc["best"],
                     "speedup_vs_naive": speed, "busy_fraction": busy, "met": met,
                     "with_clap_speedup_vs_naive": None if clap is None else clap.get("speedup_vs_naive")}
    doc["extrapolation"] = (
        "per_take_s = timed wall of the timed pipeline calls (after one warm-up call) / (calls x batch), one take per "
        "track; tracks_per_gpu_hour = 3600 / per_take_s (steady state); job100_s = load_s + warmup_s + "
        f"(ceil({JOB_TRACKS} / batch) - 1) x call_s, job100_tracks_per_gpu_hour = {JOB_TRACKS} x 3600 / job100_s "
        f"(a {JOB_TRACKS}-track job of {doc['track']['duration_s']:g}-s tracks paying the model load and the first "
        "(warm-up, compile) call once). Stable Audio denoises its whole window whatever the length asked, so the "
        "per-take time of a track up to the window does not depend on its length. GPU busy = mean of NVML "
        "utilization.gpu samples (share of time a kernel ran) every 0.1 s over the timed calls.")
    print_table(results, doc["skipped"], device_name)
    if best is None:
        print("target: n/a (no generator configuration finished)")
        return
    busy_s = "n/a (no GPU)" if busy is None else f"{100 * busy:.0f} %"
    speed_s = "n/a" if speed is None else f"{speed:.2f}×"
    verdict = {True: "MET", False: "NOT MET", None: "n/a"}[met]
    print(f"target (≥ {TARGET_SPEEDUP:g}× the naive loop's tracks/GPU-h, GPU busy ≥ {100 * TARGET_BUSY:.0f} %): "
          f"best {best['name']} {speed_s}, busy {busy_s} → {verdict}")
    if clap is not None:
        print(f"clap-beside ({clap['mode']}): generator alone {clap['alone']['tracks_per_gpu_hour']:.0f}, with the "
              f"CLAP verifier {clap['tracks_per_gpu_hour']:.0f} verified tracks/GPU-h "
              f"({clap['combined_vs_alone']:.2f}× alone)")


def _write(out_path: Path, doc: dict) -> None:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str))
    tmp.replace(out_path)


def _finish(doc: dict, out_path: Path, t_start: float, rc: int) -> int:
    doc["complete"] = rc == 0
    doc["total_s"] = round(time.perf_counter() - t_start, 1)
    _write(out_path, doc)
    print(f"wrote {out_path} ({doc['total_s']:.0f} s in all)")
    return rc


if __name__ == "__main__":
    sys.exit(main())
