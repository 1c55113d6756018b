"""Verifier `clap`: does the audio sound like its prompt? A CLAP text–audio similarity
beside the DSP checks of the `features` verifier.

Two loaders for the same idea, chosen by the checkpoint path:

- a folder: a transformers `ClapModel` + `ClapProcessor` (for example LAION's larger CLAP
  music model, saved with `save_pretrained`);
- a `.pt` / `.ckpt` file: an original laion-clap checkpoint (for example the music-AudioSet
  one) through the `laion-clap` package (laion.py; an optional extra).

The take is mixed to mono, resampled to 48 kHz and cut into the model's fixed windows
(10 s for LAION's models) at fixed positions; the window embeddings are averaged, so the
score is deterministic. Two checks are added to the features verdict:

- `clap`: the cosine similarity of the audio to the text, passing at `min_similarity`;
- `clap_margin`: that similarity minus the mean similarity of the same audio to the other
  prompts of the job (`calibration_prompts`: the farm passes the job's first 64 distinct prompts;
  a fixed set of contrasting descriptions when there are none). Raw cosines differ between
  models (one model's 0.3 is another's 0.5); "closer to its own prompt than to the job's
  other prompts on average" means the same for all of them. The mean, not the closest
  other, because a job often holds near-duplicate prompts.

    verifier: {name: clap, options: {checkpoint: /models/larger_clap_music, min_similarity: 0.2}}
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np

from .. import checkpoints, devices
from ..errors import SongfarmError
from ..plan import SongPlan
from ..request import TrackRequest
from ..settings import MIN_SCORE
from ..stages import Verifier
from ..take import Take
from ..verdict import Check, Verdict

# Contrast for the margin when the job gives no other prompts: varied enough that music
# matching its own prompt should sit above all of them.
CONTRAST_PROMPTS = (
    "solo acoustic guitar, calm folk ballad",
    "aggressive heavy metal with distorted guitars and double kick drums",
    "orchestral film score with strings and brass",
    "minimal techno with a pounding kick drum and synth bass",
    "smooth jazz trio with upright bass, brushes and piano",
    "traditional Chinese music with guzheng and bamboo flute",
    "a cappella choir singing in a church",
    "rain and thunder ambience, no music",
)


@dataclass
class ClapConfig:
    checkpoint: str = ""  # a transformers CLAP folder, or a laion-clap .pt/.ckpt file; required
    loader: str = "auto"  # "auto" (folder → transformers, file → laion), "transformers" or "laion"
    model_id: str = ""  # name reported in the verdict; "" → from the path
    revision: str = ""  # version reported in the verdict; "" → the cached commit, else a content hash
    laion_amodel: str = "HTSAT-base"  # laion-clap audio encoder of the .pt (the music checkpoints: HTSAT-base)
    laion_fusion: bool = False  # the .pt is a fusion model (needs torchaudio)
    text_models: str = ""  # laion only: folder with roberta-base/, bert-base-uncased/, facebook/bart-base/;
    #                         "" → the Hugging Face cache (HF_HUB_CACHE, HF_HUB_OFFLINE=1); docs/neural.md
    device: str = "auto"  # "auto" (a CUDA GPU if present, else CPU with a warning), "cpu", "cuda", "cuda:N"
    text: str = "prompt"  # what the audio is compared with: "prompt" (the request's text) or "caption" (the plan's)
    calibration_prompts: list[str] = field(default_factory=list)  # the job's other prompts (the farm passes them)
    min_similarity: float = 0.2  # cosine at or above which the `clap` check passes
    min_margin: float = 0.0  # margin over the other prompts' mean at or above which `clap_margin` passes
    weight: float = 2.0  # each clap check's share of the score (each features check weighs about 1)
    require: bool = True  # a failed clap check rejects the take whatever the score
    max_windows: int = 12  # windows scored per take at most, spread evenly over it (bounds the cost)
    batch_size: int = 16  # windows per forward pass
    min_score: float = MIN_SCORE  # the combined score at or above which a take is accepted
    features: bool = True  # run the features verifier's DSP checks beside the clap checks
    features_options: dict[str, Any] = field(default_factory=dict)  # options of the features verifier

    def __post_init__(self) -> None:
        if self.loader not in ("auto", "transformers", "laion"):
            raise ValueError(f"loader={self.loader!r}: use auto, transformers or laion")
        if self.text not in ("prompt", "caption"):
            raise ValueError(f"text={self.text!r}: use prompt or caption")
        prompts = self.calibration_prompts
        if not (isinstance(prompts, list) and all(isinstance(p, str) for p in prompts)):
            raise ValueError(f"calibration_prompts={self.calibration_prompts!r}: must be a list of text")
        if not -1 <= self.min_similarity <= 1 or not -2 <= self.min_margin <= 2:
            raise ValueError(f"min_similarity={self.min_similarity!r} must be in [-1, 1] and "
                             f"min_margin={self.min_margin!r} in [-2, 2]")
        if not 0 <= self.min_score <= 1:
            raise ValueError(f"min_score={self.min_score!r}: must be in [0, 1]")
        if not (isinstance(self.max_windows, int) and self.max_windows >= 1):
            raise ValueError(f"max_windows={self.max_windows!r}: must be a positive integer")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise ValueError(f"batch_size={self.batch_size!r}: must be a positive integer")
        if self.weight < 0:
            raise ValueError(f"weight={self.weight!r}: must not be negative")


class _TransformersClap:
    """A transformers ClapModel folder; embeds text and fixed-length audio windows."""

    def __init__(self, path: Path, device, where: str):
        import torch
        from transformers import ClapModel, ClapProcessor

        try:
            self.processor = ClapProcessor.from_pretrained(path, local_files_only=True)
            self.model = ClapModel.from_pretrained(path, local_files_only=True).to(device).eval()
        except Exception as exc:
            raise checkpoints.load_failed(where, path, exc) from exc
        fe = self.processor.feature_extractor
        self.rate = int(fe.sampling_rate)  # 48 kHz for LAION's models
        self.window_samples = int(fe.nb_max_samples)  # max_length_s × rate
        # Fusion models take 4 stacked mels; with every window exactly one window long, none
        # is "longer" and the fusion branch is skipped (is_longer is forced False below:
        # the feature extractor would otherwise mark a random window as longer).
        self.truncation = "fusion" if self.model.config.audio_config.enable_fusion else "rand_trunc"
        self.device = device
        self._torch = torch

    def text(self, texts: list[str]) -> np.ndarray:
        inputs = self.processor.tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
        with self._torch.inference_mode():
            out = self.model.get_text_features(**{k: v.to(self.device) for k, v in inputs.items()})
        return out.pooler_output.float().cpu().numpy()  # transformers 5: an output object, embedding in pooler_output

    def audio(self, windows: np.ndarray) -> np.ndarray:
        inputs = self.processor.feature_extractor(list(windows), sampling_rate=self.rate, truncation=self.truncation,
                                                  padding="repeatpad", return_tensors="pt")
        is_longer = self._torch.zeros_like(inputs["is_longer"])
        with self._torch.inference_mode():
            out = self.model.get_audio_features(input_features=inputs["input_features"].to(self.device),
                                                is_longer=is_longer.to(self.device))
        return out.pooler_output.float().cpu().numpy()


class ClapVerifier(Verifier):
    """Take + plan + request → the features verdict plus `clap` and `clap_margin` checks."""

    name = "clap"
    version = "0.1"

    @staticmethod
    def check_checkpoint(cfg: ClapConfig) -> tuple[Path, str]:
        """The checks that need no model loaded → (checkpoint path, loader: "transformers" for a
        folder with config.json, "laion" for a .pt file). `songfarm render` runs them before Ray starts."""
        where = "backends.verifier (clap)"
        if not cfg.checkpoint or not str(cfg.checkpoint).strip():
            raise checkpoints.CheckpointError(f"{where}: checkpoint: required (a transformers CLAP folder or a "
                                              "laion-clap .pt file; see docs/neural.md)")
        path = Path(cfg.checkpoint).expanduser()
        if not path.exists():
            raise checkpoints.CheckpointError(f"{where}: checkpoint {path}: does not exist")
        loader = cfg.loader if cfg.loader != "auto" else ("transformers" if path.is_dir() else "laion")
        if loader == "transformers":
            checkpoints.folder(str(path), where, ("config.json",), "transformers CLAP folder")
        elif not path.is_file():
            raise checkpoints.CheckpointError(f"{where}: checkpoint {path}: loader=laion needs a .pt file")
        return path, loader

    def __init__(self, config: ClapConfig | None = None):
        self.config = cfg = config or ClapConfig()
        where = "backends.verifier (clap)"
        path, loader = self.check_checkpoint(cfg)
        device = devices.choose_device(cfg.device, where)
        if loader == "transformers":
            self.model = _TransformersClap(path, device, where)
        else:
            from .laion import LaionClap, check_text_models

            text_models = check_text_models(cfg.text_models, where) if cfg.text_models else None
            self.model = LaionClap(path, cfg.laion_amodel, cfg.laion_fusion, str(device), text_models, where)
        self.model_name = checkpoints.identity(path, cfg.model_id, cfg.revision)
        self.features = None
        if cfg.features:
            from ..factory import make

            self.features = make("verifier", "features", cfg.features_options)
        self._text_cache: dict[str, np.ndarray] = {}

    # ---- embeddings ----------------------------------------------------------------------

    def text_embeddings(self, texts: list[str]) -> np.ndarray:
        """(N,) texts → (N, D) unit vectors; each text is embedded once per verifier."""
        new = [t for t in dict.fromkeys(texts) if t not in self._text_cache]
        for start in range(0, len(new), self.config.batch_size):
            chunk = new[start:start + self.config.batch_size]
            for t, e in zip(chunk, _unit(self.model.text(chunk))):
                self._text_cache[t] = e
        return np.stack([self._text_cache[t] for t in texts])

    def audio_embedding(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """(channels, samples) → (D,) unit vector: the mean of the window embeddings."""
        windows = clap_windows(audio, sample_rate, self.model.rate, self.model.window_samples, self.config.max_windows)
        embeds = [self.model.audio(windows[s:s + self.config.batch_size])
                  for s in range(0, len(windows), self.config.batch_size)]
        return _unit(_unit(np.concatenate(embeds)).mean(axis=0))

    # ---- the stage API -------------------------------------------------------------------

    def verify(self, take: Take, plan: SongPlan, request: TrackRequest) -> Verdict:
        t0 = time.perf_counter()
        cfg = self.config
        text = request.prompt if cfg.text == "prompt" else _caption(plan)
        others = [p for p in dict.fromkeys(cfg.calibration_prompts or CONTRAST_PROMPTS)
                  if p.strip() and p.strip() != text.strip()]
        if not others:
            others = list(CONTRAST_PROMPTS)
        audio = self.audio_embedding(take.audio, take.sample_rate)
        sims = self.text_embeddings([text] + others) @ audio  # (1 + others,) cosines
        own, mean_other = float(sims[0]), float(sims[1:].mean())
        margin = own - mean_other
        closest = others[int(sims[1:].argmax())]
        checks = [
            Check("clap", round(own, 4), cfg.min_similarity, None, own >= cfg.min_similarity, "cosine", cfg.weight,
                  f"{self.model_name} similarity to the {cfg.text}"),
            Check("clap_margin", round(margin, 4), cfg.min_margin, None, margin >= cfg.min_margin, "cosine",
                  cfg.weight, f"over the mean of {len(others)} other prompts ({mean_other:.3f}); closest: "
                  f"{closest[:60]!r} ({float(sims[1:].max()):.3f})"),
        ]
        clap_score = sum(c.weight * (1.0 if c.passed else _partial(c)) for c in checks)
        clap_weight = sum(c.weight for c in checks)
        if self.features is not None:
            base = self.features.verify(take, plan, request)
            base_weight = sum(c.weight for c in base.checks) or 1.0
            score = (base.score * base_weight + clap_score) / (base_weight + clap_weight)
            all_checks = base.checks + checks
            base_ok = base.accepted
        else:
            score = clap_score / clap_weight if clap_weight else 1.0
            all_checks, base_ok = checks, True
        clap_ok = all(c.passed for c in checks) or not cfg.require
        accepted = base_ok and clap_ok and score >= cfg.min_score
        return Verdict(score=round(float(np.clip(score, 0.0, 1.0)), 4), accepted=bool(accepted), checks=all_checks,
                       verifier=f"{self.name}-{self.version} {self.model_name}"
                       + (f" + {self.features.name}-{self.features.version}" if self.features is not None else ""),
                       seconds=time.perf_counter() - t0)


def clap_windows(audio: np.ndarray, sample_rate: int, rate: int, window: int, max_windows: int) -> np.ndarray:
    """(channels, samples) at `sample_rate` → (N, window) mono float32 at `rate`.

    Windows start at fixed, evenly spread positions covering the whole take (the last one
    ends at the end), at most `max_windows` of them; a take shorter than one window is one
    window (the model pads it by repetition).
    """
    mono = np.asarray(audio, dtype=np.float64).mean(axis=0) if audio.ndim == 2 else np.asarray(audio, np.float64)
    if sample_rate != rate:
        from scipy.signal import resample_poly

        g = gcd(sample_rate, rate)
        mono = resample_poly(mono, rate // g, sample_rate // g)
    mono = mono.astype(np.float32)
    if mono.size == 0:
        raise SongfarmError("clap: the take has no audio")
    if mono.size <= window:
        return mono[None, :]
    count = min(max_windows, int(np.ceil(mono.size / window)))
    starts = np.linspace(0, mono.size - window, count).round().astype(int)
    return np.stack([mono[s:s + window] for s in starts])


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _partial(check: Check) -> float:
    """Credit for a missed clap check, by how close it came (0 at a full cosine unit away)."""
    gap = float(check.expected) - float(check.measured)
    return float(np.clip(1.0 - gap, 0.0, 1.0)) * 0.5


def _caption(plan: SongPlan) -> str:
    from ..generators.prompt_text import caption

    return caption(plan)
