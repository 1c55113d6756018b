"""The report's plots: matplotlib figures saved as SVG and embedded as data: URIs.

Figures are made with `matplotlib.figure.Figure` and saved through the Agg-family canvas,
never through pyplot, so no GUI backend and no global figure state is involved (the report
is also written at the end of a render, inside the driver). Text stays text in the SVG
(`svg.fonttype: none`), which keeps each plot at a few tens of KB; the tempo scatter is
rasterised inside its SVG, so 5,000 points do not become 5,000 SVG paths.

A plot is drawn only when there is something to draw: no scores, no plot.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import timedelta

from .data import ReportData

COLOURS = {"accepted": "#2e7d32", "rejected": "#ef8f00", "failed": "#c62828", "missing": "#9e9e9e"}
STAGE_COLOURS = {"planner": "#5c6bc0", "generator": "#26a69a", "verifier": "#ab47bc", "sink": "#8d6e63"}
SIZE = (5.2, 2.9)  # inches; at the page's 100 px per inch about 520 × 290
# Bin widths tried for throughput (seconds), shortest first: the first that gives at most MAX_BINS bins.
INTERVALS_S = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)
MAX_BINS = 48


@dataclass
class Plot:
    title: str
    caption: str
    uri: str  # data:image/svg+xml;base64,...


def plots(data: ReportData) -> list[Plot]:
    """Every plot the data has something for, in the page's order."""
    out = []
    for draw in (score_plot, attempts_plot, tempo_plot, stage_plot, throughput_plot, gpu_plot):
        plot = draw(data)
        if plot is not None:
            out.append(plot)
    return out


def _figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=SIZE, layout="constrained")
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _uri(fig) -> str:
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "songfarm"}):  # text as text; stable ids
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def score_plot(data: ReportData) -> Plot | None:
    scores = data.plotted.scores
    if not any(scores.values()):
        return None
    fig, ax = _figure()
    statuses = [s for s in ("accepted", "rejected") if scores.get(s)]
    ax.hist([scores[s] for s in statuses], bins=20, range=(0.0, 1.0), stacked=True,
            color=[COLOURS[s] for s in statuses], label=statuses)
    ax.axvline(data.min_score, color="#333", linestyle="--", linewidth=1, label=f"min_score {data.min_score:g}")
    ax.set(xlabel="verifier score of the delivered take", ylabel="tracks")
    ax.legend(frameon=False, fontsize=8)
    return Plot("Score distribution", "Delivered takes by score; the dashed line is the job's min_score.", _uri(fig))


def attempts_plot(data: ReportData) -> Plot | None:
    if not data.attempts:
        return None
    fig, ax = _figure()
    ax.bar([str(n) for n in data.attempts], list(data.attempts.values()), color="#546e7a")
    ax.set(xlabel=f"render rounds needed (of {data.max_attempts})", ylabel="tracks")
    return Plot("Attempts", "How many render rounds the tracks needed.", _uri(fig))


def tempo_plot(data: ReportData) -> Plot | None:
    points = data.plotted.tempo
    if not points:
        return None
    fig, ax = _figure()
    for passed, label, colour in ((True, "tempo check passed", COLOURS["accepted"]),
                                  (False, "tempo check failed", COLOURS["failed"])):
        xs = [p for p, _, ok in points if ok == passed]
        ys = [m for _, m, ok in points if ok == passed]
        if xs:
            ax.scatter(xs, ys, s=12, alpha=0.7, color=colour, label=label, rasterized=True)
    low = min(min(p, m) for p, m, _ in points) * 0.95
    high = max(max(p, m) for p, m, _ in points) * 1.05
    ax.plot([low, high], [low, high], color="#999", linewidth=1)
    ax.set(xlabel="planned tempo (BPM)", ylabel="measured tempo (BPM)", xlim=(low, high), ylim=(low, high))
    ax.legend(frameon=False, fontsize=8)
    return Plot("Planned against measured tempo", "Each delivered track; on the diagonal the audio keeps the "
                "plan's tempo.", _uri(fig))


def stage_plot(data: ReportData) -> Plot | None:
    wall = {k: v for k, v in data.usage.wall_s.items() if v > 0}
    if not wall:
        return None
    total = sum(wall.values())
    fig, ax = _figure()
    names = list(wall)
    ax.barh(names, [100 * wall[n] / total for n in names], color=[STAGE_COLOURS[n] for n in names])
    ax.invert_yaxis()
    for i, n in enumerate(names):
        ax.text(100 * wall[n] / total + 1, i, f"{wall[n]:,.1f} s", va="center", fontsize=8)
    ax.set(xlabel="share of the stage time (%)", xlim=(0, 115))
    return Plot("Each stage's share of the time", "Wall seconds summed over every take of every track, all rounds "
                "(the stages run at once on a farm, so the sum is more than the wall time).", _uri(fig))


def throughput_plot(data: ReportData) -> Plot | None:
    landed = sorted(data.plotted.landed)
    if len(landed) < 2:
        return None
    start, span = landed[0][0], (landed[-1][0] - landed[0][0]).total_seconds()
    seconds = next((w for w in INTERVALS_S if span / w < MAX_BINS), INTERVALS_S[-1])
    width = timedelta(seconds=seconds)
    every = f"{seconds} s" if seconds < 60 else f"{seconds // 60} min" if seconds < 3600 else f"{seconds // 3600} h"
    bins = int(span // width.total_seconds()) + 1
    fig, ax = _figure()
    bottom = [0] * bins
    for status in ("accepted", "rejected", "failed"):
        counts = [0] * bins
        for stamp, s in landed:
            if s == status:
                counts[min(bins - 1, int((stamp - start) / width))] += 1
        if any(counts):
            ax.bar([start + i * width for i in range(bins)], counts, width=width * 0.9, bottom=bottom, align="edge",
                   color=COLOURS[status], label=status)
            bottom = [b + c for b, c in zip(bottom, counts)]
    ax.set(xlabel="time (UTC)", ylabel=f"tracks per {every}")
    ax.legend(frameon=False, fontsize=8)
    fig.autofmt_xdate()
    return Plot("Throughput over the run", f"Tracks landed in the manifest per {every} "
                "(each track's newest row).", _uri(fig))


def gpu_plot(data: ReportData) -> Plot | None:
    nodes = data.gpu_nodes
    if not nodes:
        return None
    fig, ax = _figure()
    names = sorted(nodes)
    left = [0.0] * len(names)
    for stage in ("planner", "generator", "verifier"):
        values = [nodes[n].get(stage, 0.0) for n in names]
        if any(values):
            ax.barh(names, values, left=left, color=STAGE_COLOURS[stage], label=stage)
            left = [a + b for a, b in zip(left, values)]
    ax.invert_yaxis()
    ax.set(xlabel="GPU seconds held")
    ax.legend(frameon=False, fontsize=8)
    return Plot("GPU busy time per node", "Seconds a stage's actor held its GPUs, per node.", _uri(fig))
