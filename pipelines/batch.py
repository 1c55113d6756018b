"""The batch farm: a job's track requests through Ray Data actor pools into the sink.

Each render round is one streaming Ray Data execution:

    requests ─► planner pool ─► generator pool ─► verifier pool ─► driver: best take per track ─► sink
    (1 row per track)         (1 row per take)   (verdict per take)

Round k renders every track that has no accepted take yet (attempt=k; seeds from
models.request.take_seed). The driver groups the verified takes of a track as they stream
in (a track's takes come out of one generator call, so at most a few tracks are open at
a time and no audio is materialised beyond them) and:

- an accepted best take is delivered at once (files, then the manifest row);
- a rejected best take that beats the track's earlier rounds is written in place (files
  only, no row: a file without a row is not delivered) and the track goes to the next
  round; after `max_attempts` rounds it is delivered with status "rejected";
- a track with no usable take (a stage raised for it) is delivered as "failed" with the
  stage and error, or as "rejected" when an earlier round left a usable take.

Crashed actors are restarted by Ray and their batches retried (Ray Data's actor pools
default to max_restarts=-1 and max_task_retries=-1; passing them explicitly goes through
the `ray_remote_args` that Ray 2.60 deprecates, so the defaults stand); the driver ignores any repeat of a take it has seen and any row of a
track already delivered, so every track gets exactly one row per run.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

import numpy as np

from ..models.errors import SongfarmError
from ..models.job import Job
from ..models.request import TrackRequest
from . import manifest
from .selection import accepted, round_best, take_summary
from .sink import Sink
from .storage import StorageError

STAGES = ("planner", "generator", "verifier")
CALIBRATION_PROMPTS = 64  # the job's prompts a CLAP verifier compares each take against, at most
# Per-take columns the driver keeps for a track's best take (everything but the big ones).
_LIGHT = ("track_id", "request", "attempt", "status", "error", "error_stage", "plan", "plan_s", "candidate", "seed",
          "sample_rate", "duration_s", "generator", "model", "generate_s", "verdict", "score", "accepted", "verify_s",
          "planner_version", "generator_version", "verifier_version", "generator_host")


@dataclass
class FarmConfig:
    progress_s: float = 5.0  # seconds between job lines on stderr and progress.json updates
    progress_bars: bool = True  # Ray Data's per-stage progress bars


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

    @property
    def delivered(self) -> int:
        return self.counts.get("accepted", 0) + self.counts.get("rejected", 0)


class _StageActor:
    """Ray Data wrapper of one stage backend: builds it once per actor, delegates each batch,
    and adds `<stage>_version` / `<stage>_host` columns for the manifest."""

    stage = ""

    def __init__(self, name: str, options: dict[str, Any]):
        from ..models.factory import make

        self.backend = make(self.stage, name, options)
        self.host = socket.gethostname()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        cpu0 = time.process_time()
        out = dict(self.backend(batch))
        n = len(next(iter(out.values()))) if out else 0
        out[f"{self.stage}_version"] = np.array([str(self.backend.version)] * n, dtype=object)
        out[f"{self.stage}_host"] = np.array([self.host] * n, dtype=object)
        # CPU seconds of this process per output row (the benchmark's per-stage CPU time)
        out[f"{self.stage}_cpu_s"] = np.full(n, (time.process_time() - cpu0) / max(1, n), dtype=np.float64)
        return out


class PlannerActor(_StageActor):
    stage = "planner"


class GeneratorActor(_StageActor):
    stage = "generator"


class VerifierActor(_StageActor):
    stage = "verifier"


ACTORS = {"planner": PlannerActor, "generator": GeneratorActor, "verifier": VerifierActor}


def stage_options(job: Job, stage: str) -> dict[str, Any]:
    """The backend options a stage runs with: the job's, plus the job-level settings a
    backend has a field for and the job did not set itself — the verifier's `min_score`
    (the job's acceptance threshold), a CLAP verifier's `calibration_prompts` (the job's own
    prompts, so `clap_margin` asks "closer to its prompt than to the rest of this job?"),
    and the generator's `stems` switch when the job delivers stems."""
    import dataclasses

    from ..models.factory import config_class

    spec = job.backends[stage]
    options = dict(spec.options)
    fields = {f.name for f in dataclasses.fields(config_class(stage, spec.name))}
    if stage == "verifier" and "min_score" in fields and "min_score" not in options:
        options["min_score"] = min(1.0, max(0.0, float(job.min_score)))
    if stage == "verifier" and "calibration_prompts" in fields and "calibration_prompts" not in options:
        # Distinct prompts in job order, at most CALIBRATION_PROMPTS: each is embedded once per actor.
        prompts = list(dict.fromkeys(t.prompt for t in job.tracks if t.prompt.strip()))
        options["calibration_prompts"] = prompts[:CALIBRATION_PROMPTS]
    if stage == "generator" and job.delivery.stems:
        for name in ("stems", "keep_stems"):  # the generator's switch for keeping stems in the batch
            if name in fields and name not in options:
                options[name] = True
    return options


def round_dataset(job: Job, requests: list[TrackRequest], attempt: int):
    """The Ray Data pipeline of one render round (lazy; nothing runs until it is iterated)."""
    import ray.data
    from ray.data import ActorPoolStrategy

    from ..models.stages import new_row

    rows = [new_row(r, attempt) for r in requests]
    # One request per block, so the first tracks reach the generator while others are planned.
    ds = ray.data.from_items(rows, override_num_blocks=max(1, len(rows)))
    for stage in STAGES:
        spec, res = job.backends[stage], job.resources[stage]
        ds = ds.map_batches(
            ACTORS[stage],
            fn_constructor_kwargs={"name": spec.name, "options": stage_options(job, stage)},
            compute=ActorPoolStrategy(min_size=res.min_actors, max_size=res.max_actors),
            batch_size=res.batch_size,
            num_cpus=res.num_cpus,
            num_gpus=res.num_gpus,
            batch_format="numpy",
            zero_copy_batch=True,  # stages copy rows out of the read-only batch views
        )
    return ds


def _value(v: Any) -> Any:
    """numpy scalar / bytes-or-str cell → plain Python."""
    if isinstance(v, np.generic):
        return v.item()
    return v


def _str(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


@dataclass
class _Open:
    """A track whose takes of the current round are still arriving."""

    expected: int  # takes the generator makes for it (request.candidates)
    takes: dict[int, dict[str, Any]] = field(default_factory=dict)  # candidate → row (with audio)


@dataclass
class _Staged:
    """A rejected take already written in place, waiting for a better one or the last round."""

    row: dict[str, Any]  # the _LIGHT columns
    files: dict[str, Any]  # manifest file columns from Sink.write_files


class Farm:
    """Runs a job's track requests through the pipeline into a sink. Ray must be connected."""

    def __init__(self, job: Job, sink: Sink, config: FarmConfig | None = None,
                 log: Callable[[str], None] | None = None):
        self.job = job
        self.sink = sink
        self.config = config or FarmConfig()
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))

    def run(self, requests: list[TrackRequest], progress_extra: dict[str, Any] | None = None) -> FarmResult:
        """Render `requests` (the tracks to (re-)render) and deliver each exactly once."""
        import ray.data

        ray.data.DataContext.get_current().enable_progress_bars = self.config.progress_bars
        self._requests = {r.id: r for r in requests}
        self._pending = dict(self._requests)  # track_id → request, not yet delivered
        self._history: dict[str, list[dict[str, Any]]] = {tid: [] for tid in self._requests}
        self._staged: dict[str, _Staged] = {}
        self._counts = {s: 0 for s in manifest.STATUSES}
        self._stage_s = {"plan": 0.0, "generate": 0.0, "verify": 0.0, "sink": 0.0}
        self._stage_cpu_s = {s: 0.0 for s in STAGES}
        self._failures: list[tuple[str, str, str]] = []
        self._extra = dict(progress_extra or {})
        self._t0 = time.monotonic()
        self._started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._last_progress = 0.0
        self._round = 0
        self._first_take_s: float | None = None
        self._first_done_at: float | None = None  # monotonic time the first track was delivered
        self._lock = threading.Lock()  # the heartbeat thread and the main loop both report progress
        stop = threading.Event()
        heartbeat = threading.Thread(target=self._heartbeat, args=(stop,), daemon=True)
        heartbeat.start()
        state = "failed"
        try:
            for attempt in range(self.job.max_attempts):
                if not self._pending:
                    break
                self._round = attempt + 1
                self._run_round(attempt, last=attempt == self.job.max_attempts - 1)
            for tid in list(self._pending):  # defensive: a track the pipeline never returned
                self._deliver_failed(tid, "farm", "no output from the pipeline")
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
            self._finish(state)
        return FarmResult(total=len(requests), counts=dict(self._counts), wall_s=time.monotonic() - self._t0,
                          rounds=self._round, stage_s=dict(self._stage_s), stage_cpu_s=dict(self._stage_cpu_s),
                          failures=list(self._failures), first_take_s=self._first_take_s)

    def _heartbeat(self, stop: threading.Event) -> None:
        """Keep progress.json fresh while actors start or a long take renders (no rows land then)."""
        while not stop.wait(self.config.progress_s):
            try:
                self._progress()
            except Exception as exc:  # a store hiccup here is not the job's failure; the main loop will see it
                self.log(f"songfarm: progress not recorded: {exc}")

    def _finish(self, state: str) -> None:
        """Flush what was delivered and record how the run ended, even when it is failing."""
        c = self._counts
        self.log(f"songfarm: job {self.job.name} {state} after {_duration(time.monotonic() - self._t0)}: "
                 f"accepted {c['accepted']}, rejected {c['rejected']}, failed {c['failed']}, "
                 f"not delivered {len(self._pending)} → {self.sink.storage.location}")
        try:
            self.sink.flush()
            self._progress(force=True, state=state)
        except Exception as exc:  # the store may be what failed; keep the original error
            lost = f"{self.sink.buffered} manifest rows not written (those tracks render again on resume); "
            self.log(f"songfarm: could not record the run's end ({state}): {lost if self.sink.buffered else ''}{exc}")

    def _run_round(self, attempt: int, last: bool) -> None:
        requests = list(self._pending.values())
        self.log(f"songfarm: job {self.job.name}: round {attempt + 1}/{self.job.max_attempts}, "
                 f"{len(requests)} tracks")
        ds = round_dataset(self.job, requests, attempt)
        open_tracks: dict[str, _Open] = {}
        closed: set[str] = set()  # tracks whose takes of this round are all in
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1):
            if self._first_take_s is None:
                self._first_take_s = time.monotonic() - self._t0
            n = len(batch["track_id"])
            for i in range(n):
                row = {k: _value(v[i]) for k, v in batch.items()}
                tid = _str(row["track_id"])
                if tid not in self._pending or tid in closed:
                    continue  # a retried batch repeating a track already handled
                group = open_tracks.setdefault(tid, _Open(expected=self._pending[tid].candidates))
                cand = int(row.get("candidate", -1))
                if cand in group.takes:
                    continue  # the same take again after a retry
                group.takes[cand] = row
                if cand == -1 or len(group.takes) >= group.expected:  # -1: planner/generator failed
                    closed.add(tid)
                    self._close(tid, open_tracks.pop(tid), attempt, last)
            self.sink.flush_due()
            self._progress()
        for tid, group in open_tracks.items():  # fewer takes than candidates: close with what came
            self._close(tid, group, attempt, last)

    def _close(self, tid: str, group: _Open, attempt: int, last: bool) -> None:
        """All takes of `tid` for this round are in: deliver, stage, or send to the next round."""
        takes = sorted(group.takes.values(), key=lambda r: int(r.get("candidate", -1)))
        self._history[tid] += [take_summary(r, self.job.min_score) for r in takes]
        for r in takes:
            self._stage_s["plan"] += float(r.get("plan_s", 0.0)) / max(1, len(takes))
            self._stage_s["generate"] += float(r.get("generate_s", 0.0))
            self._stage_s["verify"] += float(r.get("verify_s", 0.0))
            for stage in STAGES:
                # the planner's per-row CPU is repeated on each take of its track
                share = 1.0 / max(1, len(takes)) if stage == "planner" else 1.0
                self._stage_cpu_s[stage] += float(r.get(f"{stage}_cpu_s") or 0.0) * share
        usable = [r for r in takes if _str(r.get("status", "ok")) == "ok"]
        if not usable:
            if tid in self._staged:  # an earlier round left a real take: deliver it
                self._deliver(tid, "rejected", self._staged.pop(tid))
            else:
                bad = takes[0]
                self._deliver_failed(tid, _str(bad.get("error_stage", "")), _str(bad.get("error", "")), bad)
            return
        best = round_best(usable)
        try:
            self._keep(tid, best, last)
        except StorageError:
            raise  # the store is down: the job stops, with what was delivered intact
        except Exception as exc:  # this track's audio could not be written (e.g. undecodable)
            self._staged.pop(tid, None)
            self._deliver_failed(tid, "sink", f"{type(exc).__name__}: {exc}", best)

    def _keep(self, tid: str, best: dict[str, Any], last: bool) -> None:
        if accepted(best, self.job.min_score):
            self._deliver(tid, "accepted", _Staged(self._light(best), self._write(tid, best)))
            self._staged.pop(tid, None)
            return
        staged = self._staged.get(tid)
        if staged is None or float(best["score"]) > float(staged.row["score"]):
            staged = self._staged[tid] = _Staged(self._light(best), self._write(tid, best))
        if last:
            self._deliver(tid, "rejected", self._staged.pop(tid))

    @staticmethod
    def _light(row: dict[str, Any]) -> dict[str, Any]:
        return {k: row.get(k) for k in _LIGHT}

    def _write(self, tid: str, row: dict[str, Any]) -> dict[str, Any]:
        request = self._requests[tid]
        tags = {"job": self.job.name, "prompt": request.prompt, "seed": int(row["seed"]),
                "generator": _str(row.get("generator", "")), "model": _str(row.get("model", ""))}
        files = self.sink.write_files(tid, row, tags)
        self._stage_s["sink"] += files["sink_s"]
        return files

    def _deliver(self, tid: str, status: str, take: _Staged) -> None:
        row, request = take.row, self._requests[tid]
        verdict = _str(row.get("verdict") or "")
        values = {
            "track_id": tid, "status": status, "prompt": request.prompt, "request_json": request.to_json(),
            "plan_json": _str(row.get("plan") or ""), "seed": request.seed, "attempts": self._round,
            "take_attempt": int(row["attempt"]), "take_candidate": int(row["candidate"]),
            "take_seed": int(row["seed"]), "takes_json": json.dumps(self._history[tid], ensure_ascii=False),
            "score": float(row["score"]), "verdict_json": verdict, **manifest.check_columns(verdict),
            **take.files, **self._backend_columns(row),
            "plan_s": float(row.get("plan_s") or 0.0), "generate_s": float(row.get("generate_s") or 0.0),
            "verify_s": float(row.get("verify_s") or 0.0), "node": _str(row.get("generator_host") or ""),
        }
        self._add(tid, status, values)

    def _deliver_failed(self, tid: str, stage: str, error: str, row: dict[str, Any] | None = None) -> None:
        request, row = self._requests[tid], row or {}
        values = {
            "track_id": tid, "status": "failed", "error": error, "error_stage": stage, "prompt": request.prompt,
            "request_json": request.to_json(), "plan_json": _str(row.get("plan") or ""), "seed": request.seed,
            "attempts": self._round, "take_attempt": -1, "take_candidate": -1, "take_seed": -1,
            "takes_json": json.dumps(self._history.get(tid, []), ensure_ascii=False), "stems_json": "{}",
            **self._backend_columns(row), "plan_s": float(row.get("plan_s") or 0.0),
            "node": _str(row.get("generator_host") or ""),
        }
        self._failures.append((tid, stage, error))
        self._add(tid, "failed", values)

    def _backend_columns(self, row: dict[str, Any]) -> dict[str, Any]:
        b = self.job.backends
        return {"planner": b["planner"].name, "generator": b["generator"].name, "verifier": b["verifier"].name,
                "planner_version": _str(row.get("planner_version") or ""),
                "generator_version": _str(row.get("generator_version") or ""),
                "verifier_version": _str(row.get("verifier_version") or ""), "model": _str(row.get("model") or "")}

    def _add(self, tid: str, status: str, values: dict[str, Any]) -> None:
        if self.sink.add_row(values):
            self._counts[status] += 1
            if self._first_done_at is None:
                self._first_done_at = time.monotonic()
        self._pending.pop(tid, None)
        self._progress()

    def _progress(self, force: bool = False, state: str = "running") -> None:
        """The job line on stderr and progress.json, every `progress_s` seconds."""
        with self._lock:
            now = time.monotonic()
            if not force and now - self._last_progress < self.config.progress_s * 0.9:
                return
            self._last_progress = now
            self._report(state, now)

    def _report(self, state: str, now: float) -> None:
        total = len(self._requests)
        done = self._counts["accepted"] + self._counts["rejected"]
        failed = self._counts["failed"]
        remaining = total - done - failed
        elapsed = now - self._t0
        # The rate since the first track landed: actor start-up would inflate early estimates.
        finished_since = done + failed - 1
        eta_s = (remaining * (now - self._first_done_at) / finished_since
                 if finished_since > 0 and remaining else None)
        eta = "" if eta_s is None else f", ETA {_duration(eta_s)}"
        if state == "running":
            self.log(f"songfarm: job {self.job.name}: done {done} / failed {failed} / remaining {remaining}"
                     f" (round {self._round}/{self.job.max_attempts}, {_duration(elapsed)}{eta})")
        self.sink.write_progress({
            **self._extra, "job": self.job.name, "state": state, "to_render": total, "done": done, "failed": failed,
            "remaining": remaining, "counts": self._counts, "round": self._round, "max_attempts": self.job.max_attempts,
            "started_at": self._started_at, "heartbeat": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "elapsed_s": round(elapsed, 1), "eta_s": None if eta_s is None else round(eta_s, 1),
            "host": socket.gethostname(), "pid": os.getpid(),
        })


def user_error_in(exc: BaseException) -> SongfarmError | None:
    """The SongfarmError (a mistake the user can fix) behind a Ray error, if any.

    A stage actor whose constructor raises (a missing checkpoint, a backend option only the
    model can refuse) reaches the driver as Ray's ActorDiedError / RayTaskError, which carry
    the original exception as a cause or only as text."""
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
    found = re.findall(r"songfarm\.[\w.]+(?:Error|Exception): (.+)", str(exc))
    return SongfarmError(found[-1].strip()) if found else None


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
