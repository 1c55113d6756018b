"""Backend spec → stage instance: one dict per stage, no registry machinery.

A spec is a backend name plus an options dict, as a job file's `backends:` section gives
them:

    backends:
      generator: {name: synth, options: {soundfont: /path/to/GM.sf2}}

Each backend module defines a config dataclass; options are checked against its fields
here so a typo fails at start-up with the stage, the option and the known options.
A backend's module is imported only when that backend is chosen, so the embedded
defaults never import torch.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from .errors import SongfarmError

# (stage, backend name) → (module under models/, config class, stage class)
_BACKENDS = {
    ("planner", "rules"): ("planners.rules", "RulesPlannerConfig", "RulesPlanner"),
    ("planner", "llm"): ("planners.llm", "LLMPlannerConfig", "LLMPlanner"),
    ("generator", "synth"): ("generators.synth", "SynthConfig", "SynthGenerator"),
    ("generator", "diffusion"): ("generators.diffusion", "DiffusionConfig", "DiffusionGenerator"),
    ("verifier", "features"): ("verifiers.features", "FeaturesConfig", "FeaturesVerifier"),
    ("verifier", "clap"): ("verifiers.clap", "ClapConfig", "ClapVerifier"),
}
STAGES = ("planner", "generator", "verifier")
DEFAULTS = {"planner": "rules", "generator": "synth", "verifier": "features"}


class BackendError(SongfarmError, ValueError):
    """An unknown backend, an unknown option or a bad option value."""


def build_config(config_cls: type, options: dict[str, Any] | None, where: str):
    """`config_cls(**options)` with errors that name the stage and the option."""
    options = dict(options or {})
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise BackendError(f"{where}: unknown option {unknown[0]!r} (known: {', '.join(sorted(known))})")
    try:
        return config_cls(**options)
    except (TypeError, ValueError) as exc:
        raise BackendError(f"{where}: {exc}") from exc


def check_backend(stage: str, name: str) -> None:
    if stage not in STAGES:
        raise BackendError(f"unknown stage {stage!r} (known: {', '.join(STAGES)})")
    if (stage, name) not in _BACKENDS:
        known = [n for s, n in _BACKENDS if s == stage]
        raise BackendError(f"backends.{stage}: unknown backend {name!r} (known: {', '.join(known)})")


def _load(stage: str, name: str) -> tuple[type, type]:
    check_backend(stage, name)
    module_name, config_name, class_name = _BACKENDS[(stage, name)]
    # Imported only when chosen: neural backends pull in torch and friends.
    module = importlib.import_module(f"{__package__}.{module_name}")
    return getattr(module, config_name), getattr(module, class_name)


def config_class(stage: str, name: str) -> type:
    """The config dataclass of a backend, to validate options without loading a model."""
    return _load(stage, name)[0]


def backend_version(stage: str, name: str, options: dict[str, Any] | None = None) -> str:
    """A backend's version without loading a model (a request fingerprint's input): the
    class's `version`, or where what it loads changes its audio beyond its options (the
    synth's SoundFont from the environment or a standard place) its `version_for(config)`."""
    config_cls, stage_cls = _load(stage, name)
    version_for = getattr(stage_cls, "version_for", None)
    if version_for is None:
        return str(stage_cls.version)
    return str(version_for(build_config(config_cls, options, f"backends.{stage} ({name})")))


def preflight(stage: str, name: str | None = None, options: dict[str, Any] | None = None,
              checkpoints: bool = True) -> None:
    """Every check of a backend spec that needs no model loaded: the name, each option, and
    with `checkpoints` a neural backend's checkpoint path (the class's `check_checkpoint`).
    Raises the SongfarmError `make` would raise for the same mistake, in a fraction of a second."""
    name = name or DEFAULTS[stage]
    config_cls, stage_cls = _load(stage, name)
    config = build_config(config_cls, options, f"backends.{stage} ({name})")
    check = getattr(stage_cls, "check_checkpoint", None)
    if checkpoints and check is not None:
        check(config)


def make(stage: str, name: str | None = None, options: dict[str, Any] | None = None):
    """Build the stage object for a backend spec (loads its model)."""
    name = name or DEFAULTS[stage]
    config_cls, stage_cls = _load(stage, name)
    return stage_cls(build_config(config_cls, options, f"backends.{stage} ({name})"))


def make_planner(name: str = "rules", options: dict[str, Any] | None = None):
    return make("planner", name, options)


def make_generator(name: str = "synth", options: dict[str, Any] | None = None):
    return make("generator", name, options)


def make_verifier(name: str = "features", options: dict[str, Any] | None = None):
    return make("verifier", name, options)
