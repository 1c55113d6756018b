"""Where a neural backend runs: device and dtype choice, and out-of-memory halving.

Shared by the diffusion generator, the CLAP verifier and the LLM planner. torch is
imported inside the functions, so validating a job that names a neural backend (which
imports the backend's module for its config class) does not load torch.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable, Sequence, TypeVar

from .errors import SongfarmError

log = logging.getLogger("songfarm.devices")

if TYPE_CHECKING:
    import torch

DTYPES = ("fp32", "fp16", "bf16")
T = TypeVar("T")
R = TypeVar("R")


class DeviceError(SongfarmError, ValueError):
    """A device or dtype option that cannot be honoured."""


def choose_device(requested: str, where: str) -> torch.device:
    """'auto' → the first CUDA GPU, else the CPU with a warning; 'cpu', 'cuda', 'cuda:N' as given.

    Asking for CUDA on a machine without it is an error (a job that names a GPU should not
    silently run a hundred times slower); 'auto' is the way to say "a GPU if there is one".
    """
    import torch

    requested = (requested or "auto").strip().lower()
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        log.warning("%s: no CUDA GPU here; running on the CPU (slow for real checkpoints)", where)
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise DeviceError(f"{where}: device={requested!r}: not a device (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"{where}: device={requested!r}: no CUDA GPU on this machine (use device=auto "
                              "to fall back to the CPU)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"{where}: device={requested!r}: this machine has {torch.cuda.device_count()} GPU(s)")
    elif device.type != "cpu":
        raise DeviceError(f"{where}: device={requested!r}: only cpu and cuda are supported")
    return device


def choose_dtype(requested: str, device: torch.device, where: str) -> torch.dtype:
    """'auto' → bf16 on GPUs that support it, else fp16; always fp32 on the CPU.

    Half precision on the CPU is slow and, for these models, numerically poor; an explicit
    fp16/bf16 on the CPU is therefore overridden to fp32 with a warning.
    """
    import torch

    requested = (requested or "auto").strip().lower()
    if requested not in ("auto", *DTYPES):
        raise DeviceError(f"{where}: dtype={requested!r}: use auto, fp32, fp16 or bf16")
    if device.type == "cpu":
        if requested in ("fp16", "bf16"):
            log.warning("%s: dtype=%s on the CPU; using fp32", where, requested)
        return torch.float32
    if requested == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[requested]


def is_oom(exc: BaseException) -> bool:
    """True for a CUDA (or CPU allocator) out-of-memory error."""
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def free_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_halving(items: Sequence[T], run: Callable[[Sequence[T]], list[R]],
                on_split: Callable[[int, int], None] | None = None, isolate: bool = False) -> list[R | Exception]:
    """`run(items)`, and on out-of-memory `run` each half, recursively, down to single items.

    `run` returns one result per item, in order. A single item that still runs out of
    memory raises — or, with `isolate`, gets a RuntimeError in its place in the results,
    so the caller fails that row alone. Other errors propagate unchanged. Results do not
    depend on the split as long as `run` seeds each item on its own (it must).
    `on_split(old, new)` is told each time a batch of `old` items is retried as `new`.
    """
    try:
        return run(items)
    except Exception as exc:
        if not is_oom(exc):
            raise
        if len(items) <= 1:
            if not isolate:
                raise
            # A fresh exception: the original holds the frames (and tensors) of the failed call.
            failed: list[R | Exception] = [RuntimeError(f"out of memory even for a single item: "
                                                        f"{str(exc).splitlines()[0][:200]}")]
            free_memory()
            return failed
    free_memory()
    half = (len(items) + 1) // 2
    if on_split is not None:
        on_split(len(items), half)
    log.warning("out of memory on a batch of %d; retrying as batches of %d", len(items), half)
    return (run_halving(items[:half], run, on_split, isolate)
            + run_halving(items[half:], run, on_split, isolate))
