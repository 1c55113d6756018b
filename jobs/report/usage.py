"""What a job used and what it cost: CPU and GPU seconds from the manifest, money from the run records.

The seconds are the manifest's usage columns (`<stage>_wall_s`, `_cpu_s`, `_gpu_s`: every take
of a track, all rounds). The cost is what the pools *held* over each run's wall time, so it
comes from the run records, and is there only when the job has prices: held hours by
jobs/estimate.py's rule (the estimate is set against it), money by models/prices.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...models.prices import Prices, priced_hours
from ...models.settings import STAGES

DELIVERED = ("accepted", "rejected")


@dataclass
class Usage:
    """Seconds per stage summed over the tracks with a manifest row."""

    wall_s: dict[str, float]  # planner / generator / verifier / sink → wall seconds
    cpu_s: dict[str, float]  # planner / generator / verifier → CPU seconds
    gpu_s: dict[str, float]  # planner / generator / verifier → GPU seconds held
    tracks: int  # tracks with a row (delivered or failed)
    audio_s: float  # seconds of audio delivered (accepted and rejected tracks)

    @property
    def cpu_total(self) -> float:
        return sum(self.cpu_s.values())

    @property
    def gpu_total(self) -> float:
        return sum(self.gpu_s.values())

    def per_track(self, seconds: float) -> float | None:
        return seconds / self.tracks if self.tracks else None

    def per_audio_minute(self, seconds: float) -> float | None:
        return seconds / (self.audio_s / 60.0) if self.audio_s else None


def usage_of(rows: list[dict[str, Any]]) -> Usage:
    """Usage of manifest rows (older rows without the usage columns count as 0)."""
    def total(column: str) -> float:
        return sum(float(r.get(column) or 0.0) for r in rows)

    wall = {stage: total(f"{stage}_wall_s") for stage in STAGES}
    wall["sink"] = total("sink_s")
    return Usage(wall_s=wall, cpu_s={s: total(f"{s}_cpu_s") for s in STAGES},
                 gpu_s={s: total(f"{s}_gpu_s") for s in STAGES}, tracks=len(rows),
                 audio_s=sum(float(r.get("duration_s") or 0.0) for r in rows if r.get("status") in DELIVERED))


def gpu_by_node(rows: list[dict[str, Any]], runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Node → stage → GPU seconds held, for the stages that held a GPU (`<stage>_gpu_s` > 0).
    A node is named by its IP where a run record knows it, else by the start of its Ray id."""
    ips = {nid: str(node.get("ip") or "") for run in runs for nid, node in (run.get("nodes") or {}).items()}
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        for stage in STAGES:
            gpu_s = float(row.get(f"{stage}_gpu_s") or 0.0)
            if gpu_s <= 0:
                continue
            nid = str(row.get(f"{stage}_node") or "")
            name = ips.get(nid) or (nid[:12] if nid else "this process")
            out.setdefault(name, {})[stage] = out.get(name, {}).get(stage, 0.0) + gpu_s
    return out


def held_hours(run: dict[str, Any], prices: Prices) -> tuple[dict[str, float], dict[str, float]]:
    """(resource-hours, node-hours) one run's pools and nodes held over its wall time, by the
    rule the estimate prices with (models/prices.py priced_hours), so the two compare."""
    nodes = [dict(node.get("resources") or {}) for node in (run.get("nodes") or {}).values()]
    return priced_hours(prices, run.get("pools") or {}, nodes, float(run.get("wall_s") or 0.0))


def run_cost(run: dict[str, Any], prices: Prices) -> float | None:
    """Money for what one run held; None without prices."""
    return prices.cost(*held_hours(run, prices)) if prices.given else None


def job_prices(job_prices: Prices, runs: list[dict[str, Any]]) -> Prices:
    """The job's prices, else those the newest run record carried (a report made from the
    folder alone, or a job file that has since lost its prices)."""
    if job_prices.given:
        return job_prices
    for run in reversed(runs):
        if run.get("prices"):
            return Prices.from_dict(run["prices"])
    return job_prices


def prices_text(prices: Prices) -> str:
    """'USD 0.048 per CPU-hour, USD 3.2 per gpu_worker node-hour'."""
    return ", ".join([f"{prices.currency} {p:g} per {name}-hour" for name, p in prices.per_hour.items()]
                     + [f"{prices.currency} {p:g} per {name} node-hour" for name, p in prices.node_types.items()])
