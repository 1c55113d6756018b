"""Run records: one JSON file per render run, `<job>/runs/run-<UTC start>-<random>.json`.

`progress.json` is the running driver's heartbeat and is overwritten by the next run; a run
record stays. It is what the report (jobs/report) and the estimate (jobs/estimate.py) read
for the time, the pools and nodes that held resources, and the estimate made before the run.
Written by the farm when a run ends, however it ends (finished, failed, interrupted).

    job, state ("finished" | "failed" | "interrupted"), command, started_at, ended_at (ISO UTC)
    wall_s             seconds from the first round's start to the last row flushed
    ray_start_s        seconds Ray took to start or connect (0 when not measured)
    first_take_s       seconds to the first verified take (actor start-up)
    to_render, total, skipped, rounds, counts {status: tracks delivered in this run}
    stage_s            {plan, generate, verify, sink: wall seconds summed over every take}
    stage_cpu_s        {planner, generator, verifier: CPU seconds summed over every take}
    pools              {stage: {actors (distinct actors seen), min_actors, max_actors, num_cpus,
                        num_gpus, resources, batch_size}}, or {"fused": {…}} when one pool ran
                        every stage (pipelines/farm/round.py)
    fused              true when the stages shared one pool
    nodes              {Ray node id: {ip, resources {name: amount}}}: every node seen alive
    placement          {stage: {node id: take rows}}; lost_nodes {node id: ip}
    retried_takes      {track_id: repeated take rows ignored}
    estimate           the prediction made before the run (jobs/estimate.py), or null
    prices             the job's prices (models/prices.py), or null
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

RUNS_DIR = "runs/"


def run_name() -> str:
    """A new record's path: sortable by start time, unique across drivers."""
    return f"{RUNS_DIR}run-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}.json"


def write_run(storage, path: str, record: dict[str, Any]) -> str:
    """Write (or rewrite, same path) one run record; returns its URI."""
    return storage.write_bytes(path, json.dumps(record, indent=1, sort_keys=True, default=str).encode("utf-8"))


def read_runs(storage) -> list[dict[str, Any]]:
    """Every readable run record of the job, oldest first (an unreadable one is skipped:
    records inform, they never decide what renders)."""
    runs = []
    for path in sorted(storage.list(RUNS_DIR)):
        if not path.endswith(".json"):
            continue
        try:
            record = json.loads(storage.read_bytes(path))
        except (FileNotFoundError, ValueError, UnicodeDecodeError):
            continue
        if isinstance(record, dict):
            runs.append({**record, "path": path})
    return runs
