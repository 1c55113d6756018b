"""The batch farm: a job's track requests through Ray actor pools into the sink.

Each track has a lifecycle (pipelines/core/lifecycle.py), which alone decides its rounds,
seeds, best take and status. With a pool per stage, each render round is one streaming Ray
Data execution over the tracks still undecided (pipelines/farm/round.py):

    lifecycles ─► round rows ─► planner pool ─► generator pool ─► verifier pool ─► driver ─► sink

With the stages fused, one pass of plain actors decides every track, each in one actor
(pipelines/farm/fused_pool.py), and the driver writes what they decided.

The driver groups the verified takes of a track as they stream in (a track's takes come
out of one generator call, so at most a few tracks are open at a time and no audio is held
beyond them), closes the track's round in its lifecycle and does what the decision says:

- a take that becomes the track's best is written at once, under names no row points to
  (pipelines/delivery/sink.py), so its audio need not be kept;
- a decided track gets its manifest row, the commit of its delivery, exactly once per run
  (a repeat of a take after an actor retry, or of a decided track, is ignored, and counted).

The driver also watches the cluster: the alive nodes at the start of each round and at each
progress heartbeat, so a node lost mid-job is named (Ray restarts its actors elsewhere
and retries their work), and at the end one line per stage says on which nodes it ran.

With a job lease (pipelines/delivery/lease.py) every row is written only while the lease
is still this driver's.

Progress is data: at every change the farm hands a FarmProgress (counts, round, rates, ETA)
to its `on_progress` callback and, every `progress_s`, writes it to progress.json; showing it
is the caller's (jobs/progress.py), so the farm runs the same without a terminal.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pickle
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from ...models.errors import SongfarmError
from ...models.job import Job
from ...models.request import TrackRequest
from ...models.settings import STAGES
from ...models.stages import rows_of
from ..core.lifecycle import TrackLifecycle
from ..delivery import manifest, runs
from ..delivery.sink import Sink, take_tags
from ..delivery.storage import StorageError
from .fused_pool import fused_answers
from .round import pools, round_dataset


@dataclass
class FarmConfig:
    progress_s: float = 5.0  # seconds between progress.json updates (and heartbeat progress between deliveries)
    progress_bars: bool = True  # Ray Data's own per-operator progress bars and dumps (songfarm render: --verbose)
    fuse: bool = True  # stages that ask for the same kind of node share one pool (pipelines/farm/round.py)


@dataclass(frozen=True)
class FarmProgress:
    """Where a run stands: what the farm hands its `on_progress` callback at every change (a
    delivered track, a new round, each heartbeat), and what progress.json holds. How it is
    shown (a live display, plain lines) is the caller's (jobs/progress.py)."""

    job: str
    state: str  # "running", then "finished" | "failed" | "interrupted"
    to_render: int  # tracks given to this run
    counts: dict[str, int]  # status (accepted / rejected / failed) → tracks delivered so far
    # The job-wide render round running now (1-based; 0 before the first, and 0 throughout
    # where fused actors run each track's every round themselves: there are no job-wide rounds).
    round: int
    max_attempts: int  # rounds a track may take
    elapsed_s: float  # seconds since the run started
    audio_s: float  # seconds of audio delivered (accepted and rejected tracks)
    tracks_per_min: float | None  # tracks landed (failed ones too) per minute of the run; None before any
    audio_min_per_min: float | None  # minutes of audio delivered per minute of the run; None before any
    # Seconds until the rest have landed, at the rate since the first one landed (actor start-up
    # would inflate an estimate from the start); None until two have.
    eta_s: float | None
    rerendered: int = 0  # tracks delivered so far that took more than one round

    @property
    def delivered(self) -> int:
        return self.counts.get("accepted", 0) + self.counts.get("rejected", 0)

    @property
    def failed(self) -> int:
        return self.counts.get("failed", 0)

    @property
    def remaining(self) -> int:
        return self.to_render - self.delivered - self.failed


@dataclass
class FarmResult:
    total: int  # tracks given to the farm
    counts: dict[str, int]  # status → tracks delivered with it in this run
    wall_s: float  # seconds from the first round's start to the last row flushed
    rounds: int  # render rounds run
    stage_s: dict[str, float]  # summed wall seconds per stage over all takes: plan, generate, verify, sink
    stage_cpu_s: dict[str, float]  # summed CPU seconds of the stage actors: planner, generator, verifier
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (track_id, stage, error)
    first_take_s: float | None = None  # seconds from the start to the first verified take (actor start-up)
    # stage → Ray node id → take rows the driver took from actors on that node ('' outside Ray)
    placement: dict[str, dict[str, int]] = field(default_factory=dict)
    lost_nodes: dict[str, str] = field(default_factory=dict)  # Ray node id → IP of nodes that died mid-job
    retried_takes: dict[str, int] = field(default_factory=dict)  # track_id → repeated take rows ignored

    @property
    def delivered(self) -> int:
        return self.counts.get("accepted", 0) + self.counts.get("rejected", 0)


def _str(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


@dataclass
class _Open:
    """A track whose takes of the current round are still arriving."""

    expected: int  # takes the generator makes for it (request.candidates)
    takes: dict[int, dict[str, Any]] = field(default_factory=dict)  # candidate → row (with audio)


class Farm:
    """Runs a job's track requests through the pipeline into a sink. Ray must be connected."""

    def __init__(self, job: Job, sink: Sink, config: FarmConfig | None = None,
                 log: Callable[[str], None] | None = None, lease: Any = None,
                 on_progress: Callable[[FarmProgress], None] | None = None,
                 record: Callable[[str], None] | None = None):
        """`log` gets the lines the person watching should see (a node lost, a round begun, how the
        run ended; default: stderr); `record` the ones kept for the record only (where each stage
        ran; default: `log`); `on_progress` a FarmProgress at every change (default: none)."""
        self.job = job
        self.sink = sink
        self.config = config or FarmConfig()
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.record = record or self.log
        self.on_progress = on_progress
        self.lease = lease  # pipelines.delivery.lease.JobLease, or None; checked before each row

    def run(self, requests: list[TrackRequest], progress_extra: dict[str, Any] | None = None,
            run_extra: dict[str, Any] | None = None) -> FarmResult:
        """Render `requests` (the tracks to (re-)render) and deliver each exactly once.
        `progress_extra` goes into progress.json, `run_extra` (command, ray_start_s, estimate)
        into the run record (pipelines/delivery/runs.py)."""
        settings = self.job.settings
        self._lives = {r.id: TrackLifecycle(r, settings) for r in requests}
        self._files: dict[str, dict[str, Any]] = {}  # track_id → file columns of its kept take
        self._counts = {s: 0 for s in manifest.STATUSES}
        self._sink_s = 0.0
        self._failures: list[tuple[str, str, str]] = []
        self._extra = dict(progress_extra or {})
        self._t0 = time.monotonic()
        self._started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._last_progress = 0.0
        self._round = 0
        self._first_take_s: float | None = None
        self._first_done_at: float | None = None  # monotonic time the first track landed
        self._audio_s = 0.0  # seconds of audio delivered
        self._rerendered = 0  # tracks delivered after more than one round
        self._lock = threading.Lock()  # the heartbeat thread and the main loop both report progress
        self._placement: dict[str, dict[str, int]] = {stage: {} for stage in STAGES}
        self._retried: dict[str, int] = {}
        self._nodes: dict[str, str] = {}  # alive Ray node id → IP, as last seen
        self._lost: dict[str, str] = {}
        self._actors: dict[str, set[str]] = {stage: set() for stage in STAGES}  # Ray actor ids seen
        self._node_resources: dict[str, dict[str, Any]] = {}  # node id → {ip, resources} of every node seen
        self._run_path = runs.run_name()
        self._pools = pools(self.job, self.config.fuse)
        self._run_extra = dict(run_extra or {})
        self._watch_nodes()
        stop = threading.Event()
        heartbeat = threading.Thread(target=self._heartbeat, args=(stop,), daemon=True)
        heartbeat.start()
        state = "failed"
        try:
            while rows := [row for life in self._lives.values() if not life.done
                           and (row := life.next_round()) is not None]:
                self._round += 1
                self._run_round(rows)
                if "fused" in self._pools:
                    break  # fused actors ran every round; a track that never came back fails below
            for tid, life in self._lives.items():  # defensive: a track the pipeline never returned
                if not life.done:
                    life.fail("farm", "no output from the pipeline")
                    self._deliver(tid)
            self.sink.flush()
            state = "finished"
        except KeyboardInterrupt:
            state = "interrupted"
            raise
        except SongfarmError:
            raise  # already the user's to fix, e.g. a store that stays down
        except Exception as exc:
            cause = user_error_in(exc)
            if cause is not None:  # e.g. a stage actor's constructor refused its checkpoint
                raise cause from None
            raise
        finally:
            stop.set()
            heartbeat.join()
            self._watch_nodes()  # a node lost in the last moments is still named
            self._finish(state)
            self._log_placement()
        stage_s, cpu_s = self._stage_totals()
        return FarmResult(total=len(requests), counts=dict(self._counts), wall_s=time.monotonic() - self._t0,
                          rounds=self._round, stage_s=stage_s, stage_cpu_s=cpu_s,
                          failures=list(self._failures), first_take_s=self._first_take_s,
                          placement={k: dict(v) for k, v in self._placement.items()}, lost_nodes=dict(self._lost),
                          retried_takes=dict(self._retried))

    @property
    def _pending(self) -> int:
        return sum(1 for life in self._lives.values() if not life.done)

    def _heartbeat(self, stop: threading.Event) -> None:
        """Keep progress.json fresh while actors start or a long take renders (no rows land then)."""
        while not stop.wait(self.config.progress_s):
            try:
                self._watch_nodes()
                self._progress()
            except Exception as exc:  # a store hiccup here is not the job's failure; the main loop will see it
                self.log(f"songfarm: progress not recorded: {exc}")

    def _watch_nodes(self) -> None:
        """Note the cluster's alive nodes; name each one that went away (or joined) since last time."""
        import ray

        if not ray.is_initialized():
            return
        try:
            nodes = [n for n in ray.nodes() if n.get("Alive")]
        except Exception as exc:  # the GCS briefly unreachable is not the job's failure
            self.log(f"songfarm: could not list the cluster's nodes: {exc}")
            return
        alive = {n["NodeID"]: n.get("NodeManagerAddress", "") for n in nodes}
        with self._lock:
            for n in nodes:
                self._node_resources.setdefault(n["NodeID"], {
                    "ip": n.get("NodeManagerAddress", ""),
                    "resources": {k: v for k, v in (n.get("Resources") or {}).items() if not k.startswith("node:")}})
            first = not self._nodes
            for node, ip in self._nodes.items():
                if node not in alive and node not in self._lost:
                    self._lost[node] = ip
                    self.log(f"songfarm: node {node} ({ip}) lost during the job; Ray retries its work")
            if not first:
                for node in alive.keys() - self._nodes.keys():
                    self.log(f"songfarm: node {node} ({alive[node]}) joined the cluster")
            self._nodes = alive

    def _log_placement(self) -> None:
        """One line per stage: the nodes its actors ran on and the take rows each gave; then the
        work Ray Data did twice (repeated takes the driver ignored)."""
        for stage, nodes in self._placement.items():
            where = ", ".join(f"{node or 'local'} {rows} rows" for node, rows in sorted(nodes.items()))
            self.record(f"songfarm: placement {stage}: {len(nodes)} nodes: {where or 'no rows'}")
        if self._lost or self._retried:
            self.record(f"songfarm: retried work: {sum(self._retried.values())} takes of {len(self._retried)} tracks"
                        + (f" ({', '.join(sorted(self._retried))})" if self._retried else ""))

    def _finish(self, state: str) -> None:
        """Flush what was delivered and record how the run ended, even when it is failing."""
        c = self._counts
        self.log(f"songfarm: job {self.job.name} {state} after {duration_text(time.monotonic() - self._t0)}: "
                 f"accepted {c['accepted']}, rejected {c['rejected']}, failed {c['failed']}, "
                 f"not delivered {self._pending} → {self.sink.storage.location}")
        try:
            self._check_lease()
            self.sink.flush()
            self._progress(force=True, state=state)
            runs.write_run(self.sink.storage, self._run_path, self._run_record(state))
        except Exception as exc:  # the store (or the lease) may be what failed; keep the original error
            lost = f"{self.sink.buffered} manifest rows not written (those tracks render again on resume); "
            self.log(f"songfarm: could not record the run's end ({state}): {lost if self.sink.buffered else ''}{exc}")

    def _stage_totals(self) -> tuple[dict[str, float], dict[str, float]]:
        """(wall s per step: plan, generate, verify, sink; CPU s per stage) over every take so far."""
        lives = self._lives.values()
        wall = {k: sum(life.stage_s[k] for life in lives) for k in ("plan", "generate", "verify")}
        cpu = {k: sum(life.stage_cpu_s[k] for life in lives) for k in STAGES}
        return {**wall, "sink": self._sink_s}, cpu

    def _run_record(self, state: str) -> dict[str, Any]:
        """The run's record (fields in pipelines/delivery/runs.py)."""
        job = self.job
        # The asks of each pool, and the distinct actors that ran (its minimum outside Ray);
        # a fused pool's actors run every stage, so they are counted once, by the generator's.
        seen = {name: len(self._actors["generator" if name == "fused" else name] - {""}) for name in self._pools}
        asks = {name: {**dataclasses.asdict(res), "actors": seen[name] or res.min_actors}
                for name, res in self._pools.items()}
        stage_s, cpu_s = self._stage_totals()
        return {
            "job": job.name, "state": state, "started_at": self._started_at,
            "ended_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "wall_s": round(time.monotonic() - self._t0, 3), "ray_start_s": 0.0, "command": "",
            "first_take_s": self._first_take_s, "to_render": len(self._lives), "rounds": self._round,
            "total": self._extra.get("total", len(self._lives)), "skipped": self._extra.get("skipped", 0),
            "counts": dict(self._counts),
            "stage_s": stage_s, "stage_cpu_s": cpu_s,
            "pools": asks, "fused": "fused" in self._pools, "nodes": dict(self._node_resources),
            "placement": {k: dict(v) for k, v in self._placement.items()}, "lost_nodes": dict(self._lost),
            "retried_takes": dict(self._retried), "estimate": None,
            "prices": job.prices.to_dict() if job.prices.given else None,
            **self._run_extra,
        }

    def _run_round(self, rows: list[dict[str, Any]]) -> None:
        if "fused" in self._pools:
            self.log(f"songfarm: job {self.job.name}: {len(rows)} tracks, up to {self.job.settings.max_attempts} "
                     "rounds each in the stage actors")
        else:
            self.log(f"songfarm: job {self.job.name}: round {self._round}/{self.job.settings.max_attempts}, "
                     f"{len(rows)} tracks")
        self._watch_nodes()
        if self._round == 1:
            self.record("songfarm: pools: " + ", ".join(
                f"{name} {res.min_actors}-{res.max_actors} actors × {res.num_cpus:g} CPU"
                + (f" {res.num_gpus:g} GPU" if res.num_gpus else "") for name, res in self._pools.items()))
        if "fused" in self._pools:  # plain actors, each track decided in one (fused_pool.py)
            with contextlib.closing(fused_answers(self.job, rows, self._pools["fused"])) as answers:
                self._take_answers(answers)  # closing: a stop mid-round ends the actors too
            return
        import ray.data

        ray.data.DataContext.get_current().enable_progress_bars = self.config.progress_bars
        # prefetch_batches=0: each take reaches the driver the moment its task ends. With a
        # prefetch of 1, Ray Data 2.60 held the first answers back until others were ready (a
        # 1-s row of three came in with the 6-s ones), so no file was written and no progress
        # shown until the round was nearly done. The work is in the actors; the driver only
        # writes files, so there is nothing for a prefetch to overlap.
        self._take_answers(round_dataset(self.job, rows).iter_batches(
            batch_size=None, batch_format="numpy", prefetch_batches=0))

    def _take_answers(self, answers) -> None:
        """The round's answers as they come: decided tracks (fused) or verified takes."""
        open_tracks: dict[str, _Open] = {}
        for batch in answers:
            if self._first_take_s is None:
                self._first_take_s = time.monotonic() - self._t0
            for row in rows_of(batch):
                if row.get("setup_error"):  # a stage could not be built: the job cannot run
                    raise SongfarmError(_str(row["setup_error"]))
                tid = _str(row["track_id"])
                if "lifecycle" in row:  # a fused actor's answer: the track decided there
                    self._take_decided(tid, row)
                    continue
                life = self._lives.get(tid)
                if life is None or life.done or life.rounds >= self._round:
                    self._retry(tid)
                    continue  # a retried batch repeating a track already handled
                group = open_tracks.setdefault(tid, _Open(expected=life.request.candidates))
                cand = int(row.get("candidate", -1))
                if cand in group.takes:
                    self._retry(tid)
                    continue  # the same take again after a retry
                group.takes[cand] = row
                self._count_placement(row, 1)
                if cand == -1 or len(group.takes) >= group.expected:  # -1: planner/generator failed
                    self._close(tid, open_tracks.pop(tid))
            self.sink.flush_due()
            self._progress()
        for tid, group in open_tracks.items():  # fewer takes than candidates: close with what came
            self._close(tid, group)

    def _take_decided(self, tid: str, row: dict[str, Any]) -> None:
        """A track a fused actor rendered through every round (pipelines/farm/round.py): its
        lifecycle, decided there by the same rules, replaces ours; the driver writes the
        kept take and the row, exactly once as for any track."""
        life = self._lives.get(tid)
        if life is None or life.done:
            self._retry(tid)
            return  # a retried batch repeating a track already delivered
        life = self._lives[tid] = pickle.loads(row["lifecycle"])
        self._round = max(self._round, life.rounds)
        self._count_placement(row, len(life.takes))  # every take of the track ran in that actor
        if life.status != "failed":
            self._write(tid, row)
        self._deliver(tid)

    def _close(self, tid: str, group: _Open) -> None:
        """All takes of `tid` for this round are in: the lifecycle decides, the driver writes."""
        life = self._lives[tid]
        decision = life.close_round(list(group.takes.values()))
        if decision.new_best:
            self._write(tid, decision.take)
        if life.done:
            self._deliver(tid)

    def _retry(self, tid: str) -> None:
        """Count a repeated row (Ray retried a call or a batch): ignored, and reported at the end."""
        self._retried[tid] = self._retried.get(tid, 0) + 1

    def _count_placement(self, row: dict[str, Any], takes: int) -> None:
        """Note where `takes` take rows of each stage ran (node id '' outside Ray) and by which actor."""
        for stage in STAGES:
            if f"{stage}_node" in row:
                node = _str(row[f"{stage}_node"])
                self._placement[stage][node] = self._placement[stage].get(node, 0) + takes
            if f"{stage}_actor" in row:
                self._actors[stage].add(_str(row[f"{stage}_actor"]))

    def _write(self, tid: str, take: dict[str, Any]) -> None:
        """Write the take the track now keeps, under names no row points to yet; a take whose
        audio cannot be written fails the track (the store being down stops the job)."""
        life = self._lives[tid]
        try:
            files = self.sink.write_files(tid, take, take_tags(self.job.name, life.request, take))
        except StorageError:
            raise  # the store is down: the job stops, with what was delivered intact
        except Exception as exc:  # this track's audio could not be written (e.g. undecodable)
            life.fail("sink", f"{type(exc).__name__}: {exc}")
            return
        self._sink_s += files["sink_s"]
        self._files[tid] = files

    def _deliver(self, tid: str) -> None:
        life = self._lives[tid]
        values = life.manifest_values(self._files.pop(tid, None) if life.status != "failed" else None)
        if life.status == "failed":
            self._failures.append((tid, values["error_stage"], values["error"]))
        self._check_lease()
        if self.sink.add_row(values):
            self._counts[life.status] += 1
            if life.status != "failed":
                self._audio_s += float(values.get("duration_s") or 0.0)
            self._rerendered += life.rounds > 1
            if self._first_done_at is None:
                self._first_done_at = time.monotonic()
        self._progress()

    def _check_lease(self) -> None:
        if self.lease is not None:
            self.lease.check()  # raises when another driver took the job over

    def _progress(self, force: bool = False, state: str = "running") -> None:
        """Hand the callback where the run stands; progress.json every `progress_s` seconds."""
        with self._lock:
            now = time.monotonic()
            progress = self._snapshot(state, now)
            if self.on_progress is not None:
                self.on_progress(progress)
            if force or now - self._last_progress >= self.config.progress_s * 0.9:
                self._last_progress = now
                self._write_progress(progress)

    def _snapshot(self, state: str, now: float) -> FarmProgress:
        landed = sum(self._counts.values())
        elapsed_min = (now - self._t0) / 60
        remaining = len(self._lives) - landed
        # The rate since the first track landed: actor start-up would inflate early estimates.
        since_s = now - self._first_done_at if self._first_done_at is not None else 0.0
        eta_s = remaining * since_s / (landed - 1) if landed > 1 and since_s > 0 and remaining else None
        return FarmProgress(
            job=self.job.name, state=state, to_render=len(self._lives), counts=dict(self._counts),
            round=0 if "fused" in self._pools else self._round, rerendered=self._rerendered,
            max_attempts=self.job.settings.max_attempts, elapsed_s=now - self._t0, audio_s=self._audio_s,
            tracks_per_min=landed / elapsed_min if landed and elapsed_min > 0 else None,
            audio_min_per_min=self._audio_s / 60 / elapsed_min if landed and elapsed_min > 0 else None,
            eta_s=eta_s)

    def _write_progress(self, p: FarmProgress) -> None:
        self.sink.write_progress({
            **self._extra, "job": p.job, "state": p.state, "to_render": p.to_render, "done": p.delivered,
            "failed": p.failed, "remaining": p.remaining, "counts": p.counts, "round": p.round,
            "rerendered": p.rerendered, "max_attempts": p.max_attempts, "audio_s": round(p.audio_s, 1),
            "started_at": self._started_at, "heartbeat": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "elapsed_s": round(p.elapsed_s, 1), "eta_s": None if p.eta_s is None else round(p.eta_s, 1),
            "host": socket.gethostname(), "pid": os.getpid(),
        })


def user_error_in(exc: BaseException) -> SongfarmError | None:
    """The SongfarmError (a mistake the user can fix) behind a Ray error, if any.

    A stage actor whose constructor raises (a missing checkpoint, a backend option only the
    model can refuse) reaches the driver as Ray's ActorDiedError / RayTaskError, which carry
    the original exception as a cause (SongfarmError pickles whole: models/errors.py)."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, SongfarmError):
            return e
        stack += [getattr(e, "cause", None), e.__cause__, e.__context__]
    return None


def duration_text(seconds: float) -> str:
    """"45s", "3m20s", "4h02m": the farm's way of saying a time (progress lines, estimates)."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
