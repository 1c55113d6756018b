"""Verdict: the verifier's judgement of one take against its plan and prompt."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Check:
    name: str  # "tempo", "key", "loudness", "true_peak", "duration", "silence", "clipping", "energy", "clap"
    measured: float | str | None  # what the audio shows, in `unit`
    expected: float | str | None  # what the plan asked for
    tolerance: float | None  # allowed |measured - expected| (relative for tempo), None for categorical checks
    passed: bool
    unit: str = ""  # "bpm", "LUFS", "dBTP", "s", "", ...
    weight: float = 1.0  # share of the score
    detail: str = ""  # a short human-readable explanation, especially on failure
    summary: str = ""  # the outcome in words for the verdict's reason ("heard 140 BPM, double the planned 70")

    def __str__(self) -> str:
        mark = "ok" if self.passed else "FAIL"
        return f"{self.name}: {mark} measured={self.measured} expected={self.expected} {self.unit}".rstrip()


def _failure(c: Check) -> str:
    """One failed check for the reason: its summary when it has one, else measured vs expected."""
    if c.summary:
        return f"{c.name}: {c.summary}"
    return (f"{c.name} {c.measured} vs {c.expected}{(' ' + c.unit) if c.unit else ''}"
            + (f" ({c.detail})" if c.detail else ""))


@dataclass
class Verdict:
    score: float  # in [0, 1]: weighted share of checks passed, softened by how close misses were
    accepted: bool  # score >= min_score and no required check failed
    checks: list[Check] = field(default_factory=list)
    verifier: str = ""  # backend name and version
    seconds: float = 0.0  # wall time spent verifying

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.passed]

    def reason(self) -> str:
        """Why a take was rejected, one line ('' when accepted)."""
        if self.accepted:
            return ""
        return "; ".join(_failure(c) for c in self.checks if not c.passed) or f"score {self.score:.2f} too low"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Verdict":
        d = dict(d)
        d["checks"] = [Check(**c) for c in d.get("checks", [])]
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> "Verdict":
        return cls.from_dict(json.loads(text))

