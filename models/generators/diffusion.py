"""Generator `diffusion`: a diffusers text-to-audio pipeline renders the plan.

Two pipelines, told apart by the checkpoint's model_index.json:

- `StableAudioPipeline` (Stable Audio Open): 44.1 kHz stereo, a fixed window of about 47 s.
  Conditioned on a caption built from the plan (genre, moods, instruments, tempo, key).
- `AceStepPipeline` (ACE-Step 1.5): 48 kHz stereo, minutes long; takes the plan's tempo,
  key and metre as its own `bpm` / `keyscale` / `timesignature` arguments, and lyrics.

One call of the pipeline renders many waveforms: the takes of a track (candidates, through
`num_waveforms_per_prompt`) and the pieces of several tracks that share a length. Every
waveform has its own seeded `torch.Generator`, so a take is the same audio whichever batch
it was rendered in. A song longer than the window is rendered section by section and joined
with crossfades (long_form.py). The result is resampled to the job's rate and
loudness-normalised like the synth's. `compile` runs the denoiser through torch.compile
(bench/bench_diffusion.py measures what it, the batch size and the dtype are worth).

    generator: {name: diffusion, options: {checkpoint: /models/stable-audio-open-1.0, steps: 100}}
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np

from .. import checkpoints, devices, loudness
from ..plan import SongPlan
from ..request import TrackRequest
from ..stages import Generator
from ..take import Take
from . import long_form, prompt_text

log = logging.getLogger("songfarm.diffusion")

PIPELINES = {"StableAudioPipeline": "stable_audio", "AceStepPipeline": "ace_step"}
ACE_STEP_MAX_S = 600.0  # ACE-Step 1.5 renders up to ten minutes in one call
COMPILE = ("off", "full", "regional")
COMPILE_MODES = ("", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass
class DiffusionConfig:
    checkpoint: str = ""  # local diffusers pipeline folder (holds model_index.json); required
    pipeline: str = "auto"  # "auto" (from model_index.json), "stable_audio" or "ace_step"
    model_id: str = ""  # name reported in the manifest; "" → from the folder (HF cache repo id or folder name)
    revision: str = ""  # version reported in the manifest; "" → the cached commit, else a hash of the configs
    device: str = "auto"  # "auto" (a CUDA GPU if present, else CPU with a warning), "cpu", "cuda", "cuda:N"
    dtype: str = "auto"  # "auto" (bf16, or fp16 where bf16 is unsupported), "fp16", "bf16", "fp32"; CPU is fp32
    steps: int | None = None  # denoising steps; None → the pipeline's default (Stable Audio 100, ACE-Step 8)
    guidance_scale: float | None = None  # classifier-free guidance; None → the pipeline's default (7.0)
    negative_prompt: str = "low quality, distorted, noisy"  # what to steer away from (Stable Audio only)
    shift: float = 3.0  # ACE-Step's timestep-schedule shift (1, 2 or 3)
    sample_rate: int = 44100  # Hz of the takes (the job's delivery rate); model output is resampled
    window_s: float = 0.0  # longest piece per call; 0 → the model's own limit (Stable Audio's ~47 s)
    crossfade_s: float = 2.0  # overlap of consecutive segments of a long song, in seconds
    max_batch: int = 8  # waveforms per pipeline call at most; out-of-memory halves it further
    compile: str = "off"  # torch.compile the denoiser: "off", "full" (the whole transformer as one graph) or
    #                       "regional" (each repeated transformer block; compiles faster). The first call of
    #                       each batch shape pays the compile time.
    compile_mode: str = ""  # torch.compile's mode: "" (its default), "reduce-overhead", "max-autotune", …
    compile_backend: str = "inductor"  # torch.compile's backend ("eager" only captures the graph: the tests)
    lyrics: bool = True  # pass the plan's lyrics to models that sing (ACE-Step)
    target_lufs: float = loudness.TARGET_LUFS  # integrated loudness of every take

    def __post_init__(self) -> None:
        if self.pipeline not in ("auto", *PIPELINES.values()):
            raise ValueError(f"pipeline={self.pipeline!r}: use auto, stable_audio or ace_step")
        if self.steps is not None and not (isinstance(self.steps, int) and 1 <= self.steps <= 1000):
            raise ValueError(f"steps={self.steps!r}: must be an integer in [1, 1000]")
        if self.guidance_scale is not None and not 0 <= float(self.guidance_scale) <= 30:
            raise ValueError(f"guidance_scale={self.guidance_scale!r}: must be in [0, 30]")
        if not (isinstance(self.sample_rate, int) and 8000 <= self.sample_rate <= 192000):
            raise ValueError(f"sample_rate={self.sample_rate!r}: must be an integer in [8000, 192000] Hz")
        if self.window_s < 0 or self.crossfade_s < 0:
            raise ValueError(f"window_s={self.window_s!r}, crossfade_s={self.crossfade_s!r}: must not be negative")
        if not (isinstance(self.max_batch, int) and self.max_batch >= 1):
            raise ValueError(f"max_batch={self.max_batch!r}: must be a positive integer")
        if self.compile not in COMPILE:
            raise ValueError(f"compile={self.compile!r}: use {', '.join(COMPILE)}")
        if self.compile_mode not in COMPILE_MODES:
            raise ValueError(f"compile_mode={self.compile_mode!r}: use one of {', '.join(map(repr, COMPILE_MODES))}")
        if not (isinstance(self.compile_backend, str) and self.compile_backend.strip()):
            raise ValueError(f"compile_backend={self.compile_backend!r}: must name a torch.compile backend")


@dataclass
class _Piece:
    """One waveform for the pipeline to render: one segment of one take of one track."""

    track: int  # index into the batch's work list
    take: int  # index into that track's seeds
    segment: int  # index into the track's segments
    caption: str
    lyrics: str
    seconds: float  # length to render
    seed: int  # seeds this waveform's torch.Generator
    meta: tuple  # ACE-Step (bpm, keyscale, timesignature, language); () for Stable Audio


class DiffusionGenerator(Generator):
    """Plan → takes through a diffusers audio pipeline loaded from a local checkpoint."""

    name = "diffusion"
    version = "0.1"

    @staticmethod
    def check_checkpoint(config: DiffusionConfig) -> tuple[Path, str]:
        """The checks that need no model loaded (the folder, its model_index.json, a supported
        pipeline) → (folder, pipeline class name). `songfarm render` runs them before Ray starts."""
        where = "backends.generator (diffusion)"
        path = checkpoints.folder(config.checkpoint, where, ("model_index.json",), "diffusers pipeline folder")
        class_name = str(checkpoints.read_json(path / "model_index.json", where).get("_class_name", ""))
        if class_name not in PIPELINES:
            raise checkpoints.CheckpointError(
                f"{where}: checkpoint {path}: pipeline {class_name!r} is not supported "
                f"(supported: {', '.join(PIPELINES)})")
        if config.pipeline not in ("auto", PIPELINES[class_name]):
            raise checkpoints.CheckpointError(f"{where}: checkpoint {path}: holds a {class_name}, "
                                              f"but pipeline={config.pipeline!r}")
        return path, class_name

    def __init__(self, config: DiffusionConfig | None = None):
        import torch

        self.config = config or DiffusionConfig()
        where = "backends.generator (diffusion)"
        path, class_name = self.check_checkpoint(self.config)
        self.kind = PIPELINES[class_name]
        self.device = devices.choose_device(self.config.device, where)
        self.dtype = devices.choose_dtype(self.config.dtype, self.device, where)
        import diffusers

        try:
            pipe = getattr(diffusers, class_name).from_pretrained(path, local_files_only=True, dtype=self.dtype)
        except Exception as exc:  # missing component, truncated weights, wrong shapes …
            raise checkpoints.load_failed(where, path, exc) from exc
        self.pipe = pipe.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
        if self.config.compile != "off":
            self._compile(where)
        self.model = checkpoints.identity(path, self.config.model_id, self.config.revision)
        if self.kind == "stable_audio":
            self.model_rate = int(self.pipe.vae.config.sampling_rate)
            own_window = self.pipe.transformer.config.sample_size * self.pipe.vae.hop_length / self.model_rate
        else:
            self.model_rate = int(self.pipe.sample_rate)
            own_window = ACE_STEP_MAX_S
        self.window_s = min(self.config.window_s or own_window, own_window)
        self.calls = 0  # pipeline calls made (batching shows as fewer calls than waveforms)
        self.splits = 0  # times a batch was halved after running out of memory
        self._torch = torch

    def _compile(self, where: str) -> None:
        """torch.compile the denoiser in place (nn.Module.compile: the module and the pipeline stay
        as they are; compiling happens at the first call of each input shape)."""
        cfg = self.config
        kwargs = {"backend": cfg.compile_backend}
        if cfg.compile_mode:
            kwargs["mode"] = cfg.compile_mode
        model = self.pipe.transformer
        if cfg.compile == "full":
            model.compile(**kwargs)
            return
        blocks = _repeated_blocks(model)
        if not blocks:
            raise checkpoints.CheckpointError(f"{where}: compile=regional: {type(model).__name__} has no repeated "
                                              "blocks to compile (use compile=full)")
        for block in blocks:
            block.compile(**kwargs)

    # ---- the stage API -------------------------------------------------------------------

    def generate(self, plan: SongPlan, request: TrackRequest, seeds: list[int], attempt: int = 0) -> list[Take]:
        (result,) = self.generate_batch([(plan, request, seeds, attempt)])
        if isinstance(result, Exception):
            raise result
        return result

    def generate_batch(self, work: list[tuple[SongPlan, TrackRequest, list[int], int]]) -> list[list[Take] | Exception]:
        """Render the takes of several tracks, sharing pipeline calls between them.

        Returns, per track, its takes in seed order or the exception that failed it."""
        t0 = time.perf_counter()
        results: list[list[Take] | Exception | None] = [None] * len(work)
        plans: dict[int, list[long_form.Segment]] = {}
        pieces: list[_Piece] = []
        for i, (plan, request, seeds, _attempt) in enumerate(work):
            try:
                segs = long_form.segments(plan, self.window_s, self.config.crossfade_s)
                plans[i] = segs
                pieces += self._pieces(i, plan, request, seeds, segs)
            except Exception as exc:
                results[i] = exc
        audio = self._render(pieces, results)  # (track, take, segment) → (channels, samples) at model rate
        n_takes = sum(len(work[i][2]) for i in plans if results[i] is None)
        per_take_s = (time.perf_counter() - t0) / max(1, n_takes)
        for i, segs in plans.items():
            if results[i] is not None:
                continue
            plan, request, seeds, attempt = work[i]
            try:
                results[i] = [self._take(request, attempt, k, seed, [audio[(i, k, j)] for j in range(len(segs))],
                                         segs, per_take_s) for k, seed in enumerate(seeds)]
            except Exception as exc:
                results[i] = exc
        return [r if r is not None else RuntimeError("no output") for r in results]

    # ---- building the work ---------------------------------------------------------------

    def _pieces(self, track: int, plan: SongPlan, request: TrackRequest, seeds: list[int],
                segs: list[long_form.Segment]) -> list[_Piece]:
        ace = self.kind == "ace_step"
        meta = (int(round(plan.bpm)), plan.key, str(plan.beats_per_bar), plan.language) if ace else ()
        out = []
        for j, seg in enumerate(segs):
            text = (prompt_text.caption(plan, not ace) if len(segs) == 1
                    else prompt_text.section_caption(plan, seg.sections, not ace))
            lyrics = ""
            if ace and self.config.lyrics:
                lyrics = prompt_text.lyrics_text(seg.sections)
                if lyrics == "[instrumental]" and len(segs) == 1 and request.lyrics:
                    lyrics = request.lyrics
            for k, seed in enumerate(seeds):
                out.append(_Piece(track, k, j, text, lyrics, seg.render_s, _segment_seed(seed, j), meta))
        return out

    # ---- running the pipeline ------------------------------------------------------------

    def _render(self, pieces: list[_Piece], results: list) -> dict[tuple[int, int, int], np.ndarray]:
        """Group pieces into pipeline calls, run them (halving on out-of-memory), and return
        every waveform by (track, take, segment). A failed call fails its tracks only."""
        groups: dict[tuple, list[_Piece]] = {}
        for p in pieces:  # one call renders one length (and, for ACE-Step, one tempo/key/metre)
            groups.setdefault((round(p.seconds, 3), p.meta), []).append(p)
        out: dict[tuple[int, int, int], np.ndarray] = {}
        for group in groups.values():
            group = [p for p in group if results[p.track] is None]
            for start in range(0, len(group), self.config.max_batch):
                chunk = group[start:start + self.config.max_batch]
                try:
                    waves = devices.run_halving(chunk, self._call, on_split=self._count_split, isolate=True)
                except Exception as exc:  # not memory: the call itself is broken for these tracks
                    waves = [exc] * len(chunk)
                for p, wave in zip(chunk, waves):
                    if isinstance(wave, Exception):
                        if results[p.track] is None:
                            results[p.track] = wave  # a take that does not fit even alone fails its row
                    else:
                        out[(p.track, p.take, p.segment)] = wave
        return out

    def _count_split(self, old: int, new: int) -> None:
        self.splits += 1

    def _call(self, pieces: list[_Piece]) -> list[np.ndarray]:
        """One pipeline call for pieces of one length → one (channels, samples) float32 each."""
        torch = self._torch
        captions, repeat = _prompts_and_repeat([(p.caption, p.lyrics) for p in pieces])
        generators = [torch.Generator("cpu").manual_seed(p.seed) for p in pieces]
        seconds = pieces[0].seconds
        cfg = self.config
        self.calls += 1
        kwargs = {}
        if cfg.steps is not None:
            kwargs["num_inference_steps"] = cfg.steps
        if cfg.guidance_scale is not None:
            kwargs["guidance_scale"] = float(cfg.guidance_scale)
        with torch.inference_mode():
            if self.kind == "stable_audio":
                prompts = [c for c, _ in captions]
                negative = [cfg.negative_prompt] * len(prompts) if cfg.negative_prompt else None
                audios = self.pipe(prompt=prompts, negative_prompt=negative, audio_start_in_s=0.0,
                                   audio_end_in_s=seconds, num_waveforms_per_prompt=repeat, generator=generators,
                                   output_type="pt", **kwargs).audios
            else:
                # ACE-Step has no num_waveforms_per_prompt: each waveform is its own prompt.
                bpm, keyscale, timesignature, language = pieces[0].meta
                audios = self.pipe(prompt=[p.caption for p in pieces], lyrics=[p.lyrics for p in pieces],
                                   audio_duration=seconds, vocal_language=language, bpm=bpm, keyscale=keyscale,
                                   timesignature=timesignature, shift=cfg.shift, generator=generators,
                                   output_type="pt", **kwargs).audios
        audios = audios.float().cpu().numpy()  # (waveforms, channels, samples) at the model's rate
        length = int(round(seconds * self.model_rate))
        return [np.ascontiguousarray(a[:, :length]) for a in audios]

    # ---- from waveforms to a take --------------------------------------------------------

    def _take(self, request: TrackRequest, attempt: int, candidate: int, seed: int, pieces: list[np.ndarray],
              segs: list[long_form.Segment], seconds: float) -> Take:
        song = long_form.join(pieces, segs, self.model_rate)  # (channels, samples) at the model's rate
        if song.shape[0] == 1:
            song = np.repeat(song, 2, axis=0)  # deliver stereo like every other generator
        song = _resample(song, self.model_rate, self.config.sample_rate)
        song = loudness.normalise(song, self.config.sample_rate, target_lufs=self.config.target_lufs)
        return Take(track_id=request.id, attempt=attempt, candidate=candidate, seed=seed, audio=song,
                    sample_rate=self.config.sample_rate, generator=self.name, model=self.model, seconds=seconds)


def _repeated_blocks(model) -> list:
    """The denoiser's transformer blocks: the modules named by diffusers' `_repeated_blocks`, else
    the longest ModuleList of modules of one class (StableAudioDiTModel.transformer_blocks,
    AceStepTransformer1DModel.layers)."""
    import torch

    names = set(getattr(model, "_repeated_blocks", None) or ())
    if names:
        return [m for m in model.modules() if type(m).__name__ in names]
    best: list = []
    for child in model.modules():
        if isinstance(child, torch.nn.ModuleList) and len(child) > len(best) and len(child) >= 2 \
                and len({type(m) for m in child}) == 1:
            best = list(child)
    return best


def _segment_seed(seed: int, segment: int) -> int:
    """The first segment uses the take's seed; later ones a 32-bit seed derived from it."""
    if segment == 0:
        return int(seed)
    return int.from_bytes(hashlib.sha256(f"{int(seed)}/segment/{segment}".encode()).digest()[:4], "little")


def _prompts_and_repeat(texts: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], int]:
    """Runs of equal prompts of one common length r → (one prompt per run, r), so a track's
    candidates go through `num_waveforms_per_prompt=r`; otherwise (every prompt, 1)."""
    runs: list[list[tuple[str, str]]] = []
    for t in texts:
        if runs and runs[-1][0] == t:
            runs[-1].append(t)
        else:
            runs.append([t])
    r = len(runs[0])
    if all(len(run) == r for run in runs):
        return [run[0] for run in runs], r
    return list(texts), 1


def _resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """(channels, samples) from one rate to another with a polyphase filter."""
    if from_rate == to_rate:
        return audio.astype(np.float32)
    from scipy.signal import resample_poly

    g = gcd(from_rate, to_rate)
    return resample_poly(audio, to_rate // g, from_rate // g, axis=-1).astype(np.float32)
