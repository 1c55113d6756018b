"""The one way a benchmark writes its results: JSON under bench/results/ (or --json), then a
line saying where (bench/run_all.py reads these files into one table)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_results(path: str | Path, doc: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str))
    print(f"wrote {path}")
