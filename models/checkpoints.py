"""Local checkpoint folders: checks that fail early with the path and the reason, and the
model id and revision a take or verdict reports.

No backend downloads anything: a checkpoint is a local folder (or file) a studio prepared
beforehand (docs/neural.md). These checks run in the backend's constructor, so a missing
or broken checkpoint stops the job at start-up, before any row runs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .errors import SongfarmError


class CheckpointError(SongfarmError, ValueError):
    """A checkpoint path that is missing, of the wrong kind, or cannot be loaded."""


def folder(path: str, where: str, must_have: tuple[str, ...] = (), what: str = "checkpoint folder") -> Path:
    """The checkpoint folder `path`, checked to exist and to hold each of `must_have`."""
    if not path or not str(path).strip():
        raise CheckpointError(f"{where}: checkpoint: required (a local {what}; see docs/neural.md)")
    p = Path(path).expanduser()
    if not p.exists():
        raise CheckpointError(f"{where}: checkpoint {p}: does not exist")
    if not p.is_dir():
        raise CheckpointError(f"{where}: checkpoint {p}: is a file, expected a {what}")
    for name in must_have:
        if not (p / name).is_file():
            raise CheckpointError(f"{where}: checkpoint {p}: no {name} (not a {what})")
    return p


def read_json(path: Path, where: str) -> dict[str, Any]:
    """A JSON object from a checkpoint's config file, or CheckpointError saying why not."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{where}: checkpoint {path}: unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{where}: checkpoint {path}: expected a JSON object")
    return data


def load_failed(where: str, path: Path | str, exc: BaseException) -> CheckpointError:
    """The error for a checkpoint the owning library refused to load (first line of its reason)."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return CheckpointError(f"{where}: checkpoint {path}: cannot load ({type(exc).__name__}"
                           f"{': ' + reason[:300] if reason else ''})")


def identity(path: Path, model_id: str = "", revision: str = "") -> str:
    """'<model id>@<revision>' for the manifest.

    Given values win. Otherwise: inside a Hugging Face cache (…/models--org--name/snapshots/<commit>)
    the repo id and commit; a folder made with `hf download --local-dir` records its commit
    in .cache/huggingface/download/*.metadata; failing both, the folder (or file) name and a
    short hash of its JSON configs (or of the file's size and head), so two different
    checkpoints never report the same revision.
    """
    path = path.resolve()
    if not model_id:
        model_id = path.name
        if path.parent.name == "snapshots" and path.parent.parent.name.startswith("models--"):
            model_id = path.parent.parent.name[len("models--"):].replace("--", "/")
    if not revision:
        revision = _cached_commit(path) or _content_hash(path)
    return f"{model_id}@{revision}"


def _cached_commit(path: Path) -> str:
    if path.parent.name == "snapshots":
        return path.name[:12]
    meta_dir = path / ".cache" / "huggingface" / "download"
    if meta_dir.is_dir():
        for meta in sorted(meta_dir.rglob("*.metadata")):
            first = meta.read_text(encoding="utf-8", errors="replace").splitlines()[:1]
            if first and len(first[0].strip()) == 40:
                return first[0].strip()[:12]
    return ""


def _content_hash(path: Path) -> str:
    h = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as f:
            h.update(str(path.stat().st_size).encode())
            h.update(f.read(1 << 20))
    else:
        for cfg in sorted(path.rglob("*.json")):
            if ".cache" in cfg.parts:
                continue
            h.update(str(cfg.relative_to(path)).encode())
            h.update(cfg.read_bytes())
    return "sha256:" + h.hexdigest()[:12]
