"""Original laion-clap checkpoints (.pt) through the `laion-clap` package, offline.

laion-clap (1.1.7) is awkward to run offline and beside our other packages:

- At import it loads the `bert-base-uncased`, `roberta-base` and `facebook/bart-base`
  tokenizers, and building its model loads `roberta-base` weights, all by hub name. We
  resolve those names from a local folder holding `roberta-base/`, `bert-base-uncased/` and
  `facebook/bart-base/` (transformers reads a name that is an existing folder as that
  folder), by importing and building with that folder as the working directory. Without
  the option, the standard Hugging Face cache is used (HF_HUB_CACHE + HF_HUB_OFFLINE=1).
  docs/neural.md says how a studio prepares either.
- It imports torchvision for image-training helpers our audio path never calls, and
  torchvision's PyPI wheels do not import beside the CPU torch wheel. When torchvision does
  not import, laion-clap's import gets a placeholder for those names, removed again right
  after, so nothing else in the process sees it.
- Its metadata pins numpy<2; it runs on numpy 2 (tests/test_clap.py), so it is installed
  with `pip install --no-deps laion-clap==1.1.7` plus the runtime dependencies it uses.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import os
import sys
import types
from pathlib import Path

import numpy as np

from ..checkpoints import CheckpointError, load_failed

RATE = 48000  # Hz laion-clap's audio encoders take
WINDOW_SAMPLES = 480000  # 10 s: the clip length the encoders were trained on
TEXT_MODELS = ("roberta-base", "bert-base-uncased", "facebook/bart-base")

# The torchvision names laion-clap imports at module level (clap_module/transform.py,
# clap_module/utils.py, training/data.py); none is called when embedding audio and text.
_TORCHVISION_NAMES = {
    "torchvision": [],
    "torchvision.datasets": [],
    "torchvision.transforms": ["Normalize", "Compose", "RandomResizedCrop", "InterpolationMode", "ToTensor",
                               "Resize", "CenterCrop"],
    "torchvision.ops": [],
    "torchvision.ops.misc": ["FrozenBatchNorm2d"],
}


class _NotAvailable:
    """Stands in for a torchvision class laion-clap imports but the audio path never uses."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError("torchvision is not importable here; laion-clap's image helpers are unavailable")


@contextlib.contextmanager
def _torchvision_for_import():
    """Real torchvision when it imports; otherwise placeholders, only while laion-clap imports."""
    try:
        import torchvision  # noqa: F401

        yield
        return
    except Exception:  # not installed, or a wheel built for another torch ("torchvision::nms does not exist")
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
    # transformers decides once whether torchvision is available, when a model class is first
    # resolved; let it decide before the placeholder exists (else it takes the placeholder for
    # torchvision and the classes laion-clap imports fail to load).
    from transformers import BartModel, BartTokenizer, BertModel, BertTokenizer, RobertaModel, RobertaTokenizer  # noqa: F401

    modules = {}
    for name, attrs in _TORCHVISION_NAMES.items():
        module = types.ModuleType(name)
        module.__spec__ = importlib.machinery.ModuleSpec(name, None)
        for attr in attrs:
            setattr(module, attr, _NotAvailable)
        modules[name] = module
    for name, module in modules.items():
        if "." in name:
            parent, child = name.rsplit(".", 1)
            setattr(modules[parent], child, module)
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name in modules:
            sys.modules.pop(name, None)


@contextlib.contextmanager
def _working_dir(path: Path | None):
    if path is None:
        yield
        return
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def check_text_models(folder: str, where: str) -> Path:
    """The folder of laion-clap's text models, checked to hold all three."""
    p = Path(folder).expanduser().resolve()
    if not p.is_dir():
        raise CheckpointError(f"{where}: text_models {p}: not a folder")
    missing = [name for name in TEXT_MODELS if not (p / name).is_dir()]
    if missing:
        raise CheckpointError(f"{where}: text_models {p}: missing {', '.join(missing)} "
                              "(laion-clap loads these by name; see docs/neural.md)")
    return p


class LaionClap:
    """A laion-clap CLAP_Module with a checkpoint loaded; embeds text and 10-s audio windows."""

    rate = RATE
    window_samples = WINDOW_SAMPLES

    def __init__(self, checkpoint: Path, amodel: str, fusion: bool, device: str, text_models: Path | None,
                 where: str):
        import torch

        if fusion:
            try:
                import torchaudio  # noqa: F401  (laion-clap computes fusion mels with it)
            except Exception as exc:
                raise CheckpointError(f"{where}: laion_fusion=true needs torchaudio, "
                                      "which does not import here") from exc
        with _working_dir(text_models):
            try:
                with _torchvision_for_import():
                    import laion_clap
                    from laion_clap.hook import load_state_dict
            except ImportError as exc:
                raise CheckpointError(f"{where}: the laion-clap loader needs the laion-clap package "
                                      f"({exc}); see docs/neural.md") from None
            except OSError as exc:  # a text model the package loads at import is not available offline
                raise CheckpointError(f"{where}: laion-clap could not load its tokenizers offline ({exc}); "
                                      "give text_models or prepare the Hugging Face cache (docs/neural.md)") from None
            try:
                self.module = laion_clap.CLAP_Module(enable_fusion=fusion, device=device, amodel=amodel)
            except OSError as exc:
                raise CheckpointError(f"{where}: laion-clap could not load roberta-base offline ({exc}); "
                                      "give text_models or prepare the Hugging Face cache (docs/neural.md)") from None
            except RuntimeError as exc:
                raise CheckpointError(f"{where}: laion_amodel={amodel!r}: {exc}") from None
        try:
            state = load_state_dict(str(checkpoint), skip_params=True)
            self.module.model.load_state_dict(state)
        except Exception as exc:  # not a torch file, truncated, or another architecture's weights
            raise load_failed(where, checkpoint, exc) from exc
        self.module.eval()
        self._torch = torch

    def text(self, texts: list[str]) -> np.ndarray:
        """(N,) texts → (N, D) unit vectors."""
        with self._torch.no_grad():
            return np.asarray(self.module.get_text_embedding(list(texts)), dtype=np.float32)

    def audio(self, windows: np.ndarray) -> np.ndarray:
        """(N, 480000) mono float32 at 48 kHz → (N, D) unit vectors."""
        with self._torch.no_grad():
            return np.asarray(self.module.get_audio_embedding_from_data(windows), dtype=np.float32)
