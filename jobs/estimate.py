"""`songfarm estimate JOB`: how long a render of the job will take and what it will cost, before it runs.

It renders nothing at full size. It prints:

    1. the tracks and minutes of audio: the job's, and those a render would do now (tracks
       without a manifest row, or whose request or settings changed: jobs/render.py's rule;
       files are not re-verified here);
    2. the pools each stage will ask for, resolved as `songfarm render` resolves them, against
       what the cluster offers: with --address the cluster's nodes (cluster/capacity.py checks
       the asks, as render does), without it this machine as the local Ray render would start
       (its CPUs, SONGFARM_RAY_NUM_CPUS honoured, and the GPUs torch sees; Ray is not started);
    3. the predicted wall time, and the cost when the job has `prices:` (models/prices.py).

Where the per-stage costs come from (the `source`):

- "history": manifest rows of earlier runs with the same planner, generator and verifier
  names and versions, from the job's own folder and every other job folder under the same
  output root (`<output>/*/manifest/`); plus those folders' run records for Ray's start-up
  and the actors' (`ray_start_s`, `first_take_s`);
- "calibration": when there is no such row, or with --calibrate N: N of the job's own
  prompts (CALIBRATION_TRACKS by default) rendered in this process through the same
  lifecycle and stage shells as every driver (pipelines/core/local.py), at lengths spread
  from half the job's typical length up to it (at most CALIBRATION_MAX_S): shorter tracks
  would fit the costs' fixed part better but pass the checks less often than the job's.

The model (predict), kept simple on purpose:

- each stage's cost is fitted as `fixed + per_audio × seconds of audio` per unit of work
  (the planner's unit is a round of a track, the generator's and verifier's a take), wall
  and CPU seconds alike: a least-squares line where the measured lengths differ, else
  proportional to the length;
- the share of tracks that needed more than k rounds (`reach`) is taken from the measured
  tracks, and a round runs while it is expected to hold at least half a track;
- in a round the stages stream: the round lasts as long as its slowest stage (its work /
  its actors), or as the cluster's CPUs need for every stage's CPU seconds if that is
  longer, plus a tail and the actors' start-up (each round is a Ray Data execution of its
  own, with fresh actor pools). The tail is the first group of tracks' way through the
  stages before the slowest one and the last group's through those after it; a group is the
  tracks that travel as one block (the biggest batch_size upstream: a planner batch of 16
  hands its 16 tracks on together);
- the actors' start-up is measured from run records: the first take's time less the first
  group's way through, capped by what the model leaves unexplained of the run's wall time;
  what is still unexplained, as a share of the streaming time, is the overhead the
  streaming time is stretched by (defaults for both, measured here, where no record says);
- pools start at min_actors; the slowest stage gains actors up to max_actors while the
  cluster (or an autoscaler) has room and the round has batches for them;
- plus Ray's start-up once; cost is for the resources the pools hold for the whole wall
  time (what a cluster bills), priced by models/prices.py.

Not modelled one by one (the overhead takes them together): the driver's own work (the sink:
about 2 % of a take's time on 2 cores), Ray Data's scheduling and object transfers, processes
sharing cores. Ignored: other jobs on the cluster, an autoscaler's node boot time, a track's
length stated only in its prompt (counted as DEFAULT_DURATION_S), the backends' options (rows
match on names and versions), and that a history of other prompts or another min_score may
need more or fewer rounds than this job will.

`Estimate.to_dict()` is what `songfarm render` stores in the run record as `estimate`
(pipelines/delivery/runs.py), for the report to set against the actual run:

    tracks          tracks the estimate is for (those the render does)
    audio_s         seconds of audio they ask for
    wall_s          predicted wall seconds of the render (Ray start included): compare with the
                    run record's wall_s + ray_start_s
    startup_s       {ray: Ray start, actors: actor start-up summed over the rounds} (seconds)
    overhead        the share the streaming time was stretched by (see the model)
    rounds          render rounds expected; attempts: mean rounds per track
    stage_s         {planner, generator, verifier: wall seconds summed over every take}: the run
                    record's stage_s {plan, generate, verify}, or the manifest's <stage>_wall_s summed
    stage_cpu_s     {planner, generator, verifier: CPU seconds summed over every take}: the run
                    record's stage_cpu_s
    actors          {stage: actors the model gives each pool}; bottleneck: the slowest stage
    source          "history" or "calibration"; source_detail: what was measured, in words
    costs           {stage: {unit, fixed_s, per_audio_s, cpu_fixed_s, cpu_per_audio_s}}: the fitted costs
    cluster         where it was sized, in words; cpus, gpus: the cluster's totals
    cost            predicted money (null without prices); currency (null without prices)
    resource_hours  {resource: unit-hours held}; node_hours {priced node type: node-hours}
    made_at         ISO UTC time of the estimate
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from ..models.errors import SongfarmError
from ..models.job import Job
from ..models.prices import Prices, held_resource_hours, priced_hours
from ..models.request import DEFAULT_DURATION_S, MIN_DURATION_S, TrackRequest
from ..models.settings import STAGES
from ..pipelines.farm.round import fused_pool
from ..pipelines.core.lifecycle import STAGE_WALL

DEFAULT_RAY_START_S = {"local": 6.0, "cluster": 1.0}  # s: ray.init on 2 cores (architecture §7); a connect
# s per round (each round is a Ray Data execution with fresh pools): run records of the 20 × 10 s
# and the 100 × 30 s overnight job on 2 shared cores (2026-11) gave 8.4 s and 7.1 s
DEFAULT_ACTOR_START_S = 8.0
# The streaming time beyond the stages' own seconds (Ray Data's scheduling and transfers, the
# driver's sink, processes sharing cores): 18 % in the 100 × 30 s run's record on 2 cores.
DEFAULT_OVERHEAD = 0.15
CALIBRATION_TRACKS = 3  # tracks a calibration renders by default
CALIBRATION_LIMIT = 20  # the most --calibrate may ask for: it renders in this process, one track at a time
CALIBRATION_MAX_S = 30.0  # s: the longest calibration track (costs are fitted per second of audio)
HISTORY_ROWS = 5000  # the newest matching manifest rows used
UNITS = {"planner": "round", "generator": "take", "verifier": "take"}  # what a stage's cost is per
_JOB_FILES = re.compile(r"^([^/]+)/(?:manifest/[^/]+\.parquet|runs/[^/]+\.json)$")


class EstimateError(SongfarmError):
    """A problem with the estimate command's options."""


@dataclass
class StageCost:
    """Seconds one unit of a stage's work takes: `fixed_s + per_audio_s × seconds of audio`."""

    fixed_s: float = 0.0
    per_audio_s: float = 0.0

    def seconds(self, audio_s: float) -> float:
        return self.fixed_s + self.per_audio_s * audio_s

    @classmethod
    def fit(cls, samples: list[tuple[float, float]]) -> "StageCost":
        """A line through (seconds of audio, seconds taken) samples; never negative."""
        samples = [(d, s) for d, s in samples if d > 0 and s >= 0 and math.isfinite(s)]
        if not samples:
            return cls()
        ds = [d for d, _ in samples]
        if len(samples) >= 2 and max(ds) >= 1.5 * min(ds):
            mean_d, mean_s = statistics.fmean(ds), statistics.fmean(s for _, s in samples)
            slope = (sum((d - mean_d) * (s - mean_s) for d, s in samples)
                     / sum((d - mean_d) ** 2 for d in ds))
            fixed = mean_s - slope * mean_d
            if slope >= 0 and fixed >= 0:
                return cls(fixed, slope)
            if slope < 0:  # longer tracks were not slower: noise around a constant
                return cls(mean_s, 0.0)
        return cls(0.0, sum(s for _, s in samples) / sum(ds))  # proportional to the length


@dataclass
class Costs:
    """What the job's backends were measured to cost, and where that was measured."""

    wall: dict[str, StageCost]  # stage → wall seconds per unit (UNITS)
    cpu: dict[str, StageCost]  # stage → CPU seconds per unit (zeros where not measured)
    reach: list[float]  # reach[k]: share of tracks that needed more than k rounds (reach[0] = 1)
    source: str  # "history" | "calibration"
    detail: str  # what was measured, in words
    candidates: float = 1.0  # mean takes per round of the measured tracks
    ray_start_s: float | None = None  # from run records (None: a default)
    actor_start_s: float | None = None  # per round, from run records (None: a default)
    overhead: float | None = None  # share of the streaming time runs took beyond the model (None: a default)

    @property
    def attempts(self) -> float:
        """Mean rounds per track."""
        return sum(self.reach)


@dataclass
class Cluster:
    """What the pools are sized against."""

    where: str  # in words
    cpus: float
    gpus: float
    nodes: list[dict[str, float]]  # each node's resources
    local: bool  # a local Ray songfarm starts (Ray start-up as for a fresh one)
    autoscaler: bool = False  # an autoscaler can add nodes: pools may grow past these nodes
    notes: list[str] = field(default_factory=list)  # what fitting the pools changed
    problem: str = ""  # the CapacityError line when the pools can never run there


@dataclass
class Estimate:
    """A prediction for one render (fields in the module docstring)."""

    tracks: int
    audio_s: float
    wall_s: float
    startup_s: dict[str, float]
    overhead: float
    rounds: int
    attempts: float
    stage_s: dict[str, float]
    stage_cpu_s: dict[str, float]
    actors: dict[str, int]
    bottleneck: str
    source: str
    source_detail: str
    costs: dict[str, dict[str, Any]]
    cluster: str
    cpus: float
    gpus: float
    cost: float | None = None
    currency: str | None = None
    resource_hours: dict[str, float] = field(default_factory=dict)
    node_hours: dict[str, float] = field(default_factory=dict)
    made_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Estimate":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def lines(self, prices: Prices | None = None) -> list[str]:
        """The prediction, for a terminal."""
        s = self.startup_s
        from ..pipelines.farm.driver import duration_text  # the farm's own '1m32s', as its progress lines say it

        out = [f"predicted: {duration_text(self.wall_s)} wall for {_tracks(self.tracks)} "
               f"(Ray start {s.get('ray', 0):.0f} s, actor start-up {s.get('actors', 0):.0f} s over {self.rounds} "
               f"round{'s' if self.rounds != 1 else ''}, {self.attempts:.2f} rounds per track); slowest stage "
               f"{self.bottleneck} with {self.actors.get(self.bottleneck, 0)} actor(s)",
               "  stage seconds over every take: " + ", ".join(
                   f"{st} {self.stage_s[st]:.0f} s wall / {self.stage_cpu_s[st]:.0f} s CPU" for st in STAGES)]
        if self.cost is None:
            out.append("cost: not priced (the job has no `prices:` section; models/prices.py)")
        else:
            held = ", ".join([f"{k} {v:.3g} h" for k, v in self.resource_hours.items()]
                             + [f"{k} {v:.3g} node-h" for k, v in self.node_hours.items()])
            money = (prices or Prices(currency=self.currency or "")).format(self.cost)
            out.append(f"cost: {money} for the resources the pools hold ({held or 'nothing priced'})")
        return out


def _tracks(n: int) -> str:
    return f"{n} track" if n == 1 else f"{n} tracks"


def track_seconds(t: TrackRequest) -> float:
    """Seconds of audio a request asks for (a length stated only in the prompt counts as the default)."""
    return float(t.duration_s if t.duration_s is not None else DEFAULT_DURATION_S)


def _samples(row: dict[str, Any]) -> dict[str, tuple[float, float | None, float | None]]:
    """One track's measurements: stage → (seconds of audio, wall s per unit, CPU s per unit).
    `row` has the manifest's columns (a manifest row, or a calibration track's values); rows
    older than the <stage>_wall_s columns give the delivered take's plan_s / generate_s / verify_s."""
    audio_s = float(row.get("duration_s") or 0.0)
    rounds = max(1, int(row.get("attempts") or 1))
    takes = _takes(row) or rounds
    out = {}
    for stage in STAGES:
        units = rounds if stage == "planner" else takes
        wall, cpu = row.get(f"{stage}_wall_s"), row.get(f"{stage}_cpu_s")
        wall = wall / units if wall is not None else row.get(STAGE_WALL[stage])
        out[stage] = (audio_s, wall, cpu / units if cpu is not None else None)
    return out


def _takes(row: dict[str, Any]) -> int:
    """Takes the generator rendered for a track, over all its rounds (from takes_json)."""
    try:
        return sum(1 for t in json.loads(row.get("takes_json") or "[]") if int(t.get("candidate", -1)) >= 0)
    except (ValueError, TypeError, AttributeError):
        return 0


def costs_from_rows(rows: list[dict[str, Any]], source: str, detail: str) -> Costs | None:
    """Fit each stage's costs and the rounds' reach to measured tracks (None without any)."""
    delivered = [r for r in rows if r.get("status") in ("accepted", "rejected") and (r.get("duration_s") or 0) > 0]
    if not delivered:
        return None
    measured = [_samples(r) for r in delivered]
    wall = {s: StageCost.fit([(m[s][0], m[s][1]) for m in measured if m[s][1] is not None]) for s in STAGES}
    cpu = {s: StageCost.fit([(m[s][0], m[s][2]) for m in measured if m[s][2] is not None]) for s in STAGES}
    attempts = [max(1, int(r.get("attempts") or 1)) for r in rows]
    reach = [sum(1 for a in attempts if a > k) / len(attempts) for k in range(max(attempts))]
    takes = sum(_takes(r) for r in delivered)
    rounds = sum(max(1, int(r.get("attempts") or 1)) for r in delivered)
    return Costs(wall, cpu, reach, source, detail, candidates=max(1.0, takes / rounds))


def _backend_ids(job: Job) -> dict[str, str]:
    """The columns a history row must match: each stage's backend name and version."""
    from ..models.factory import backend_version

    out = {}
    for stage, spec in job.settings.backends.items():
        out[stage] = spec.name
        out[f"{stage}_version"] = backend_version(stage, spec.name, spec.options)  # options: e.g. a SoundFont
    return out


def _job_folders(job: Job) -> list[str]:
    """The job's own folder and every other job folder under its output root that has a
    manifest or run records (names, the job's first)."""
    from ..pipelines.delivery.storage import open_storage

    root = open_storage(job.output, s3_endpoint=job.s3_endpoint)
    names = {m.group(1) for path in root.list() if (m := _JOB_FILES.match(path))}
    return [job.name] + sorted(names - {job.name})


def measure_from_history(job: Job) -> Costs | None:
    """Costs measured by earlier runs with the job's backends and versions (see the module
    docstring), or None when there are none. Unreadable parts and records are skipped."""
    from ..pipelines.delivery.manifest import read_manifest_parts
    from ..pipelines.delivery.runs import read_runs
    from ..pipelines.delivery.storage import open_storage

    want = _backend_ids(job)
    columns = [*want, "status", "attempts", "takes_json", "duration_s", "plan_s", "generate_s", "verify_s",
               "rendered_at", *[f"{s}_{k}_s" for s in STAGES for k in ("wall", "cpu")]]
    rows, records, used = [], [], []
    for name in _job_folders(job):
        storage = open_storage(job.output.rstrip("/") + "/" + name, s3_endpoint=job.s3_endpoint)
        table = read_manifest_parts(storage).table
        found = [r for r in table.select(columns).to_pylist() if all(r[k] == v for k, v in want.items())]
        if found:
            rows += found
            records += read_runs(storage)
            used.append(name)
    if not rows:
        return None
    rows = sorted(rows, key=lambda r: r["rendered_at"] or datetime.min.replace(tzinfo=timezone.utc))[-HISTORY_ROWS:]
    backends = ", ".join(f"{want[s]} {want[s + '_version']}" for s in STAGES)
    costs = costs_from_rows(rows, "history", f"{_tracks(len(rows))} of earlier runs ({backends}) in "
                                             f"{', '.join(used)} under {job.output}")
    if costs is None:
        return None
    ray_starts = [float(r["ray_start_s"]) for r in records if _number(r.get("ray_start_s")) > 0]
    costs.ray_start_s = statistics.median(ray_starts) if ray_starts else None
    audio_s = statistics.median(float(r["duration_s"]) for r in rows if r.get("duration_s"))
    fitted = [f for r in records if (f := _fit_run(r, costs, audio_s)) is not None]
    if fitted:
        costs.actor_start_s = statistics.median(start for start, _ in fitted)
        overheads = [overhead for _, overhead in fitted if overhead is not None]
        costs.overhead = statistics.median(overheads) if overheads else None
    return costs


def _fit_run(record: dict[str, Any], costs: Costs, audio_s: float) -> tuple[float, float | None] | None:
    """(actor start-up per round, overhead) that make the model give a finished run's wall time.
    The start-up is the first take's time less the first group's way through the stages (but
    no more than the model leaves unexplained); the overhead is what is still unexplained, as
    a share of the streaming time, from runs that streamed longer than they started (in a
    shorter one the start-up swallows it). None for a record without the numbers."""
    try:
        first, wall, rounds = _number(record.get("first_take_s")), _number(record.get("wall_s")), int(record["rounds"])
        tracks = int(record.get("to_render") or 0)
        if record.get("state") != "finished" or first <= 0 or wall <= 0 or rounds < 1 or tracks < 1:
            return None
        fused = bool(record.get("fused"))
        pools = {s: record["pools"]["fused" if fused else s] for s in STAGES}
        work = {s: _number(record["stage_s"].get(STAGE_WALL[s].removesuffix("_s"))) for s in STAGES}
        cpu_work = {s: _number(record["stage_cpu_s"].get(s)) for s in STAGES}
        actors = {s: max(1, int(_number(pools[s].get("actors")))) for s in STAGES}
        batches = {s: int(_number(pools[s].get("batch_size")) or 1) for s in STAGES}
        cpus = sum(_number((n.get("resources") or {}).get("CPU")) for n in record["nodes"].values())
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    one = _one_track(costs, audio_s, round(costs.candidates))
    group = _group(batches, round(costs.candidates), tracks)
    slowest = max(STAGES, key=lambda s: work[s] / actors[s])
    busy = _busy(work, cpu_work, actors, cpus, fused)
    unexplained = wall - busy - (0.0 if fused else rounds * group * (sum(one.values()) - one[slowest]))
    starts = 1 if fused else rounds  # fused actors start once and run every round
    start = max(0.0, min(first - group * sum(one.values()), unexplained / starts))
    if busy <= starts * start:
        return start, None
    return start, max(0.0, (unexplained - starts * start) / busy)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def calibration_lengths(job: Job, n: int) -> list[float]:
    """Seconds of audio of the n calibration tracks: from half the job's median
    length (at most CALIBRATION_MAX_S) up to it, so the fit sees how the cost grows."""
    top = min(CALIBRATION_MAX_S, statistics.median(track_seconds(t) for t in job.tracks))
    low = max(MIN_DURATION_S, top / 2)
    return [top] if n == 1 else [round(low + (top - low) * i / (n - 1), 2) for i in range(n)]


def calibrate(job: Job, n: int = CALIBRATION_TRACKS, log: Callable[[str], None] | None = None) -> Costs:
    """Render n of the job's own tracks in this process (calibration_lengths) and measure them."""
    from ..pipelines.core.local import render_track
    from ..pipelines.core.shell import stage_shells

    if not job.tracks:
        raise EstimateError(f"{job.source or job.name}: the job has no tracks to calibrate with")
    settings = job.settings
    t0 = time.perf_counter()
    shells = stage_shells(settings)
    built_s = time.perf_counter() - t0
    # Not counted: the first call of a stage pays for caches and lazy imports, as an actor
    # does in its start-up rather than on every take.
    warm = dataclasses.replace(job.tracks[0], duration_s=MIN_DURATION_S, candidates=1)
    render_track(warm, shells, dataclasses.replace(settings, max_attempts=1))
    lengths = calibration_lengths(job, n)
    rows = []
    t1 = time.perf_counter()
    for i, audio_s in enumerate(lengths):
        request = dataclasses.replace(job.tracks[i % len(job.tracks)], duration_s=audio_s)
        life = render_track(request, shells, settings).life
        failure = life.failure or {}
        rows.append({**life.usage_values(), "status": life.status, "attempts": life.rounds,
                     "takes_json": json.dumps(life.takes), "duration_s": audio_s,
                     "error": f"{request.id}: {failure.get('error_stage')}: {failure.get('error')}" if failure else ""})
        if log:
            log(f"songfarm: calibration track {i + 1}/{n}: {request.id} at {audio_s:g} s: {life.status} after "
                f"{life.rounds} round(s)")
    took = time.perf_counter() - t1
    detail = (f"calibration: {_tracks(n)} of the job's prompts ({', '.join(f'{d:g}' for d in lengths)} s of audio) "
              f"rendered in this process in {took:.1f} s (stages built in {built_s:.1f} s)")
    costs = costs_from_rows(rows, "calibration", detail)
    if costs is None:
        raise EstimateError(f"calibration: none of the {_tracks(n)} rendered; the first failed with "
                            f"{rows[0]['error']}")
    return costs


def _stage_seconds(cost: StageCost, stage: str, t: TrackRequest) -> float:
    """Seconds one round of track t takes at a stage (its candidates' takes)."""
    return cost.seconds(track_seconds(t)) * (1 if stage == "planner" else t.candidates)


def _one_track(costs: Costs, audio_s: float, candidates: int) -> dict[str, float]:
    """Wall seconds one round of a track takes at each stage: its plan, its takes, their verdicts."""
    return {s: costs.wall[s].seconds(audio_s) * (1 if s == "planner" else candidates) for s in STAGES}


def _group(batch_sizes: dict[str, int], candidates: int, tracks: int) -> int:
    """Tracks that go through the stages together: a stage merges blocks into its batch and
    hands on one block per task (up to Ray Data's block size), so the biggest batch upstream
    sets it (the verifier's batch counts takes)."""
    biggest = max(batch_sizes["planner"], batch_sizes["generator"], math.ceil(batch_sizes["verifier"] / candidates))
    return max(1, min(tracks, biggest))


def _size_pools(job: Job, work: dict[str, float], tracks: list[TrackRequest], cluster: Cluster) -> dict[str, int]:
    """Actors per stage: the minimum pools, then the slowest stage grows while it may."""
    from ..cluster.capacity import min_pools_need, stage_ask

    actors = {s: job.resources[s].min_actors for s in STAGES}
    totals: dict[str, float] = {}
    for node in cluster.nodes:
        for k, v in node.items():
            totals[k] = totals.get(k, 0.0) + v
    free = {k: totals.get(k, 0.0) - v for k, v in min_pools_need(job.resources).items()}
    rows = {"planner": len(tracks), "generator": len(tracks), "verifier": sum(t.candidates for t in tracks)}
    while True:
        stage = max(STAGES, key=lambda s: work[s] / max(1, actors[s]))
        res, ask = job.resources[stage], stage_ask(job.resources[stage])
        useful = math.ceil(rows[stage] / max(1, res.batch_size))
        room = cluster.autoscaler or all(free.get(k, totals.get(k, 0.0)) >= v for k, v in ask.items())
        if actors[stage] >= min(res.max_actors, useful) or not room:
            return actors
        actors[stage] += 1
        for k, v in ask.items():
            free[k] = free.get(k, totals.get(k, 0.0)) - v


def _busy(work: dict[str, float], cpu_work: dict[str, float], actors: dict[str, int], cpus: float,
          fused: bool = False) -> float:
    """Seconds a round's streaming takes: its slowest stage's work over its actors (with
    fused stages, every stage's work over the one pool's actors), or the cluster's CPUs'
    share of every stage's CPU seconds when that is longer."""
    if fused:
        stream = sum(work.values()) / max(1, actors["generator"])
    else:
        stream = max(work[s] / max(1, actors[s]) for s in STAGES)
    return max(stream, sum(cpu_work.values()) / cpus if cpus > 0 else 0.0)


def predict(job: Job, tracks: list[TrackRequest], costs: Costs, cluster: Cluster) -> Estimate:
    """The wall time and cost of rendering `tracks` of `job` (its resources resolved for
    `cluster`) with `costs` (the model: module docstring)."""
    n = len(tracks)
    work = {s: sum(_stage_seconds(costs.wall[s], s, t) for t in tracks) for s in STAGES}  # s of a full round
    cpu_work = {s: sum(_stage_seconds(costs.cpu[s], s, t) for t in tracks) for s in STAGES}
    fused = fused_pool(job.resources)  # the farm fuses such stages (pipelines/farm/round.py)
    if fused is not None:  # one pool at its minimum: every embedded profile has min = max
        actors = {s: fused.min_actors for s in STAGES}
    else:
        actors = _size_pools(job, work, tracks, cluster) if n else {s: job.resources[s].min_actors for s in STAGES}
    bottleneck = max(STAGES, key=lambda s: work[s] / max(1, actors[s]))
    # A round streams its tracks through the slowest stage; before it the first group of
    # tracks has to come through the stages upstream and after it the last group through
    # those downstream: the tail.
    mean_s = statistics.fmean(track_seconds(t) for t in tracks) if n else 0.0
    mean_c = max(1, round(statistics.fmean(t.candidates for t in tracks))) if n else 1
    one = _one_track(costs, mean_s, mean_c)
    group = _group({s: job.resources[s].batch_size for s in STAGES}, mean_c, n)
    # Fused, a track's whole round is one actor's work: no stage waits on another's tail.
    tail = group * (sum(one.values()) - one[bottleneck]) if n and fused is None else 0.0
    actor_start = DEFAULT_ACTOR_START_S if costs.actor_start_s is None else costs.actor_start_s
    overhead = DEFAULT_OVERHEAD if costs.overhead is None else costs.overhead
    ray_start = costs.ray_start_s if costs.ray_start_s is not None else \
        DEFAULT_RAY_START_S["local" if cluster.local else "cluster"]
    shares = [1.0] + [r for r in costs.reach[1:job.settings.max_attempts] if n * r >= 0.5] if n else []
    busy = sum(share * _busy(work, cpu_work, actors, cluster.cpus, fused is not None) * (1 + overhead) + tail
               for share in shares)
    starts = 1 if fused is not None else len(shares)  # fused actors run every round: one start
    wall_s = ray_start + starts * actor_start + busy
    held = {"fused": fused} if fused is not None else {s: job.resources[s] for s in STAGES}
    pools = {name: {"actors": fused.min_actors if name == "fused" else actors[name], "num_cpus": res.num_cpus,
                    "num_gpus": res.num_gpus, "resources": dict(res.resources)} for name, res in held.items()}
    resource_hours, node_hours = priced_hours(job.prices, pools, cluster.nodes, wall_s)
    if not job.prices.given:
        resource_hours = held_resource_hours(pools, wall_s)
    share_sum = sum(shares)
    return Estimate(
        tracks=n, audio_s=sum(track_seconds(t) for t in tracks), wall_s=round(wall_s, 1),
        startup_s={"ray": round(ray_start, 1), "actors": round(starts * actor_start, 1)},
        overhead=round(overhead, 3),
        rounds=len(shares), attempts=round(share_sum, 3),
        stage_s={s: round(share_sum * work[s], 1) for s in STAGES},
        stage_cpu_s={s: round(share_sum * cpu_work[s], 1) for s in STAGES},
        actors=actors, bottleneck=bottleneck, source=costs.source, source_detail=costs.detail,
        costs={s: {"unit": UNITS[s], "fixed_s": round(costs.wall[s].fixed_s, 4),
                   "per_audio_s": round(costs.wall[s].per_audio_s, 5), "cpu_fixed_s": round(costs.cpu[s].fixed_s, 4),
                   "cpu_per_audio_s": round(costs.cpu[s].per_audio_s, 5)} for s in STAGES},
        cluster=cluster.where, cpus=cluster.cpus, gpus=cluster.gpus,
        cost=job.prices.cost(resource_hours, node_hours), currency=job.prices.currency if job.prices.given else None,
        resource_hours={k: round(v, 4) for k, v in resource_hours.items()},
        node_hours={k: round(v, 4) for k, v in node_hours.items()},
        made_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))




def local_gpus() -> int:
    """GPUs the project's device code would use here (torch's CUDA devices; 0 without torch)."""
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def size_for_cluster(job: Job, address: str | None) -> Cluster:
    """Resolve `job.resources` as `songfarm render` would (in place) and say what the cluster
    offers. Without an address: this machine, as the local Ray render starts, without
    starting it; with one: connect, read the nodes and check the asks (cluster/capacity.py)."""
    from ..cluster.capacity import CapacityError, autoscaler_node_types, check_capacity, node_offers
    from ..cluster.connect import connect, disconnect, local_cpus, starts_local_ray
    from ..cluster.profiles import resolve
    from .render import gpu_stages

    if starts_local_ray(address):
        cpus = local_cpus()
        gpus = float(local_gpus())
        job.resources, notes = resolve(job.resources, cpus, gpus, gpu_stages(job), fit=True)
        node = {"CPU": cpus, **({"GPU": gpus} if gpus else {})}
        return Cluster(f"this machine, as the local Ray `songfarm render` starts ({cpus:g} CPUs, "
                       f"{f'{gpus:g} GPUs' if gpus else 'no GPU'}; Ray not started)", cpus, gpus, [node], True,
                       notes=notes)
    info = connect(address)
    try:
        nodes, types = node_offers(), autoscaler_node_types()
    finally:
        disconnect(info)
    job.resources, notes = resolve(job.resources, info.cpus, info.gpus, gpu_stages(job), fit=False)
    shape = f"{len(nodes)} node{'s' if len(nodes) != 1 else ''}, {info.cpus:g} CPUs, {info.gpus:g} GPUs"
    shape += ", an autoscaler" if types is not None else ""
    cluster = Cluster(f"the cluster at {info.address} ({shape})",
                      info.cpus, info.gpus, nodes, False, autoscaler=types is not None, notes=notes)
    try:
        check_capacity(job.resources, nodes, types)
    except CapacityError as exc:
        cluster.problem = str(exc)
    return cluster


def pool_lines(job: Job, cluster: Cluster) -> list[str]:
    """What each stage asks for, against what the cluster offers."""
    from ..cluster.capacity import format_ask, min_pools_need, stage_ask

    out = [f"cluster: {cluster.where}"]
    for stage in STAGES:
        res = job.resources[stage]
        out.append(f"  {stage:<9} {job.settings.backends[stage].name:<9} asks {format_ask(stage_ask(res))} per actor "
                   f"× {res.min_actors}–{res.max_actors} actors, batch {res.batch_size}")
    totals: dict[str, float] = {}
    for node in cluster.nodes:
        for k, v in node.items():
            totals[k] = totals.get(k, 0.0) + v
    out.append(f"  the minimum pools hold {format_ask(min_pools_need(job.resources))} of "
               f"{format_ask({k: v for k, v in totals.items() if v})}"
               + ("; an autoscaler can add nodes" if cluster.autoscaler else ""))
    out += [f"  note: {note}" for note in cluster.notes]
    return out


def estimate_for_render(job: Job, todo: list[TrackRequest], cluster_cpus: float, cluster_gpus: float,
                        local: bool = True, ray_start_s: float | None = None) -> dict[str, Any] | None:
    """The estimate `songfarm render` stores in its run record (Estimate.to_dict()), from history
    only (never a calibration during a render), for `job.resources` as already resolved; None
    when there is no history or it cannot be read. Never raises: records inform, never decide."""
    try:
        costs = measure_from_history(job)
        if costs is None:
            return None
        if ray_start_s is not None:
            costs.ray_start_s = ray_start_s  # measured already by the time render asks
        node = {"CPU": float(cluster_cpus), **({"GPU": float(cluster_gpus)} if cluster_gpus else {})}
        where = f"{'a local Ray' if local else 'a cluster'} of {cluster_cpus:g} CPUs, {cluster_gpus:g} GPUs"
        return predict(job, todo, costs, Cluster(where, float(cluster_cpus), float(cluster_gpus), [node],
                                                 local)).to_dict()
    except Exception:  # odd history (a foreign folder, a store hiccup) must never stop a render
        return None


def tracks_to_render(job: Job) -> list[TrackRequest]:
    """The tracks a `songfarm render` would do now: no manifest row, or a changed request or
    settings (jobs/render.py's rule; the files are not re-verified here)."""
    from ..pipelines.delivery.manifest import read_manifest_parts
    from ..pipelines.delivery.storage import open_storage
    from .render import changed_tracks, select_tracks

    current = read_manifest_parts(open_storage(job.location, s3_endpoint=job.s3_endpoint)).current()
    return select_tracks(job.tracks, current, changed=changed_tracks(job.tracks, current, job.settings))


def parse_calibrate(value: Any) -> int | None:
    """--calibrate N: None (only when there is no history) or an integer in [1, CALIBRATION_LIMIT]."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= CALIBRATION_LIMIT:
        raise EstimateError(f"--calibrate {value!r}: give a number of tracks in [1, {CALIBRATION_LIMIT}]")
    return value


def estimate_main(args: argparse.Namespace) -> int:
    """`songfarm estimate JOB [--output] [--s3-endpoint] [--address] [--calibrate N]`: prints the
    job's size, the pools against the cluster, the measured costs and the prediction. Exit 0;
    2 for bad input, or when the cluster can never hold the pools (as render would refuse)."""
    import sys

    from .jobfile import load_job

    calibrate_n = parse_calibrate(getattr(args, "calibrate", None))
    job = load_job(args.job, output=getattr(args, "output", None), s3_endpoint=getattr(args, "s3_endpoint", None))
    say = lambda line: print(line, flush=True)  # noqa: E731
    todo = tracks_to_render(job)
    audio = sum(track_seconds(t) for t in job.tracks)
    say(f"job {job.name}: {_tracks(len(job.tracks))}, {audio / 60:.1f} min of audio, max_attempts "
        f"{job.settings.max_attempts}, min_score {job.settings.min_score:g} → {job.location}")
    if todo:
        say(f"  to render now: {_tracks(len(todo))}, {sum(track_seconds(t) for t in todo) / 60:.1f} min of audio "
            f"({len(job.tracks) - len(todo)} already delivered)")
    else:
        todo = list(job.tracks)
        say("  every track is delivered: the prediction below is for rendering them all again (--force)")
    cluster = size_for_cluster(job, getattr(args, "address", None))
    for line in pool_lines(job, cluster):
        say(line)
    if cluster.problem:
        print(f"songfarm: error: {cluster.problem}", file=sys.stderr)
        return 2
    costs = None if calibrate_n else measure_from_history(job)
    if costs is None:
        if calibrate_n is None:
            say("measured: no earlier run with these backends and versions; calibrating")
        costs = calibrate(job, calibrate_n or CALIBRATION_TRACKS, log=lambda line: print(line, file=sys.stderr))
    say(f"measured ({costs.source}): {costs.detail}")
    for stage in STAGES:
        w, c = costs.wall[stage], costs.cpu[stage]
        say(f"  {stage:<9} per {UNITS[stage]}: {w.fixed_s:.3f} s + {w.per_audio_s:.4f} s per s of audio wall, "
            f"{c.fixed_s:.3f} s + {c.per_audio_s:.4f} s CPU")
    say(f"  rounds per track {costs.attempts:.2f}; start-up: Ray "
        + (f"{costs.ray_start_s:.1f} s (run records)" if costs.ray_start_s is not None else "default")
        + ", actors " + (f"{costs.actor_start_s:.1f} s per round (run records)" if costs.actor_start_s is not None
                         else f"default {DEFAULT_ACTOR_START_S:g} s per round")
        + "; Ray Data's overhead " + (f"{costs.overhead:.0%} (run records)" if costs.overhead is not None
                                      else f"default {DEFAULT_OVERHEAD:.0%}") + " of the streaming time")
    for line in predict(job, todo, costs, cluster).lines(job.prices):
        say(line)
    return 0
